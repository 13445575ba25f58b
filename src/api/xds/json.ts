// proto3 JSON ⇄ protobuf binary, walking the wire schema of protos.ts and doing the byte work with protobufjs's
// Reader/Writer (no reflection objects or generated code: see protos.ts for why). JSON in is what users write
// (snake_case or lowerCamelCase keys, "1.5s" durations, '@type' in Any, enum names or numbers, int64 as
// numbers or strings, base64 bytes, Struct as plain JSON); JSON out is the canonical form src/api/envoy's
// decodeMessage reads (snake_case keys, enums by name, int64 as numbers when safe). Errors are ConfigErrors
// naming the field path, e.g. `virtual_hosts[0].routes[1].match.prefx: unknown field ...`.
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import { ConfigError, type ErrorCode } from '../../common/errors.js';
import { describe } from '../envoy/decoder.js';
import { jsonName, wireMessage, type Scalar, type WireEnum, type WireField, type WireMessage } from './protos.js';
import { messageName } from './type-urls.js';

/** google.protobuf.Any on the wire */
export interface Any {
  type_url: string;
  value: Buffer;
}

export interface CodecOptions {
  /** Any fields are {type_url, value: Buffer} as on the wire, not unpacked JSON: how the discovery messages
   *  carry resources, which are encoded once and sent to many proxies. */
  wireAny?: boolean;
}

type Json = Record<string, unknown>;

const require = createRequire(import.meta.url);
let pb: typeof Protobuf | undefined;
// protobufjs/minimal is only the Reader/Writer; loaded on first use like the schema.
const protobuf = () => (pb ??= require('protobufjs/minimal') as typeof Protobuf);

/** proto3 JSON → binary of message `typeName` (full name). Throws ConfigError naming the field path. */
export function jsonToBinary(typeName: string, json: unknown, path = '', options: CodecOptions = {}): Buffer {
  const w = protobuf().Writer.create();
  new Encoder(options.wireAny === true).body(w, messageType(typeName, path), json, path);
  return w.finish() as Buffer;
}

/** binary → proto3 JSON of message `typeName` (an object, except for well-known types such as
 *  google.protobuf.Duration, whose JSON is a string etc.). Throws ConfigError (MW_CONFIG_PARSE) on malformed bytes. */
export function binaryToJson<T = Json>(typeName: string, bytes: Uint8Array, options: CodecOptions = {}): T {
  messageType(typeName, '');
  try {
    return new Decoder(options.wireAny === true).messageJson(protobuf().Reader.create(bytes), bytes.length, typeName) as T;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('MW_CONFIG_PARSE', '', `Cannot decode ${typeName}: ${(err as Error).message}`);
  }
}

/** proto3 JSON (as users write it) → Any. typeUrl defaults to json['@type']. Throws ConfigError naming the
 *  field path on unknown fields or bad values. */
export function packAny(json: object, typeUrl?: string, path = ''): Any {
  const written = (json as Json)['@type'];
  const url = typeUrl ?? written;
  if (typeof url !== 'string' || !url) throw new ConfigError('MW_CONFIG_INVALID', path, 'missing "@type" (the type URL, e.g. "type.googleapis.com/envoy.config.cluster.v3.Cluster")');
  if (typeof written === 'string' && messageName(written) !== messageName(url)) {
    throw new ConfigError('MW_CONFIG_INVALID', join(path, '@type'), `"${written}" does not match the resource type "${url}"`);
  }
  return { type_url: url, value: new Encoder(false).anyValue(url, json as Json, path) };
}

/** Any → proto3 JSON with '@type' (snake_case keys, Duration "1.5s", enums by name, nested Anys unpacked,
 *  Struct as plain JSON, int64 as numbers when safe). Throws ConfigError on an unknown type URL or bad bytes. */
