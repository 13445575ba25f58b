// The Envoy v3 API as protobufjs reflection, read from the .proto files that @grpc/grpc-js-xds ships (never
// copied into this repo). Parsing the whole tree would cost ~100 MB and seconds, so we parse the bootstrap
// (which pulls in listener, cluster, route, endpoint, core, ...) plus an explicit list of extension protos, once,
// on first use. Measured on the CI machine: ~300 ms and ~6 MB of retained heap for the list below.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { MeshworkError } from '../../common/errors.js';

const require = createRequire(import.meta.url);
const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
// google/protobuf/descriptor.proto (imported by the annotation protos) is shipped by protobufjs itself; the
// other google/protobuf files are built into protobufjs and never reach resolvePath.
const INCLUDE_DIRS = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(xdsDeps, d)),
  path.dirname(require.resolve('protobufjs/package.json')),
];

const ROOT_FILE = 'envoy/config/bootstrap/v3/bootstrap.proto';

/** Extension protos loaded besides the bootstrap. Add a file here (or call registerProtoFiles) to make its
 *  types resolvable from a typed_config @type. */
export const EXTENSION_PROTO_FILES: readonly string[] = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  // The HTTP/TCP/gRPC health checkers are core (config/core/v3/health_check.proto, already imported by the
  // cluster); only Redis and Thrift live in extensions and Meshwork has neither.
];

let root: protobuf.Root | undefined;
const pending: string[] = [];

function newRoot(): protobuf.Root {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // protobufjs skips an import whose path resolves to null; a missing file then shows up in resolveAll
    // as an unresolvable type, which names it.
    return null;
  };
  return r;
}

/** Adds proto files (paths relative to the Envoy API include dirs) to the set that is loaded. */
export function registerProtoFiles(files: readonly string[]): void {
  if (root) {
    root.loadSync(files.slice(), { keepCase: true });
    root.resolveAll();
  } else {
    pending.push(...files);
  }
}

/** The shared root, parsed on first call. keepCase keeps the snake_case field names the decoded form uses. */
export function protoRoot(): protobuf.Root {
  if (!root) {
    const r = newRoot();
    r.loadSync([ROOT_FILE, ...EXTENSION_PROTO_FILES, ...pending], { keepCase: true });
    r.resolveAll();
    pending.length = 0;
    root = r;
  }
  return root;
}

/** The message type a type URL (`type.googleapis.com/<full.name>`, or a bare full name) names, if loaded. */
export function resolveType(typeUrl: string): protobuf.Type | undefined {
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  if (!name) return undefined;
  const found = protoRoot().lookup(name.startsWith('.') ? name : '.' + name);
  return found instanceof protobuf.Type ? found : undefined;
}

/** A message type by full name; throws when the name is not loaded, which is a programming error. */
export function lookupType(fullName: string): protobuf.Type {
  const t = resolveType(fullName);
  if (!t) throw new MeshworkError('MW_INTERNAL', `Cannot find message type "${fullName}": not in the loaded Envoy protos`);
  return t;
}
