// A sidecar's HTTP proxy listener: Meshwork captures no traffic (no iptables, no ORIGINAL_DST), so besides calling
// its sidecar's outbound listeners by port, an app can set the sidecar as its HTTP proxy (http_proxy=
// http://<outbound bind>:15080, `curl -x`, undici's ProxyAgent) and reach mesh services and, as Istio's
// outboundTrafficPolicy says, the rest of the world. Istio has no such listener; the port is the proxy's
// HTTP_PROXY_PORT (`meshwork proxy --http-proxy-port`, default 15080, 0 = none), bound on OUTBOUND_BIND.
//
// One HTTP connection manager (absolute-form URLs allowed, CONNECT accepted) with an inline route configuration:
//  - every visible HTTP service port is a virtual host "<host>:<port>" with the routes its per-port route
//    configuration "<port>" has (the same VirtualService, so weights, matches, faults, retries apply), whose
//    domains are the host, its short names and addresses with ":<port>" (and without a port for port 80, the
//    port an http:// URL without one means);
//  - every visible non-HTTP port (TCP, TLS, ...) is a virtual host whose CONNECT route tunnels to
//    outbound|<port>||<host> (`curl -p`, HTTPS through a proxy), since only CONNECT carries opaque bytes here;
//  - the rest ("*"): outboundTrafficPolicy REGISTRY_ONLY answers 502 (Istio's block_all; a CONNECT is refused
//    the same way), ALLOW_ANY (Istio's default) goes to "PassthroughCluster", which here is a dynamic forward
//    proxy cluster (DNS at request time, the dynamic_forward_proxy filter) and terminates CONNECT tunnels to
//    any host:port, so TCP to unknown destinations works through CONNECT too. ALLOW_ANY with an `egressProxy`
//    sends the rest to that service's cluster instead (Istio's BuildCatchAllVirtualHost and
//    GetDestinationCluster: outbound|<port>|<subset>|<host>): plain HTTP keeps its Host, and a CONNECT tunnel
//    carries its bytes to the egress proxy's port, as Istio's catch-all TCP filter chain sends unknown TCP there.
//    Meshwork has no catch-all TCP listener (no traffic capture), so this listener is the only way there.
import { intersects, resolveHost } from '../../model/hosts.js';
import { isHttp } from '../../model/protocol.js';
import type { Proxy } from '../../model/proxy.js';
import type { ProxyScope } from '../../model/scope.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { MESH_GATEWAY } from '../../model/virtual-services.js';
import { DEFAULT_CONNECT_TIMEOUT, FILTER, outboundClusterName, socketAddress, TYPE, type Json } from '../common.js';
import { defaultRoute, translateHttpRoute, type RouteContext } from '../routes/http-route.js';
import { corsHttpFilter, serviceDomains } from '../routes/index.js';
import { istioStatsFilter } from '../observability/istio-stats.js';

export const HTTP_PROXY_LISTENER = 'http_proxy';
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
const DFP_FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig';
const DFP_CLUSTER_TYPE = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';
/** the filter and the cluster must name the same cache with the same settings */
const DNS_CACHE: Json = { name: 'passthrough', dns_lookup_family: 'V4_PREFERRED' };

const NO_TIMEOUT: Json = { timeout: '0s', max_stream_duration: { max_stream_duration: '0s' } };
const CONNECT_TERMINATE: Json = { upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] };

type Mode = 'REGISTRY_ONLY' | 'ALLOW_ANY';

/** Istio's mesh-wide default is ALLOW_ANY */
function modeOf(scope: ProxyScope): Mode {
  return scope.sidecar?.spec.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY';
}

function serviceVirtualHosts(snapshot: MeshSnapshot, proxy: Proxy, scope: ProxyScope): Json[] {
  const vhosts: Json[] = [];
  // Envoy rejects a domain two virtual hosts list: the first service keeps it, as in the per-port configs
  const used = new Set<string>();
  const take = (domains: string[]): string[] => {
    const out = domains.filter((d) => !used.has(d));
    for (const d of out) used.add(d);
    return out;
  };
  for (const s of scope.services) {
    for (const p of s.ports) {
      if (p.protocol === 'UDP') continue;
      const suffix = `:${p.number}`;
      const domains = take(serviceDomains(s, p.number, proxy.namespace).filter((d) => d.endsWith(suffix) || p.number === 80));
      if (domains.length === 0) continue;
      const name = `${s.hostname}:${p.number}`;
      if (!isHttp(p.protocol)) {
        const cluster = outboundClusterName(p.number, undefined, s.hostname);
        vhosts.push({ name, domains, routes: [{ name: 'connect', match: { connect_matcher: {} }, route: { cluster, ...NO_TIMEOUT, ...CONNECT_TERMINATE } }] });
        continue;
      }
      const ctx: RouteContext = { snapshot, scope, proxy, port: p.number, gateway: MESH_GATEWAY };
      const vs = scope.meshVirtualServices.find((v) => v.hosts.includes(s.hostname)) ?? scope.meshVirtualServices.find((v) => v.hosts.some((h) => intersects(h, s.hostname)));
      let routes = vs ? vs.http.flatMap((h) => translateHttpRoute(ctx, h)) : [];
      if (routes.length === 0) routes = [defaultRoute(ctx, s.hostname)];
      vhosts.push({ name, domains, routes, include_request_attempt_count: true });
    }
  }
  return vhosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The egress proxy's cluster under ALLOW_ANY (a short host resolves in the Sidecar's namespace; Istio would
 *  take it as written and name a cluster that does not exist), or undefined for PassthroughCluster. */