export function unpackAny(any: Any): Json {
  const name = messageName(any.type_url);
  if (!wireMessage(name)) throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', '', `unknown type "${any.type_url}": not in the loaded Envoy protos`);
  const inner = binaryToJson<unknown>(name, any.value);
  return WELL_KNOWN.has(name) ? { '@type': any.type_url, value: inner } : { '@type': any.type_url, ...(inner as Json) };
}

function messageType(name: string, path: string): WireMessage {
  const t = wireMessage(name);
  if (!t) throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', path, `unknown type "${name}": not in the loaded Envoy protos`);
  return t;
}

// Well-known types whose JSON form is not an object of their fields. Decoder.body() returns these wrapped as
// { value: <json> } so that a message body is always an object; fieldValue() unwraps them.
const WRAPPERS: Record<string, Scalar> = {
  'google.protobuf.DoubleValue': 'double', 'google.protobuf.FloatValue': 'float', 'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64', 'google.protobuf.Int32Value': 'int32', 'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool', 'google.protobuf.StringValue': 'string', 'google.protobuf.BytesValue': 'bytes',
};
const WELL_KNOWN = new Set([
  ...Object.keys(WRAPPERS), 'google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.Struct',
  'google.protobuf.Value', 'google.protobuf.ListValue', 'google.protobuf.FieldMask',
]);
const ANY = 'google.protobuf.Any';

const WIRE_VARINT = 0, WIRE_64 = 1, WIRE_LEN = 2, WIRE_32 = 5;
const WIRE_TYPE: Record<Scalar, number> = {
  double: WIRE_64, float: WIRE_32, int32: WIRE_VARINT, int64: WIRE_VARINT, uint32: WIRE_VARINT, uint64: WIRE_VARINT,
  sint32: WIRE_VARINT, sint64: WIRE_VARINT, fixed32: WIRE_32, fixed64: WIRE_64, sfixed32: WIRE_32, sfixed64: WIRE_64,
  bool: WIRE_VARINT, string: WIRE_LEN, bytes: WIRE_LEN,
};
const INT32_RANGE: Partial<Record<Scalar, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
};
const UNSIGNED64 = new Set<Scalar>(['uint64', 'fixed64']);
const MAX_DURATION_SECONDS = 315_576_000_000; // 10000 years, protobuf's limit

const join = (path: string, name: string) => (path ? `${path}.${name}` : name);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

function fail(path: string, reason: string, code: ErrorCode = 'MW_CONFIG_INVALID'): never {
  throw new ConfigError(code, path, reason);
}

const EMPTY = Buffer.alloc(0);
const tag = (id: number, wireType: number) => ((id << 3) | wireType) >>> 0;

class Encoder {
  constructor(private readonly wireAny: boolean) {}

