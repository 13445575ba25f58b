// envoy.filters.http.ext_authz (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz): asks an external
// authorization service about each request and lets it through, rejects it, or changes it, as Envoy's
// ext_authz filter (source/extensions/filters/http/ext_authz) does:
//  - Which requests are checked: not those of a route whose ExtAuthzPerRoute says `disabled`; otherwise only
//    when filter_enabled (its default_value fraction) and filter_enabled_metadata (a dynamic metadata matcher)
//    both say so — a request they skip is counted as `disabled`, and denied with status_on_error when
//    deny_at_disable is set. Istio's CUSTOM action relies on filter_enabled_metadata: its shadow RBAC rules
//    mark the requests a policy matches, and only those are checked.
//  - with_request_body: the body is held until the stream ends or max_request_bytes is reached; past the limit
//    without allow_partial_message the client gets 413 and nothing is checked (Envoy's buffer limit).
//  - The check (check-request.ts) goes to grpc_service (grpc-client.ts) or http_service (http-client.ts)
//    through the named cluster, within the service's timeout (default 200 ms).
//  - OK: the authorizer's header changes are made to the request (set, add, append, remove; query parameters),
//    its response headers wait for the upstream's response, its dynamic_metadata goes to the stream under
//    envoy.filters.http.ext_authz, clear_route_cache re-routes a request whose headers changed. Counted `ok`.
//  - Denied: the authorizer's status (default 403), headers and body go to the client, flag UAEX,
//    %RESPONSE_CODE_DETAILS% ext_authz_denied. Counted `denied`.
//  - Error (unreachable, timeout, 5xx, gRPC failure): with failure_mode_allow the request continues (counted
//    `failure_mode_allowed`; failure_mode_allow_header_add adds x-envoy-auth-failure-mode-allowed: true),
//    else status_on_error (default 403) with an empty body, flag UAEX, details ext_authz_error. Counted `error`.
// Statistics: <hcm stat_prefix>ext_authz.[<stat_prefix>.]{ok,denied,error,disabled,failure_mode_allowed,
// ignored_dynamic_metadata}.
//
// Everything that can be is compiled when the config is applied (matchers, formatters, the client); per
// request the filter builds the check, sends it, and applies the answer.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import { compileFormatString } from '../../../observability/formatter.js';
import type { Counter } from '../../../observability/stats.js';
import { ResponseFlag } from '../../../stream-info.js';
import { createCheckRequest, type AuthzClient, type AuthzResponse, type CheckRequestOptions, type PendingCheck } from './check-request.js';
import { GrpcAuthzClient, httpStatusCode } from './grpc-client.js';
import { HttpAuthzClient } from './http-client.js';
import { compileMetadataMatcher, type DynamicMetadata } from '../../common/rbac/metadata-matcher.js';
import { compileHeaderKeyMatcher } from './matchers.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
/** the dynamic metadata namespace (the filter's canonical name, whatever the http_filters entry is called) */
export const METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';
export const FAILURE_MODE_ALLOWED_HEADER = 'x-envoy-auth-failure-mode-allowed';
const DEFAULT_TIMEOUT_MS = 200;
/** Envoy's HTTP client always sends these client headers (besides the allowed ones) */
const HTTP_DEFAULT_HEADERS = ['authorization', ':method', ':path', ':authority'];
const DENY_DROPPED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

export interface ExtAuthzStats {
  readonly ok: Counter;
  readonly denied: Counter;
  readonly error: Counter;
  readonly disabled: Counter;
  readonly failure_mode_allowed: Counter;
  readonly ignored_dynamic_metadata: Counter;
}

interface BufferSettings {
  readonly maxBytes: number;
  readonly allowPartial: boolean;
}

export interface ExtAuthzConfig {
  readonly client: AuthzClient;
  readonly check: CheckRequestOptions;
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  readonly statusOnError: number;
  readonly clearRouteCache: boolean;
  readonly withBody: BufferSettings | undefined;
  /** filter_enabled.default_value as a probability; 1 when unset */
  readonly enabledFraction: number;
  readonly enabledMetadata: ((md: DynamicMetadata) => boolean) | undefined;
  readonly denyAtDisable: boolean;
  readonly ingestMetadata: boolean;
  readonly stats: ExtAuthzStats;
}

