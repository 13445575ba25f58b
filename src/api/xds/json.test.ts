import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../common/errors.js';
import { decodeMessage, parseConfigText } from '../envoy/index.js';
import { binaryToJson, jsonToBinary, packAny, unpackAny } from './json.js';
import { messageName, resourceName, TYPE_URL } from './type-urls.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

/** Every xDS resource written in a bootstrap: listeners, clusters, their load assignments, and the route
 *  configurations inlined in HTTP connection managers. */
function resourcesOf(bootstrap: any): Array<[string, any]> {
  const out: Array<[string, any]> = [];
  for (const l of bootstrap?.static_resources?.listeners ?? []) {
    out.push([TYPE_URL.LISTENER, l]);
    for (const fc of l.filter_chains ?? []) {
      for (const f of fc.filters ?? []) if (f.typed_config?.['@type'] === HCM && f.typed_config.route_config) out.push([TYPE_URL.ROUTE, f.typed_config.route_config]);
    }
  }
  for (const c of bootstrap?.static_resources?.clusters ?? []) {
    out.push([TYPE_URL.CLUSTER, c]);
    if (c.load_assignment) out.push([TYPE_URL.ENDPOINT, c.load_assignment]);
  }
  return out;
}

test('every resource of the example bootstraps survives packAny → unpackAny and decodes as before', () => {
  const files = yamlFiles(path.join(repo, 'examples'));
  assert.ok(files.length > 0, 'no example bootstraps found');
  const seen = new Set<string>();
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    // A control-plane config dir file (examples/xds/config) holds resources, several documents of them, not a
    // bootstrap; the control plane's tests and test/xds-*.test.ts load those.
    if (/^---(?=[ \t\r\n]|$)/m.test(text)) continue;
    for (const [url, raw] of resourcesOf(parseConfigText(text, file))) {
      const where = `${path.relative(repo, file)} ${resourceName(url, raw)}`;
      const any = packAny(raw, url);
      assert.equal(any.type_url, url);
      const json = unpackAny(any);
      assert.equal(json['@type'], url, where);
      const { '@type': _, ...fields } = json;
      // Through JSON text too, as the control plane's debug output and the proxy's config dump carry it.
      const viaText = JSON.parse(JSON.stringify(fields));
      const type = messageName(url);
      assert.deepStrictEqual(decodeMessage(type, viaText, { source: 'xds' }), decodeMessage(type, raw, { source: file }), where);
      seen.add(url);
    }
  }
  assert.deepEqual([...seen].sort(), [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE].sort());
});

