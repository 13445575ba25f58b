// An Envoy gRPC service as @grpc/grpc-js sees it, loaded from the Envoy protos that @grpc/grpc-js-xds ships,
// with @grpc/proto-loader: the tests' own reading of the wire, independent of Meshwork's codec.
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

/** The service `service` (full name) of `protoFile` (a path under envoy-api), as a grpc-js service definition. */
export function envoyService(protoFile: string, service: string): grpc.ServiceDefinition {
  const protoLoader = require('@grpc/proto-loader') as typeof ProtoLoader;
  const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const def = protoLoader.loadSync(protoFile, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d)),
  });
  return def[service] as unknown as grpc.ServiceDefinition;
}

/** envoy.service.auth.v3.Authorization, for ext_authz tests' authorizers. */
export const authorizationService = (): grpc.ServiceDefinition => envoyService('envoy/service/auth/v3/external_auth.proto', 'envoy.service.auth.v3.Authorization');
