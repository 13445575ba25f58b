import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigErrors, type ConfigError } from '../../common/errors.js';
import { decodeMessage, loadBootstrapText, locationOf, parseConfigText, type Cluster, type HttpConnectionManager } from './index.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const ROUTE_CONFIG = 'envoy.config.route.v3.RouteConfiguration';
const T = 'type.googleapis.com/';
const HCM = T + 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function decode(type: string, yaml: string, name = 't.yaml'): any {
  return decodeMessage(type, parseConfigText(yaml, name), { source: name });
}

function errorsOf(fn: () => unknown): ConfigError[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, `expected ConfigErrors, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('expected the config to be rejected');
}

/** `name:line:column` where `needle` first occurs in `text`. */
function at(text: string, needle: string, name = 't.yaml'): string {
  const i = text.indexOf(needle);
  assert.ok(i >= 0, `fixture has no ${JSON.stringify(needle)}`);
  const before = text.slice(0, i).split('\n');
  return `${name}:${before.length}:${before[before.length - 1].length + 1}`;
}

/** A bootstrap with one listener whose HCM holds `routes` (YAML lines indented for the routes list). */
function withRoutes(routes: string): string {
  return `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 0.0.0.0, port_value: 80 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": ${HCM}
          stat_prefix: http
          http_filters: [{ name: router, typed_config: { "@type": ${T}envoy.extensions.filters.http.router.v3.Router } }]
          route_config:
            virtual_hosts:
            - name: vh
              domains: ["*"]
              routes:
${routes}`;
}
const ROUTES_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes';

test('durations: "1.5s" strings and {seconds, nanos} objects become milliseconds', () => {
  assert.equal(decode(CLUSTER, 'name: c\nconnect_timeout: 1.5s').connect_timeout, 1500);
  assert.equal(decode(CLUSTER, 'name: c\nconnect_timeout: 0.000001s').connect_timeout, 0.001);
  assert.equal(decode(CLUSTER, 'name: c\nconnect_timeout: { seconds: 2, nanos: 500000000 }').connect_timeout, 2500);
  assert.equal(decode(CLUSTER, 'name: c\nconnect_timeout: { seconds: "3" }').connect_timeout, 3000);
});

test('durations: wrong unit, negative and zero (where the proto says gt 0) are rejected with the reason', () => {
  const [unit] = errorsOf(() => decode(CLUSTER, 'name: c\nconnect_timeout: 250ms'));
  assert.equal(unit.code, 'MW_CONFIG_INVALID');
  assert.equal(unit.path, 'connect_timeout');
  assert.match(unit.message, /invalid duration "250ms"; durations are written in seconds with an "s" suffix/);
  assert.equal(unit.location, 't.yaml:2:18');
  const [negative] = errorsOf(() => decode(CLUSTER, 'name: c\nconnect_timeout: -1s'));
  assert.match(negative.message, /connect_timeout: duration must not be negative$/);
  const [zero] = errorsOf(() => decode(CLUSTER, 'name: c\nconnect_timeout: 0s'));
  assert.match(zero.message, /connect_timeout: must be greater than 0s$/);
});

test('wrappers decode to their plain value, and a present false is kept', () => {
  const c = decode(CLUSTER, 'name: c\nper_connection_buffer_limit_bytes: 32768\nleast_request_lb_config: { choice_count: 4 }');
  assert.equal(c.per_connection_buffer_limit_bytes, 32768);
  assert.equal(c.least_request_lb_config.choice_count, 4);
  const hcm = decode(HCM.slice(T.length), 'stat_prefix: s\nroute_config: {}\nuse_remote_address: false\nnormalize_path: true');
  assert.equal(hcm.use_remote_address, false);
  assert.equal(hcm.normalize_path, true);
  assert.equal('generate_request_id' in hcm, false, 'absent fields stay absent');
  const [bad] = errorsOf(() => decode(CLUSTER, 'name: c\nper_connection_buffer_limit_bytes: lots'));
  assert.match(bad.message, /expected an integer, got string "lots"/);
});

test('enums: names (case-sensitive, as in Envoy) and numbers decode to the name', () => {
  assert.equal(decode(CLUSTER, 'name: c\nlb_policy: MAGLEV').lb_policy, 'MAGLEV');
  assert.equal(decode(CLUSTER, 'name: c\nlb_policy: 1').lb_policy, 'LEAST_REQUEST');
  const [lower] = errorsOf(() => decode(CLUSTER, 'name: c\nlb_policy: round_robin'));
  assert.equal(lower.code, 'MW_CONFIG_INVALID');
  assert.match(lower.message, /unknown value "round_robin" for enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy \(enum names are case-sensitive: did you mean "ROUND_ROBIN"\?\)/);
  const [number] = errorsOf(() => decode(CLUSTER, 'name: c\nlb_policy: 99'));
  assert.match(number.message, /expected a value of enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy, got number 99/);
});

test('int64 from strings or numbers, bytes from base64, Struct as plain JSON', () => {
  const rc = decode(
    ROUTE_CONFIG,
    `virtual_hosts:
- name: v
  domains: ["*"]
  routes:
  - match: { prefix: /, headers: [{ name: x-n, range_match: { start: "-10", end: 20 } }] }
    direct_response: { status: 200, body: { inline_bytes: aGVsbG8= } }`,
  );
  const route = rc.virtual_hosts[0].routes[0];
  assert.deepEqual(route.match.headers[0].range_match, { start: -10, end: 20 });
  assert.ok(Buffer.isBuffer(route.direct_response.body.inline_bytes));
  assert.equal(route.direct_response.body.inline_bytes.toString(), 'hello');
  assert.equal(decode(CLUSTER, 'name: c\nmaglev_lb_config: { table_size: "65537" }').maglev_lb_config.table_size, 65537);
  const boot = loadBootstrapText('node: { id: n, metadata: { team: core, shards: [1, 2, { x: null }], on: true } }', 'b.yaml');
  assert.deepEqual(boot.node!.metadata, { team: 'core', shards: [1, 2, { x: null }], on: true });
  const [frac] = errorsOf(() => decode(CLUSTER, 'name: c\nmaglev_lb_config: { table_size: 1.5 }'));
  assert.match(frac.message, /table_size: expected an integer, got number 1\.5/);
  const [b64] = errorsOf(() => decode(ROUTE_CONFIG, 'virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { inline_bytes: "no way!" } } }] }]'));
  assert.match(b64.message, /expected base64-encoded bytes/);
});

test('lowerCamelCase JSON names are accepted and emitted as snake_case', () => {
  const yaml = 'name: c\nconnectTimeout: 2s\nlbPolicy: RANDOM\nloadAssignment: { clusterName: c }';
  const c = decode(CLUSTER, yaml);
  assert.deepEqual(c, { name: 'c', connect_timeout: 2000, lb_policy: 'RANDOM', load_assignment: { cluster_name: 'c' } });
  assert.equal(locationOf(c, 'connect_timeout'), at(yaml, 'connectTimeout'));
  const [twice] = errorsOf(() => decode(CLUSTER, 'name: c\nconnect_timeout: 1s\nconnectTimeout: 2s'));
  assert.match(twice.message, /connect_timeout: set twice, as "connect_timeout" and "connectTimeout"/);
});

test('Any: the inner message is decoded, with a canonical @type whatever the URL host', () => {
  const boot = loadBootstrapText(
    withRoutes('              - { match: { prefix: / }, route: { cluster: c } }').replace(`"@type": ${HCM}`, '"@type": example.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'),
    'b.yaml',
  );
  const hcm = boot.static_resources!.listeners![0].filter_chains![0].filters![0].typed_config as HttpConnectionManager;
  assert.equal(hcm['@type'], HCM);
  assert.equal(hcm.stat_prefix, 'http');
  assert.equal(hcm.http_filters![0].typed_config!['@type'], T + 'envoy.extensions.filters.http.router.v3.Router');
});

test('Any: missing, unknown, v2, unsupported and non-extension @type are each reported at the typed_config', () => {
  const yaml = `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 0.0.0.0, port_value: 80 } }
    filter_chains:
    - filters:
      - name: a
        typed_config: { stat_prefix: x }
      - name: b
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope }
      - name: c
        typed_config: { "@type": type.googleapis.com/envoy.config.filter.network.http_connection_manager.v2.HttpConnectionManager }
      - name: d
        typed_config: { "@type": type.googleapis.com/envoy.service.discovery.v3.DiscoveryRequest }
      - name: e
        typed_config: { "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.CommonTlsContext }
`;
  const errors = errorsOf(() => loadBootstrapText(yaml, 't.yaml'));
  const p = 'static_resources.listeners[0].filter_chains[0].filters';
  assert.deepEqual(
    errors.map((e) => [e.code, e.path, e.location]),
    [
      ['MW_CONFIG_INVALID', `${p}[0].typed_config`, at(yaml, '{ stat_prefix: x }')],
      ['MW_CONFIG_UNKNOWN_EXTENSION', `${p}[1].typed_config`, at(yaml, 'type.googleapis.com/envoy.extensions.filters.network.nope')],
      ['MW_CONFIG_UNKNOWN_EXTENSION', `${p}[2].typed_config`, at(yaml, 'type.googleapis.com/envoy.config.filter')],
      ['MW_CONFIG_UNSUPPORTED', `${p}[3].typed_config`, at(yaml, 'type.googleapis.com/envoy.service.discovery')],
      ['MW_CONFIG_UNSUPPORTED', `${p}[4].typed_config`, at(yaml, 'type.googleapis.com/envoy.extensions.transport_sockets')],
    ],
  );
  assert.match(errors[0].message, /missing "@type"/);
  assert.match(errors[1].message, /unknown extension type "type\.googleapis\.com\/envoy\.extensions\.filters\.network\.nope\.v3\.Nope"$/);
  assert.match(errors[2].message, /\(a v2 API type; use its v3 equivalent\)$/);
  assert.match(errors[3].message, /extension envoy\.service\.discovery\.v3\.DiscoveryRequest is not supported by Meshwork$/);
});

test('unknown field: code, path, type name and the key position', () => {
  const yaml = `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 0.0.0.0, port_value: 80 } }
    filter_chains:
    - filterz: []