/** ExtAuthzPerRoute, compiled. */
export type ExtAuthzPerRoute =
  | { readonly disabled: true }
  | { readonly disabled: false; readonly contextExtensions: Readonly<Record<string, string>>; readonly withBody: BufferSettings | null | undefined };

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

function compileBufferSettings(b: any, path: string): BufferSettings {
  if (!(b.max_request_bytes > 0)) throw invalid(`${path}.max_request_bytes`, 'must be greater than 0');
  return Object.freeze({ maxBytes: b.max_request_bytes as number, allowPartial: b.allow_partial_message === true });
}

export function compileExtAuthz(cfg: any, ctx: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'path' | 'clusterManager'>): ExtAuthzConfig {
  const path = ctx.path;
  if (cfg.transport_api_version !== undefined && cfg.transport_api_version !== 'V3') {
    throw invalid(`${path}.transport_api_version`, `only V3 is served (envoy.service.auth.v3), not ${cfg.transport_api_version}`);
  }
  const prefix = cfg.stat_prefix ? `${ctx.statPrefix}ext_authz.${cfg.stat_prefix}.` : `${ctx.statPrefix}ext_authz.`;
  const scope = ctx.stats.scope(prefix);
  const stats: ExtAuthzStats = {
    ok: scope.counter('ok'),
    denied: scope.counter('denied'),
    error: scope.counter('error'),
    disabled: scope.counter('disabled'),
    failure_mode_allowed: scope.counter('failure_mode_allowed'),
    ignored_dynamic_metadata: scope.counter('ignored_dynamic_metadata'),
  };
  const disallowed = compileHeaderKeyMatcher(cfg.disallowed_headers, `${path}.disallowed_headers`);
  const withBody = cfg.with_request_body ? compileBufferSettings(cfg.with_request_body, `${path}.with_request_body`) : undefined;
  let client: AuthzClient;
  let allowedForCheck;
  if (cfg.grpc_service) {
    const g = cfg.grpc_service;
    const gp = `${path}.grpc_service`;
    if (!g.envoy_grpc) throw unsupported(`${gp}.google_grpc`, 'only envoy_grpc (a cluster of this proxy) can reach the authorization service');
    const cluster: string = g.envoy_grpc.cluster_name ?? '';
    if (!cluster) throw invalid(`${gp}.envoy_grpc.cluster_name`, 'a cluster name is required');
    const metadata = (g.initial_metadata ?? []).map((m: any, i: number): [string, string] => {
      if (!m.key) throw invalid(`${gp}.initial_metadata[${i}].key`, 'a header name is required');
      return [String(m.key).toLowerCase(), m.value ?? ''];
    });
    client = new GrpcAuthzClient(ctx.clusterManager, { cluster, authority: g.envoy_grpc.authority || cluster, timeoutMs: g.timeout ?? DEFAULT_TIMEOUT_MS, metadata });
    // gRPC: every header unless allowed_headers narrows them
    allowedForCheck = compileHeaderKeyMatcher(cfg.allowed_headers, `${path}.allowed_headers`);
  } else if (cfg.http_service) {
    const s = cfg.http_service;
    const sp = `${path}.http_service`;
    const cluster: string = s.server_uri?.cluster ?? '';
    if (!cluster) throw invalid(`${sp}.server_uri.cluster`, 'the cluster of the authorization server is required');
    const req = s.authorization_request ?? {};
    const res = s.authorization_response ?? {};
    // the deprecated authorization_request.allowed_headers and the top-level allowed_headers both apply
    const requestHeaders = compileHeaderKeyMatcher(
      { patterns: [...(req.allowed_headers?.patterns ?? []), ...(cfg.allowed_headers?.patterns ?? [])] },
      `${path}.allowed_headers`,
      HTTP_DEFAULT_HEADERS,
    )!;
    const headersToAdd = (req.headers_to_add ?? []).map((hv: any, i: number) => {
      const p = `${sp}.authorization_request.headers_to_add[${i}]`;
      if (!hv.key) throw invalid(`${p}.key`, 'a header name is required');
      return { name: String(hv.key).toLowerCase(), value: compileFormatString(hv.value ?? '', { path: `${p}.value` }) };
    });
    const rp = `${sp}.authorization_response`;
    const clientList = compileHeaderKeyMatcher(res.allowed_client_headers, `${rp}.allowed_client_headers`);
    client = new HttpAuthzClient(ctx.clusterManager, {
      cluster,
      timeoutMs: s.server_uri?.timeout ?? DEFAULT_TIMEOUT_MS,
      pathPrefix: s.path_prefix ?? '',
      requestHeaders,
      disallowedHeaders: disallowed,
      headersToAdd,
      upstream: compileHeaderKeyMatcher(res.allowed_upstream_headers, `${rp}.allowed_upstream_headers`),
      upstreamAppend: compileHeaderKeyMatcher(res.allowed_upstream_headers_to_append, `${rp}.allowed_upstream_headers_to_append`),
      // unset: every header of the reply but :authority; set: those plus :status, content-length, www-authenticate, location
      client: clientList
        ? compileHeaderKeyMatcher(res.allowed_client_headers, `${rp}.allowed_client_headers`, [':status', 'content-length', 'www-authenticate', 'location'])!
        : { matches: (n: string) => n !== ':authority' && n !== 'host' },
      clientOnSuccess: compileHeaderKeyMatcher(res.allowed_client_headers_on_success, `${rp}.allowed_client_headers_on_success`),
      toMetadata: compileHeaderKeyMatcher(res.dynamic_metadata_from_headers, `${rp}.dynamic_metadata_from_headers`),
    });
    // the HTTP client picks its headers itself; the check request carries them all
    allowedForCheck = undefined;
  } else {
    throw invalid(path, 'one of grpc_service or http_service is required');
  }
  let enabledFraction = 1;
  if (cfg.filter_enabled) {
    const d = cfg.filter_enabled.default_value ?? {};
    enabledFraction = (d.numerator ?? 0) / (DENOMINATORS[d.denominator ?? 'HUNDRED'] ?? 100);
  }
  return Object.freeze({
    client,
    check: Object.freeze({
      allowedHeaders: allowedForCheck,
      disallowedHeaders: disallowed,
      packAsBytes: cfg.with_request_body?.pack_as_bytes === true,
      includeTlsSession: cfg.include_tls_session === true,
      includePeerCertificate: cfg.include_peer_certificate === true,
      metadataContextNamespaces: Object.freeze([...(cfg.metadata_context_namespaces ?? [])]),
    }),
    failureModeAllow: cfg.failure_mode_allow === true,
    failureModeAllowHeaderAdd: cfg.failure_mode_allow_header_add === true,
    statusOnError: httpStatusCode(cfg.status_on_error?.code, 403),
    clearRouteCache: cfg.clear_route_cache === true,
    withBody,
    enabledFraction,
    enabledMetadata: cfg.filter_enabled_metadata ? compileMetadataMatcher(cfg.filter_enabled_metadata, `${path}.filter_enabled_metadata`) : undefined,
    denyAtDisable: cfg.deny_at_disable?.default_value === true,
    ingestMetadata: cfg.enable_dynamic_metadata_ingestion !== false,
    stats,
  });
}

