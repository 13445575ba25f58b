// Builds the compact Envoy schema (see protos.ts) by parsing .proto files with protobufjs. This runs at build
// time (scripts/build-envoy-schema.mjs writes dist/envoy-schema.json) and at run time only when that file is
// missing, stale, or lacks a proto file someone registered. protos.ts imports this module, so protobufjs is
// required inside parseProtoFiles rather than imported at the top: loading it and parsing ~100 .proto files
// raises RSS by ~20 MB that V8 keeps, which a proxy that reads the JSON never pays.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import type { EnumSchema, FieldSchema, Kind, MessageSchema, ScalarKind } from './protos.js';

const require = createRequire(import.meta.url);

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

/** Every message type declared in `files` and the files they import (paths relative to the Envoy API include
 *  dirs). Enum schemas are shared between the fields that use the same enum. */
export function parseProtoFiles(files: readonly string[]): MessageSchema[] {
  const protobuf = require('protobufjs') as typeof Protobuf;
  const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  // google/protobuf/descriptor.proto (imported by the annotation protos) is shipped by protobufjs itself; the
  // other google/protobuf files are built into protobufjs and never reach resolvePath.
  const includeDirs = [
    ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(xdsDeps, d)),
    path.dirname(require.resolve('protobufjs/package.json')),
  ];
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // protobufjs skips an import that resolves to null; a missing file then fails resolveAll, naming the type.
    return null;
  };
  // keepCase keeps the snake_case field names the decoded form uses.
  root.loadSync(files.slice(), { keepCase: true });
  root.resolveAll();

  const enums = new Map<Protobuf.Enum, EnumSchema>();
  const enumSchema = (e: Protobuf.Enum): EnumSchema => {
    let s = enums.get(e);
    if (!s) {
      s = { name: e.fullName.slice(1), values: { ...e.values }, names: new Map(Object.entries(e.valuesById).map(([n, v]) => [Number(n), v])) };
      enums.set(e, s);
    }
    return s;
  };
  const fieldSchema = (f: Protobuf.Field): FieldSchema => {
    const rt = f.resolvedType;
    const proto3Optional = Boolean(f.options?.proto3_optional);
    let kind: Kind;
    let presence = Boolean(f.partOf);
    if (rt instanceof protobuf.Enum) kind = 'enum';
    else if (rt instanceof protobuf.Type) {
      kind = WELL_KNOWN[rt.fullName.slice(1)] ?? 'message';
      presence = true;
    } else kind = SCALARS[f.type] ?? 'string';
    return {
      name: f.name,
      kind,
      repeated: f.repeated,
      map: f.map,
      keyType: f.map ? (f as unknown as Protobuf.MapField).keyType : undefined,
      message: kind === 'message' ? (rt as Protobuf.Type).fullName.slice(1) : undefined,
      enum: rt instanceof protobuf.Enum ? enumSchema(rt) : undefined,
      // Synthetic oneofs of proto3 `optional` fields hold one field and never conflict.
      oneof: f.partOf && !proto3Optional ? f.partOf.name : undefined,
      presence,
      deprecated: Boolean(f.options?.deprecated),
      rules: validateRulesOf(f.parsedOptions),
    };
  };
  const found: MessageSchema[] = [];
  const visit = (ns: Protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const name = obj.fullName.slice(1);
        found.push({
          name,
          fields: obj.fieldsArray.map(fieldSchema),
          requiredOneofs: obj.oneofsArray
            .filter((o) => (o.parsedOptions as unknown as Array<Record<string, unknown>> | null)?.some((opt) => opt['(validate.required)'] === true))
            .map((o) => ({ name: o.name, fields: o.oneof.slice() })),
          reserved: (obj.reserved ?? []).filter((r): r is string => typeof r === 'string'),
          nested: obj.parent instanceof protobuf.Type,
          wellKnown: WELL_KNOWN[name],
        });
      }
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) visit(obj);
    }
  };
  visit(root);
  // The parser's names are slices of each file's text, which would keep every .proto source (comments and
  // all, a few MB) alive; a structured clone copies them out (and keeps shared enum schemas shared).
  return structuredClone(found);
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