`;
  const [e] = errorsOf(() => loadBootstrapText(yaml, 'front-envoy.yaml'));
  assert.equal(e.code, 'MW_CONFIG_UNKNOWN_FIELD');
  assert.equal(e.path, 'static_resources.listeners[0].filter_chains[0].filterz');
  assert.equal(e.location, 'front-envoy.yaml:6:7');
  assert.equal(
    e.message,
    'front-envoy.yaml:6:7: static_resources.listeners[0].filter_chains[0].filterz: unknown field "filterz" in envoy.config.listener.v3.FilterChain (did you mean "filters"?)',
  );
});

test('a v2-style `config:` is an unknown field with a hint to use typed_config', () => {
  const yaml = `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 0.0.0.0, port_value: 80 } }
    filter_chains:
    - filters:
      - name: envoy.http_connection_manager
        config:
          stat_prefix: ingress
`;
  const [e] = errorsOf(() => loadBootstrapText(yaml, 'v2.yaml'));
  assert.equal(e.code, 'MW_CONFIG_UNKNOWN_FIELD');
  assert.equal(e.path, 'static_resources.listeners[0].filter_chains[0].filters[0].config');
  assert.equal(e.location, at(yaml, 'config:', 'v2.yaml'));
  assert.match(e.message, /unknown field "config" in envoy\.config\.listener\.v3\.Filter \(v2 field; use typed_config\)$/);
  const [hosts] = errorsOf(() => decode(CLUSTER, 'name: c\nhosts: []'));
  assert.match(hosts.message, /\(v2 field; use load_assignment\)$/);
});

test('wrong types and out-of-range values are MW_CONFIG_INVALID at the value', () => {
  const yaml = `name: c
