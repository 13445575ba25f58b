// One VirtualService HTTPRoute → Envoy routes (one per match clause that applies to this proxy), as Istio's
// route translation does: destinations → cluster or weighted_clusters of outbound|port|subset|host; redirect;
// direct_response; rewrite; timeout (Istio: 0s = disabled when absent); retries (Istio's default policy when
// absent, none when attempts is 0); fault and corsPolicy → the fault and cors filters' per-route configs; mirror;
// header operations; consistent-hash policies from the destination's DestinationRule.
//
// Conditions Envoy cannot see are decided here, per proxy, as Istio decides them: a match's `port` against the
// listener port, `sourceLabels` and `sourceNamespace` against the proxy, `gateways` against the gateway being
// built (or "mesh").
import type { Destination, HeaderOperations, HTTPFaultInjection, HTTPMatchRequest, HTTPRetry, HTTPRoute } from '../../../api/mesh/types.js';
import { trafficPolicyFor, subsetOf } from '../../model/destination-rules.js';
import { toProtoDuration } from '../../model/duration.js';
import { selects } from '../../model/labels.js';
import type { Proxy } from '../../model/proxy.js';
import type { ProxyScope } from '../../model/scope.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { MESH_GATEWAY } from '../../model/virtual-services.js';
import { FILTER, intPercentToFractional, outboundClusterName, percentToFractional, TYPE, type Json } from '../common.js';
import { CORS_FILTER_NAME, corsPolicyConfig } from './cors.js';
import { routeMatch } from './match.js';

export interface RouteContext {
  readonly snapshot: MeshSnapshot;
  readonly scope: ProxyScope;
  readonly proxy: Proxy;
  /** the listener (sidecar outbound) or server (gateway) port the routes serve */
  readonly port: number;
  /** "mesh" for sidecars, the gateway's "ns/name" for gateways */
  readonly gateway: string;
}

