// The wire schema of every message an xDS resource (or an Any inside one) can hold: field numbers, wire types,
// packing, maps, oneofs and enums, taken from the Envoy .proto files that @grpc/grpc-js-xds ships (never copied
// into this repo). Memory decides the shape, as for the decoder's schema (src/api/envoy/protos.ts):
//  - A protobufjs Root of these ~530 messages costs ~250 ms and ~13 MB of RSS even when built from a
//    toJSON() cache (its reflection objects and generated code), and parsing the .proto files ~0.7 s and
//    ~29 MB — too much for a proxy whose idle RSS target is 60 MB.
//  - So the build (scripts/build-xds-protos.mjs) parses the protos once and writes only what the wire codec
//    needs to dist/xds-protos.json (~100 KB); json.ts walks that schema and does the binary work with
//    protobufjs's Reader/Writer. Nothing is read until the first message is encoded or decoded, so a proxy
//    without xDS never pays for it.
//  - Without that file (or with one built from other protos), the protos are parsed at run time: same
//    result, slower and bigger.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';
import { EXTENSION_PROTO_FILES } from '../envoy/protos.js';

const require = createRequire(import.meta.url);

/** Every proto file whose messages the codec knows: the decoder's extension protos (all types a typed_config
 *  can name), the xDS services, and the SDS secret. Their imports come along. */
export const XDS_PROTO_FILES: readonly string[] = [
  ...EXTENSION_PROTO_FILES,
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  // ext_authz's Check call (proxy/extensions/http-filters/ext-authz/grpc-client.ts)
  'envoy/service/auth/v3/external_auth.proto',
];

/** Where the build writes the schema: dist/xds-protos.json (this file is dist/src/api/xds/protos.js). */
export const XDS_PROTOS_JSON_PATH = fileURLToPath(new URL('../../../xds-protos.json', import.meta.url));
// Bumped whenever the encoded form changes, so that an older file is not trusted.
const FORMAT = 2;

export type Scalar =
  | 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64'
  | 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64' | 'bool' | 'string' | 'bytes';

const SCALARS = new Set<string>(['double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes']);

export interface WireEnum {
  readonly name: string;
  readonly values: Readonly<Record<string, number>>;
  /** number → first name declared for it (aliases share a number) */
  readonly names: ReadonlyMap<number, string>;
}

export interface WireField {
  readonly name: string;
  readonly jsonName: string;
  readonly id: number;
  /** Set for scalar fields (and map values of scalar type). */
  readonly scalar?: Scalar;
  readonly enum?: WireEnum;
  /** Full name of the message type (no leading dot). */
  readonly message?: string;
  readonly repeated: boolean;
  /** Repeated numeric fields written packed (proto3's default). */
  readonly packed: boolean;
  /** For map fields: the key's scalar type; the value is described by scalar/enum/message. */
  readonly mapKey?: Scalar;
  /** The real (non-synthetic) oneof the field belongs to. */
  readonly oneof?: string;
}

export interface WireMessage {
  readonly name: string;
  readonly fields: readonly WireField[];
  readonly byId: ReadonlyMap<number, WireField>;
  /** By proto name and by lowerCamelCase JSON name. */
  readonly byKey: ReadonlyMap<string, WireField>;
}

// The encoded form: short keys, absent = false/none. `t` is a scalar name or a type's full name.
interface EncodedField { n: string; i: number; t: string; r?: 1; p?: 1; k?: string; o?: string; j?: string }
interface Encoded {
  format: number;
  protos: string;
  files: string[];
  enums: Record<string, Record<string, number>>;
  messages: Record<string, EncodedField[]>;
}

let loaded: { encoded: Encoded; source: 'json' | 'protos' } | undefined;
const messages = new Map<string, WireMessage | null>();
const enums = new Map<string, WireEnum>();

function schema(): Encoded {
  loaded ??= loadXdsSchema();
  return loaded.encoded;
}

/** The wire schema of a message by full name (no leading dot), or undefined when no loaded proto declares it. */
export function wireMessage(fullName: string): WireMessage | undefined {
  let m = messages.get(fullName);
  if (m === undefined) {
    const fields = schema().messages[fullName];
    m = fields ? buildMessage(fullName, fields) : null;
    messages.set(fullName, m);
  }
  return m ?? undefined;
}

/** Which path loaded the schema (for tests and the startup log); loads it if needed. */
export function xdsSchemaSource(): 'json' | 'protos' {
  schema();
  return loaded!.source;
}

function buildMessage(name: string, encoded: EncodedField[]): WireMessage {
  const fields: WireField[] = encoded.map((f) => {
    const enumValues = SCALARS.has(f.t) ? undefined : schema().enums[f.t];
    return {
      name: f.n,
      jsonName: f.j ?? jsonName(f.n),
      id: f.i,
      scalar: SCALARS.has(f.t) ? (f.t as Scalar) : undefined,
      enum: enumValues ? wireEnum(f.t, enumValues) : undefined,
      message: SCALARS.has(f.t) || enumValues ? undefined : f.t,
      repeated: f.r === 1,
      packed: f.p === 1,
      mapKey: f.k as Scalar | undefined,
      oneof: f.o,
    };
  });
  const byKey = new Map<string, WireField>();
  for (const f of fields) byKey.set(f.name, f).set(f.jsonName, f);
  return { name, fields, byId: new Map(fields.map((f) => [f.id, f])), byKey };
}