load_assignment:
  cluster_name: c
  endpoints:
  - lb_endpoints:
    - endpoint: { address: { socket_address: { address: a, port_value: 70000 } } }
    - endpoint: { address: { socket_address: { address: b, port_value: eighty } } }
    - endpoint: { address: "10.0.0.1:80" }
    - endpoint: { address: { socket_address: { address: d, port_value: 5000000000 } } }
    - endpoint: { hostname: 7 }
`;
  const errors = errorsOf(() => decode(CLUSTER, yaml));
  const ep = 'load_assignment.endpoints[0].lb_endpoints';
  assert.deepEqual(
    errors.map((e) => [e.code, e.path, e.location]),
    [
      ['MW_CONFIG_INVALID', `${ep}[0].endpoint.address.socket_address.port_value`, at(yaml, '70000')],
      ['MW_CONFIG_INVALID', `${ep}[1].endpoint.address.socket_address.port_value`, at(yaml, 'eighty')],
      ['MW_CONFIG_INVALID', `${ep}[2].endpoint.address`, at(yaml, '"10.0.0.1:80"')],
      ['MW_CONFIG_INVALID', `${ep}[3].endpoint.address.socket_address.port_value`, at(yaml, '5000000000')],
      ['MW_CONFIG_INVALID', `${ep}[4].endpoint.hostname`, at(yaml, '7 }')],
    ],
  );
  assert.match(errors[0].message, /must be at most 65535$/);
  assert.match(errors[1].message, /expected an integer, got string "eighty"$/);
  assert.match(errors[2].message, /expected an object \(envoy\.config\.core\.v3\.Address\), got string "10\.0\.0\.1:80"$/);
  assert.match(errors[3].message, /5000000000 is out of range for uint32$/);
  assert.match(errors[4].message, /expected a string, got number 7$/);
});

test('validate rules: required fields and oneofs, min_len, min_items, oneof conflicts, uint32 bounds', () => {
  const routes = `              - { route: { cluster: a } }
              - { match: { prefix: /a } }
              - { match: { prefix: /b, path: /c }, route: { cluster: a } }
              - match: { prefix: /d, headers: [{ exact_match: x }] }
                direct_response: { status: 700 }
