// GET /why: "why did my request go there?" answered by the proxy itself, from the config it is running: a
// described request (method, URL, headers) is walked through the listener on the URL's port, the filter chain
// a connection would take, the HTTP connection manager's filters, the route table (every route tried before the
// one that matched, and the first condition that failed), the cluster(s) and their endpoints with health. The
// same compiled objects serve traffic, so the answer cannot drift from what a request would meet; nothing is
// sent upstream. `meshwork why` (src/cli/why.ts) asks it through the control plane's list of proxies.
//
// What it does not decide, because it depends on more than the request line and headers: authorization
// (RBAC / ext_authz / JWT filters are listed, not evaluated), rate limits, faults drawn at random, the endpoint
// a load balancer would pick (all endpoints are listed with what makes them eligible).
import { HeaderMap } from '../http/headers.js';
import type { ListenerManager } from '../listener/listener-manager.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';

export interface WhyQuery {
  method: string;
  url: URL;
  headers: [string, string][];
}

/** `?url=http://host:port/path&method=GET&header=name:value` (header repeatable) → a query, or an error. */
export function parseWhy(params: URLSearchParams): WhyQuery | { error: string } {
  const raw = params.get('url');
  if (!raw) return { error: 'give url=<scheme>://<host>:<port>/<path> (the port is the listener\'s)' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { error: `not a URL: ${raw}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { error: 'the URL must be http:// or https://' };
  const headers: [string, string][] = [];
  for (const h of params.getAll('header')) {
    const i = h.indexOf(':');
    if (i <= 0) return { error: `a header is name:value, not ${JSON.stringify(h)}` };
    headers.push([h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim()]);
  }
  return { method: (params.get('method') ?? 'GET').toUpperCase(), url, headers };
}

export function explainRequest(q: WhyQuery, listeners: ListenerManager, clusters: ClusterManager): Record<string, unknown> {
  const tls = q.url.protocol === 'https:';
  const port = Number(q.url.port || (tls ? 443 : 80));
  const authority = q.url.host;
  const out: Record<string, unknown> = { request: { method: q.method, url: q.url.href, headers: Object.fromEntries(q.headers) } };
  const l = listeners.explain(port, { tls, sni: tls ? q.url.hostname : undefined, alpn: tls ? ['http/1.1'] : [] });
  if (!l) return { ...out, verdict: `no listener on port ${port}: the connection is refused` };
  out.listener = l.listener;
  if (!l.chain) return { ...out, verdict: 'no filter chain matches the connection: it is closed (no_filter_chain_match)' };
  out.filterChain = l.chain.name || '(default)';
  const hcm = l.chain.filters.find((f) => f.http)?.http;
  out.networkFilters = l.chain.filters.length;
  if (!hcm) return { ...out, verdict: 'the filter chain does not speak HTTP (TCP proxy): no route applies' };
  out.httpFilters = hcm.filters.map((f) => f.name);
  const table = hcm.routeTable;
  out.routeConfiguration = table.name || '(inline)';
  const headers = new HeaderMap([':method', q.method, ':path', `${q.url.pathname}${q.url.search}`, ':authority', authority, ':scheme', tls ? 'https' : 'http', ...q.headers.flat()]);
  const ex = table.explain({ authority, path: `${q.url.pathname}${q.url.search}`, method: q.method, scheme: tls ? 'https' : 'http', headers });
  out.virtualHost = ex.virtualHost ?? null;
  out.routesTried = ex.tried;
  if (!ex.virtualHost) return { ...out, verdict: `no virtual host has a domain matching "${authority}": 404 (NR)` };
  if (ex.tlsRedirect) return { ...out, verdict: 'the virtual host requires TLS: 301 to https' };
  const r = ex.result;
  if (!r) return { ...out, verdict: 'no route matches: 404 (NR)' };
  const e = r.entry;
  out.route = e.name || ex.tried[ex.tried.length - 1]?.route;
  if (e.kind === 'redirect') return { ...out, verdict: `redirect ${e.responseCode}` };
  if (e.kind === 'direct_response') return { ...out, verdict: `direct response ${e.status}` };
  const targets =
    e.cluster.kind === 'weighted'
      ? e.cluster.clusters.map((c) => ({ name: c.name, weight: c.weight, of: (e.cluster as { totalWeight: number }).totalWeight }))
      : e.cluster.kind === 'header'
        ? [{ name: r.clusterName, header: e.cluster.header }]
        : [{ name: e.cluster.name }];
  out.clusters = targets.map((t) => {
    const c = clusters.get(t.name);
    if (!c) return { ...t, exists: false };
    return {
      ...t,
      type: c.config.type ?? (c.config.cluster_type ? 'custom' : 'EDS'),
      endpoints: c.hosts.map((h) => ({
        address: h.id,
        healthy: h.healthy && !h.failedActiveHc,
        ejected: h.ejected,
        weight: h.weight,
        priority: h.priority,
        ...(h.locality ? { locality: [h.locality.region, h.locality.zone, h.locality.sub_zone].filter(Boolean).join('/') } : {}),
        ...(h.metadata ? { metadata: h.metadata } : {}),
      })),
    };
  });
  out.timeoutMs = e.timeoutMs;
  if (e.retry) out.retryOn = (e.action.retry_policy as { retry_on?: string } | undefined)?.retry_on ?? null;
  const missing = targets.filter((t) => !clusters.get(t.name)).map((t) => t.name);
  out.verdict = missing.length === targets.length ? `the cluster does not exist: ${e.clusterNotFoundResponseCode} (NC)` : `routed to ${targets.map((t) => ('weight' in t ? `${t.name} (${t.weight}/${t.of})` : t.name)).join(', ')}`;
  return out;
}
