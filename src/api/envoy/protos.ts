// The Envoy v3 API schema, read with protobufjs from the .proto files that @grpc/grpc-js-xds ships (never
// copied into this repo). Two memory decisions:
//  - Parsing the whole tree would cost ~100 MB and seconds, so we parse the bootstrap (which pulls in
//    listener, cluster, route, endpoint, core, ...) plus an explicit list of extension protos, on first use.
//  - protobufjs's reflection objects for those ~560 messages hold ~6 MB of heap (per-field feature objects,
//    generated constructors, the .proto sources their names are sliced from). The decoder needs much less, so
//    we copy what it reads into a compact schema and let the protobufjs root be collected.
// Measured (2-core CI machine, busy): ~0.35 s to load, ~2.5 MB of heap kept; RSS peaks ~15 MB higher while
// parsing and V8 returns most of that after ~10 s idle.
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

const SCALARS: Record<string, ScalarKind> = {
  string: 'string', bytes: 'bytes', bool: 'bool', double: 'double', float: 'float',
  int32: 'int32', sint32: 'int32', sfixed32: 'int32', uint32: 'uint32', fixed32: 'uint32',
  int64: 'int64', sint64: 'int64', sfixed64: 'int64', uint64: 'uint64', fixed64: 'uint64',
};

const WELL_KNOWN: Record<string, Kind> = {
  'google.protobuf.Any': 'any',
  'google.protobuf.Duration': 'duration',
  'google.protobuf.Timestamp': 'timestamp',
  'google.protobuf.Struct': 'struct',
  'google.protobuf.Value': 'value',
  'google.protobuf.ListValue': 'list',
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

let schema: Map<string, MessageSchema> | undefined;
const pending: string[] = [];

/** Adds proto files (paths relative to the Envoy API include dirs) to the set whose types are known. */
export function registerProtoFiles(files: readonly string[]): void {
  if (schema) addFiles(schema, files);
  else pending.push(...files);
}

/** All loaded message types by full name (no leading dot), loading them on first call. */
export function loadedMessages(): ReadonlyMap<string, MessageSchema> {
  if (!schema) {
    const s = new Map<string, MessageSchema>();
    addFiles(s, [ROOT_FILE, ...EXTENSION_PROTO_FILES, ...pending]);
    pending.length = 0;
    schema = s;
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

function addFiles(into: Map<string, MessageSchema>, files: readonly string[]): void {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // protobufjs skips an import that resolves to null; a missing file then fails resolveAll, naming the type.
    return null;
  };
  // keepCase keeps the snake_case field names the decoded form uses.
  root.loadSync(files.slice(), { keepCase: true });
  root.resolveAll();
  const enums = new Map<protobuf.Enum, EnumSchema>();
  const found: MessageSchema[] = [];
  const visit = (ns: protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) found.push(messageSchema(obj, enums));
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) visit(obj);
    }
  };
  visit(root);
  // The parser's names are slices of each file's text, which would keep every .proto source (comments and
  // all, a few MB) alive; a structured clone copies them out.
  for (const m of structuredClone(found)) into.set(m.name, m);
}

function messageSchema(type: protobuf.Type, enums: Map<protobuf.Enum, EnumSchema>): MessageSchema {
  const name = type.fullName.slice(1);
  return {
    name,
    fields: type.fieldsArray.map((f) => fieldSchema(f, enums)),
    requiredOneofs: type.oneofsArray
      .filter((o) => (o.parsedOptions as unknown as Array<Record<string, unknown>> | null)?.some((opt) => opt['(validate.required)'] === true))
      .map((o) => ({ name: o.name, fields: o.oneof.slice() })),
    reserved: (type.reserved ?? []).filter((r): r is string => typeof r === 'string'),
    nested: type.parent instanceof protobuf.Type,
    wellKnown: WELL_KNOWN[name],
  };
}

function fieldSchema(f: protobuf.Field, enums: Map<protobuf.Enum, EnumSchema>): FieldSchema {
  const rt = f.resolvedType;
  const proto3Optional = Boolean(f.options?.proto3_optional);
  let kind: Kind;
  let presence = Boolean(f.partOf);
  let enumSchema: EnumSchema | undefined;
  if (rt instanceof protobuf.Enum) {
    kind = 'enum';
    enumSchema = enums.get(rt);
    if (!enumSchema) {
      enumSchema = { name: rt.fullName.slice(1), values: { ...rt.values }, names: new Map(Object.entries(rt.valuesById).map(([n, v]) => [Number(n), v])) };
      enums.set(rt, enumSchema);
    }
  } else if (rt instanceof protobuf.Type) {
    kind = WELL_KNOWN[rt.fullName.slice(1)] ?? 'message';
    presence = true;
  } else {
    kind = SCALARS[f.type] ?? 'string';
  }
  return {
    name: f.name,
    kind,
    repeated: f.repeated,
    map: f.map,
    keyType: f.map ? (f as unknown as protobuf.MapField).keyType : undefined,
    message: kind === 'message' ? (rt as protobuf.Type).fullName.slice(1) : undefined,
    enum: enumSchema,
    // Synthetic oneofs of proto3 `optional` fields hold one field and never conflict.
    oneof: f.partOf && !proto3Optional ? f.partOf.name : undefined,
    presence,
    deprecated: Boolean(f.options?.deprecated),
    rules: validateRulesOf(f.parsedOptions),
  };
}

// protobufjs keeps (validate.rules) both flattened in `options` and structured in `parsedOptions`; the flat
// form drops empty-message values such as `duration = {gt {}}`, so the structured one is read and merged.
function validateRulesOf(options: unknown): Record<string, any> | undefined {
  if (!Array.isArray(options)) return undefined;
  let merged: Record<string, any> | undefined;
  for (const entry of options as Array<Record<string, unknown>>) {
    const rules = entry['(validate.rules)'];
    if (rules && typeof rules === 'object') merged = deepMerge(merged ?? {}, rules as Record<string, any>);
  }
  return merged;
}

function deepMerge(into: Record<string, any>, from: Record<string, any>): Record<string, any> {
  for (const [k, v] of Object.entries(from)) {
    into[k] = v && typeof v === 'object' && !Array.isArray(v) && into[k] && typeof into[k] === 'object' ? deepMerge(into[k], v) : v;
  }
  return into;
}