  /** The fields of message `t` (no tag, no length), from its JSON form. */
  body(w: Protobuf.Writer, t: WireMessage, v: unknown, path: string): void {
    if (WELL_KNOWN.has(t.name)) return this.wellKnown(w, t, v, path);
    if (t.name === ANY) return this.any(w, v, path);
    if (!isObject(v)) fail(path, `expected an object (${t.name}), got ${describe(v)}`);
    let oneofs: Map<string, string> | undefined;
    for (const key of Object.keys(v)) {
      const f = t.byKey.get(key);
      if (!f) {
        const near = closest(key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), t.fields.map((x) => x.name));
        fail(join(path, key), `unknown field (not in ${t.name}${near ? `; did you mean "${near}"?` : ''})`, 'MW_CONFIG_UNKNOWN_FIELD');
      }
      const fpath = join(path, f.name);
      if (key !== f.name && Object.hasOwn(v, f.name)) fail(fpath, `set twice, as "${f.name}" and "${key}"`);
      const x = v[key];
      // proto3 JSON: null means "not set", except where a google.protobuf.Value holds it; undefined (a JS
      // object's absent property) too.
      if (x === undefined || (x === null && !(f.message === 'google.protobuf.Value' && !f.repeated && !f.mapKey))) continue;
      if (f.oneof) {
        const other = (oneofs ??= new Map()).get(f.oneof);
        if (other) fail(fpath, `only one of "${other}" and "${f.name}" may be set (oneof ${f.oneof})`);
        oneofs.set(f.oneof, f.name);
      }
      this.field(w, f, x, fpath);
    }
  }

  private field(w: Protobuf.Writer, f: WireField, v: unknown, path: string): void {
    if (f.mapKey) {
      if (!isObject(v)) fail(path, `expected an object (map), got ${describe(v)}`);
      for (const k of Object.keys(v)) {
        const kpath = `${path}[${JSON.stringify(k)}]`;
        w.uint32(tag(f.id, WIRE_LEN)).fork();
        this.scalar(w, 1, f.mapKey, f.mapKey === 'bool' ? mapBool(k, kpath) : k, kpath);
        this.single(w, { ...f, id: 2 }, v[k], kpath);
        w.ldelim();
      }
      return;
    }
    if (!f.repeated) return this.single(w, f, v, path);
    if (!Array.isArray(v)) fail(path, `expected a list, got ${describe(v)}`);
    if (f.packed) {
      w.uint32(tag(f.id, WIRE_LEN)).fork();
      v.forEach((x, i) => (f.enum ? w.int32(enumNumber(f.enum, x, `${path}[${i}]`)) : this.scalarValue(w, f.scalar!, x, `${path}[${i}]`)));
      w.ldelim();
      return;
    }
    v.forEach((x, i) => {
      if (x === null && f.message !== 'google.protobuf.Value') fail(`${path}[${i}]`, 'a list item cannot be null');
      this.single(w, f, x, `${path}[${i}]`);
    });
  }

  /** One value of field `f` with its tag. */
  private single(w: Protobuf.Writer, f: WireField, v: unknown, path: string): void {
    if (f.scalar) this.scalar(w, f.id, f.scalar, v, path);
    else if (f.enum) w.uint32(tag(f.id, WIRE_VARINT)).int32(enumNumber(f.enum, v, path));
    else {
      w.uint32(tag(f.id, WIRE_LEN)).fork();
      this.body(w, messageType(f.message!, path), v, path);
      w.ldelim();
    }
  }

  private scalar(w: Protobuf.Writer, id: number, s: Scalar, v: unknown, path: string): void {
    w.uint32(tag(id, WIRE_TYPE[s]));
    this.scalarValue(w, s, v, path);
  }

  private scalarValue(w: Protobuf.Writer, s: Scalar, v: unknown, path: string): void {
    switch (s) {
      case 'string':
        if (typeof v !== 'string') fail(path, `expected a string, got ${describe(v)}`);
        w.string(v);
        return;
      case 'bool':
        if (typeof v !== 'boolean') fail(path, `expected true or false, got ${describe(v)}`);
        w.bool(v);
        return;
      case 'bytes':
        w.bytes(bytesValue(v, path));
        return;
      case 'double':
      case 'float':
        w[s](floatValue(s, v, path));
        return;
      case 'int64': case 'uint64': case 'sint64': case 'fixed64': case 'sfixed64':
        w[s](int64Value(s, v, path));
        return;
      default:
        w[s](int32Value(s, v, path));
    }
  }

  private wellKnown(w: Protobuf.Writer, t: WireMessage, v: unknown, path: string): void {
    const wrapped = WRAPPERS[t.name];
    if (wrapped) return this.scalar(w, 1, wrapped, v, path);
    switch (t.name) {
      case 'google.protobuf.Duration':
      case 'google.protobuf.Timestamp': {
        const [seconds, nanos] = t.name === 'google.protobuf.Duration' ? parseDuration(v, path) : parseTimestamp(v, path);
        if (seconds !== 0) w.uint32(tag(1, WIRE_VARINT)).int64(seconds);
        if (nanos !== 0) w.uint32(tag(2, WIRE_VARINT)).int32(nanos);
        return;
      }
      case 'google.protobuf.Struct':
        if (!isObject(v)) fail(path, `expected an object, got ${describe(v)}`);
        return this.field(w, t.byId.get(1)!, v, path);
      case 'google.protobuf.ListValue':
        if (!Array.isArray(v)) fail(path, `expected a list, got ${describe(v)}`);
        return this.field(w, t.byId.get(1)!, v, path);
      case 'google.protobuf.Value':
        if (v === null) w.uint32(tag(1, WIRE_VARINT)).int32(0);
        else if (typeof v === 'number') w.uint32(tag(2, WIRE_64)).double(v);
        else if (typeof v === 'string') w.uint32(tag(3, WIRE_LEN)).string(v);
        else if (typeof v === 'boolean') w.uint32(tag(4, WIRE_VARINT)).bool(v);
        else if (Array.isArray(v) || isObject(v)) {
          w.uint32(tag(Array.isArray(v) ? 6 : 5, WIRE_LEN)).fork();
          this.wellKnown(w, messageType(Array.isArray(v) ? 'google.protobuf.ListValue' : 'google.protobuf.Struct', path), v, path);
          w.ldelim();
        } else fail(path, `expected a JSON value, got ${describe(v)}`);
        return;
      case 'google.protobuf.FieldMask':
        if (typeof v !== 'string') fail(path, `expected a field mask string like "a.b,c", got ${describe(v)}`);
        for (const p of v.split(',').filter(Boolean)) w.uint32(tag(1, WIRE_LEN)).string(p.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()));
        return;
    }
  }

  private any(w: Protobuf.Writer, v: unknown, path: string): void {
    if (this.wireAny) {
      if (!isObject(v) || typeof v.type_url !== 'string' || !(v.value instanceof Uint8Array)) fail(path, 'expected {type_url, value: Buffer}');
      w.uint32(tag(1, WIRE_LEN)).string(v.type_url).uint32(tag(2, WIRE_LEN)).bytes(v.value);
      return;
    }
    if (!isObject(v)) fail(path, `expected an object with "@type", got ${describe(v)}`);
    const url = v['@type'];
    if (typeof url !== 'string' || !url) fail(path, 'missing "@type" (the type URL of the typed config, e.g. "type.googleapis.com/envoy...")');
    w.uint32(tag(1, WIRE_LEN)).string(url).uint32(tag(2, WIRE_LEN)).bytes(this.anyValue(url, v, path));
  }

  /** The encoded inner message of an Any written as {'@type': url, ...fields} (or {'@type', value} for a
   *  well-known type). */
  anyValue(url: string, v: Json, path: string): Buffer {
    const t = wireMessage(messageName(url));
    if (!t) fail(join(path, '@type'), `unknown type "${url}": not in the loaded Envoy protos`, 'MW_CONFIG_UNKNOWN_EXTENSION');
    const w = protobuf().Writer.create();
    if (WELL_KNOWN.has(t.name)) {
      for (const k of Object.keys(v)) if (k !== '@type' && k !== 'value') fail(join(path, k), `unknown field (a ${t.name} in an Any is written as {"@type", "value"})`, 'MW_CONFIG_UNKNOWN_FIELD');
      if (v.value !== undefined) this.body(w, t, v.value, join(path, 'value'));
    } else {
      const { '@type': _, ...fields } = v;
      this.body(w, t, fields, path);
    }
    return w.finish() as Buffer;
  }
}

