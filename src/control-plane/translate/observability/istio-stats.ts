// Istio's standard metrics for a proxy's HTTP connection managers: the istio.stats filter (the proxy's
// src/proxy/extensions/http-filters/istio-stats), first in every HTTP filter chain so that it sees every
// response, local replies included. Reporter DESTINATION on a sidecar's inbound side (it knows the service its
// workload serves), SOURCE on the outbound side and on gateways (as Istio reports gateways). The filter carries
// the proxy's own workload, which it tells its peers in x-envoy-peer-metadata: Istio reads the same from the
// node metadata; here the control plane writes it from the node metadata it received.
import type { Proxy } from '../../model/proxy.js';
import type { Json } from '../common.js';

export const ISTIO_STATS_FILTER = 'istio.stats';
/** Istio's default cluster id (Kubernetes); Meshwork runs one cluster */
const CLUSTER_ID = 'Kubernetes';

/** The filter for an HTTP connection manager, or (the same config, registered by the proxy as a network filter
 *  too) for a TCP chain before tcp_proxy; `service`: the destination service a SOURCE TCP chain carries. */
export function istioStatsFilter(proxy: Proxy, reporter: 'SOURCE' | 'DESTINATION', service?: string): Json {
  const labels = Object.fromEntries(Object.entries(proxy.labels).filter(([, v]) => typeof v === 'string'));
  return {
    name: ISTIO_STATS_FILTER,
    typed_config: {
      '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct',
      type_url: 'type.googleapis.com/stats.PluginConfig',
      value: {
        reporter,
        workload: proxy.workloadName ?? 'unknown',
        namespace: proxy.namespace,
        cluster: CLUSTER_ID,
        labels,
        ...(service ? { service } : reporter === 'DESTINATION' && proxy.service ? { service: proxy.service } : {}),
      },
    },
  };
}