export function compileExtAuthzPerRoute(cfg: any, path: string): ExtAuthzPerRoute {
  if (cfg.disabled === true) return Object.freeze({ disabled: true });
  const cs = cfg.check_settings;
  if (!cs) throw invalid(path, 'an ExtAuthzPerRoute needs disabled: true or check_settings');
  if (cs.disable_request_body_buffering === true && cs.with_request_body) {
    throw invalid(`${path}.check_settings`, 'set either disable_request_body_buffering or with_request_body, not both');
  }
  const withBody = cs.disable_request_body_buffering === true ? null : cs.with_request_body ? compileBufferSettings(cs.with_request_body, `${path}.check_settings.with_request_body`) : undefined;
  return Object.freeze({ disabled: false, contextExtensions: Object.freeze({ ...(cs.context_extensions ?? {}) }), withBody });
}

let nextStreamId = 1;

class ExtAuthzFilter implements HttpFilter {
  private state: 'idle' | 'buffering' | 'calling' | 'done' = 'idle';
  private headers: HeaderMap | undefined;
  private body: Buffer[] | undefined;
  private bodySize = 0;
  private buffer: BufferSettings | undefined;
  private perRoute: ExtAuthzPerRoute | undefined;
  private pending: PendingCheck | undefined;
  private responseHeadersToAdd: readonly [string, string][] | undefined;
  private responseHeadersToSet: readonly [string, string][] | undefined;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: ExtAuthzConfig,
    private readonly name: string,
  ) {}

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus {
    const c = this.c;
    const perRoute = this.cb.perFilterConfig<ExtAuthzPerRoute>(this.name);
    if (perRoute?.disabled) return 'continue';
    this.perRoute = perRoute;
    const info = this.cb.streamInfo;
    const enabled = (c.enabledFraction >= 1 || Math.random() < c.enabledFraction) && (!c.enabledMetadata || c.enabledMetadata(info.dynamicMetadata));
    if (!enabled) {
      c.stats.disabled.inc();
      if (!c.denyAtDisable) return 'continue';
      info.setFlag(ResponseFlag.UnauthorizedExternalService);
      this.cb.sendLocalReply(c.statusOnError, '', { details: 'ext_authz_error' });
      return 'stop';
    }
    this.headers = headers;
    // a route's check_settings may turn buffering off (null) or change its limits
    const buffer = perRoute && !perRoute.disabled && perRoute.withBody !== undefined ? (perRoute.withBody ?? undefined) : c.withBody;
    if (buffer && !endStream && !isUpgrade(headers)) {
      this.buffer = buffer;
      this.body = [];
      this.state = 'buffering';
      return 'stop';
    }
    this.initiateCall();
    return 'stop';
  }

  decodeData(data: Buffer, endStream: boolean): FilterStatus {
    // The stream buffers the body for the filters after this one while the headers are held here (returning
    // 'continue' hands the chunk on to that buffer); this filter keeps its own copy for the check.
    if (this.state !== 'buffering') return 'continue';
    const b = this.buffer!;
    const room = b.maxBytes - this.bodySize;
    if (data.length > room && !b.allowPartial) {
      // Envoy's decoder buffer limit: the request is refused before anything is checked
      this.state = 'done';
      this.cb.sendLocalReply(413, 'Payload Too Large', { details: 'request_payload_too_large' });
      return 'stop';
    }
    const take = data.length > room ? data.subarray(0, room) : data;
    if (take.length) {
      this.body!.push(take);
      this.bodySize += take.length;
    }
    if (endStream || this.bodySize >= b.maxBytes) this.initiateCall(!endStream);
    return 'continue';
  }

  decodeTrailers(): FilterStatus {
    if (this.state === 'buffering') this.initiateCall(false);
    return 'continue';
  }

  private initiateCall(partial = false): void {
    const c = this.c;
    const cb = this.cb;
    const headers = this.headers!;
    const perRoute = this.perRoute;
    const request = createCheckRequest(
      {
        headers,
        info: cb.streamInfo,
        streamId: nextStreamId++,
        contextExtensions: perRoute && !perRoute.disabled && Object.keys(perRoute.contextExtensions).length ? perRoute.contextExtensions : undefined,
        body: this.body ? Buffer.concat(this.body) : undefined,
        partialBody: partial,
      },
      c.check,
    );
    this.body = undefined;
    this.state = 'calling';
    const p = c.client.check(request, headers, cb.streamInfo);
    this.pending = p;
    // always asynchronous (a promise), so the filter has returned 'stop' before the answer is applied
    p.result.then((r) => this.onComplete(r));
  }

  private onComplete(r: AuthzResponse): void {
    if (this.state !== 'calling') return; // destroyed meanwhile
    this.state = 'done';
    this.pending = undefined;
    const c = this.c;
    const cb = this.cb;
    const info = cb.streamInfo;
    if (r.dynamicMetadata) {
      if (c.ingestMetadata) info.setDynamicMetadata(METADATA_NAMESPACE, r.dynamicMetadata);
      else c.stats.ignored_dynamic_metadata.inc();
    }
    if (r.status === 'ok') {
      c.stats.ok.inc();
      const h = this.headers!;
      const changed = applyRequestMutations(h, r);
      if (r.responseHeadersToAdd.length) this.responseHeadersToAdd = r.responseHeadersToAdd;
      if (r.responseHeadersToSet.length) this.responseHeadersToSet = r.responseHeadersToSet;
      if (c.clearRouteCache && changed) cb.clearRouteCache();
      cb.continueDecoding();
      return;
    }
    if (r.status === 'denied') {
      c.stats.denied.inc();
      info.setFlag(ResponseFlag.UnauthorizedExternalService);
      cb.sendLocalReply(r.statusCode, r.body, {
        details: 'ext_authz_denied',
        mutateHeaders: (out) => {
          for (const [k, v] of r.headersToSet) {
            if (k.startsWith(':') || DENY_DROPPED.has(k)) continue;
            out.set(k, v);
          }
          for (const [k, v] of r.headersToAppend) if (!k.startsWith(':') && !DENY_DROPPED.has(k)) out.add(k, v);
        },
      });
      return;
    }
    c.stats.error.inc();
    if (c.failureModeAllow) {
      c.stats.failure_mode_allowed.inc();
      if (c.failureModeAllowHeaderAdd) this.headers!.set(FAILURE_MODE_ALLOWED_HEADER, 'true');
      cb.continueDecoding();
      return;
    }
    info.setFlag(ResponseFlag.UnauthorizedExternalService);
    cb.sendLocalReply(c.statusOnError, '', { details: 'ext_authz_error' });
  }

  encodeHeaders(headers: HeaderMap): FilterStatus {
    if (this.responseHeadersToSet) for (const [k, v] of this.responseHeadersToSet) headers.set(k, v);
    if (this.responseHeadersToAdd) for (const [k, v] of this.responseHeadersToAdd) headers.add(k, v);
    return 'continue';
  }

  onDestroy(): void {
    if (this.state === 'calling') this.pending?.cancel();
    this.state = 'done';
  }
}