/** Istio's default retry policy (retry.DefaultPolicy). */
export function defaultRetryPolicy(hashed = false): Json {
  return {
    retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    num_retries: 2,
    // with consistent hashing, retrying on another host would defeat it: Istio leaves the predicate out
    ...(hashed ? {} : { retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': TYPE.PREVIOUS_HOSTS } }] }),
    host_selection_retry_max_attempts: 5,
    retriable_status_codes: [503],
  };
}

export function retryPolicy(r: HTTPRetry | undefined, hashed: boolean): Json | undefined {
  if (!r) return defaultRetryPolicy(hashed);
  if (!r.attempts || r.attempts <= 0) return undefined;
  const out = defaultRetryPolicy(hashed);
  out.num_retries = r.attempts;
  if (r.retryOn) {
    const on: string[] = [];
    const codes: number[] = [];
    for (const part of r.retryOn.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (/^\d+$/.test(part)) codes.push(Number(part));
      else on.push(part);
    }
    // status codes alone imply retriable-status-codes (as Istio adds it)
    if (codes.length && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
    out.retry_on = on.join(',');
    if (codes.length) out.retriable_status_codes = codes;
    else delete out.retriable_status_codes;
  }
  const ptt = toProtoDuration(r.perTryTimeout);
  if (ptt) out.per_try_timeout = ptt;
  // Istio: once two attempts failed, retries leave the priorities (localities) already tried
  if (r.retryRemoteLocalities) {
    out.retry_priority = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: 2 } };
  }
  return out;
}

const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/** Istio's translateFault: the fault filter's per-route HTTPFault. */
export function faultConfig(f: HTTPFaultInjection): Json | undefined {
  const out: Json = { '@type': TYPE.FAULT };
  if (f.delay?.fixedDelay) {
    out.delay = {
      fixed_delay: toProtoDuration(f.delay.fixedDelay),
      percentage: f.delay.percentage ? percentToFractional(f.delay.percentage.value) : intPercentToFractional(f.delay.percent ?? 0),
    };
  }
  if (f.abort && (f.abort.httpStatus !== undefined || f.abort.grpcStatus !== undefined)) {
    const a: Json = f.abort.httpStatus !== undefined ? { http_status: f.abort.httpStatus } : { grpc_status: GRPC_CODES[f.abort.grpcStatus!] ?? 2 };
    // Istio leaves the percentage unset when absent (Envoy then aborts no request)
    if (f.abort.percentage) a.percentage = percentToFractional(f.abort.percentage.value);
    out.abort = a;
  }
  return out.delay || out.abort ? out : undefined;
}

/** set / add / remove → Envoy's *_headers_to_add (set overwrites, add appends) and *_headers_to_remove. */
export function headerOps(ops: HeaderOperations | undefined): { add: Json[]; remove: string[] } {
  const add: Json[] = [];
  const entries = (o: Record<string, string> | undefined) => Object.entries(o ?? {}).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [key, value] of entries(ops?.set)) add.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  for (const [key, value] of entries(ops?.add)) add.push({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' });
  return { add, remove: [...(ops?.remove ?? [])] };
}

function putHeaders(target: Json, h: HTTPRoute['headers']): void {
  const req = headerOps(h?.request);
  const res = headerOps(h?.response);
  if (req.add.length) target.request_headers_to_add = req.add;
  if (req.remove.length) target.request_headers_to_remove = req.remove;
  if (res.add.length) target.response_headers_to_add = res.add;
  if (res.remove.length) target.response_headers_to_remove = res.remove;
}

function mergeOps(a: HeaderOperations | undefined, b: HeaderOperations | undefined): HeaderOperations | undefined {
  if (!a || !b) return a ?? b;
  return { set: { ...a.set, ...b.set }, add: { ...a.add, ...b.add }, remove: [...(a.remove ?? []), ...(b.remove ?? [])] };
}

function mergeHeaders(a: HTTPRoute['headers'], b: HTTPRoute['headers']): HTTPRoute['headers'] {
  if (!a || !b) return a ?? b;
  return { request: mergeOps(a.request, b.request), response: mergeOps(a.response, b.response) };
}

/**
 * The service port a destination means: its `port`, else the service's only port, else (sidecars) the
 * listener port; undefined when none can be told (Istio rejects such a route on gateways).
 */
export function destinationPort(ctx: RouteContext, d: Destination): number | undefined {
  if (d.port?.number) return d.port.number;
  const s = ctx.scope.service(d.host) ?? ctx.snapshot.services.get(d.host, ctx.proxy.namespace);
  if (s && s.ports.length === 1) return s.ports[0]!.number;
  if (s?.ports.some((p) => p.number === ctx.port)) return ctx.port;
  return ctx.gateway === MESH_GATEWAY ? ctx.port : undefined;
}

export function destinationCluster(ctx: RouteContext, d: Destination): string | undefined {
  const port = destinationPort(ctx, d);
  return port === undefined ? undefined : outboundClusterName(port, d.subset, d.host);
}

/** The consistent-hash policy of a destination's DestinationRule (Istio applies it to single-destination routes). */
export function hashPolicy(ctx: RouteContext, d: Destination): Json[] | undefined {
  const s = ctx.scope.service(d.host);
  if (!s) return undefined;
  const dr = ctx.scope.destinationRule(s);
  const port = destinationPort(ctx, d) ?? 0;
  const ch = trafficPolicyFor(dr, port, d.subset ? subsetOf(dr, d.subset) : undefined).loadBalancer?.consistentHash;
  if (!ch) return undefined;
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const ttl = toProtoDuration(ch.httpCookie.ttl);
    return [{ cookie: { name: ch.httpCookie.name, ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}), ...(ttl ? { ttl } : {}) } }];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return undefined;
}

function mirrorPolicies(ctx: RouteContext, h: HTTPRoute): Json[] {
  const list: { destination: Destination; percentage?: { value: number } }[] = [];
  if (h.mirror) list.push({ destination: h.mirror, ...(h.mirrorPercentage ? { percentage: h.mirrorPercentage } : {}) });
  for (const m of h.mirrors ?? []) list.push(m);
  const out: Json[] = [];
  for (const m of list) {
    const cluster = destinationCluster(ctx, m.destination);
    if (!cluster) continue;
    // an explicit 0 % mirrors nothing; absent = 100 %
    if (m.percentage && m.percentage.value <= 0) continue;
    out.push({ cluster, runtime_fraction: { default_value: m.percentage ? percentToFractional(m.percentage.value) : { numerator: 100, denominator: 'HUNDRED' } } });
  }
  return out;
}

/** The route action of an HTTPRoute with destinations (and the headers of its only destination, which Istio
 *  applies at route level). */
