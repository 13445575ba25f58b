// The route table: a decoded RouteConfiguration compiled once into virtual host lookup tables and frozen route
// entries, then consulted per request (Envoy's RouteMatcher / VirtualHostImpl / RouteEntryImplBase).
//
// Per request, `route()` does one Map lookup (or a few wildcard probes) for the virtual host and then tries the
// routes in order; most results (fixed cluster, each weighted cluster, redirects, direct responses) are objects
// built at compile time, so the common case allocates nothing but the match input.
import { readFileSync } from 'node:fs';
import { locationOf } from '../../api/envoy/decoder.js';
import { ConfigError, ConfigErrors } from '../../common/errors.js';
import { HeaderMap } from '../http/headers.js';
import type { StreamInfo } from '../stream-info.js';
import { compileHashPolicy, type HashPolicyFn } from './hash-policy.js';
import {
  chainHeaderMutations,
  compileHeaderMutationBlock,
  NO_HEADER_MUTATION,
  updateAuthority,
  type HeaderMutationBlock,
  type HeaderMutator,
  type HeaderValueOptionConfig,
} from './header-mutation.js';
import {
  asciiLower,
  compileHeaderMatchers,
  compileRouteMatch,
  matchAllHeaders,
  oneOf,
  removeQueryAndFragment,
  RouteMatchInput,
  type CompiledRouteMatch,
  type HeaderMatcher,
  type HeaderMatcherConfig,
  type RouteMatchConfig,
  type RuntimeFractionalPercentConfig,
} from './matchers.js';
import { compileMirrorPolicies, type MirrorPolicy } from './mirror.js';
import { compileRetryPolicy, type RetryPolicy, type RetryPolicyConfig } from './retry-policy.js';
import { compilePathRewriter, compileRegexRewrite, type PathRewriter, type RegexMatchAndSubstituteConfig, type RegexRewrite } from './path-rewrite.js';
import { compileRateLimitPolicy, type RateLimitConfig, type RateLimitPolicy } from './rate-limit-policy.js';
import { compileRedirect, newUri, sslRedirectLocation, type LocationRequest, type RedirectActionConfig } from './redirect.js';

// ---- decoded config shapes (envoy.config.route.v3) ----