/** The field name within edit distance 2 of a misspelt one, if any. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) >= bestDistance) continue;
    let prev = Array.from({ length: c.length + 1 }, (_, j) => j);
    for (let i = 1; i <= name.length; i++) {
      const row = [i];
      for (let j = 1; j <= c.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (name[i - 1] === c[j - 1] ? 0 : 1));
      prev = row;
    }
    if (prev[c.length] < bestDistance) [best, bestDistance] = [c, prev[c.length]];
  }
  return best;
}

function mapBool(k: string, path: string): boolean {
  if (k !== 'true' && k !== 'false') fail(path, 'map key must be true or false');
  return k === 'true';
}

function enumNumber(e: WireEnum, v: unknown, path: string): number {
  if (typeof v === 'string') {
    const n = e.values[v];
    if (n !== undefined && Object.hasOwn(e.values, v)) return n;
    fail(path, `unknown value "${v}" for enum ${e.name} (one of ${Object.keys(e.values).join(', ')})`);
  }
  // proto3 enums are open: any int32 is a valid value on the wire.
  if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return v;
  fail(path, `expected a value of enum ${e.name}, got ${describe(v)}`);
}

function int32Value(s: Scalar, v: unknown, path: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) fail(path, `expected an integer, got ${describe(v)}`);
  const [min, max] = INT32_RANGE[s]!;
  if (n < min || n > max) fail(path, `${String(v)} is out of range for ${s}`);
  return n;
}

/** A 64-bit integer as protobufjs's Writer takes it: a number when exact, else a decimal string of the
 *  signed value with the same 64 bits. */