`;
  const yaml = withRoutes(routes).replace('domains: ["*"]', 'domains: []');
  const errors = errorsOf(() => loadBootstrapText(yaml, 't.yaml'));
  const vh = ROUTES_PATH.replace(/\.routes$/, '');
  assert.deepEqual(
    errors.map((e) => [e.path, e.message.slice(e.message.indexOf(e.path) + e.path.length + 2)]),
    [
      [`${vh}.domains`, 'must have at least 1 item(s)'],
      [`${ROUTES_PATH}[0].match`, 'is required'],
      [`${ROUTES_PATH}[1]`, 'one of "route", "redirect", "direct_response", "filter_action", "non_forwarding_action" must be set (oneof action)'],
      [`${ROUTES_PATH}[2].match.path`, 'only one of "prefix" and "path" may be set (oneof path_specifier)'],
      [`${ROUTES_PATH}[3].match.headers[0].name`, 'is required (must be at least 1 character(s) long)'],
      [`${ROUTES_PATH}[3].direct_response.status`, 'must be less than 600'],
    ],
  );
  assert.ok(errors.every((e) => e.code === 'MW_CONFIG_INVALID'));
  assert.equal(errors[0].location, at(yaml, '[]'));
  assert.equal(errors[1].location, at(yaml, '{ route: { cluster: a } }'));
  assert.equal(errors[3].location, at(yaml, 'path: /c'));
  assert.equal(errors[5].location, at(yaml, '700'));
});

test('unsupported enum values and fields are rejected with the path; ignored fields are accepted', () => {
  const yaml = `static_resources:
  clusters:
  - name: a
    connect_timeout: 1s
  - name: b
    connect_timeout: 1s
  - name: c
    connect_timeout: 1s
    lb_policy: LOAD_BALANCING_POLICY_CONFIG
    common_lb_config: { zone_aware_lb_config: {} }
    cleanup_interval: 5s
    close_connections_on_host_health_failure: false
    metadata: { filter_metadata: { anything: { goes: here } } }
