// The Envoy v3 API schema: the compact form of the .proto files that @grpc/grpc-js-xds ships (never copied
// into this repo) that the decoder reads. Memory decides the shape:
//  - Parsing the ~100 .proto files behind the ~560 messages we load takes ~0.4 s and raises RSS by ~15 MB that
//    V8 keeps for seconds (and the schema copied out of protobufjs's reflection objects still holds 2.3 MB).
//    So the build (schema-build.ts, via scripts/build-envoy-schema.mjs) parses them once and writes what the
//    decoder reads to dist/envoy-schema.json (~270 KB); at run time we read that (~20 ms, 0.7 MB of heap).
//  - The protos are parsed at run time only when that file is missing, was built from other protos or by an
//    older format, or lacks a file passed to registerProtoFiles — the same result, just slower and bigger.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { MeshworkError } from '../../common/errors.js';
import { parseProtoFiles } from './schema-build.js';

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
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto',
  'envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster.proto',
  // TypedStruct: an extension's config as a Struct under its type URL (how Istio configures its own filters)
  'xds/type/v3/typed_struct.proto',
  'udpa/type/v1/typed_struct.proto',
  // The HTTP/TCP/gRPC health checkers are core (config/core/v3/health_check.proto, already imported by the
  // cluster); only Redis and Thrift live in extensions and Meshwork has neither.
];

export type ScalarKind = 'string' | 'bytes' | 'bool' | 'double' | 'float' | 'int32' | 'uint32' | 'int64' | 'uint64';
/** How a value is written in proto3 JSON. Well-known types with a special JSON form get their own kind;
 *  wrappers (UInt32Value, ...) get the kind of the value they wrap. */
export type Kind = ScalarKind | 'enum' | 'message' | 'any' | 'duration' | 'timestamp' | 'struct' | 'value' | 'list';

export interface EnumSchema {
  readonly name: string;
  readonly values: Readonly<Record<string, number>>;
  readonly names: ReadonlyMap<number, string>;
}

export interface FieldSchema {
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  readonly map: boolean;
  /** Map key type (proto scalar name). */
  readonly keyType?: string;
  /** For kind 'message': the full name of the message type. */
  readonly message?: string;
  readonly enum?: EnumSchema;
  /** The (real) oneof the field belongs to. */
  readonly oneof?: string;
  /** Whether presence is explicit (messages, wrappers, oneof members, proto3 `optional`). */
  readonly presence: boolean;
  readonly deprecated: boolean;
  /** The protoc-gen-validate rules, merged from the field's options. */
  readonly rules?: Readonly<Record<string, any>>;
}

export interface MessageSchema {
  readonly name: string;
  readonly fields: readonly FieldSchema[];
  /** Oneofs marked (validate.required): exactly one member must be set. */
  readonly requiredOneofs: ReadonlyArray<{ readonly name: string; readonly fields: readonly string[] }>;
  /** Field names reserved in v3, i.e. removed from v2. */
  readonly reserved: readonly string[];
  /** Declared inside another message (so it cannot be an extension's config type). */
  readonly nested: boolean;
  /** Set for well-known types whose JSON form is not an object of fields. */
  readonly wellKnown?: Kind;
}

/** Where the build writes the schema: dist/envoy-schema.json (this file is dist/src/api/envoy/protos.js). */
export const SCHEMA_JSON_PATH = fileURLToPath(new URL('../../../envoy-schema.json', import.meta.url));
// Bumped whenever the encoded form or what parseProtoFiles extracts changes, so an older file is not trusted.
const SCHEMA_FORMAT = 1;

let schema: Map<string, MessageSchema> | undefined;
const pending: string[] = [];

/** Adds proto files (paths relative to the Envoy API include dirs) to the set whose types are known. */
export function registerProtoFiles(files: readonly string[]): void {
  if (schema) for (const m of parseProtoFiles(files)) schema.set(m.name, m);
  else pending.push(...files);
}

/** All loaded message types by full name (no leading dot), loading them on first call. */
export function loadedMessages(): ReadonlyMap<string, MessageSchema> {
  if (!schema) {
    schema = loadSchema([...schemaFiles(), ...pending]).messages;
    pending.length = 0;
  }
  return schema;
}

