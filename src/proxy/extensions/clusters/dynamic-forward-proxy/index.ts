// envoy.clusters.dynamic_forward_proxy: a cluster whose hosts are whatever the dynamic forward proxy's DNS cache
// has resolved (dns-cache.ts), with its own load balancer (lb_policy CLUSTER_PROVIDED) that picks the host the
// request's :authority names. The dynamic_forward_proxy HTTP filter fills the cache before the router runs, so
// the balancer only looks up; a request whose host is not in the cache (no such filter in the chain) finds no
// host, and the router answers 503 no_healthy_upstream, as in Envoy.
//
// Hosts are keyed by address: two names that resolve to the same address:port share one Host (and so one
// connection pool), since the cluster keys hosts and pools by "ip:port".
import { ConfigError } from '../../../../common/errors.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Cluster, ClusterTypeFactory } from '../../../upstream/cluster.js';
import { Host } from '../../../upstream/host.js';
import type { LoadBalancer } from '../../../upstream/load-balancer.js';
import { acquireDnsCache, cacheKey, type DnsCache } from './dns-cache.js';

export const DFP_CLUSTER_NAME = 'envoy.clusters.dynamic_forward_proxy';
export const DFP_CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';

/** Plain HTTP only (the cluster refuses a transport socket), so a host without a port means port 80. */
export const DFP_DEFAULT_PORT = 80;

/** The cluster's DNS cache config, or undefined for a cluster of another type. */
function clusterConfigOf(config: any): any {
  const ct = config?.cluster_type;
  if (!ct) return undefined;
  const tc = ct.typed_config;
  return tc?.['@type'] === DFP_CLUSTER_TYPE_URL || ct.name === DFP_CLUSTER_NAME ? (tc ?? {}) : undefined;
}

/** Whether a live cluster is a dynamic forward proxy cluster (read by the HTTP filter per request: two property reads). */
export function isDfpCluster(cluster: Cluster): boolean {
  return cluster.config.cluster_type !== undefined && clusterConfigOf(cluster.config) !== undefined;
}

function cacheOf(config: any, path: string): DnsCache {
  const cc = clusterConfigOf(config);
  if (!cc?.dns_cache_config) throw new ConfigError('MW_CONFIG_INVALID', `${path}.cluster_type.typed_config.dns_cache_config`, 'a dynamic forward proxy cluster needs a dns_cache_config');
  return acquireDnsCache(cc.dns_cache_config, `${path}.cluster_type.typed_config.dns_cache_config`);
}

/** The balancer: the host the request's authority resolved to, or none. */
function dfpLoadBalancer(config: any): LoadBalancer {
  const cache = cacheOf(config, `cluster "${config.name}"`);
  let byId = new Map<string, Host>();
  return {
    update(hosts) {
      byId = new Map(hosts.map((h) => [h.id, h]));
    },
    chooseHost(ctx) {
      const headers: HeaderMap | undefined = ctx?.downstreamHeaders;
      const authority = headers?.get(':authority');
      if (!authority) return null;
      const entry = cache.lookup(cacheKey(authority, DFP_DEFAULT_PORT));
      return entry?.hostId !== undefined ? (byId.get(entry.hostId) ?? null) : null;
    },
  };
}

export const dfpCluster: ClusterTypeFactory = {
  types: [DFP_CLUSTER_NAME, DFP_CLUSTER_TYPE_URL],
  loadBalancer: dfpLoadBalancer,
  create(config, ctx, path) {
    if (config.lb_policy !== 'CLUSTER_PROVIDED') {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}.lb_policy`, `a dynamic forward proxy cluster picks its own hosts: set lb_policy CLUSTER_PROVIDED (not ${config.lb_policy ?? 'ROUND_ROBIN'})`);
    }
    if (config.load_assignment) throw new ConfigError('MW_CONFIG_INVALID', `${path}.load_assignment`, 'a dynamic forward proxy cluster takes its hosts from the DNS cache, not load_assignment');
    if (config.transport_socket) {
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.transport_socket`, 'upstream TLS on a dynamic forward proxy cluster needs per-host SNI and SAN checks, which are not implemented');
    }
    const cache = cacheOf(config, path);
    // Rebuilt on DNS events only (bounded by max_hosts), never per request.
    const publish = (): void => {
      const byId = new Map<string, Host>();
      for (const e of cache.resolved()) if (!byId.has(e.hostId!)) byId.set(e.hostId!, new Host(e.address!, e.port, { hostname: e.host }));
      ctx.setHosts([...byId.values()]);
    };
    const unsubscribe = cache.addListener({ onHostAddOrUpdate: publish, onHostRemove: publish });
    publish();
    return { initialized: Promise.resolve(), stop: unsubscribe };
  },
};