test('well-known types, enums, int64, maps and camelCase keys map to canonical proto3 JSON', () => {
  const cluster = {
    '@type': TYPE_URL.CLUSTER,
    name: 'c',
    connectTimeout: '1.5s',
    lbPolicy: 1, // enum by number
    perConnectionBufferLimitBytes: '1024', // UInt32Value from a string
    respect_dns_ttl: false, // a default value that was written stays written
    metadata: { filter_metadata: { 'envoy.lb': { canary: true, weight: 3, tags: ['a', null], nested: { x: 'y' } } } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: { maxConcurrentStreams: 100 } },
        common_http_protocol_options: { idle_timeout: { seconds: 2, nanos: 5000 } },
      },
    },
    dns_refresh_rate: '0.000000001s',
    cleanup_interval: '60s',
  };
  assert.deepStrictEqual(unpackAny(packAny(cluster)), {
    '@type': TYPE_URL.CLUSTER,
    name: 'c',
    connect_timeout: '1.500s',
    lb_policy: 'LEAST_REQUEST',
    per_connection_buffer_limit_bytes: 1024,
    respect_dns_ttl: false,
    metadata: { filter_metadata: { 'envoy.lb': { canary: true, weight: 3, tags: ['a', null], nested: { x: 'y' } } } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
        common_http_protocol_options: { idle_timeout: '2.000005s' },
      },
    },
    dns_refresh_rate: '0.000000001s',
    cleanup_interval: '60s',
  });

  // An enum number no name declares survives as a number (proto3 enums are open).
  assert.equal(unpackAny(packAny({ name: 'c', lb_policy: 99 }, TYPE_URL.CLUSTER)).lb_policy, 99);

  // int64 as numbers when exact, strings when not, both accepted in.
  const range = 'envoy.type.v3.Int64Range';
  assert.deepStrictEqual(binaryToJson(range, jsonToBinary(range, { start: '-5', end: 9007199254740993n.toString() })), { start: -5, end: '9007199254740993' });
  assert.equal(binaryToJson('google.protobuf.UInt64Value', jsonToBinary('google.protobuf.UInt64Value', '18446744073709551615')), '18446744073709551615');
  assert.equal(binaryToJson('google.protobuf.Int64Value', jsonToBinary('google.protobuf.Int64Value', -(2 ** 40))), -(2 ** 40));

  // Timestamps, non-finite doubles, Any holding a well-known type.
  const ts = 'google.protobuf.Timestamp';
  assert.equal(binaryToJson(ts, jsonToBinary(ts, '2024-01-02T03:04:05.120+01:00')), '2024-01-02T02:04:05.120Z');
  assert.equal(binaryToJson('google.protobuf.DoubleValue', jsonToBinary('google.protobuf.DoubleValue', 'Infinity')), 'Infinity');
  const durationAny = { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' };
  assert.deepStrictEqual(unpackAny(packAny(durationAny)), durationAny);
});

test('bytes are base64 in JSON (either alphabet, or a Buffer from a decoded config); oneofs keep one member', () => {
  const secret = { name: 's', tls_certificate: { certificate_chain: { inline_bytes: '-_8=' }, private_key: { inline_bytes: Buffer.from('key') } } };
  const json = unpackAny(packAny(secret, TYPE_URL.SECRET));
  assert.deepStrictEqual(json, {
    '@type': TYPE_URL.SECRET,
    name: 's',
    tls_certificate: { certificate_chain: { inline_bytes: '+/8=' }, private_key: { inline_bytes: Buffer.from('key').toString('base64') } },
  });
  assert.throws(
    () => packAny({ name: 's', tls_certificate: { private_key: { inline_bytes: 'a2V5', inline_string: 'key' } } }, TYPE_URL.SECRET),
    (e: ConfigError) => e.path === 'tls_certificate.private_key.inline_string' && /only one of "inline_bytes" and "inline_string"/.test(e.message),
  );
});

test('an Any whose type has no proto keeps only its @type (the decoder then decides, as for is_optional filters)', () => {
  // Built with wire-form Anys, as a control plane that knows the extension would send it.
  const unknownAny = { type_url: 'type.googleapis.com/example.foo.v1.Unknown', value: Buffer.from([0x08, 0x01]) };
  const listenerBytes = jsonToBinary(messageName(TYPE_URL.LISTENER), { name: 'l', filter_chains: [{ filters: [{ name: 'x', typed_config: unknownAny }] }] }, '', { wireAny: true });
  assert.deepStrictEqual(unpackAny({ type_url: TYPE_URL.LISTENER, value: listenerBytes }), {
    '@type': TYPE_URL.LISTENER,
    name: 'l',
    filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/example.foo.v1.Unknown' } }] }],
  });
});