function int64Value(s: Scalar, v: unknown, path: string): number | string {
  let b: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
  else if (typeof v === 'bigint') b = v;
  else fail(path, `expected an integer, got ${describe(v)}`);
  const unsigned = UNSIGNED64.has(s);
  if (unsigned ? b < 0n || b >= 2n ** 64n : b < -(2n ** 63n) || b >= 2n ** 63n) fail(path, `${String(v)} is out of range for ${s}`);
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : BigInt.asIntN(64, b).toString();
}

function floatValue(s: 'double' | 'float', v: unknown, path: string): number {
  const n = typeof v === 'number' ? v : v === 'NaN' ? NaN : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : undefined;
  if (n === undefined) fail(path, `expected a number, got ${describe(v)}`);
  if (s === 'float' && Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) fail(path, `${String(v)} is out of range for float`);
  return n;
}

function bytesValue(v: unknown, path: string): Uint8Array {
  // Buffers come from decoded configs (src/api/envoy decodes bytes to Buffer); JSON has base64 (either alphabet).
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) return Buffer.from(v, 'base64');
  fail(path, `expected base64-encoded bytes, got ${describe(v)}`);
}

function parseDuration(v: unknown, path: string): [number, number] {
  let seconds: number, nanos: number;
  const m = typeof v === 'string' ? /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(v) : null;
  if (m) {
    const sign = m[1] ? -1 : 1;
    seconds = sign * Number(m[2]);
    nanos = sign * Number((m[3] ?? '').padEnd(9, '0'));
  } else if (isObject(v) && Object.keys(v).every((k) => k === 'seconds' || k === 'nanos')) {
    // Not proto3 JSON, but src/api/envoy accepts it (YAML written from a proto dump), so we do too.
    seconds = Number(v.seconds ?? 0);
    nanos = Number(v.nanos ?? 0);
    if (!Number.isInteger(seconds) || !Number.isInteger(nanos) || Math.abs(nanos) > 999_999_999) fail(path, 'invalid duration: seconds and nanos must be integers, nanos within ±999999999');
  } else {
    fail(path, `invalid duration ${typeof v === 'string' ? JSON.stringify(v) : describe(v)} (expected e.g. "1.5s")`);
  }
  if (Math.abs(seconds) > MAX_DURATION_SECONDS) fail(path, 'duration is out of range (at most 10000 years)');
  return [seconds, nanos];
}

function parseTimestamp(v: unknown, path: string): [number, number] {
  const m = typeof v === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(v) : null;
  const ms = m ? Date.parse(m[1] + (m[3].toUpperCase() === 'Z' ? 'Z' : m[3])) : NaN;
  if (!m || Number.isNaN(ms)) fail(path, `expected an RFC 3339 timestamp like "2024-01-02T03:04:05Z", got ${describe(v)}`);
  return [ms / 1000, Number((m[2] ?? '').padEnd(9, '0'))];
}

class Decoder {
  constructor(private readonly wireAny: boolean) {}