layered_runtime:
  layers: [{ name: static, static_layer: { some.key: 1 } }]
`;
  const errors = errorsOf(() => loadBootstrapText(yaml, 'front-envoy.yaml'));
  assert.deepEqual(
    errors.map((e) => e.message),
    [
      `${at(yaml, 'LOAD_BALANCING_POLICY_CONFIG', 'front-envoy.yaml')}: static_resources.clusters[2].lb_policy: LOAD_BALANCING_POLICY_CONFIG is not supported (Meshwork supports ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV, CLUSTER_PROVIDED)`,
      `${at(yaml, 'zone_aware_lb_config', 'front-envoy.yaml')}: static_resources.clusters[2].common_lb_config.zone_aware_lb_config: field "zone_aware_lb_config" is not supported by Meshwork (zone-aware routing is not implemented)`,
      `${at(yaml, 'cleanup_interval', 'front-envoy.yaml')}: static_resources.clusters[2].cleanup_interval: field "cleanup_interval" is not supported by Meshwork`,
    ],
  );
  assert.ok(errors.every((e) => e.code === 'MW_CONFIG_UNSUPPORTED'));
  const ok = loadBootstrapText(yaml.replace(/    lb_policy[^]*?cleanup_interval: 5s\n/, ''), 'front-envoy.yaml');
  assert.deepEqual(ok.static_resources!.clusters![2].metadata, { filter_metadata: { anything: { goes: 'here' } } });
  assert.ok(ok.layered_runtime);
});

test('a string field limited to some values rejects the others', () => {
  const yaml = `name: l
address: { socket_address: { address: 0.0.0.0, port_value: 443 } }
filter_chains:
- filter_chain_match: { transport_protocol: quic }
  filters: []
`;
  const [e] = errorsOf(() => decode('envoy.config.listener.v3.Listener', yaml));
  assert.equal(e.code, 'MW_CONFIG_UNSUPPORTED');
  assert.equal(e.path, 'filter_chains[0].filter_chain_match.transport_protocol');
  assert.match(e.message, /quic is not supported \(Meshwork supports tls, raw_buffer\)$/);
});

test('all errors of a config are reported together, in document order', () => {
  const yaml = `static_resources:
  clusters:
  - name: a
    connect_timeout: 5
    lb_policy: LOAD_BALANCING_POLICY_CONFIG
    typo_field: 1
  - name: ""
    connect_timeout: 1s
    load_assignment: { cluster_name: b, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: x, port_value: 99999 } } } }] }] }