test('bad JSON is rejected with a ConfigError naming the field path', () => {
  const route = (match: object) => ({
    name: 'rc',
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }, { match, route: { cluster: 'c' } }] }],
  });
  const cases: Array<[() => unknown, string, string, RegExp]> = [
    [() => packAny(route({ prefx: '/' }), TYPE_URL.ROUTE), 'MW_CONFIG_UNKNOWN_FIELD', 'virtual_hosts[0].routes[1].match.prefx', /^virtual_hosts\[0\]\.routes\[1\]\.match\.prefx: unknown field .*did you mean "prefix"/],
    [() => packAny(route({ prefix: 7 }), TYPE_URL.ROUTE), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[1].match.prefix', /expected a string, got number 7/],
    [() => packAny({ name: 'c', connect_timeout: '5' }, TYPE_URL.CLUSTER), 'MW_CONFIG_INVALID', 'connect_timeout', /invalid duration "5"/],
    [() => packAny({ name: 'c', lb_policy: 'ROUND' }, TYPE_URL.CLUSTER), 'MW_CONFIG_INVALID', 'lb_policy', /unknown value "ROUND" for enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy/],
    [() => packAny({ name: 'c', per_connection_buffer_limit_bytes: -1 }, TYPE_URL.CLUSTER), 'MW_CONFIG_INVALID', 'per_connection_buffer_limit_bytes', /out of range for uint32/],
    [() => packAny({ name: 'c', connect_timeout: '1s', connectTimeout: '2s' }, TYPE_URL.CLUSTER), 'MW_CONFIG_INVALID', 'connect_timeout', /set twice/],
    [() => packAny({ name: 'c', metadata: { filter_metadata: { a: 3 } } }, TYPE_URL.CLUSTER), 'MW_CONFIG_INVALID', 'metadata.filter_metadata["a"]', /expected an object/],
    [() => packAny({ name: 'l', filter_chains: {} }, TYPE_URL.LISTENER), 'MW_CONFIG_INVALID', 'filter_chains', /expected a list/],
    [() => packAny({ name: 'x' }, undefined, 'resources[2]'), 'MW_CONFIG_INVALID', 'resources[2]', /missing "@type"/],
    [() => packAny({ '@type': TYPE_URL.CLUSTER, name: 'x' }, TYPE_URL.LISTENER), 'MW_CONFIG_INVALID', '@type', /does not match/],
    [() => packAny({ name: 'l', filter_chains: [{ filters: [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/foo.Bar' } }] }] }, TYPE_URL.LISTENER),
      'MW_CONFIG_UNKNOWN_EXTENSION', 'filter_chains[0].filters[0].typed_config.@type', /unknown type "type\.googleapis\.com\/foo\.Bar"/],
    [() => packAny({ name: 'l', filter_chains: [{ filters: [{ name: 'f', typed_config: { name: 'x' } }] }] }, TYPE_URL.LISTENER),
      'MW_CONFIG_INVALID', 'filter_chains[0].filters[0].typed_config', /missing "@type"/],
    [() => packAny({ name: 's', generic_secret: { secret: { inline_bytes: 'not base64!' } } }, TYPE_URL.SECRET), 'MW_CONFIG_INVALID', 'generic_secret.secret.inline_bytes', /base64/],
    [() => unpackAny({ type_url: TYPE_URL.LISTENER, value: Buffer.from([0x0a, 0x05, 0x41]) }), 'MW_CONFIG_PARSE', '', /Cannot decode envoy\.config\.listener\.v3\.Listener/],
    [() => unpackAny({ type_url: 'type.googleapis.com/foo.Bar', value: Buffer.alloc(0) }), 'MW_CONFIG_UNKNOWN_EXTENSION', '', /unknown type/],
  ];
  for (const [fn, code, path, message] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${path}: not a ConfigError: ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.equal(e.path, path, e.message);
      assert.match(e.message, message);
      return true;
    }, `expected an error at ${path}`);
  }
});

test('resourceName reads name, or cluster_name for endpoints', () => {
  assert.equal(resourceName(TYPE_URL.LISTENER, { name: 'l' }), 'l');
  assert.equal(resourceName(TYPE_URL.ENDPOINT, { cluster_name: 'c' }), 'c');
  assert.equal(resourceName(TYPE_URL.ENDPOINT, { clusterName: 'c' }), 'c');
  assert.equal(resourceName(TYPE_URL.CLUSTER, {}), '');
});