function isUpgrade(h: HeaderMap): boolean {
  return h.has('upgrade') || h.get(':method') === 'CONNECT';
}

/** The OK answer's changes to the request; whether any header changed (for clear_route_cache). */
export function applyRequestMutations(h: HeaderMap, r: AuthzResponse): boolean {
  let changed = false;
  for (const [k, v] of r.headersToSet) {
    h.set(k, v);
    changed = true;
  }
  for (const [k, v] of r.headersToAdd) {
    h.add(k, v);
    changed = true;
  }
  for (const [k, v] of r.headersToAppend) {
    const prev = h.get(k);
    h.set(k, prev === undefined ? v : `${prev},${v}`);
    changed = true;
  }
  for (const k of r.headersToRemove) {
    // Envoy never lets the authorizer remove pseudo-headers or Host
    if (k.startsWith(':') || k === 'host') continue;
    if (h.remove(k)) changed = true;
  }
  if (r.queryToSet.length || r.queryToRemove.length) {
    const p = h.get(':path') ?? '/';
    const q = p.indexOf('?');
    const params = new URLSearchParams(q < 0 ? '' : p.slice(q + 1));
    for (const k of r.queryToRemove) params.delete(k);
    for (const [k, v] of r.queryToSet) params.set(k, v);
    const qs = params.toString();
    h.set(':path', (q < 0 ? p : p.slice(0, q)) + (qs ? `?${qs}` : ''));
    changed = true;
  }
  return changed;
}

export const extAuthzFilter: HttpFilterFactory = {
  typeUrls: [TYPE_URL, PER_ROUTE_TYPE_URL],
  create(config: any, ctx: FilterFactoryContext) {
    // ExtAuthzPerRoute is registered only so that typed_per_filter_config finds this factory by its @type
    if (config?.['@type'] === PER_ROUTE_TYPE_URL) throw invalid(`${ctx.path}.typed_config`, `an ExtAuthzPerRoute is a per-route config: the filter's typed_config is ${TYPE_URL}`);
    const compiled = compileExtAuthz(config, ctx);
    const name = ctx.name;
    return (cb) => new ExtAuthzFilter(cb, compiled, name);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext) {
    if (config?.['@type'] !== PER_ROUTE_TYPE_URL) throw invalid(ctx.path, `the per-route config of ext_authz is an ${PER_ROUTE_TYPE_URL}`);
    return compileExtAuthzPerRoute(config, ctx.path);
  },
};