`;
  let thrown: unknown;
  try {
    loadBootstrapText(yaml, 'multi.yaml');
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof ConfigErrors);
  assert.deepEqual(
    thrown.errors.map((e) => [e.code, e.path]),
    [
      ['MW_CONFIG_INVALID', 'static_resources.clusters[0].connect_timeout'],
      ['MW_CONFIG_UNSUPPORTED', 'static_resources.clusters[0].lb_policy'],
      ['MW_CONFIG_UNKNOWN_FIELD', 'static_resources.clusters[0].typo_field'],
      ['MW_CONFIG_INVALID', 'static_resources.clusters[1].name'],
      ['MW_CONFIG_INVALID', 'static_resources.clusters[1].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value'],
    ],
  );
  assert.equal(thrown.message.split('\n').length, 5);
  assert.equal(thrown.errors[3].location, at(yaml, '""', 'multi.yaml'));
});

test('YAML syntax errors are MW_CONFIG_PARSE with their position', () => {
  const errors = errorsOf(() => loadBootstrapText('static_resources:\n  clusters: [\n  - name: a\n', 'bad.yaml'));
  assert.ok(errors.length >= 1);
  assert.equal(errors[0].code, 'MW_CONFIG_PARSE');
  assert.match(errors[0].location ?? '', /^bad\.yaml:\d+:\d+$/);
  const [dup] = errorsOf(() => loadBootstrapText('admin: {}\nadmin: {}\n', 'dup.yaml'));
  assert.equal(dup.code, 'MW_CONFIG_PARSE');
  assert.equal(dup.location, 'dup.yaml:2:1');
  const [empty] = errorsOf(() => loadBootstrapText('', 'empty.yaml'));
  assert.match(empty.message, /expected an object \(envoy\.config\.bootstrap\.v3\.Bootstrap\), got null/);
});

test('anchors, aliases and merge keys work as in Envoy YAML', () => {
  const yaml = `static_resources:
  clusters:
  - &base
    name: a
    connect_timeout: 1s
    lb_policy: RANDOM
  - <<: *base
    name: b
  - <<: *base
    name: c
    connect_timeout: 2s
`;
  const clusters = loadBootstrapText(yaml, 'a.yaml').static_resources!.clusters!;
  assert.deepEqual(
    clusters.map((c) => [c.name, c.connect_timeout, c.lb_policy]),
    [
      ['a', 1000, 'RANDOM'],
      ['b', 1000, 'RANDOM'],
      ['c', 2000, 'RANDOM'],
    ],
  );
});

test('decodeMessage works on plain objects (xDS) with a path prefix and a source as location', () => {
  const c = decodeMessage<Cluster>(CLUSTER, { name: 'x', connect_timeout: { seconds: 1, nanos: 0 }, type: 'STATIC' });
  assert.deepEqual(c, { name: 'x', connect_timeout: 1000, type: 'STATIC' });
  assert.equal(locationOf(c), undefined);
  const [e] = errorsOf(() => decodeMessage(CLUSTER, { name: 'x', lb_policy: 'LOAD_BALANCING_POLICY_CONFIG' }, { source: 'cds', path: 'clusters["x"]' }));
  assert.equal(e.path, 'clusters["x"].lb_policy');
  assert.equal(e.location, 'cds');
  const [root] = errorsOf(() => decodeMessage('envoy.config.core.v3.HealthCheck.CustomHealthCheck', {}));
  assert.equal(root.code, 'MW_CONFIG_UNSUPPORTED');
  assert.match(root.message, /envoy\.config\.core\.v3\.HealthCheck\.CustomHealthCheck is not supported by Meshwork/);
});

test('null means "not set", as in proto3 JSON', () => {
  assert.deepEqual(decode(CLUSTER, 'name: c\nconnect_timeout: null\nlb_policy: ~'), { name: 'c' });
});

test('enum rules apply to an absent enum field too (san_type must not be left unspecified)', () => {
  const yaml = `common_tls_context:
  validation_context:
    trusted_ca: { filename: /etc/ca.pem }
    match_typed_subject_alt_names: [{ matcher: { exact: api.example.com } }]
`;
  const [e] = errorsOf(() => decode('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', yaml));
  assert.equal(e.path, 'common_tls_context.validation_context.match_typed_subject_alt_names[0].san_type');
  assert.match(e.message, /is required \(must not be SAN_TYPE_UNSPECIFIED\)$/);
  assert.equal(e.location, at(yaml, '{ matcher'));
  const ok = decode('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', yaml.replace('{ matcher', '{ san_type: DNS, matcher'));
  assert.deepEqual(ok.common_tls_context.validation_context.match_typed_subject_alt_names, [{ san_type: 'DNS', matcher: { exact: 'api.example.com' } }]);
});

test('an Any holding a well-known type keeps its JSON form under "value"', () => {
  const l = decode(
    'envoy.config.listener.v3.Listener',
    'name: l\nmetadata: { typed_filter_metadata: { x: { "@type": type.googleapis.com/google.protobuf.Struct, value: { a: [1] } } } }',
  );
  assert.deepEqual(l.metadata.typed_filter_metadata.x, { '@type': T + 'google.protobuf.Struct', value: { a: [1] } });
});

test('an optional HTTP filter may name an extension Meshwork lacks; a required one may not', () => {
  const hcm = (optional: string) => `stat_prefix: s
