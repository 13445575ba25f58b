import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigErrors } from '../../common/errors.js';
import { loadBootstrapFile, loadBootstrapText, locationOf, type HttpConnectionManager } from './index.js';

// A front proxy in the shape of Envoy's own examples: TLS listener with SNI chains, HCM with routes,
// redirects and direct responses, access logs, DNS clusters with HTTP/2 upstream options.
const FRONT_PROXY = `node:
  id: front-proxy
  cluster: front
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: ingress
    address:
      socket_address: { address: 0.0.0.0, port_value: 8443 }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:
    - filter_chain_match:
        server_names: ["www.example.com"]
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_params: { tls_minimum_protocol_version: TLSv1_2 }
            tls_certificates:
            - certificate_chain: { filename: /etc/envoy/cert.pem }
              private_key: { inline_bytes: aGVsbG8= }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_https
          codec_type: AUTO
          use_remote_address: true
          common_http_protocol_options: { idle_timeout: 60s }
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
              log_format:
                json_format: { status: "%RESPONSE_CODE%", path: "%REQ(:PATH)%" }
          route_config:
            name: local_route
            virtual_hosts:
            - name: www
              domains: ["www.example.com", "example.com"]
              routes:
              - match: { prefix: "/service/1" }
                route: { cluster: service1, timeout: 2.5s, prefix_rewrite: "/" }
              - match:
                  prefix: "/service/2"
                  headers:
                  - name: x-canary
                    string_match: { exact: "yes" }
                route:
                  weighted_clusters:
                    clusters:
                    - { name: service2, weight: 90 }
                    - { name: service2-canary, weight: 10 }
              - match: { path: "/old" }
                redirect: { path_redirect: "/new", response_code: PERMANENT_REDIRECT }
              - match: { prefix: "/" }
                direct_response:
                  status: 404
                  body: { inline_string: "not here" }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: service1
    type: STRICT_DNS
    connect_timeout: 0.25s
    dns_lookup_family: V4_ONLY
    lb_policy: LEAST_REQUEST
    least_request_lb_config: { choice_count: 3 }
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: { max_concurrent_streams: 100 }
    load_assignment:
      cluster_name: service1
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: service1, port_value: 8000 }
          load_balancing_weight: 2
  - name: service2
    connect_timeout: { seconds: 1 }
    load_assignment:
      cluster_name: service2
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.0.0.2, port_value: 80 } } }
  - name: service2-canary
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: service2-canary
      endpoints:
      - priority: 1
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 10.0.0.3, port_value: 80 } } }
          health_status: DRAINING
`;

const T = 'type.googleapis.com/';

const EXPECTED = {
  node: { id: 'front-proxy', cluster: 'front' },
  admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
  static_resources: {
    listeners: [
      {
        name: 'ingress',
        address: { socket_address: { address: '0.0.0.0', port_value: 8443 } },
        listener_filters: [
          { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': T + 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } },
        ],
        filter_chains: [
          {
            filter_chain_match: { server_names: ['www.example.com'] },
            transport_socket: {
              name: 'envoy.transport_sockets.tls',
              typed_config: {
                '@type': T + 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                common_tls_context: {
                  alpn_protocols: ['h2', 'http/1.1'],
                  tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
                  tls_certificates: [{ certificate_chain: { filename: '/etc/envoy/cert.pem' }, private_key: { inline_bytes: Buffer.from('hello') } }],
                },
              },
            },
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typed_config: {
                  '@type': T + 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                  stat_prefix: 'ingress_https',
                  codec_type: 'AUTO',
                  use_remote_address: true,
                  common_http_protocol_options: { idle_timeout: 60_000 },
                  access_log: [
                    {
                      name: 'envoy.access_loggers.stdout',
                      typed_config: {
                        '@type': T + 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
                        log_format: { json_format: { status: '%RESPONSE_CODE%', path: '%REQ(:PATH)%' } },
                      },
                    },
                  ],
                  route_config: {
                    name: 'local_route',
                    virtual_hosts: [
                      {
                        name: 'www',
                        domains: ['www.example.com', 'example.com'],
                        routes: [
                          { match: { prefix: '/service/1' }, route: { cluster: 'service1', timeout: 2500, prefix_rewrite: '/' } },
                          {
                            match: { prefix: '/service/2', headers: [{ name: 'x-canary', string_match: { exact: 'yes' } }] },
                            route: { weighted_clusters: { clusters: [{ name: 'service2', weight: 90 }, { name: 'service2-canary', weight: 10 }] } },
                          },
                          { match: { path: '/old' }, redirect: { path_redirect: '/new', response_code: 'PERMANENT_REDIRECT' } },
                          { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'not here' } } },
                        ],
                      },
                    ],
                  },
                  http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': T + 'envoy.extensions.filters.http.router.v3.Router' } }],
                },
              },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: 'service1',
        type: 'STRICT_DNS',
        connect_timeout: 250,
        dns_lookup_family: 'V4_ONLY',
        lb_policy: 'LEAST_REQUEST',
        least_request_lb_config: { choice_count: 3 },
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': T + 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
          },
        },
        load_assignment: {
          cluster_name: 'service1',
          endpoints: [
            { lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'service1', port_value: 8000 } } }, load_balancing_weight: 2 }] },
          ],
        },
      },
      {
        name: 'service2',
        connect_timeout: 1000,
        load_assignment: {
          cluster_name: 'service2',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 80 } } } }] }],
        },
      },
      {
        name: 'service2-canary',
        connect_timeout: 1000,
        type: 'STATIC',
        load_assignment: {
          cluster_name: 'service2-canary',
          endpoints: [
            { priority: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.3', port_value: 80 } } }, health_status: 'DRAINING' }] },
          ],
        },
      },
    ],
  },
};