function egressProxyCluster(scope: ProxyScope): string | undefined {
  const sc = scope.sidecar;
  const ep = sc?.spec.outboundTrafficPolicy?.egressProxy;
  if (!sc || !ep?.host || modeOf(scope) !== 'ALLOW_ANY') return undefined;
  return outboundClusterName(ep.port?.number ?? 0, ep.subset, resolveHost(ep.host, sc.namespace));
}

function catchAll(mode: Mode, egressCluster: string | undefined): Json {
  if (mode === 'REGISTRY_ONLY') {
    const blocked = { direct_response: { status: 502 } };
    return {
      name: 'block_all',
      domains: ['*'],
      routes: [
        { name: 'block_all_connect', match: { connect_matcher: {} }, ...blocked },
        { name: 'block_all', match: { prefix: '/' }, ...blocked },
      ],
      include_request_attempt_count: true,
    };
  }
  const cluster = egressCluster ?? PASSTHROUGH_CLUSTER;
  return {
    name: 'allow_any',
    domains: ['*'],
    routes: [
      { name: 'allow_any_connect', match: { connect_matcher: {} }, route: { cluster, ...NO_TIMEOUT, ...CONNECT_TERMINATE } },
      { name: 'allow_any', match: { prefix: '/' }, route: { cluster, ...NO_TIMEOUT } },
    ],
    include_request_attempt_count: true,
  };
}

/** The sidecar's HTTP proxy listener (none for gateways or with HTTP_PROXY_PORT 0). */
export function httpProxyListeners(snapshot: MeshSnapshot, proxy: Proxy, scope: ProxyScope): Json[] {
  if (proxy.type !== 'sidecar' || proxy.httpProxyPort === 0) return [];
  const mode = modeOf(scope);
  const egress = egressProxyCluster(scope);
  // the dynamic forward proxy filter resolves hosts for PassthroughCluster only
  const dfp = mode === 'ALLOW_ANY' && egress === undefined;
  return [
    {
      name: HTTP_PROXY_LISTENER,
      address: socketAddress(proxy.outboundBind, proxy.httpProxyPort),
      traffic_direction: 'OUTBOUND',
      filter_chains: [
        {
          filters: [
            {
              name: FILTER.HCM,
              typed_config: {
                '@type': TYPE.HCM,
                stat_prefix: `outbound_${HTTP_PROXY_LISTENER}`,
                route_config: { name: HTTP_PROXY_LISTENER, virtual_hosts: [...serviceVirtualHosts(snapshot, proxy, scope), catchAll(mode, egress)], validate_clusters: false },
                http_filters: [
                  istioStatsFilter(proxy, 'SOURCE'),
                  ...(dfp ? [{ name: 'envoy.filters.http.dynamic_forward_proxy', typed_config: { '@type': DFP_FILTER_TYPE, dns_cache_config: DNS_CACHE } }] : []),
                  { name: FILTER.FAULT, typed_config: { '@type': TYPE.FAULT } },
                  corsHttpFilter(),
                  { name: FILTER.ROUTER, typed_config: { '@type': TYPE.ROUTER } },
                ],
                http_protocol_options: { allow_absolute_url: true },
                upgrade_configs: [{ upgrade_type: 'CONNECT' }],
                use_remote_address: false,
                normalize_path: true,
              },
            },
          ],
        },
      ],
    },
  ];
}

/** Istio's PassthroughCluster for sidecars under ALLOW_ANY: a dynamic forward proxy cluster (Istio's is
 *  ORIGINAL_DST, which needs captured connections). Emitted whatever the listener's port, so that the cluster
 *  set depends on the proxy's scope alone. */
export function httpProxyClusters(snapshot: MeshSnapshot, proxy: Proxy, scope: ProxyScope): Json[] {
  void snapshot;
  if (proxy.type !== 'sidecar') return [];
  if (modeOf(scope) !== 'ALLOW_ANY') return [];
  return [
    {
      name: PASSTHROUGH_CLUSTER,
      connect_timeout: DEFAULT_CONNECT_TIMEOUT,
      lb_policy: 'CLUSTER_PROVIDED',
      cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': DFP_CLUSTER_TYPE, dns_cache_config: DNS_CACHE } },
    },
  ];
}