route_config: {}
http_filters:
- name: envoy.filters.http.lua
  ${optional}
  typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua, inline_code: "x" }
- name: router
  typed_config: { "@type": ${T}envoy.extensions.filters.http.router.v3.Router, nonsense: 1 }
`;
  const type = HCM.slice(T.length);
  const [unknown, bad] = errorsOf(() => decode(type, hcm('is_optional: false')));
  assert.equal(unknown.code, 'MW_CONFIG_UNKNOWN_EXTENSION');
  assert.equal(unknown.path, 'http_filters[0].typed_config');
  assert.equal(bad.code, 'MW_CONFIG_UNKNOWN_FIELD', 'the router after it is still checked');
  const [onlyBad] = errorsOf(() => decode(type, hcm('is_optional: true')));
  assert.equal(onlyBad.path, 'http_filters[1].typed_config.nonsense');
  const ok = decode(type, hcm('is_optional: true').replace(', nonsense: 1', ''));
  assert.deepEqual(ok.http_filters[0], { name: 'envoy.filters.http.lua', is_optional: true, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua' } });
});

test('TypedStruct: an Envoy type decodes as if written with its @type; an Istio filter keeps its Struct; an unknown type_url is reported', () => {
  const filter = (typed: string) => `static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 0.0.0.0, port_value: 80 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: http
          route_config: { virtual_hosts: [ { name: v, domains: ["*"], routes: [ { match: { prefix: / }, route: { cluster: c } } ] } ] }
          http_filters:
          - name: f
            typed_config: ${typed}
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - { name: c, type: STATIC, load_assignment: { cluster_name: c, endpoints: [] } }
`;
  const first = (yaml: string) => (loadBootstrapText(yaml, 'ts.yaml').static_resources!.listeners![0].filter_chains![0].filters![0].typed_config as HttpConnectionManager).http_filters![0].typed_config as unknown as Record<string, unknown>;
  const fault = first(filter('{ "@type": type.googleapis.com/xds.type.v3.TypedStruct, type_url: type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault, value: { max_active_faults: 3 } }'));
  assert.deepEqual(fault, { '@type': T + 'envoy.extensions.filters.http.fault.v3.HTTPFault', max_active_faults: 3 });
  const stats = first(filter('{ "@type": type.googleapis.com/udpa.type.v1.TypedStruct, type_url: type.googleapis.com/stats.PluginConfig, value: { reporter: SOURCE, labels: { app: a } } }'));
  assert.deepEqual(stats, { '@type': T + 'stats.PluginConfig', reporter: 'SOURCE', labels: { app: 'a' } });
  const errors = errorsOf(() => loadBootstrapText(filter('{ "@type": type.googleapis.com/xds.type.v3.TypedStruct, type_url: type.googleapis.com/acme.Nope, value: {} }'), 'ts.yaml'));
  assert.deepEqual(
    errors.map((e) => [e.code, e.path]),
    [['MW_CONFIG_UNKNOWN_EXTENSION', 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.type_url']],
  );
  // an Envoy type inside is checked as usual: a bad field is reported under value
  const bad = errorsOf(() => loadBootstrapText(filter('{ "@type": type.googleapis.com/xds.type.v3.TypedStruct, type_url: type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault, value: { max_active_faults: -1 } }'), 'ts.yaml'));
  assert.ok(bad.some((e) => e.path.endsWith('typed_config.value.max_active_faults')), bad.map((e) => e.path).join('\n'));
});