function wireEnum(name: string, values: Record<string, number>): WireEnum {
  let e = enums.get(name);
  if (!e) {
    const names = new Map<number, string>();
    for (const [n, v] of Object.entries(values)) if (!names.has(v)) names.set(v, n);
    e = { name, values, names };
    enums.set(name, e);
  }
  return e;
}

/** proto3 JSON's lowerCamelCase name for a field (protoc's ToJsonName). */
export function jsonName(name: string): string {
  return name.replace(/_(.)/g, (_, c: string) => c.toUpperCase());
}

/** Reads the schema from `jsonPath` when it is current and covers XDS_PROTO_FILES, else parses the protos. */
export function loadXdsSchema(jsonPath = XDS_PROTOS_JSON_PATH): { encoded: Encoded; source: 'json' | 'protos' } {
  let text: string | undefined;
  try {
    text = fs.readFileSync(jsonPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text !== undefined) {
    let enc: Encoded | undefined;
    try {
      enc = JSON.parse(text) as Encoded;
    } catch {
      // cut short by an interrupted build: the protos still give the right answer
    }
    if (enc && enc.format === FORMAT && enc.protos === protosVersion() && XDS_PROTO_FILES.every((f) => enc!.files.includes(f))) {
      return { encoded: enc, source: 'json' };
    }
  }
  return { encoded: parseXdsProtos(), source: 'protos' };
}

/** What the build writes to XDS_PROTOS_JSON_PATH. */
export function buildXdsProtosJson(): string {
  return JSON.stringify(parseXdsProtos());
}

// Packages that only define options (validation rules, annotations, descriptors): their messages never appear
// on the wire of a resource.
const OPTION_PACKAGES = /^(validate|udpa\.annotations|xds\.annotations|envoy\.annotations)\.|^google\.api\.(Http|HttpRule|CustomHttpPattern)$|^google\.protobuf\.(FileDescriptor|FileOptions|MessageOptions|FieldOptions|OneofOptions|EnumOptions|EnumValueOptions|ServiceOptions|MethodOptions|DescriptorProto|FieldDescriptorProto|OneofDescriptorProto|EnumDescriptorProto|EnumValueDescriptorProto|ServiceDescriptorProto|MethodDescriptorProto|UninterpretedOption|SourceCodeInfo|GeneratedCodeInfo|ExtensionRangeOptions|FeatureSet)/;

function parseXdsProtos(): Encoded {
  // Required here, not imported: a proxy that reads the JSON never loads the .proto parser.
  const protobuf = require('protobufjs') as typeof Protobuf;
  const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  // google/protobuf/descriptor.proto (imported by the annotation protos) ships with protobufjs itself.
  const includeDirs = [
    ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d)),
    path.dirname(require.resolve('protobufjs/package.json')),
  ];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => includeDirs.map((d) => path.join(d, target)).find((c) => fs.existsSync(c)) ?? null;
  root.loadSync(XDS_PROTO_FILES.slice(), { keepCase: true });
  root.resolveAll();

  const out: Encoded = { format: FORMAT, protos: protosVersion(), files: XDS_PROTO_FILES.slice(), enums: {}, messages: {} };
  const visit = (ns: Protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      const name = obj.fullName.slice(1);
      if (obj instanceof protobuf.Type && !OPTION_PACKAGES.test(name)) out.messages[name] = obj.fieldsArray.map((f) => encodeField(protobuf, f, out));
      if (obj instanceof protobuf.Namespace) visit(obj);
    }
  };
  visit(root);
  // Every type a kept field refers to must be kept too, or the codec would meet an unknown type at run time.
  for (const [name, fields] of Object.entries(out.messages)) {
    for (const f of fields) {
      if (!SCALARS.has(f.t) && !out.messages[f.t] && !out.enums[f.t]) throw new Error(`xDS schema: ${name}.${f.n} refers to ${f.t}, which was left out`);
    }
  }
  return out;
}

function encodeField(protobuf: typeof Protobuf, f: Protobuf.Field, out: Encoded): EncodedField {
  const rt = f.resolvedType;
  let t = f.type;
  if (rt) {
    t = rt.fullName.slice(1);
    if (rt instanceof protobuf.Enum) out.enums[t] ??= { ...rt.values };
  }
  // protobufjs predefines the google.protobuf types with camelCase field names (nullValue); the codec, like
  // every other type here, uses the proto names.
  const name = f.parent?.fullName.startsWith('.google.protobuf.') ? f.name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()) : f.name;
  const e: EncodedField = { n: name, i: f.id, t };
  if (f.repeated) e.r = 1;
  if (f.repeated && f.packed && (rt instanceof protobuf.Enum || (SCALARS.has(t) && t !== 'string' && t !== 'bytes'))) e.p = 1;
  if (f instanceof protobuf.MapField) e.k = f.keyType;
  // proto3 `optional` fields sit in a synthetic oneof named after them; only real oneofs exclude each other.
  if (f.partOf && !(f.partOf.oneof.length === 1 && f.options?.proto3_optional)) e.o = f.partOf.name;
  const declaredJson = f.options?.json_name as string | undefined;
  if (declaredJson && declaredJson !== jsonName(name)) e.j = declaredJson;
  return e;
}

// The protos come from this package; a schema built from another version of it is not trusted.
function protosVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(require.resolve('@grpc/grpc-js-xds/package.json'), 'utf8')) as { version: string };
  return `@grpc/grpc-js-xds@${pkg.version}`;
}
