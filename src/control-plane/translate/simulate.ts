// Runs a described request through generated RouteConfigurations the way Envoy picks a virtual host and a
// route (Istio's pilot/pkg/simulation does the same for its tests): the answer is the virtual host, the route
// and the cluster(s) with weights, or the redirect / direct response. Conditions Istio decides per proxy
// (sourceLabels, match port, gateways) are already resolved in the routes generated for that proxy.
import type { Json } from './common.js';

export interface SimRequest {
  /** Host header / :authority, with or without port */
  authority: string;
  /** path with optional query (default "/") */
  path?: string;
  method?: string;
  scheme?: string;
  headers?: Record<string, string>;
}

export interface SimResult {
  routeConfig: string;
  virtualHost?: string;
  /** the route's name, or "#<index>" when unnamed */
  route?: string;
  clusters: { name: string; weight: number }[];
  redirect?: Json;
  directResponse?: Json;
  /** the fault filter's per-route config */
  fault?: Json;
  action?: Json;
}

/** Envoy's virtual host choice: exact domain, then the longest "*suffix", then the longest "prefix*", then "*". */
export function pickVirtualHost(vhosts: readonly Json[], authority: string): Json | undefined {
  const host = authority.toLowerCase();
  let best: { vh: Json; rank: number; len: number } | undefined;
  for (const vh of vhosts) {
    for (const d0 of vh.domains as string[]) {
      const d = d0.toLowerCase();
      let rank = -1;
      if (d === host) rank = 3;
      else if (d === '*') rank = 0;
      else if (d.startsWith('*') && host.endsWith(d.slice(1)) && host.length > d.length - 1) rank = 2;
      else if (d.endsWith('*') && host.startsWith(d.slice(0, -1)) && host.length > d.length - 1) rank = 1;
      if (rank < 0) continue;
      if (!best || rank > best.rank || (rank === best.rank && d.length > best.len)) best = { vh, rank, len: d.length };
    }
  }
  return best?.vh;
}

function stringMatches(m: Json, value: string): boolean {
  if (m.exact !== undefined) return m.ignore_case ? value.toLowerCase() === String(m.exact).toLowerCase() : value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  if (m.suffix !== undefined) return value.endsWith(m.suffix);
  if (m.contains !== undefined) return value.includes(m.contains);
  if (m.safe_regex) return new RegExp(`^(?:${m.safe_regex.regex})$`).test(value);
  return true;
}

function headerMatches(h: Json, headers: Map<string, string>): boolean {
  const v = headers.get(String(h.name).toLowerCase());
  let ok: boolean;
  if (h.present_match) ok = v !== undefined;
  else if (v === undefined) ok = false;
  else if (h.string_match) ok = stringMatches(h.string_match, v);
  else if (h.exact_match !== undefined) ok = v === h.exact_match;
  else if (h.safe_regex_match) ok = new RegExp(`^(?:${h.safe_regex_match.regex})$`).test(v);
  else ok = true;
  return h.invert_match ? !ok : ok;
}

function routeMatches(m: Json, req: SimRequest, headers: Map<string, string>): boolean {
  const full = req.path ?? '/';
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  const cs = m.case_sensitive !== false;
  const p = cs ? path : path.toLowerCase();
  const norm = (s: string) => (cs ? s : s.toLowerCase());
  if (m.path !== undefined && p !== norm(m.path)) return false;
  if (m.prefix !== undefined && !p.startsWith(norm(m.prefix))) return false;
  if (m.safe_regex && !new RegExp(`^(?:${m.safe_regex.regex})$`, cs ? '' : 'i').test(path)) return false;
  for (const h of m.headers ?? []) if (!headerMatches(h, headers)) return false;
  if (m.query_parameters) {
    const params = new URLSearchParams(q < 0 ? '' : full.slice(q + 1));
    for (const qp of m.query_parameters) {
      const v = params.get(qp.name);
      if (qp.present_match ? v === null : v === null || !stringMatches(qp.string_match ?? {}, v)) return false;
    }
  }
  return true;
}

/** The outcome of `req` against the route configuration named `routeConfig` among `routes`. */
export function simulate(routes: readonly Json[], routeConfig: string, req: SimRequest): SimResult {
  const rc = routes.find((r) => r.name === routeConfig);
  const result: SimResult = { routeConfig, clusters: [] };
  if (!rc) return result;
  const vh = pickVirtualHost(rc.virtual_hosts ?? [], req.authority);
  if (!vh) return result;
  result.virtualHost = vh.name;
  const headers = new Map<string, string>(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  headers.set(':authority', req.authority);
  headers.set(':method', req.method ?? 'GET');
  headers.set(':scheme', req.scheme ?? 'http');
  headers.set(':path', req.path ?? '/');
  const routesOf: Json[] = vh.routes ?? [];
  const i = routesOf.findIndex((r) => routeMatches(r.match ?? {}, req, headers));
  if (i < 0) return result;
  const r = routesOf[i]!;
  result.route = r.name ?? `#${i}`;
  if (r.route) {
    result.action = r.route;
    if (r.route.cluster) result.clusters = [{ name: r.route.cluster, weight: 100 }];
    else if (r.route.weighted_clusters) result.clusters = r.route.weighted_clusters.clusters.map((c: Json) => ({ name: c.name, weight: c.weight }));
  }
  if (r.redirect) result.redirect = r.redirect;
  if (r.direct_response) result.directResponse = r.direct_response;
  const fault = r.typed_per_filter_config?.['envoy.filters.http.fault'];
  if (fault) result.fault = fault;
  return result;
}