/** The message type a type URL (`type.googleapis.com/<full.name>`, or a bare full name) names, if loaded. */
export function resolveType(typeUrl: string): MessageSchema | undefined {
  return loadedMessages().get(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
}

/** A message type by full name; throws when the name is not loaded, which is a programming error. */
export function lookupType(fullName: string): MessageSchema {
  const t = resolveType(fullName);
  if (!t) throw new MeshworkError('MW_INTERNAL', `Cannot find message type "${fullName}": not in the loaded Envoy protos`);
  return t;
}

/** The proto files the built schema covers: the bootstrap and EXTENSION_PROTO_FILES. */
export function schemaFiles(): string[] {
  return [ROOT_FILE, ...EXTENSION_PROTO_FILES];
}

/** The schema of `files`, read from `jsonPath` when that file is current and covers them, else parsed from
 *  the protos. `source` says which. */
export function loadSchema(files: readonly string[], jsonPath = SCHEMA_JSON_PATH): { messages: Map<string, MessageSchema>; source: 'json' | 'protos' } {
  let text: string | undefined;
  try {
    text = fs.readFileSync(jsonPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const fromJson = text === undefined ? undefined : decodeSchema(text, files);
  if (fromJson) return { messages: fromJson, source: 'json' };
  return { messages: new Map(parseProtoFiles(files).map((m) => [m.name, m])), source: 'protos' };
}

/** What the build writes to SCHEMA_JSON_PATH: the schema of schemaFiles(), parsed from the protos now. */
export function buildSchemaJson(): string {
  const files = schemaFiles();
  return encodeSchema(files, parseProtoFiles(files));
}

// The encoded form leaves out what is false or absent and names enums instead of repeating them. decodeSchema
// rebuilds objects of exactly the shape parseProtoFiles makes, so the decoder sees one shape whichever path
// loaded them (and the tests can compare the two with deepStrictEqual).
interface EncodedSchema {
  format: number;
  protos: string;
  files: string[];
  enums: Record<string, { values: Record<string, number>; names: Array<[number, string]> }>;
  messages: Array<{
    name: string;
    fields: EncodedField[];
    requiredOneofs?: Array<{ name: string; fields: string[] }>;
    reserved?: string[];
    nested?: true;
    wellKnown?: Kind;
  }>;
}

interface EncodedField {
  name: string;
  kind: Kind;
  repeated?: true;
  map?: true;
  keyType?: string;
  message?: string;
  enum?: string;
  oneof?: string;
  presence?: true;
  deprecated?: true;
  rules?: Record<string, any>;
}

function encodeSchema(files: readonly string[], messages: readonly MessageSchema[]): string {
  const out: EncodedSchema = { format: SCHEMA_FORMAT, protos: protosVersion(), files: files.slice(), enums: {}, messages: [] };
  const trueOrUndefined = (b: boolean) => (b ? (true as const) : undefined);
  for (const m of messages) {
    out.messages.push({
      name: m.name,
      fields: m.fields.map((f) => {
        if (f.enum) out.enums[f.enum.name] ??= { values: { ...f.enum.values }, names: [...f.enum.names] };
        return {
          name: f.name, kind: f.kind, repeated: trueOrUndefined(f.repeated), map: trueOrUndefined(f.map), keyType: f.keyType,
          message: f.message, enum: f.enum?.name, oneof: f.oneof, presence: trueOrUndefined(f.presence),
          deprecated: trueOrUndefined(f.deprecated), rules: f.rules,
        };
      }),
      requiredOneofs: m.requiredOneofs.length ? m.requiredOneofs.map((o) => ({ name: o.name, fields: o.fields.slice() })) : undefined,
      reserved: m.reserved.length ? m.reserved.slice() : undefined,
      nested: trueOrUndefined(m.nested),
      wellKnown: m.wellKnown,
    });
  }
  return JSON.stringify(out);
}

function decodeSchema(text: string, files: readonly string[]): Map<string, MessageSchema> | undefined {
  let enc: EncodedSchema;
  try {
    enc = JSON.parse(text) as EncodedSchema;
  } catch {
    return undefined; // cut short by an interrupted build: the protos still give the right answer
  }
  if (enc.format !== SCHEMA_FORMAT || enc.protos !== protosVersion()) return undefined;
  const have = new Set(enc.files);
  if (!files.every((f) => have.has(f))) return undefined;
  const enums = new Map<string, EnumSchema>();
  for (const [name, e] of Object.entries(enc.enums)) enums.set(name, { name, values: e.values, names: new Map(e.names) });
  const out = new Map<string, MessageSchema>();
  for (const m of enc.messages) {
    out.set(m.name, {
      name: m.name,
      fields: m.fields.map((f) => ({
        name: f.name,
        kind: f.kind,
        repeated: f.repeated === true,
        map: f.map === true,
        keyType: f.keyType,
        message: f.message,
        enum: f.enum === undefined ? undefined : enums.get(f.enum),
        oneof: f.oneof,
        presence: f.presence === true,
        deprecated: f.deprecated === true,
        rules: f.rules,
      })),
      requiredOneofs: m.requiredOneofs ?? [],
      reserved: m.reserved ?? [],
      nested: m.nested === true,
      wellKnown: m.wellKnown,
    });
  }
  return out;
}

// The protos come from this package; a schema built from another version of it is not trusted.
function protosVersion(): string {
  const require = createRequire(import.meta.url);
  const pkg = JSON.parse(fs.readFileSync(require.resolve('@grpc/grpc-js-xds/package.json'), 'utf8')) as { version: string };
  return `@grpc/grpc-js-xds@${pkg.version}`;
}