  /** The fields of message `t` up to `end`. Well-known types come back as { value: <their JSON> }. */
  body(r: Protobuf.Reader, end: number, t: WireMessage): Json {
    if (t.name === ANY) return this.any(r, end);
    const out: Json = {};
    while (r.pos < end) {
      const key = r.uint32();
      const f = t.byId.get(key >>> 3);
      const wireType = key & 7;
      if (!f) {
        r.skipType(wireType);
        continue;
      }
      if (f.mapKey) {
        const [k, v] = this.mapEntry(r, f);
        const map = (out[f.name] ??= {}) as Json;
        if (k === '__proto__') Object.defineProperty(map, k, { value: v, enumerable: true, writable: true, configurable: true });
        else map[k] = v;
      } else if (f.repeated) {
        const list = (out[f.name] ??= []) as unknown[];
        // Parsers must accept packed and unpacked encodings of a repeated number either way.
        if (wireType === WIRE_LEN && (f.enum || (f.scalar && WIRE_TYPE[f.scalar] !== WIRE_LEN))) {
          const packedEnd = lengthEnd(r);
          while (r.pos < packedEnd) list.push(this.value(r, f));
          atEnd(r, packedEnd, `packed field ${f.name}`);
        } else list.push(this.value(r, f));
      } else {
        // A oneof holds its last member on the wire.
        if (f.oneof) for (const o of t.fields) if (o.oneof === f.oneof && o !== f) delete out[o.name];
        out[f.name] = this.value(r, f);
      }
    }
    atEnd(r, end, t.name);
    return WELL_KNOWN.has(t.name) ? { value: this.wellKnown(t.name, out) } : out;
  }

  private mapEntry(r: Protobuf.Reader, f: WireField): [string, unknown] {
    const end = lengthEnd(r);
    let k: unknown, v: unknown;
    while (r.pos < end) {
      const key = r.uint32();
      if (key >>> 3 === 1) k = this.scalar(r, f.mapKey!);
      else if (key >>> 3 === 2) v = this.value(r, f);
      else r.skipType(key & 7);
    }
    atEnd(r, end, 'a map entry');
    // A missing key or value means the default, as in protobuf's map semantics.
    k ??= f.mapKey === 'string' ? '' : f.mapKey === 'bool' ? false : 0;
    v ??= f.message ? this.emptyMessage(f.message) : f.enum ? enumName(f.enum, 0) : defaultScalar(f.scalar!);
    return [String(k), v];
  }

  private emptyMessage(name: string): unknown {
    const r = protobuf().Reader.create(new Uint8Array(0));
    return this.messageJson(r, 0, name);
  }

  private value(r: Protobuf.Reader, f: WireField): unknown {
    if (f.scalar) return this.scalar(r, f.scalar);
    if (f.enum) {
      const n = r.int32();
      return f.enum.name === 'google.protobuf.NullValue' ? null : enumName(f.enum, n);
    }
    const end = lengthEnd(r);
    return this.messageJson(r, end, f.message!);
  }

  messageJson(r: Protobuf.Reader, end: number, name: string): unknown {
    const out = this.body(r, end, messageType(name, ''));
    return WELL_KNOWN.has(name) ? out.value : out;
  }

  private scalar(r: Protobuf.Reader, s: Scalar): unknown {
    switch (s) {
      case 'string': {
        // Straight from the buffer: a DiscoveryRequest of 1,000 names made two Buffer objects per name through
        // bytes(). The length is checked against the buffer (protobufjs's string() clips instead).
        const end = lengthEnd(r);
        const start = r.pos;
        r.pos = end;
        const buf = r.buf;
        return buf instanceof Buffer ? buf.toString('utf8', start, end) : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8', start, end);
      }
      case 'bytes': {
        const b = r.bytes();
        return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
      }
      case 'bool':
        return r.bool();
      case 'double':
      case 'float': {
        const n = r[s]();
        return Number.isFinite(n) ? n : String(n);
      }
      case 'int64': case 'uint64': case 'sint64': case 'fixed64': case 'sfixed64':
        return int64Json(r[s]() as unknown as Protobuf.Long | number, UNSIGNED64.has(s));
      default:
        return r[s]();
    }
  }