type HeaderMutationFields = {
  request_headers_to_add?: HeaderValueOptionConfig[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOptionConfig[];
  response_headers_to_remove?: string[];
};

export interface RequestMirrorPolicyConfig {
  cluster?: string;
  cluster_header?: string;
  runtime_fraction?: RuntimeFractionalPercentConfig;
  trace_sampled?: boolean;
  disable_shadow_host_suffix_append?: boolean;
}

export interface RouteConfigurationConfig extends HeaderMutationFields {
  name?: string;
  virtual_hosts?: VirtualHostConfig[];
  vhds?: unknown;
  internal_only_headers?: string[];
  most_specific_header_mutations_wins?: boolean;
  ignore_port_in_host_matching?: boolean;
  ignore_path_parameters_in_path_matching?: boolean;
  max_direct_response_body_size_bytes?: number;
  request_mirror_policies?: RequestMirrorPolicyConfig[];
  typed_per_filter_config?: Record<string, unknown>;
  cluster_specifier_plugins?: unknown[];
  validate_clusters?: boolean;
}

export interface VirtualHostConfig extends HeaderMutationFields {
  name?: string;
  domains?: string[];
  routes?: RouteConfig[];
  matcher?: unknown;
  require_tls?: 'NONE' | 'EXTERNAL_ONLY' | 'ALL';
  virtual_clusters?: { name?: string; headers?: HeaderMatcherConfig[] }[];
  retry_policy?: unknown;
  hedge_policy?: unknown;
  request_mirror_policies?: RequestMirrorPolicyConfig[];
  typed_per_filter_config?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface RouteConfig extends HeaderMutationFields {
  name?: string;
  match?: RouteMatchConfig;
  route?: RouteActionConfig;
  redirect?: RedirectActionConfig;
  direct_response?: { status?: number; body?: DataSourceConfig; body_format?: unknown };
  filter_action?: unknown;
  non_forwarding_action?: unknown;
  typed_per_filter_config?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface DataSourceConfig {
  filename?: string;
  inline_bytes?: Buffer | Uint8Array;
  inline_string?: string;
  environment_variable?: string;
}

export interface ClusterWeightConfig extends HeaderMutationFields {
  name?: string;
  cluster_header?: string;
  weight?: number;
  host_rewrite_literal?: string;
  metadata_match?: unknown;
  typed_per_filter_config?: Record<string, unknown>;
}

export interface RouteActionConfig {
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: {
    clusters?: ClusterWeightConfig[];
    total_weight?: number;
    runtime_key_prefix?: string;
    header_name?: string;
    use_hash_policy?: boolean;
  };
  cluster_specifier_plugin?: string;
  inline_cluster_specifier_plugin?: unknown;
  cluster_not_found_response_code?: 'SERVICE_UNAVAILABLE' | 'NOT_FOUND' | 'INTERNAL_SERVER_ERROR';
  metadata_match?: unknown;
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstituteConfig;
  path_rewrite_policy?: unknown;
  host_rewrite_literal?: string;
  auto_host_rewrite?: boolean;
  host_rewrite_header?: string;
  host_rewrite_path_regex?: RegexMatchAndSubstituteConfig;
  append_x_forwarded_host?: boolean;
  timeout?: number;
  idle_timeout?: number;
  max_stream_duration?: { max_stream_duration?: number; grpc_timeout_header_max?: number; grpc_timeout_header_offset?: number };
  max_grpc_timeout?: number;
  grpc_timeout_offset?: number;
  retry_policy?: unknown;
  hedge_policy?: unknown;
  request_mirror_policies?: RequestMirrorPolicyConfig[];
  priority?: 'DEFAULT' | 'HIGH';
  hash_policy?: unknown[];
  upgrade_configs?: { upgrade_type?: string; enabled?: boolean; connect_config?: unknown }[];
  [field: string]: unknown;
}

// ---- compiled forms ----

/** What the table routes on. `scheme` is :scheme; x-forwarded-proto, when present in `headers`, wins for TLS checks. */
export interface RouteRequest extends LocationRequest {
  readonly authority: string;
  readonly path: string;
  readonly method: string;
  readonly headers: HeaderMap;
  readonly scheme: string;
}

export interface RouteTableOptions {
  /**
   * Uniform random number in [0, 1); drawn at most once per request and shared by weighted cluster selection and
   * runtime_fraction, like Envoy's per-stream random value. Default Math.random.
   */
  random?: () => number;
  /** Field path of the RouteConfiguration in its parent (e.g. 'static_resources...route_config'), prefixed to errors. */
  path?: string;
  /**
   * Compiles one typed_per_filter_config value once (the connection manager asks the filter factory); what it
   * returns is what RouteResult.perFilterConfig gives back. Default: the decoded value as is.
   */
  perFilterConfig?: (filterName: string, value: unknown, path: string) => unknown;
}

export interface CompiledVirtualHost {
  readonly name: string;
  /** as configured (lowercased) */
  readonly domains: readonly string[];
  readonly requireTls: 'NONE' | 'EXTERNAL_ONLY' | 'ALL';
  readonly routes: readonly RouteEntry[];
  /** virtual_clusters: the first whose headers all match; 'other' when some are configured and none matches */
  virtualClusterName(headers: HeaderMap): string | undefined;
  /** the decoded VirtualHost, for fields consumed elsewhere (cors, metadata, ...) */
  readonly raw: VirtualHostConfig;
  /** rate_limits, compiled (read by the rate limit filters) */
  readonly rateLimits: RateLimitPolicy;
}

interface RouteEntryBase {
  /** Route.name ('' when unset) */
  readonly name: string;
  readonly virtualHost: CompiledVirtualHost;
  /** response_headers_to_add/remove of route, virtual host and route configuration, in Envoy's order */
  readonly responseHeaders: HeaderMutator;
  /** the decoded Route, for fields consumed elsewhere (decorator, tracing, metadata, ...) */
  readonly raw: RouteConfig;
}

export interface WeightedClusterEntry {
  /** cluster name; '' when the cluster comes from `clusterHeader` */
  readonly name: string;
  readonly clusterHeader: string | undefined;
  readonly weight: number;
  readonly hostRewriteLiteral: string | undefined;
  readonly raw: ClusterWeightConfig;
}

export type ClusterSpecifier =
  | { readonly kind: 'cluster'; readonly name: string }
  | { readonly kind: 'header'; readonly header: string }
  | {
      readonly kind: 'weighted';
      readonly clusters: readonly WeightedClusterEntry[];
      readonly totalWeight: number;
      /** header_name: a single-valued numeric header that replaces the random value */
      readonly randomValueHeader: string | undefined;
    };

export interface RouteActionEntry extends RouteEntryBase {
  readonly kind: 'route';
  readonly cluster: ClusterSpecifier;
  /** request_headers_to_add/remove of route, virtual host and route configuration, in Envoy's order */
  readonly requestHeaders: HeaderMutator;
  readonly clusterNotFoundResponseCode: 503 | 404 | 500;
  /** ms; 0 disables the route timeout */
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number | undefined;
  readonly maxStreamDuration: RouteActionConfig['max_stream_duration'];
  readonly maxGrpcTimeoutMs: number | undefined;
  readonly grpcTimeoutOffsetMs: number | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  readonly hostRewriteLiteral: string | undefined;
  /** lowercase header name whose first value becomes :authority */
  readonly hostRewriteHeader: string | undefined;
  readonly hostRewritePathRegex: RegexRewrite | undefined;
  /** auto_host_rewrite: the router sets :authority to the chosen upstream host's hostname */
  readonly autoHostRewrite: boolean;
  readonly appendXForwardedHost: boolean;
  /** the decoded hash_policy list */
  readonly hashPolicy: readonly unknown[] | undefined;
  /** hash_policy compiled at config time; undefined when it configures nothing */
  readonly hashPolicyFn: HashPolicyFn | undefined;
  /** the route's retry_policy, else the virtual host's (decoded) */
  readonly retryPolicy: unknown;
  readonly hedgePolicy: unknown;
  /** the route's request_mirror_policies, else the virtual host's, else the route configuration's */
  readonly requestMirrorPolicies: readonly RequestMirrorPolicyConfig[];
  /** retryPolicy compiled (NO_RETRY_POLICY when unset) */
  readonly retry: RetryPolicy;
  /** requestMirrorPolicies compiled */
  readonly mirrors: readonly MirrorPolicy[];
  /** per_request_buffer_limit_bytes of the route, else the virtual host's; undefined when neither sets it */
  readonly perRequestBufferLimit: number | undefined;
  /** the virtual host's include_request_attempt_count / include_attempt_count_in_response */
  readonly attemptCountInRequest: boolean;
  readonly attemptCountInResponse: boolean;
  readonly priority: 'DEFAULT' | 'HIGH';
  /** upgrade_configs: lowercase upgrade type → enabled */
  readonly upgrades: ReadonlyMap<string, boolean>;
  /** a CONNECT on this route is terminated here: the router tunnels to the host over TCP (connect_config) */
  readonly connectTerminate: boolean;
  /** rate_limits, compiled (read by the rate limit filters) */
  readonly rateLimits: RateLimitPolicy;
  /** include_vh_rate_limits (deprecated): the virtual host's rate limits apply as well as the route's */
  readonly includeVhRateLimits: boolean;
  /** the decoded RouteAction */
  readonly action: RouteActionConfig;
}

export interface RedirectEntry extends RouteEntryBase {
  readonly kind: 'redirect';
  readonly responseCode: number;
  location(req: LocationRequest): string;
}

export interface DirectResponseEntry extends RouteEntryBase {
  readonly kind: 'direct_response';
  readonly status: number;
  readonly body: Buffer | undefined;
  /** Envoy adds a Location (the request's own URL) to 201 and 3xx direct responses; undefined otherwise */
  location(req: LocationRequest): string | undefined;
}

export type RouteEntry = RouteActionEntry | RedirectEntry | DirectResponseEntry;

export interface RouteResult {
  readonly entry: RouteEntry;
  readonly virtualHost: CompiledVirtualHost;
  /**
   * For 'route' entries: the upstream cluster. '' when a cluster_header is absent from the request; the router
   * then answers entry.clusterNotFoundResponseCode with NC, as for any unknown cluster.
   */
  readonly clusterName: string;
  readonly weightedCluster: WeightedClusterEntry | undefined;
  /** :path after prefix_rewrite / regex_rewrite; undefined when the route rewrites nothing */
  rewritePath(path: string): string | undefined;
  /**
   * Envoy's finalizeRequestHeaders, except auto_host_rewrite (which needs the chosen host): the weighted
   * cluster's mutations and host literal, the route/vhost/route-config mutations, the host rewrite, then the path
   * rewrite (recording x-envoy-original-path when `insertOriginalPath`).
   */
  finalizeRequestHeaders(headers: HeaderMap, info: StreamInfo, insertOriginalPath?: boolean): void;
  /** the weighted cluster's response mutations, then the route/vhost/route-config ones */
  finalizeResponseHeaders(headers: HeaderMap, info: StreamInfo): void;
  /** the most specific typed_per_filter_config for `filterName`: weighted cluster, route, virtual host, route configuration */
  perFilterConfig(filterName: string): unknown;
}

export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  /** internal_only_headers, lowercased */
  readonly internalOnlyHeaders: readonly string[];
  /** `null` → no route: Envoy answers 404 with NR. A HeaderMap is read through its pseudo-headers. */
  route(req: RouteRequest | HeaderMap): RouteResult | null;
  findVirtualHost(authority: string): CompiledVirtualHost | undefined;
  /** every cluster name the table can route or mirror to (cluster_header targets excluded), for the caller to check */
  referencedClusters(): Set<string>;
  /** route() in words, for the admin /why: the virtual host, each route tried before the one that matched and
   *  why it did not, and the result. Not for the request path. */
  explain(req: RouteRequest): RouteExplanation;
}

export interface RouteExplanation {
  readonly virtualHost: string | undefined;
  /** the routes tried, in order: `reason` says why one did not match; the last one matched unless `result` is null */
  readonly tried: readonly { readonly route: string; readonly reason?: string }[];
  readonly result: RouteResult | null;
  /** the virtual host's require_tls sent a redirect before any route */
  readonly tlsRedirect?: boolean;
}

// ---- per-request results ----

class Result implements RouteResult {
  constructor(
    readonly entry: RouteEntry,
    readonly clusterName: string,
    readonly weightedCluster: WeightedClusterEntry | undefined,
    private readonly internal: InternalRoute,
    private readonly wc: InternalWeightedCluster | undefined,
  ) {
    Object.freeze(this);
  }

  get virtualHost(): CompiledVirtualHost {
    return this.entry.virtualHost;
  }

  rewritePath(path: string): string | undefined {
    const rw = this.internal.pathRewriter;
    return rw ? rw(path, this.internal.match.matchedLength(path)) : undefined;
  }

  finalizeRequestHeaders(headers: HeaderMap, info: StreamInfo, insertOriginalPath = false): void {
    const e = this.entry;
    if (e.kind !== 'route') return;
    if (this.wc) {
      this.wc.requestHeaders.apply(headers, info);
      if (this.wc.entry.hostRewriteLiteral) headers.set(':authority', this.wc.entry.hostRewriteLiteral);
    }
    e.requestHeaders.apply(headers, info);
    let host: string | undefined;
    if (e.hostRewriteLiteral) host = e.hostRewriteLiteral;
    else if (e.hostRewriteHeader) host = headers.get(e.hostRewriteHeader);
    else if (e.hostRewritePathRegex) host = e.hostRewritePathRegex.replaceAll(removeQueryAndFragment(headers.get(':path') ?? ''));
    if (host) updateAuthority(headers, host, e.appendXForwardedHost);
    const path = headers.get(':path');
    if (path === undefined) return;
    const rewritten = this.rewritePath(path);
    if (rewritten === undefined) return;
    if (insertOriginalPath) headers.set('x-envoy-original-path', path);
    headers.set(':path', rewritten);
  }

  finalizeResponseHeaders(headers: HeaderMap, info: StreamInfo): void {
    (this.wc?.responseHeaders ?? this.entry.responseHeaders).apply(headers, info);
  }

  perFilterConfig(filterName: string): unknown {
    const wcCfg = this.wc?.perFilter?.[filterName];
    return wcCfg !== undefined ? wcCfg : this.internal.perFilterConfig(filterName);
  }
}

interface InternalWeightedCluster {
  readonly entry: WeightedClusterEntry;
  /** cumulative weight at the end of this cluster's interval */
  readonly end: number;
  readonly requestHeaders: HeaderMutator;
  /** this cluster's response mutations followed by the route's */
  readonly responseHeaders: HeaderMutator;
  /** the shared result when the cluster is named (not read from a header); set once the route exists */
  result: Result | undefined;
  /** typed_per_filter_config, compiled */
  readonly perFilter: PerFilterConfigs | undefined;
}

type PerFilterConfigs = Readonly<Record<string, unknown>>;

interface InternalRoute {
  readonly entry: RouteEntry;
  readonly match: CompiledRouteMatch;
  readonly pathRewriter: PathRewriter | undefined;
  perFilterConfig(filterName: string): unknown;
  /** builds or returns the result once the route matched */
  pick(input: RouteMatchInput): Result;
}

interface InternalVirtualHost {
  readonly vh: CompiledVirtualHost;
  readonly routes: readonly InternalRoute[];
  readonly sslRedirect: Result | undefined;
}

// ---- compilation ----

const CTL = /[\0\r\n]/;
const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_DIRECT_RESPONSE_BODY = 4096;
const NOT_FOUND_CODES = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 } as const;
const UINT32_MAX = 0xffffffff;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** Attach the source location of `obj` (or its `field`) to an error raised while compiling it. */
function located(err: ConfigError, obj: unknown, field?: number): ConfigError {
  if (err.location) return err;
  const loc = locationOf(obj, field);
  if (!loc) return err;
  const reason = err.message.slice(err.path ? err.path.length + 2 : 0);
  return new ConfigError(err.code, err.path, reason, loc);
}

/** Envoy's HeaderUtility::getPortStart: index of the ':' before a port, or -1 (IPv6 literals stay whole). */
function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon < 0) return -1;
  const v6End = host.lastIndexOf(']');
  return v6End < 0 || v6End < colon ? colon : -1;
}

