import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import type * as ProtoLoader from '@grpc/proto-loader';
import { packAny, unpackAny } from './json.js';
import {
  decodeDeltaDiscoveryRequest, decodeDeltaDiscoveryResponse, decodeDiscoveryRequest, decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest, encodeDeltaDiscoveryResponse, encodeDiscoveryRequest, encodeDiscoveryResponse,
  encodeDeltaDiscoveryResponsePart, encodeDiscoveryResponsePart, EncodedResponse,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from './messages.js';
import { TYPE_URL } from './type-urls.js';

const require = createRequire(import.meta.url);
const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const node = {
  id: 'sidecar~10.0.0.1~web-1.default~default.svc.cluster.local',
  cluster: 'web',
  metadata: { ISTIO_VERSION: '1.20', LABELS: { app: 'web' }, ports: [8080, 9090], canary: false, none: null },
  locality: { region: 'eu', zone: 'eu-1a' },
  user_agent_name: 'meshwork',
  user_agent_version: '0.1.0',
  client_features: ['envoy.lb.does_not_support_overprovisioning'],
};
const listenerJson = {
  name: 'l1',
  address: { socket_address: { address: '10.0.0.1', port_value: 15001 } },
  per_connection_buffer_limit_bytes: 32768,
  listener_filters_timeout: '2.500s',
  filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': TCP_PROXY, stat_prefix: 's', cluster: 'c', idle_timeout: '60s' } }] }],
};

test('the discovery messages round-trip through our encoder and decoder, defaults filled on decode', () => {
  const req: DiscoveryRequest = {
    version_info: '3', node, resource_names: ['a', 'b'], type_url: TYPE_URL.ROUTE, response_nonce: 'n2',
    error_detail: { code: 3, message: 'route "a": bad regex' },
  };
  assert.deepStrictEqual(decodeDiscoveryRequest(encodeDiscoveryRequest(req)), req);
  assert.deepStrictEqual(decodeDiscoveryRequest(encodeDiscoveryRequest({ version_info: '', resource_names: [], type_url: TYPE_URL.CLUSTER, response_nonce: '' })), {
    version_info: '', resource_names: [], type_url: TYPE_URL.CLUSTER, response_nonce: '',
  });

  const res: DiscoveryResponse = {
    version_info: 'v1', resources: [packAny(listenerJson, TYPE_URL.LISTENER)], type_url: TYPE_URL.LISTENER, nonce: '1',
    control_plane: { identifier: 'meshwork-cp' },
  };
  const decoded = decodeDiscoveryResponse(encodeDiscoveryResponse(res));
  assert.deepStrictEqual(decoded, res);
  assert.deepStrictEqual(unpackAny(decoded.resources[0]), { '@type': TYPE_URL.LISTENER, ...listenerJson });

  const dreq: DeltaDiscoveryRequest = {
    node, type_url: TYPE_URL.ENDPOINT, resource_names_subscribe: ['c1', 'c2'], resource_names_unsubscribe: ['c0'],
    initial_resource_versions: { c1: 'h1', c2: 'h2' }, response_nonce: '7', error_detail: { code: 3, message: 'nope' },
  };
  assert.deepStrictEqual(decodeDeltaDiscoveryRequest(encodeDeltaDiscoveryRequest(dreq)), dreq);

  const dres: DeltaDiscoveryResponse = {
    system_version_info: 'sys-9', type_url: TYPE_URL.ENDPOINT, removed_resources: ['c0'], nonce: '8', control_plane: { identifier: 'cp' },
    resources: [
      { name: 'c1', version: 'h1', resource: packAny({ cluster_name: 'c1', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.1.0.1', port_value: 80 } } } }] }] }, TYPE_URL.ENDPOINT), aliases: ['x'] },
      { name: 'c2', version: 'h2' }, // a resource without a body (e.g. a delta TTL heartbeat)
    ],
  };
  assert.deepStrictEqual(decodeDeltaDiscoveryResponse(encodeDeltaDiscoveryResponse(dres)), {
    ...dres, resources: [dres.resources[0], { name: 'c2', version: 'h2' }],
  });
});

test('a response encoded in parts (what a server shares among streams, then the nonce) is the whole message', () => {
  const listeners = [packAny(listenerJson, TYPE_URL.LISTENER), packAny({ ...listenerJson, name: 'l2' }, TYPE_URL.LISTENER)];
  const res: DiscoveryResponse = { version_info: 'v1', resources: listeners, type_url: TYPE_URL.LISTENER, nonce: '17', control_plane: { identifier: 'cp' } };
  const { nonce, ...shared } = res;
  const parts = new EncodedResponse([encodeDiscoveryResponsePart(shared), encodeDiscoveryResponsePart({ nonce })]);
  assert.deepStrictEqual(decodeDiscoveryResponse(encodeDiscoveryResponse(parts)), res);

  // Delta: a head, then each resource on its own (encoded once, sent on many streams), in order.
  const dres: DeltaDiscoveryResponse = {
    system_version_info: 's', type_url: TYPE_URL.LISTENER, removed_resources: ['gone', 'also-gone'], nonce: '3', control_plane: { identifier: 'cp' },
    resources: [{ name: 'l1', version: 'a', resource: listeners[0] }, { name: 'l2', version: 'b', resource: listeners[1] }],
  };
  const { resources, ...head } = dres;
  const dparts = new EncodedResponse([encodeDeltaDiscoveryResponsePart(head), ...resources.map((r) => encodeDeltaDiscoveryResponsePart({ resources: [r] }))]);
  assert.deepStrictEqual(decodeDeltaDiscoveryResponse(encodeDeltaDiscoveryResponse(dparts)), dres);
  // An independent decoder agrees.
  const protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader;
  const ads = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', { keepCase: true, includeDirs });
  const svc = ads['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, any>;
  const theirs = decodeWith(svc.DeltaAggregatedResources.responseDeserialize, encodeDeltaDiscoveryResponse(dparts));
  assert.deepStrictEqual([theirs.nonce, theirs.removed_resources, theirs.resources.map((r: { name: string }) => r.name)], ['3', ['gone', 'also-gone'], ['l1', 'l2']]);
  const theirSotw = decodeWith(svc.StreamAggregatedResources.responseDeserialize, encodeDiscoveryResponse(parts));
  assert.deepStrictEqual([theirSotw.version_info, theirSotw.nonce, theirSotw.resources.length], ['v1', '17', 2]);
});

test('a long resource_names list that repeats decodes to the same frozen array; other lists are not mistaken for it', () => {
  const names = Array.from({ length: 40 }, (_, i) => `outbound|80||svc-${String(i).padStart(2, '0')}`);
  const req = (list: string[], nonce: string): DiscoveryRequest => ({ version_info: 'v', node, resource_names: list, type_url: TYPE_URL.ENDPOINT, response_nonce: nonce });
  const first = decodeDiscoveryRequest(encodeDiscoveryRequest(req(names, '1')));
  const again = decodeDiscoveryRequest(encodeDiscoveryRequest(req(names, '2')));
  assert.deepStrictEqual(again, req(names, '2'));
  assert.equal(again.resource_names, first.resource_names);
  assert.ok(Object.isFrozen(again.resource_names));
  // Same length in bytes, one name different.
  const other = names.map((n, i) => (i === 7 ? n.replace('svc-07', 'svc-99') : n));
  assert.deepStrictEqual(decodeDiscoveryRequest(encodeDiscoveryRequest(req(other, '3'))).resource_names, other);
  // Names that do not come in one run (another field between them) decode as usual.
  const split = Buffer.concat([
    encodeDiscoveryRequest({ ...req(names.slice(0, 20), '4'), node: undefined }),
    encodeDiscoveryRequest({ version_info: '', resource_names: [], type_url: '', response_nonce: '4' }),
    encodeDiscoveryRequest({ version_info: '', resource_names: names.slice(20), type_url: TYPE_URL.ENDPOINT, response_nonce: '4' }),
  ]);
  assert.deepStrictEqual(decodeDiscoveryRequest(split).resource_names, names);
  // A short list is decoded afresh each time; a truncated message is still an error.
  const short = encodeDiscoveryRequest(req(['a', 'b'], '5'));
  assert.notEqual(decodeDiscoveryRequest(short).resource_names, decodeDiscoveryRequest(short).resource_names);
  const full = encodeDiscoveryRequest(req(names, '6'));
  assert.throws(() => decodeDiscoveryRequest(full.subarray(0, full.length - 2)), { code: 'MW_CONFIG_PARSE' });
});

// An independent implementation: @grpc/proto-loader's serializers for the ADS messages, protobufjs reflection
// (parsed from the same .proto files) for the Listener inside.
test('interoperates with @grpc/proto-loader and protobufjs reflection in both directions', () => {
  const protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader;
  const ads = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', { keepCase: true, includeDirs });
  const svc = ads['envoy.service.discovery.v3.AggregatedDiscoveryService'] as Record<string, any>;
  const sotw = svc.StreamAggregatedResources;
  const delta = svc.DeltaAggregatedResources;

  const protobuf = require('protobufjs') as typeof Protobuf;
  const root = new protobuf.Root();
  root.resolvePath = (_o, target) => [...includeDirs, path.dirname(require.resolve('protobufjs/package.json'))].map((d) => path.join(d, target)).find((p) => fs.existsSync(p)) ?? null;
  root.loadSync(['envoy/config/listener/v3/listener.proto', 'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto'], { keepCase: true });
  const Listener = root.lookupType('envoy.config.listener.v3.Listener');
  const TcpProxy = root.lookupType('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy');
  // protobufjs's object form of listenerJson: wrappers and durations as messages, the Any packed by hand.
  const tcpBytes = TcpProxy.encode(TcpProxy.fromObject({ stat_prefix: 's', cluster: 'c', idle_timeout: { seconds: 60 } })).finish();
  const listenerObject = {
    name: 'l1',
    address: { socket_address: { address: '10.0.0.1', port_value: 15001 } },
    per_connection_buffer_limit_bytes: { value: 32768 },
    listener_filters_timeout: { seconds: 2, nanos: 500_000_000 },
    filter_chains: [{ filters: [{ name: 'tcp', typed_config: { type_url: TCP_PROXY, value: tcpBytes } }] }],
  };

  // theirs → ours
  const theirs = sotw.responseSerialize({
    version_info: 'v1', type_url: TYPE_URL.LISTENER, nonce: 'n1', control_plane: { identifier: 'go-control-plane' },
    resources: [{ type_url: TYPE_URL.LISTENER, value: Listener.encode(Listener.fromObject(listenerObject)).finish() }],
  });
  const res = decodeDiscoveryResponse(theirs);
  assert.deepStrictEqual({ ...res, resources: [] }, { version_info: 'v1', type_url: TYPE_URL.LISTENER, nonce: 'n1', control_plane: { identifier: 'go-control-plane' }, resources: [] });
  assert.deepStrictEqual(unpackAny(res.resources[0]), {
    '@type': TYPE_URL.LISTENER, ...listenerJson,
    filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': TCP_PROXY, stat_prefix: 's', cluster: 'c', idle_timeout: '60s' } }] }],
  });

  // ours → theirs
  const ours = decodeWith(sotw.responseDeserialize, encodeDiscoveryResponse({ version_info: 'v2', type_url: TYPE_URL.LISTENER, nonce: 'n2', resources: [packAny(listenerJson, TYPE_URL.LISTENER)] }));
  assert.equal(ours.version_info, 'v2');
  assert.equal(ours.nonce, 'n2');
  assert.equal(ours.resources[0].type_url, TYPE_URL.LISTENER);
  const asObject = (type: Protobuf.Type, bytes: Uint8Array) => type.toObject(type.decode(bytes), { longs: Number, enums: String });
  const listener = asObject(Listener, ours.resources[0].value);
  const tc = listener.filter_chains[0].filters[0].typed_config;
  assert.equal(tc.type_url, TCP_PROXY);
  // proto3 leaves the zero nanos off the wire, so protobufjs's object has none
  assert.deepStrictEqual(asObject(TcpProxy, tc.value), { stat_prefix: 's', cluster: 'c', idle_timeout: { seconds: 60 } });
  assert.deepStrictEqual({ ...listener, filter_chains: undefined }, { ...asObject(Listener, Listener.encode(Listener.fromObject(listenerObject)).finish()), filter_chains: undefined });

  // Requests, with the node's Struct metadata and a NACK's error_detail, both ways.
  const req: DiscoveryRequest = { version_info: '1', node, resource_names: ['r1'], type_url: TYPE_URL.ROUTE, response_nonce: 'n1', error_detail: { code: 3, message: 'bad' } };
  assert.deepStrictEqual(decodeDiscoveryRequest(sotw.requestSerialize(decodeWith(sotw.requestDeserialize, encodeDiscoveryRequest(req)))), req);
  const theirReq = decodeWith(sotw.requestDeserialize, encodeDiscoveryRequest(req));
  assert.deepStrictEqual(theirReq.node.metadata.fields.LABELS, { structValue: { fields: { app: { stringValue: 'web' } } } });
  assert.deepStrictEqual(theirReq.error_detail, { code: 3, message: 'bad' }); // proto-loader leaves empty repeated fields out

  // The delta pair, both ways.
  const dreq: DeltaDiscoveryRequest = {
    node, type_url: TYPE_URL.CLUSTER, resource_names_subscribe: ['*'], resource_names_unsubscribe: [], initial_resource_versions: { a: '1' }, response_nonce: '',
  };
  assert.deepStrictEqual(decodeDeltaDiscoveryRequest(delta.requestSerialize(decodeWith(delta.requestDeserialize, encodeDeltaDiscoveryRequest(dreq)))), dreq);
  const clusterAny = packAny({ name: 'c', connect_timeout: '0.250s', lb_policy: 'LEAST_REQUEST' }, TYPE_URL.CLUSTER);
  const dres: DeltaDiscoveryResponse = {
    system_version_info: 's1', type_url: TYPE_URL.CLUSTER, removed_resources: ['old'], nonce: '4',
    resources: [{ name: 'c', version: 'h', resource: clusterAny }], // no aliases: our decoder leaves an empty list out
  };
  const theirDres = decodeWith(delta.responseDeserialize, encodeDeltaDiscoveryResponse(dres));
  assert.deepStrictEqual(theirDres.resources[0].resource.value, clusterAny.value);
  assert.deepStrictEqual(decodeDeltaDiscoveryResponse(delta.responseSerialize(theirDres)), dres);
});

const decodeWith = (deserialize: (b: Buffer) => any, b: Buffer) => deserialize(b);