  private wellKnown(name: string, m: Json): unknown {
    if (WRAPPERS[name]) return m.value ?? defaultScalar(WRAPPERS[name]);
    switch (name) {
      case 'google.protobuf.Duration':
        return formatSeconds(Number(m.seconds ?? 0), Number(m.nanos ?? 0)) + 's';
      case 'google.protobuf.Timestamp': {
        const seconds = Number(m.seconds ?? 0);
        const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
        return iso + formatSeconds(0, Number(m.nanos ?? 0)).slice(1) + 'Z';
      }
      case 'google.protobuf.Struct':
        return m.fields ?? {};
      case 'google.protobuf.ListValue':
        return m.values ?? [];
      case 'google.protobuf.Value': {
        for (const k of ['null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value']) {
          if (k in m) return k === 'null_value' ? null : k === 'number_value' && typeof m[k] === 'string' ? Number(m[k]) : m[k];
        }
        return null;
      }
      case 'google.protobuf.FieldMask':
        return ((m.paths ?? []) as string[]).map(jsonName).join(',');
    }
    return m;
  }

  // Read by hand rather than as a message of two fields: a resource's bytes stay one Buffer (a view of the
  // received frame), never a base64 string.
  private any(r: Protobuf.Reader, end: number): Json {
    let typeUrl = '';
    let value: Buffer = EMPTY;
    while (r.pos < end) {
      const key = r.uint32();
      if (key === tag(1, WIRE_LEN)) typeUrl = this.scalar(r, 'string') as string;
      else if (key === tag(2, WIRE_LEN)) value = r.bytes() as Buffer;
      else r.skipType(key & 7);
    }
    atEnd(r, end, ANY);
    if (this.wireAny) return { type_url: typeUrl, value };
    const name = messageName(typeUrl);
    // A type Meshwork has no proto for: keep only its @type. The decoder then rejects it, unless the filter is
    // optional (is_optional), which Envoy also skips without knowing its config.
    if (!wireMessage(name)) return { '@type': typeUrl };
    const inner = this.messageJson(protobuf().Reader.create(value), value.length, name);
    return WELL_KNOWN.has(name) ? { '@type': typeUrl, value: inner } : { '@type': typeUrl, ...(inner as Json) };
  }
}

/** The end offset of a length-delimited field whose length comes next, checked against the buffer. */
function lengthEnd(r: Protobuf.Reader): number {
  const end = r.uint32() + r.pos;
  if (end > r.len) throw new Error(`a length of ${end - r.pos} runs past the end of the buffer at offset ${r.pos}`);
  return end;
}

function atEnd(r: Protobuf.Reader, end: number, what: string): void {
  if (r.pos !== end) throw new Error(`a field of ${what} runs past its end at offset ${end}`);
}

function enumName(e: WireEnum, n: number): string | number {
  return e.names.get(n) ?? n; // proto3 JSON writes an unknown enum value as its number
}

function defaultScalar(s: Scalar): unknown {
  return s === 'string' || s === 'bytes' ? '' : s === 'bool' ? false : 0;
}

/** A protobufjs 64-bit integer (a Long when the long package is present) → number when exact, else string. */
function int64Json(v: Protobuf.Long | number, unsigned: boolean): number | string {
  if (typeof v === 'number') return v;
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  const b = unsigned ? bits : BigInt.asIntN(64, bits);
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b.toString();
}

/** "1", "1.500", "0.000000001": protobuf's canonical 0, 3, 6 or 9 fractional digits. */
function formatSeconds(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const s = String(Math.abs(seconds));
  const n = Math.abs(nanos);
  if (n === 0) return (negative ? '-' : '') + s;
  const digits = n % 1_000_000 === 0 ? 3 : n % 1000 === 0 ? 6 : 9;
  return `${negative ? '-' : ''}${s}.${String(n).padStart(9, '0').slice(0, digits)}`;
}
