const {default: protobuf} = await import('protobufjs');
const path = await import('node:path'); const fs = await import('node:fs');
const D = path.resolve('node_modules/@grpc/grpc-js-xds/deps');
const inc = ['envoy-api','xds','googleapis','protoc-gen-validate'].map(d=>path.join(D,d)).concat(['node_modules/protobufjs']);
const root = new protobuf.Root();
root.resolvePath = (o, t) => { for (const i of inc) { const p = path.join(i, t); if (fs.existsSync(p)) return p; } return null; };
const E='envoy/extensions';
root.loadSync(['envoy/config/bootstrap/v3/bootstrap.proto', ...`${E}/filters/network/http_connection_manager/v3/http_connection_manager.proto ${E}/filters/http/router/v3/router.proto ${E}/filters/network/tcp_proxy/v3/tcp_proxy.proto ${E}/transport_sockets/tls/v3/tls.proto ${E}/access_loggers/file/v3/file.proto ${E}/access_loggers/stream/v3/stream.proto ${E}/filters/http/fault/v3/fault.proto ${E}/filters/http/local_ratelimit/v3/local_rate_limit.proto ${E}/filters/network/local_ratelimit/v3/local_rate_limit.proto ${E}/filters/http/rbac/v3/rbac.proto ${E}/filters/network/rbac/v3/rbac.proto ${E}/filters/http/jwt_authn/v3/config.proto ${E}/upstreams/http/v3/http_protocol_options.proto envoy/service/discovery/v3/discovery.proto ${E}/filters/listener/tls_inspector/v3/tls_inspector.proto ${E}/filters/listener/http_inspector/v3/http_inspector.proto`.split(' ')], {keepCase:true});
root.resolveAll();
for (const n of process.argv.slice(2)) {
  const t = root.lookup(n);
  if (t instanceof protobuf.Enum) { console.log('ENUM', n, Object.keys(t.values).join(' ')); continue; }
  console.log('==', n);
  for (const f of t.fieldsArray) console.log('  ', f.name, f.repeated?'repeated':'', f.map?'map':'', f.resolvedType? f.resolvedType.fullName.slice(1): f.type, f.partOf? 'oneof:'+f.partOf.name:'', f.options?.deprecated?'DEPRECATED':'');
}