function routeAction(ctx: RouteContext, h: HTTPRoute): { action: Json; headers?: HTTPRoute['headers'] } | undefined {
  const dests = (h.route ?? []).filter((d) => (h.route!.length === 1 ? true : (d.weight ?? 0) > 0));
  const resolved = dests.map((d) => ({ d, cluster: destinationCluster(ctx, d.destination) })).filter((x) => x.cluster !== undefined);
  if (resolved.length === 0) return undefined;
  const action: Json = {};
  if (resolved.length === 1) action.cluster = resolved[0]!.cluster;
  else {
    action.weighted_clusters = {
      clusters: resolved.map(({ d, cluster }) => {
        const cw: Json = { name: cluster, weight: d.weight ?? 0 };
        putHeaders(cw, d.headers);
        return cw;
      }),
    };
  }
  if (h.rewrite?.uri !== undefined) action.prefix_rewrite = h.rewrite.uri;
  if (h.rewrite?.uriRegexRewrite) action.regex_rewrite = { pattern: { regex: h.rewrite.uriRegexRewrite.match }, substitution: h.rewrite.uriRegexRewrite.rewrite };
  if (h.rewrite?.authority) action.host_rewrite_literal = h.rewrite.authority;
  const timeout = toProtoDuration(h.timeout) ?? '0s';
  action.timeout = timeout;
  const hp = resolved.length === 1 ? hashPolicy(ctx, resolved[0]!.d.destination) : undefined;
  const retry = retryPolicy(h.retries, hp !== undefined);
  if (retry) action.retry_policy = retry;
  if (hp) action.hash_policy = hp;
  const mirrors = mirrorPolicies(ctx, h);
  if (mirrors.length) action.request_mirror_policies = mirrors;
  action.max_stream_duration = { max_stream_duration: timeout, grpc_timeout_header_max: timeout };
  return { action, ...(resolved.length === 1 && resolved[0]!.d.headers ? { headers: resolved[0]!.d.headers } : {}) };
}

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function redirectAction(h: HTTPRoute): Json {
  const r = h.redirect!;
  const out: Json = {};
  if (r.uri !== undefined) out.path_redirect = r.uri;
  if (r.authority !== undefined) out.host_redirect = r.authority;
  if (r.port !== undefined) out.port_redirect = r.port;
  if (r.scheme !== undefined) out.scheme_redirect = r.scheme;
  out.response_code = REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
  return out;
}

/** Does this match clause apply to the proxy and port being built? */
function applies(ctx: RouteContext, m: HTTPMatchRequest): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.sourceLabels && !selects(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.proxy.namespace) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes(ctx.gateway)) return false;
  return true;
}

/** The Envoy routes of one HTTPRoute for this context (none when no match clause applies). */
export function translateHttpRoute(ctx: RouteContext, h: HTTPRoute): Json[] {
  const matches = h.match && h.match.length > 0 ? h.match.filter((m) => applies(ctx, m)) : [undefined];
  if (matches.length === 0) return [];
  let body: Json;
  let destHeaders: HTTPRoute['headers'];
  if (h.redirect) body = { redirect: redirectAction(h) };
  else if (h.directResponse) {
    const b = h.directResponse.body;
    body = { direct_response: { status: h.directResponse.status, ...(b?.string !== undefined ? { body: { inline_string: b.string } } : b?.bytes !== undefined ? { body: { inline_bytes: b.bytes } } : {}) } };
  } else {
    const ra = routeAction(ctx, h);
    if (!ra) return []; // no destination port could be told (delegating routes were merged away in the model)
    body = { route: ra.action };
    destHeaders = ra.headers;
  }
  const fault = h.fault ? faultConfig(h.fault) : undefined;
  const cors = h.corsPolicy ? corsPolicyConfig(h.corsPolicy) : undefined;
  return matches.map((m) => {
    const r: Json = {};
    const name = h.name && m?.name ? `${h.name}.${m.name}` : (h.name ?? m?.name);
    if (name) r.name = name;
    r.match = routeMatch(m);
    Object.assign(r, body);
    putHeaders(r, mergeHeaders(h.headers, destHeaders));
    if (fault || cors) r.typed_per_filter_config = { ...(fault ? { [FILTER.FAULT]: fault } : {}), ...(cors ? { [CORS_FILTER_NAME]: cors } : {}) };
    return r;
  });
}

/** Istio's route when no VirtualService routes a service: everything to outbound|port||host. */
export function defaultRoute(ctx: RouteContext, hostname: string): Json {
  const d: Destination = { host: hostname, port: { number: ctx.port } };
  const hp = hashPolicy(ctx, d);
  return {
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster: outboundClusterName(ctx.port, undefined, hostname),
      timeout: '0s',
      retry_policy: defaultRetryPolicy(hp !== undefined),
      ...(hp ? { hash_policy: hp } : {}),
      max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' },
    },
  };
}
