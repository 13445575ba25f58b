import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadedMessages, registerProtoFiles, resolveType, type FieldSchema } from './protos.js';
import { supportTable } from './support.js';

test('every support entry names a loaded message, and every listed field and value exists in it', () => {
  for (const [name, entry] of supportTable()) {
    const type = resolveType(name);
    assert.ok(type, `support table names "${name}", which is not a loaded message type`);
    for (const [field, s] of Object.entries(entry.fields)) {
      const f: FieldSchema | undefined = type.fields.find((x) => x.name === field);
      assert.ok(f, `${name}.${field} is in the support table but not in the proto`);
      if (!s.values) continue;
      if (f.enum) for (const v of s.values) assert.ok(v in f.enum.values, `${name}.${field}: "${v}" is not a value of ${f.enum.name}`);
      else assert.equal(f.kind, 'string', `${name}.${field}: values are only meaningful for enum and string fields`);
    }
  }
});

test('a supported field of message type leads to a message that has its own entry', () => {
  const names = new Set(supportTable().map(([n]) => n));
  for (const [name, entry] of supportTable()) {
    for (const f of resolveType(name)!.fields) {
      if (entry.fields[f.name]?.status !== 'supported' || f.kind !== 'message') continue;
      assert.ok(names.has(f.message!), `${name}.${f.name} is supported but ${f.message} has no entry`);
    }
  }
});

test('extensions are top-level message types (what a typed_config can name)', () => {
  for (const [name, entry] of supportTable()) {
    if (entry.extension) assert.equal(resolveType(name)!.nested, false, `${name} is nested and cannot be an extension`);
  }
});

test('every loaded message type resolves from its type URL; unknown names do not', () => {
  const all = loadedMessages();
  assert.ok(all.size > 500, `only ${all.size} types loaded`);
  for (const [name, schema] of all) assert.equal(resolveType(`type.googleapis.com/${name}`), schema);
  for (const f of EXPECTED_EXTENSIONS) assert.ok(resolveType(`type.googleapis.com/${f}`), `${f} is not loaded`);
  assert.equal(resolveType('type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope'), undefined);
  assert.equal(resolveType('type.googleapis.com/envoy.config.core.v3'), undefined, 'a package is not a type');
});

// The extension protos this package promises to load (see EXTENSION_PROTO_FILES).
const EXPECTED_EXTENSIONS = [
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  'envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
  'envoy.extensions.filters.network.rbac.v3.RBAC',
  'envoy.extensions.filters.http.router.v3.Router',
  'envoy.extensions.filters.http.fault.v3.HTTPFault',
  'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  'envoy.extensions.filters.http.rbac.v3.RBAC',
  'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  'envoy.extensions.transport_sockets.tls.v3.Secret',
  'envoy.extensions.access_loggers.file.v3.FileAccessLog',
  'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
  'envoy.extensions.access_loggers.stream.v3.StderrAccessLog',
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  'envoy.service.discovery.v3.DiscoveryRequest',
  'envoy.config.endpoint.v3.ClusterLoadAssignment',
  'envoy.config.core.v3.HealthCheck',
];

test('registerProtoFiles makes more extension types resolvable', () => {
  const url = 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb';
  assert.equal(resolveType(url), undefined);
  registerProtoFiles(['envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto']);
  assert.equal(resolveType(url)?.name, 'envoy.extensions.filters.http.grpc_web.v3.GrpcWeb');
});
