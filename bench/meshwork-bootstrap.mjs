// The Envoy v3 bootstrap every Meshwork benchmark row runs: one listener → http_connection_manager with a
// small route table (requests fall through several routes to the catch-all), the router, a file access log
// in Envoy's default format, the admin listener → one STATIC cluster. Shared by run.mjs and instructions.mjs
// so both measure the same work.
export function meshworkBootstrap({ listen, adminPort, upstreamPort, accessLog }) {
  const toUpstream = { cluster: 'upstream' };
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: 'bench',
          address: { socket_address: { address: '127.0.0.1', port_value: listen } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'bench',
                    codec_type: 'AUTO',
                    access_log: [
                      {
                        name: 'envoy.access_loggers.file',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                          path: accessLog,
                        },
                      },
                    ],
                    route_config: {
                      name: 'bench',
                      virtual_hosts: [
                        {
                          name: 'api',
                          domains: ['api.bench.internal', 'api.bench.internal:*'],
                          routes: [
                            { match: { prefix: '/v1/' }, route: toUpstream },
                            { match: { prefix: '/' }, route: toUpstream },
                          ],
                        },
                        {
                          name: 'default',
                          domains: ['*'],
                          routes: [
                            { match: { path: '/healthz' }, route: toUpstream },
                            { match: { prefix: '/api/v2/' }, route: toUpstream },
                            {
                              match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'true' } }] },
                              route: toUpstream,
                            },
                            { match: { prefix: '/' }, route: toUpstream },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'upstream',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'upstream',
            endpoints: [
              { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] },
            ],
          },
        },
      ],
    },
  };
}