interface Shared {
  readonly rc: RouteConfigurationConfig;
  readonly random: () => number;
  readonly ignorePathParameters: boolean;
  readonly mostSpecificWins: boolean;
  readonly maxBody: number;
  readonly rcRequest: HeaderMutationBlock | undefined;
  readonly rcResponse: HeaderMutationBlock | undefined;
  readonly clusters: Set<string>;
  readonly compilePerFilter: (configs: Record<string, unknown> | undefined, path: string) => PerFilterConfigs | undefined;
  readonly rcPerFilter: PerFilterConfigs | undefined;
}

interface VhostScope {
  readonly cfg: VirtualHostConfig;
  readonly vh: CompiledVirtualHost;
  readonly request: HeaderMutationBlock | undefined;
  readonly response: HeaderMutationBlock | undefined;
  readonly perFilter: PerFilterConfigs | undefined;
  /** the virtual host's retry_policy, compiled once for its routes */
  readonly retry: RetryPolicy;
}

function checkMirrorPolicies(list: readonly RequestMirrorPolicyConfig[] | undefined, path: string, clusters: Set<string>): void {
  (list ?? []).forEach((m, i) => {
    const p = `${path}[${i}]`;
    if (!m.cluster === !m.cluster_header) {
      throw invalid(p, m.cluster ? 'only one of cluster or cluster_header may be set' : 'one of cluster or cluster_header must be set');
    }
    if (m.cluster) clusters.add(m.cluster);
  });
  // fractions are checked here, at the level that sets them, so errors name that level's path
  if (list?.length) compileMirrorPolicies(list, path);
}

