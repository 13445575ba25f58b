// The pieces of a static bootstrap that every end-to-end suite builds (clusters over in-test servers on
// 127.0.0.1, an HTTP connection manager listener on a kernel-chosen port). The per-suite helper files shape
// these to their needs instead of each writing the same resource out again.

export const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
/** The router as the last entry of http_filters (a fresh object each time, so a bootstrap written as YAML carries no aliases). */
export const routerFilter = () => ({ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } });

/** A STATIC cluster over 127.0.0.1:<port> for each port; `extra` fields are added (or override the 1 s connect timeout). */
export function staticCluster(name: string, ports: number[], extra: object = {}): any {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }],
    },
    ...extra,
  };
}

/** A listener on 127.0.0.1:0 with one filter chain holding an HTTP connection manager (stat_prefix `name`) made of `hcm`. */
export function hcmListener(name: string, hcm: object): any {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, stat_prefix: name, ...hcm } }] }],
  };
}