/** line:column where `needle` first occurs in `text` (1-based, as error locations are). */
function at(text: string, needle: string): string {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `fixture has no ${JSON.stringify(needle)}`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

test('a v3 front-proxy config with typed_config decodes to the documented shape', () => {
  const bootstrap = loadBootstrapText(FRONT_PROXY, 'front-envoy.yaml');
  assert.deepStrictEqual(bootstrap, EXPECTED);
});

test('JSON input decodes exactly like the same config in YAML', () => {
  const json = JSON.stringify(parseYaml(FRONT_PROXY), null, 2);
  assert.deepStrictEqual(loadBootstrapText(json, 'front-envoy.json'), EXPECTED);
});

test('JSON input errors carry line:column too', () => {
  const json = JSON.stringify({ static_resources: { clusters: [{ name: 'c', connect_timeout: '1s', lbPolicy: 'MAGLEVV' }] } }, null, 2);
  let err: ConfigErrors | undefined;
  try {
    loadBootstrapText(json, 'b.json');
  } catch (e) {
    err = e as ConfigErrors;
  }
  assert.ok(err instanceof ConfigErrors);
  assert.equal(err.errors.length, 1);
  assert.equal(err.errors[0].path, 'static_resources.clusters[0].lb_policy');
  assert.equal(err.errors[0].location, `b.json:${at(json, '"MAGLEVV"')}`);
});

test('decoded objects remember where they were written', () => {
  const b = loadBootstrapText(FRONT_PROXY, 'front-envoy.yaml');
  const service1 = b.static_resources!.clusters![0];
  assert.equal(locationOf(service1), `front-envoy.yaml:${at(FRONT_PROXY, 'name: service1')}`);
  assert.equal(locationOf(service1, 'connect_timeout'), `front-envoy.yaml:${at(FRONT_PROXY, 'connect_timeout: 0.25s')}`);
  const hcm = b.static_resources!.listeners![0].filter_chains![0].filters![0].typed_config as HttpConnectionManager;
  const routes = hcm.route_config!.virtual_hosts![0].routes!;
  assert.equal(locationOf(routes, 2), `front-envoy.yaml:${at(FRONT_PROXY, 'match: { path: "/old" }')}`);
  assert.equal(locationOf(routes[2].redirect, 'response_code'), `front-envoy.yaml:${at(FRONT_PROXY, 'response_code')}`);
  // A field that was not written points at its object; a value not decoded from text has no location.
  assert.equal(locationOf(service1, 'respect_dns_ttl'), locationOf(service1));
  assert.equal(locationOf({ name: 'x' }, 'name'), undefined);
});

test('decoded config is frozen, so code behind the loader can trust it', () => {
  const b = loadBootstrapText(FRONT_PROXY, 'front-envoy.yaml');
  assert.ok(Object.isFrozen(b));
  assert.ok(Object.isFrozen(b.static_resources!.clusters));
  assert.throws(() => {
    (b.static_resources!.clusters![0] as { name?: string }).name = 'changed';
  }, TypeError);
});

test('loadBootstrapFile reads the file and names it in error locations', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'mw-envoy-'));
  try {
    const file = path.join(dir, 'envoy.yaml');
    await writeFile(file, FRONT_PROXY);
    assert.deepStrictEqual(await loadBootstrapFile(file), EXPECTED);
    const broken = FRONT_PROXY.replace('lb_policy: LEAST_REQUEST', 'lb_policy: LOAD_BALANCING_POLICY_CONFIG');
    await writeFile(file, broken);
    await assert.rejects(loadBootstrapFile(file), (err: ConfigErrors) => {
      assert.equal(err.errors[0].location, `${file}:${at(broken, 'LOAD_BALANCING_POLICY_CONFIG')}`);
      return true;
    });
    await assert.rejects(loadBootstrapFile(path.join(dir, 'missing.yaml')), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