function readBody(ds: DataSourceConfig, path: string, max: number): Buffer {
  const which = oneOf(ds, ['filename', 'inline_bytes', 'inline_string', 'environment_variable'] as const, path, true)!;
  let body: Buffer;
  if (which === 'filename') {
    try {
      body = readFileSync(ds.filename!);
    } catch (err) {
      throw invalid(`${path}.filename`, `cannot read response body file "${ds.filename}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (body.length > max) throw invalid(`${path}.filename`, `response body file "${ds.filename}" is ${body.length} bytes; maximum is ${max}`);
    return body;
  }
  if (which === 'environment_variable') {
    const v = process.env[ds.environment_variable!];
    if (v === undefined) throw invalid(`${path}.environment_variable`, `environment variable "${ds.environment_variable}" does not exist`);
    body = Buffer.from(v);
  } else {
    body = which === 'inline_bytes' ? Buffer.from(ds.inline_bytes!) : Buffer.from(ds.inline_string!);
  }
  if (body.length > max) throw invalid(`${path}.${which}`, `response body is ${body.length} bytes; maximum is ${max}`);
  return body;
}

function compileRoute(r: RouteConfig, path: string, scope: VhostScope, shared: Shared): InternalRoute {
  if (!r.match) throw invalid(`${path}.match`, 'a match is required');
  const match = compileRouteMatch(r.match, `${path}.match`, { ignorePathParameters: shared.ignorePathParameters });
  const kind = oneOf(r, ['route', 'redirect', 'direct_response', 'filter_action', 'non_forwarding_action'] as const, path, true)!;
  if (kind === 'filter_action' || kind === 'non_forwarding_action') throw unsupported(`${path}.${kind}`, `${kind} routes are not supported`);

  const reqBlock = compileHeaderMutationBlock(r.request_headers_to_add, r.request_headers_to_remove, `${path}.request_headers_to_add`, `${path}.request_headers_to_remove`);
  const resBlock = compileHeaderMutationBlock(r.response_headers_to_add, r.response_headers_to_remove, `${path}.response_headers_to_add`, `${path}.response_headers_to_remove`);
  // Envoy evaluates route, virtual host, route configuration by default, so the least specific level is applied
  // last and wins; most_specific_header_mutations_wins reverses the order.
  const order = <T>(route: T, vhost: T, rc: T): T[] => (shared.mostSpecificWins ? [rc, vhost, route] : [route, vhost, rc]);
  const reqBlocks = order(reqBlock, scope.request, shared.rcRequest);
  const resBlocks = order(resBlock, scope.response, shared.rcResponse);
  const responseHeaders = chainHeaderMutations(resBlocks);
  const routePerFilter = shared.compilePerFilter(r.typed_per_filter_config, `${path}.typed_per_filter_config`);
  const perFilterConfig = (filter: string): unknown => routePerFilter?.[filter] ?? scope.perFilter?.[filter] ?? shared.rcPerFilter?.[filter];
  // entries spell out every property: V8 builds `{ ...common, more }` objects very slowly
  const name = r.name ?? '';
  const virtualHost = scope.vh;

  if (kind === 'redirect') {
    const redirect = compileRedirect(r.redirect!, `${path}.redirect`);
    const entry: RedirectEntry = Object.freeze({
      name,
      virtualHost,
      responseHeaders,
      raw: r,
      kind: 'redirect' as const,
      responseCode: redirect.responseCode,
      location: (req: LocationRequest) => redirect.location(req, match.matchedLength(req.path)),
    });
    return fixedRoute(entry, match, undefined, perFilterConfig).route;
  }

  if (kind === 'direct_response') {
    const dr = r.direct_response!;
    const p = `${path}.direct_response`;
    const status = dr.status;
    if (status === undefined || !Number.isInteger(status) || status < 200 || status >= 600) {
      throw invalid(`${p}.status`, `status must be an integer in [200, 600), got ${status}`);
    }
    if (dr.body_format !== undefined) throw unsupported(`${p}.body_format`, 'body_format is not supported');
    const body = dr.body ? readBody(dr.body, `${p}.body`, shared.maxBody) : undefined;
    const addLocation = status === 201 || (status >= 300 && status < 400);
    const entry: DirectResponseEntry = Object.freeze({
      name,
      virtualHost,
      responseHeaders,
      raw: r,
      kind: 'direct_response' as const,
      status,
      body,
      location: (req: LocationRequest) => (addLocation ? newUri(req) : undefined),
    });
    return fixedRoute(entry, match, undefined, perFilterConfig).route;
  }

  const a = r.route!;
  const ap = `${path}.route`;
  const rewrites = ['prefix_rewrite', 'regex_rewrite', 'path_rewrite_policy'].filter((f) => a[f] !== undefined && a[f] !== '');
  if (rewrites.length > 1) throw invalid(ap, 'specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy');
  if (a.path_rewrite_policy !== undefined) throw unsupported(`${ap}.path_rewrite_policy`, 'path rewrite policy extensions are not supported');
  if (a.prefix_rewrite !== undefined && CTL.test(a.prefix_rewrite)) throw invalid(`${ap}.prefix_rewrite`, 'value contains NUL, CR or LF');
  const regexRewrite = a.regex_rewrite ? compileRegexRewrite(a.regex_rewrite, `${ap}.regex_rewrite`) : undefined;
  const pathRewriter = compilePathRewriter(a.prefix_rewrite || undefined, regexRewrite);

  const hostSpec = oneOf(a, ['host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex'] as const, ap, false);
  for (const f of ['host_rewrite_literal', 'host_rewrite_header'] as const) {
    if (a[f] !== undefined && CTL.test(a[f]!)) throw invalid(`${ap}.${f}`, 'value contains NUL, CR or LF');
  }
  const hostRewritePathRegex = hostSpec === 'host_rewrite_path_regex' ? compileRegexRewrite(a.host_rewrite_path_regex!, `${ap}.host_rewrite_path_regex`) : undefined;

  const notFound = NOT_FOUND_CODES[a.cluster_not_found_response_code ?? 'SERVICE_UNAVAILABLE'];
  if (notFound === undefined) throw invalid(`${ap}.cluster_not_found_response_code`, `unknown response code ${a.cluster_not_found_response_code}`);
  const timeoutMs = a.timeout ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs >= 0)) throw invalid(`${ap}.timeout`, `${timeoutMs} is not a duration`);

  const upgrades = new Map<string, boolean>();
  (a.upgrade_configs ?? []).forEach((u, i) => {
    const type = asciiLower(u.upgrade_type ?? '');
    if (!type) throw invalid(`${ap}.upgrade_configs[${i}].upgrade_type`, 'an upgrade type is required');
    if (upgrades.has(type)) throw invalid(`${ap}.upgrade_configs[${i}]`, `duplicate upgrade ${u.upgrade_type}`);
    if (u.connect_config !== undefined && type !== 'connect') throw invalid(`${ap}.upgrade_configs[${i}].connect_config`, 'connect_config only applies to the CONNECT upgrade');
    upgrades.set(type, u.enabled ?? true);
  });
  // Envoy terminates CONNECT on this route (a TCP connection to the host) when its CONNECT upgrade has connect_config
  const connectTerminate = (a.upgrade_configs ?? []).some((u) => u.connect_config !== undefined && u.enabled !== false && asciiLower(u.upgrade_type ?? '') === 'connect');

  checkMirrorPolicies(a.request_mirror_policies, `${ap}.request_mirror_policies`, shared.clusters);
  const mirrors = a.request_mirror_policies?.length
    ? a.request_mirror_policies
    : scope.cfg.request_mirror_policies?.length
      ? scope.cfg.request_mirror_policies
      : (shared.rc.request_mirror_policies ?? []);

  const clusterKind = oneOf(
    a,
    ['cluster', 'cluster_header', 'weighted_clusters', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin'] as const,
    ap,
    true,
  )!;
  if (clusterKind === 'cluster_specifier_plugin' || clusterKind === 'inline_cluster_specifier_plugin') {
    throw unsupported(`${ap}.${clusterKind}`, 'cluster specifier plugins are not supported');
  }
  let cluster: ClusterSpecifier;
  let weighted: InternalWeightedCluster[] = [];
  if (clusterKind === 'cluster') {
    if (!a.cluster) throw invalid(`${ap}.cluster`, 'a cluster name is required');
    cluster = Object.freeze({ kind: 'cluster', name: a.cluster });
    shared.clusters.add(a.cluster);
  } else if (clusterKind === 'cluster_header') {
    if (!a.cluster_header || CTL.test(a.cluster_header)) throw invalid(`${ap}.cluster_header`, 'a valid header name is required');
    cluster = Object.freeze({ kind: 'header', header: asciiLower(a.cluster_header) });
  } else {
    const w = a.weighted_clusters!;
    const wp = `${ap}.weighted_clusters`;
    if (!w.clusters?.length) throw invalid(`${wp}.clusters`, 'at least one cluster is required');
    if (w.use_hash_policy) throw unsupported(`${wp}.use_hash_policy`, 'selecting a weighted cluster by hash policy is not supported');
    if (w.header_name !== undefined && (w.header_name === '' || CTL.test(w.header_name))) throw invalid(`${wp}.header_name`, 'invalid header name');
    // total_weight is deprecated and, as in current Envoy, ignored: clusters are picked over the sum of weights.
    let total = 0;
    const entries = w.clusters.map((c, i) => {
      const cp = `${wp}.clusters[${i}]`;
      if (!c.name === !c.cluster_header) {
        throw invalid(cp, c.name ? 'only one of name or cluster_header can be specified' : 'at least one of name or cluster_header need to be specified');
      }
      if (c.weight === undefined) throw invalid(`${cp}.weight`, 'weight is required');
      if (!Number.isInteger(c.weight) || c.weight < 0 || c.weight > UINT32_MAX) throw invalid(`${cp}.weight`, `${c.weight} is not a uint32`);
      if (c.host_rewrite_literal !== undefined && CTL.test(c.host_rewrite_literal)) throw invalid(`${cp}.host_rewrite_literal`, 'value contains NUL, CR or LF');
      total += c.weight;
      if (total > UINT32_MAX) throw invalid(`${wp}.clusters`, `the sum of weights exceeds ${UINT32_MAX}`);
      if (c.name) shared.clusters.add(c.name);
      const entry: WeightedClusterEntry = Object.freeze({
        name: c.name ?? '',
        clusterHeader: c.cluster_header ? asciiLower(c.cluster_header) : undefined,
        weight: c.weight,
        hostRewriteLiteral: c.host_rewrite_literal || undefined,
        raw: c,
      });
      const wcReq = compileHeaderMutationBlock(c.request_headers_to_add, c.request_headers_to_remove, `${cp}.request_headers_to_add`, `${cp}.request_headers_to_remove`);
      const wcRes = compileHeaderMutationBlock(c.response_headers_to_add, c.response_headers_to_remove, `${cp}.response_headers_to_add`, `${cp}.response_headers_to_remove`);
      // Envoy applies the weighted cluster's own headers before the route's chain, whatever the order flag says.
      const internal: InternalWeightedCluster = {
        entry,
        end: total,
        requestHeaders: chainHeaderMutations([wcReq]),
        responseHeaders: wcRes ? chainHeaderMutations([wcRes, ...resBlocks]) : responseHeaders,
        result: undefined,
        perFilter: shared.compilePerFilter(c.typed_per_filter_config, `${cp}.typed_per_filter_config`),
      };
      return internal;
    });
    if (total === 0) throw invalid(`${wp}.clusters`, 'sum of weights in the weighted_cluster must be greater than 0');
    weighted = entries;
    cluster = Object.freeze({
      kind: 'weighted',
      clusters: Object.freeze(entries.map((e) => e.entry)),
      totalWeight: total,
      randomValueHeader: w.header_name ? asciiLower(w.header_name) : undefined,
    });
  }

  const entry: RouteActionEntry = Object.freeze({
    name,
    virtualHost,
    responseHeaders,
    raw: r,
    kind: 'route' as const,
    cluster,
    requestHeaders: chainHeaderMutations(reqBlocks),
    clusterNotFoundResponseCode: notFound,
    timeoutMs,
    idleTimeoutMs: a.idle_timeout,
    maxStreamDuration: a.max_stream_duration,
    maxGrpcTimeoutMs: a.max_grpc_timeout,
    grpcTimeoutOffsetMs: a.grpc_timeout_offset,
    prefixRewrite: a.prefix_rewrite || undefined,
    regexRewrite,
    hostRewriteLiteral: a.host_rewrite_literal || undefined,
    hostRewriteHeader: a.host_rewrite_header ? asciiLower(a.host_rewrite_header) : undefined,
    hostRewritePathRegex,
    autoHostRewrite: a.auto_host_rewrite === true,
    appendXForwardedHost: a.append_x_forwarded_host === true,
    hashPolicy: a.hash_policy?.length ? a.hash_policy : undefined,
    hashPolicyFn: compileHashPolicy(a.hash_policy, `${ap}.hash_policy`),
    retryPolicy: a.retry_policy ?? scope.cfg.retry_policy,
    hedgePolicy: a.hedge_policy ?? scope.cfg.hedge_policy,
    requestMirrorPolicies: Object.freeze([...mirrors]),
    // a route's retry_policy replaces the virtual host's entirely (they are not merged)
    retry: a.retry_policy ? compileRetryPolicy(a.retry_policy as RetryPolicyConfig, `${ap}.retry_policy`) : scope.retry,
    mirrors: compileMirrorPolicies(mirrors, `${ap}.request_mirror_policies`),
    perRequestBufferLimit: (r.per_request_buffer_limit_bytes ?? scope.cfg.per_request_buffer_limit_bytes) as number | undefined,
    attemptCountInRequest: scope.cfg.include_request_attempt_count === true,
    attemptCountInResponse: scope.cfg.include_attempt_count_in_response === true,
    priority: a.priority ?? 'DEFAULT',
    upgrades,
    connectTerminate,
    rateLimits: compileRateLimitPolicy(a.rate_limits as RateLimitConfig[] | undefined, `${ap}.rate_limits`),
    includeVhRateLimits: a.include_vh_rate_limits === true,
    action: a,
  });

  if (cluster.kind === 'cluster') return fixedRoute(entry, match, pathRewriter, perFilterConfig, cluster.name).route;

  let pick: InternalRoute['pick'];
  if (cluster.kind === 'header') {
    const header = cluster.header;
    // the header is untrusted and may repeat: only its first value names the cluster
    pick = (input) => new Result(entry, input.headers.get(header) ?? '', undefined, self, undefined);
  } else {
    const total = cluster.totalWeight;
    const header = cluster.randomValueHeader;
    pick = (input) => {
      let selected = -1;
      if (header !== undefined) {
        const values = input.headers.getAll(header);
        // only a single numeric value is trusted, as in Envoy; anything else falls back to the random value
        const m = values.length === 1 ? /^[ \t\n\v\f\r]*\+?(\d{1,20})[ \t\n\v\f\r]*$/.exec(values[0]!) : null;
        if (m && BigInt(m[1]!) < 2n ** 64n) selected = Number(BigInt(m[1]!) % BigInt(total));
      }
      if (selected < 0) selected = Math.min(total - 1, Math.floor(input.randomValue * total));
      // clusters own the intervals [0, w1), [w1, w1+w2), ...; zero-weight clusters own none
      let i = 0;
      while (selected >= weighted[i]!.end) i++;
      const wc = weighted[i]!;
      return wc.result ?? new Result(entry, input.headers.get(wc.entry.clusterHeader!) ?? '', wc.entry, self, wc);
    };
  }
  const self: InternalRoute = Object.freeze({ entry, match, pathRewriter, perFilterConfig, pick });
  for (const wc of weighted) if (wc.entry.name) wc.result = new Result(entry, wc.entry.name, wc.entry, self, wc);
  return self;
}

/** A route whose result does not depend on the request: built once, returned for every match. */
function fixedRoute(
  entry: RouteEntry,
  match: CompiledRouteMatch,
  pathRewriter: PathRewriter | undefined,
  perFilterConfig: (name: string) => unknown,
  clusterName = '',
): { route: InternalRoute; result: Result } {
  const route: InternalRoute = Object.freeze({ entry, match, pathRewriter, perFilterConfig, pick: () => result });
  const result = new Result(entry, clusterName, undefined, route, undefined);
  return { route, result };
}

function compileVirtualClusters(cfg: VirtualHostConfig, path: string): (headers: HeaderMap) => string | undefined {
  const list = cfg.virtual_clusters ?? [];
  if (list.length === 0) return () => undefined;
  const compiled: { name: string; headers: readonly HeaderMatcher[] }[] = list.map((vc, i) => {
    const p = `${path}.virtual_clusters[${i}]`;
    if (!vc.name) throw invalid(`${p}.name`, 'a name is required');
    if (!vc.headers?.length) throw invalid(`${p}.headers`, "virtual clusters must define 'headers'");
    return { name: vc.name, headers: compileHeaderMatchers(vc.headers, `${p}.headers`) };
  });
  return (headers) => {
    for (const vc of compiled) if (matchAllHeaders(vc.headers, headers)) return vc.name;
    return 'other';
  };
}

/** Compile a decoded RouteConfiguration. Throws ConfigError (one problem) or ConfigErrors (several). */
export function compileRouteConfiguration(rc: RouteConfigurationConfig, opts: RouteTableOptions = {}): RouteTable {
  const root = opts.path ? `${opts.path}.` : '';
  const errors: ConfigError[] = [];
  // Compile one piece; a ConfigError is recorded (with the source location of `obj`) so the rest still compiles.
  const attempt = <T>(obj: unknown, fn: () => T, field?: number): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) errors.push(located(err, obj, field));
      else if (err instanceof ConfigErrors) errors.push(...err.errors);
      else throw err;
      return undefined;
    }
  };
  const finish = () => {
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new ConfigErrors(errors);
  };

  const rcName = rc.name ?? '';
  const clusters = new Set<string>();
  const shared = attempt(rc, (): Shared => {
    if (rc.vhds !== undefined) throw unsupported(`${root}vhds`, 'virtual host discovery (VHDS) is not supported');
    if (rc.cluster_specifier_plugins?.length) throw unsupported(`${root}cluster_specifier_plugins`, 'cluster specifier plugins are not supported');
    checkMirrorPolicies(rc.request_mirror_policies, `${root}request_mirror_policies`, clusters);
    const hook = opts.perFilterConfig;
    const compilePerFilter = (configs: Record<string, unknown> | undefined, path: string): PerFilterConfigs | undefined => {
      if (!configs || !hook) return configs;
      return Object.freeze(Object.fromEntries(Object.entries(configs).map(([name, v]) => [name, hook(name, v, `${path}.${name}`)])));
    };
    return {
      compilePerFilter,
      rcPerFilter: compilePerFilter(rc.typed_per_filter_config, `${root}typed_per_filter_config`),
      rc,
      random: opts.random ?? Math.random,
      ignorePathParameters: rc.ignore_path_parameters_in_path_matching === true,
      mostSpecificWins: rc.most_specific_header_mutations_wins === true,
      maxBody: rc.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY,
      rcRequest: compileHeaderMutationBlock(rc.request_headers_to_add, rc.request_headers_to_remove, `${root}request_headers_to_add`, `${root}request_headers_to_remove`),
      rcResponse: compileHeaderMutationBlock(rc.response_headers_to_add, rc.response_headers_to_remove, `${root}response_headers_to_add`, `${root}response_headers_to_remove`),
      clusters,
    };
  });
  finish();

  const exact = new Map<string, InternalVirtualHost>();
  const suffixes = new Map<number, Map<string, InternalVirtualHost>>();
  const prefixes = new Map<number, Map<string, InternalVirtualHost>>();
  let defaultVh: InternalVirtualHost | undefined;
  const vhosts: InternalVirtualHost[] = [];
  // Envoy's domain tables: exact names, "*suffix" and "prefix*" wildcards keyed by their fixed part's length, one "*"
  const addDomain = (d: string, path: string, ivh: InternalVirtualHost) => {
    if (d === '*') {
      if (defaultVh) throw invalid(path, `only a single wildcard domain is permitted in route ${rcName} (virtual host "${defaultVh.vh.name}" has one)`);
      defaultVh = ivh;
      return;
    }
    let table = exact;
    let key = d;
    if (d.startsWith('*') || d.endsWith('*')) {
      const bySize = d.startsWith('*') ? suffixes : prefixes;
      key = d.startsWith('*') ? d.slice(1) : d.slice(0, -1);
      table = bySize.get(key.length) ?? new Map();
      bySize.set(key.length, table);
    }
    const other = table.get(key);
    if (other) throw invalid(path, `only unique values for domains are permitted: "${d}" is also a domain of virtual host "${other.vh.name}" in route ${rcName}`);
    table.set(key, ivh);
  };

  (rc.virtual_hosts ?? []).forEach((vcfg, vi) => {
    const vp = `${root}virtual_hosts[${vi}]`;
    const base = attempt(vcfg, () => {
      if (!vcfg.name) throw invalid(`${vp}.name`, 'a name is required');
      if (!vcfg.domains?.length) throw invalid(`${vp}.domains`, 'at least one domain is required');
      if (vcfg.matcher !== undefined) throw unsupported(`${vp}.matcher`, 'matcher trees in virtual hosts are not supported');
      const requireTls = vcfg.require_tls ?? 'NONE';
      if (requireTls !== 'NONE' && requireTls !== 'EXTERNAL_ONLY' && requireTls !== 'ALL') throw invalid(`${vp}.require_tls`, `unknown value ${requireTls}`);
      checkMirrorPolicies(vcfg.request_mirror_policies, `${vp}.request_mirror_policies`, clusters);
      return {
        requireTls,
        virtualClusterName: compileVirtualClusters(vcfg, vp),
        request: compileHeaderMutationBlock(vcfg.request_headers_to_add, vcfg.request_headers_to_remove, `${vp}.request_headers_to_add`, `${vp}.request_headers_to_remove`),
        response: compileHeaderMutationBlock(vcfg.response_headers_to_add, vcfg.response_headers_to_remove, `${vp}.response_headers_to_add`, `${vp}.response_headers_to_remove`),
        perFilter: shared!.compilePerFilter(vcfg.typed_per_filter_config, `${vp}.typed_per_filter_config`),
        rateLimits: compileRateLimitPolicy(vcfg.rate_limits as RateLimitConfig[] | undefined, `${vp}.rate_limits`),
        retry: compileRetryPolicy(vcfg.retry_policy as RetryPolicyConfig | undefined, `${vp}.retry_policy`),
      };
    });
    if (!base) return;

    const routeEntries: RouteEntry[] = [];
    const vh: CompiledVirtualHost = Object.freeze({
      name: vcfg.name!,
      domains: Object.freeze(vcfg.domains!.map(asciiLower)),
      requireTls: base.requireTls,
      routes: routeEntries,
      virtualClusterName: base.virtualClusterName,
      raw: vcfg,
      rateLimits: base.rateLimits,
    });
    const scope: VhostScope = { cfg: vcfg, vh, request: base.request, response: base.response, perFilter: base.perFilter, retry: base.retry };
    const routes: InternalRoute[] = [];
    (vcfg.routes ?? []).forEach((r, ri) => {
      const compiled = attempt(r, () => compileRoute(r, `${vp}.routes[${ri}]`, scope, shared!));
      if (compiled) {
        routes.push(compiled);
        routeEntries.push(compiled.entry);
      }
    });
    Object.freeze(routeEntries);

    let sslRedirect: Result | undefined;
    if (base.requireTls !== 'NONE') {
      const entry: RedirectEntry = Object.freeze({
        name: '',
        virtualHost: vh,
        responseHeaders: NO_HEADER_MUTATION,
        raw: {},
        kind: 'redirect' as const,
        responseCode: 301,
        location: sslRedirectLocation,
      });
      sslRedirect = fixedRoute(entry, { matches: () => true, matchedLength: () => 0, explain: () => undefined }, undefined, () => undefined).result;
    }
    const ivh: InternalVirtualHost = Object.freeze({ vh, routes: Object.freeze(routes), sslRedirect });
    vhosts.push(ivh);

    vh.domains.forEach((d, di) => attempt(vcfg.domains, () => addDomain(d, `${vp}.domains[${di}]`, ivh), di));
  });
  finish();

  // Wildcards are tried longest first ("*-bar.foo.com" before "*.foo.com"); a wildcard must cover at least one
  // character, so a key is only tried against longer hosts.
  const byLengthDesc = (m: Map<number, Map<string, InternalVirtualHost>>) =>
    Object.freeze([...m.entries()].sort((x, y) => y[0] - x[0]));
  const suffixTable = byLengthDesc(suffixes);
  const prefixTable = byLengthDesc(prefixes);
  const onlyDefault = exact.size === 0 && suffixTable.length === 0 && prefixTable.length === 0;
  const ignorePort = rc.ignore_port_in_host_matching === true;
  const random = shared!.random;
  const ignorePathParameters = shared!.ignorePathParameters;

  // The virtual host depends on the authority alone, and a connection's requests (often all of a client's)
  // carry the same one: the last answer is kept, which saves the lowercasing, slicing and map lookups.
  let lastAuthority: string | undefined;
  let lastVh: InternalVirtualHost | undefined;
  const findInternal = (authority: string): InternalVirtualHost | undefined => {
    if (onlyDefault) return defaultVh;
    if (authority === lastAuthority) return lastVh;
    const vh = lookupVirtualHost(authority);
    lastAuthority = authority;
    lastVh = vh;
    return vh;
  };
  const lookupVirtualHost = (authority: string): InternalVirtualHost | undefined => {
    let host = authority;
    if (ignorePort) {
      const ps = portStart(host);
      if (ps >= 0) host = host.slice(0, ps);
    }
    host = asciiLower(host);
    const hit = exact.get(host);
    if (hit) return hit;
    for (const [len, table] of suffixTable) {
      if (len >= host.length) continue;
      const v = table.get(host.slice(host.length - len));
      if (v) return v;
    }
    for (const [len, table] of prefixTable) {
      if (len >= host.length) continue;
      const v = table.get(host.slice(0, len));
      if (v) return v;
    }
    return defaultVh;
  };

  const internalOnly = Object.freeze((rc.internal_only_headers ?? []).map(asciiLower));
  const table: RouteTable = {
    name: rcName,
    virtualHosts: Object.freeze(vhosts.map((v) => v.vh)),
    internalOnlyHeaders: internalOnly,
    findVirtualHost: (authority) => findInternal(authority)?.vh,
    referencedClusters: () => new Set(clusters),
    route(arg: RouteRequest | HeaderMap): RouteResult | null {
      const req = arg instanceof HeaderMap ? requestFromHeaders(arg) : arg;
      const ivh = findInternal(req.authority);
      if (!ivh) return null;
      if (ivh.sslRedirect) {
        const proto = req.headers.get('x-forwarded-proto') ?? req.scheme;
        if (proto !== 'https' && (ivh.vh.requireTls === 'ALL' || req.headers.get('x-envoy-internal') !== 'true')) return ivh.sslRedirect;
      }
      const input = new RouteMatchInput(req.path, req.headers, random, ignorePathParameters);
      for (const r of ivh.routes) if (r.match.matches(input)) return r.pick(input);
      return null;
    },
    explain(req: RouteRequest): RouteExplanation {
      const ivh = lookupVirtualHost(req.authority);
      if (!ivh) return { virtualHost: undefined, tried: [], result: null };
      const result = table.route(req);
      if (result && result === ivh.sslRedirect) return { virtualHost: ivh.vh.name, tried: [], result, tlsRedirect: true };
      const input = new RouteMatchInput(req.path, req.headers, random, ignorePathParameters);
      const tried: { route: string; reason?: string }[] = [];
      for (const [i, r] of ivh.routes.entries()) {
        const reason = r.match.explain(input);
        tried.push({ route: r.entry.name || `#${i}`, ...(reason ? { reason } : {}) });
        if (!reason) break;
      }
      return { virtualHost: ivh.vh.name, tried, result };
    },
  };
  return Object.freeze(table);
}

/** A RouteRequest read from a HeaderMap's pseudo-headers (HTTP/1 Host is stored as :authority by the codecs). */
function requestFromHeaders(headers: HeaderMap): RouteRequest {
  return {
    authority: headers.get(':authority') ?? headers.get('host') ?? '',
    path: headers.get(':path') ?? '',
    method: headers.get(':method') ?? '',
    scheme: headers.get(':scheme') ?? 'http',
    headers,
  };
}
