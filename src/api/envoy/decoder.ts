// The proto3-JSON walker: a parsed YAML/JSON value + an Envoy message type → the decoded form everything in
// Meshwork consumes (snake_case keys, durations in ms, wrappers unwrapped, enums by name, Any → inner object
// with '@type', Struct → plain JSON; absent fields stay absent). In the same pass it checks the cheap
// protoc-gen-validate rules and Meshwork's support table, and collects every error instead of stopping at the
// first, each with the field path and, for parsed text, file:line:column.
//
// Per-type work (field lookup by both JSON spellings, compiled rules, support entries) is done once per message
// type and cached, so decoding is one Map lookup per key.
import { ConfigError, ConfigErrors, type ErrorCode } from '../../common/errors.js';
import { hasSource, rawLocation } from './source.js';
import { lookupType, resolveType, type EnumSchema, type FieldSchema, type MessageSchema, type ScalarKind } from './protos.js';
import { compileRules, type FieldRules } from './rules.js';
import { messageSupport, STRUCT_CONFIGURED_EXTENSIONS, type FieldSupport, type MessageSupport } from './support.js';

interface FieldInfo extends FieldSchema {
  readonly compiled?: FieldRules;
  readonly support?: FieldSupport;
}

/** A message type prepared for decoding: fields by both JSON spellings, rules compiled, support attached. */
interface TypeInfo {
  readonly schema: MessageSchema;
  readonly name: string;
  readonly byKey: ReadonlyMap<string, FieldInfo>;
  readonly ruled: readonly FieldInfo[];
  readonly support?: MessageSupport;
}

// Fields removed in v3 that people still copy from v2 examples: say what replaced them.
const REMOVED_FIELD_HINTS: Record<string, string> = {
  config: 'v2 field; use typed_config',
  hosts: 'v2 field; use load_assignment',
  tls_context: 'v2 field; use transport_socket',
  extension_protocol_options: 'v2 field; use typed_extension_protocol_options',
};

export const TYPE_URL_PREFIX = 'type.googleapis.com/';
const TYPED_STRUCTS = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

const typeInfos = new Map<string, TypeInfo>();

function typeInfo(schema: MessageSchema): TypeInfo {
  let ti = typeInfos.get(schema.name);
  if (ti) return ti;
  const support = messageSupport(schema.name);
  const byKey = new Map<string, FieldInfo>();
  const ruled: FieldInfo[] = [];
  for (const f of schema.fields) {
    const fi: FieldInfo = { ...f, compiled: compileRules(f.rules, f.enum), support: support?.fields[f.name] };
    byKey.set(f.name, fi);
    byKey.set(jsonName(f.name), fi);
    if (fi.compiled) ruled.push(fi);
  }
  ti = { schema, name: schema.name, byKey, ruled, support };
  typeInfos.set(schema.name, ti);
  return ti;
}

/** proto3 JSON's lowerCamelCase name for a field (protoc's ToJsonName). */
function jsonName(name: string): string {
  return name.replace(/_(.)/g, (_, c: string) => c.toUpperCase());
}

/** Decoded object or list → the parsed value it came from (+ snake_case → written key where they differ). */
const decodedNodes = new WeakMap<object, { raw: object; renamed?: Map<string, string> }>();

/**
 * file:line:column of a decoded object (no field), of one of its fields, or of an item of a decoded list.
 * Falls back to the object's own location when the field was not written; undefined for values that were not
 * decoded from parsed text (xDS, hand-built objects).
 */
export function locationOf(obj: unknown, field?: string | number): string | undefined {
  if (!obj || typeof obj !== 'object') return undefined;
  const entry = decodedNodes.get(obj);
  if (!entry) return undefined;
  if (field === undefined) return rawLocation(entry.raw);
  return rawLocation(entry.raw, typeof field === 'string' ? entry.renamed?.get(field) ?? field : field, 'key');
}

export interface DecodeOptions {
  /** Where the value came from, used as the error location for values not parsed from text (e.g. 'lds'). */
  source?: string;
  /** Path prefix for error messages, e.g. 'static_resources.clusters[3]'. */
  path?: string;
}

/**
 * Decodes a parsed value as the named Envoy message (full name, e.g. 'envoy.config.cluster.v3.Cluster').
 * Returns a deep-frozen decoded object; throws ConfigErrors listing every problem found.
 */
export function decodeMessage<T = unknown>(typeFullName: string, value: unknown, options: DecodeOptions = {}): T {
  const decoder = new Decoder(options.source);
  const ti = typeInfo(lookupType(typeFullName));
  let check = true;
  if (!ti.support) {
    decoder.fail('MW_CONFIG_UNSUPPORTED', options.path ?? '', `${ti.name} is not supported by Meshwork`, value);
    check = false;
  }
  const out = decoder.message(ti, value, options.path ?? '', check, undefined, undefined);
  if (decoder.errors.length) throw new ConfigErrors(inDocumentOrder(decoder.errors));
  return out as T;
}

// Rule checks run after a message's fields, so errors are collected out of order; users read them top-down.
function inDocumentOrder(errors: ConfigError[]): ConfigError[] {
  const position = (e: ConfigError) => {
    const m = /:(\d+):(\d+)$/.exec(e.location ?? '');
    return m ? Number(m[1]) * 1e6 + Number(m[2]) : Infinity;
  };
  return errors
    .map((e, i) => ({ e, i, p: position(e) }))
    .sort((a, b) => a.p - b.p || a.i - b.i)
    .map((x) => x.e);
}

const join = (path: string, name: string) => (path ? `${path}.${name}` : name);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** A value as error messages name it ("a list", "string \"…\""): shared with the xDS JSON codec. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

class Decoder {
  readonly errors: ConfigError[] = [];
  /** Set just before decoding an Any whose extension may be missing (HttpFilter.is_optional); any() clears it so
   *  that Anys nested deeper are not affected. */
  private optionalAny = false;
  constructor(private readonly source: string | undefined) {}

  /** Records an error located at `value` when it is a parsed object, else at `key` of `parent`. */
  fail(code: ErrorCode, path: string, reason: string, value: unknown, parent?: unknown, key?: string | number, part: 'key' | 'value' = 'value'): void {
    const location = rawLocation(value) ?? rawLocation(parent, key, part) ?? this.source;
    this.errors.push(new ConfigError(code, path, reason, location));
  }

  message(ti: TypeInfo, raw: unknown, path: string, check: boolean, parent: unknown, key: string | number | undefined, anyType?: string): object | undefined {
    if (!isObject(raw)) {
      this.fail('MW_CONFIG_INVALID', path, `expected an object (${ti.name}), got ${describe(raw)}`, raw, parent, key);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    if (anyType !== undefined) out['@type'] = anyType;
    let renamed: Map<string, string> | undefined;
    let oneofs: Map<string, string> | undefined;
    // Written but rejected: already reported, so not reported again as missing.
    let failed: Set<string> | undefined;
    const optionalWhen = ti.support?.optionalExtensionWhen;
    const optionalExtension = optionalWhen !== undefined && (raw[optionalWhen] ?? raw[jsonName(optionalWhen)]) === true;
    for (const rawKey of Object.keys(raw)) {
      if (anyType !== undefined && rawKey === '@type') continue;
      const fi = ti.byKey.get(rawKey);
      if (!fi) {
        this.unknownField(ti, rawKey, path, raw);
        continue;
      }
      const fpath = join(path, fi.name);
      if (rawKey !== fi.name) {
        if (Object.hasOwn(raw, fi.name)) {
          this.fail('MW_CONFIG_INVALID', fpath, `set twice, as "${fi.name}" and "${rawKey}"`, undefined, raw, rawKey, 'key');
          continue;
        }
        (renamed ??= new Map()).set(fi.name, rawKey);
      }
      const v = raw[rawKey];
      // proto3 JSON: null means "not set" (only a google.protobuf.Value can hold a null).
      if (v === null && fi.kind !== 'value') continue;
      if (fi.oneof) {
        const other = (oneofs ??= new Map()).get(fi.oneof);
        if (other) {
          this.fail('MW_CONFIG_INVALID', fpath, `only one of "${other}" and "${fi.name}" may be set (oneof ${fi.oneof})`, undefined, raw, rawKey, 'key');
          continue;
        }
        oneofs.set(fi.oneof, fi.name);
      }
      this.optionalAny = optionalExtension && fi.kind === 'any';
      // Below a field Meshwork ignores or rejects, support is not checked again: one error per cause.
      const decoded = this.field(fi, v, fpath, check && fi.support?.status === 'supported', raw, rawKey);
      this.optionalAny = false;
      if (decoded === undefined) {
        (failed ??= new Set()).add(fi.name);
        continue;
      }
      out[fi.name] = decoded;
      if (check) this.checkSupport(fi, decoded, fpath, raw, rawKey);
    }
    for (const fi of ti.ruled) if (!failed?.has(fi.name)) this.checkRules(fi, out[fi.name], join(path, fi.name), raw);
    for (const o of ti.schema.requiredOneofs) {
      if (!o.fields.some((f) => out[f] !== undefined || failed?.has(f))) {
        this.fail('MW_CONFIG_INVALID', path, `one of ${o.fields.map((f) => `"${f}"`).join(', ')} must be set (oneof ${o.name})`, raw);
      }
    }
    return this.finish(out, raw, renamed);
  }

  private finish<T extends object>(out: T, raw: object, renamed?: Map<string, string>): T {
    if (hasSource(raw)) decodedNodes.set(out, { raw, renamed });
    return Object.freeze(out);
  }

  private unknownField(ti: TypeInfo, rawKey: string, path: string, raw: object): void {
    let hint: string | undefined;
    if (ti.schema.reserved.includes(rawKey)) hint = REMOVED_FIELD_HINTS[rawKey] ?? 'removed from the v3 API';
    else {
      const near = closest(rawKey.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), ti.schema.fields.map((f) => f.name));
      if (near) hint = `did you mean "${near}"?`;
    }
    const reason = `unknown field "${rawKey}" in ${ti.name}${hint ? ` (${hint})` : ''}`;
    this.fail('MW_CONFIG_UNKNOWN_FIELD', join(path, rawKey), reason, undefined, raw, rawKey, 'key');
  }

  private field(fi: FieldInfo, v: unknown, path: string, check: boolean, parent: object, key: string): unknown {
    if (fi.map) {
      if (!isObject(v)) {
        this.fail('MW_CONFIG_INVALID', path, `expected an object (map), got ${describe(v)}`, v, parent, key);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const kpath = `${path}[${JSON.stringify(k)}]`;
        if (fi.keyType !== 'string' && !(fi.keyType === 'bool' ? /^(true|false)$/ : /^-?\d+$/).test(k)) {
          this.fail('MW_CONFIG_INVALID', kpath, `map key must be a ${fi.keyType}`, undefined, v, k, 'key');
          continue;
        }
        const d = this.value(fi, v[k], kpath, check, v, k);
        if (d === undefined) continue;
        if (k === '__proto__') Object.defineProperty(out, k, { value: d, enumerable: true });
        else out[k] = d;
      }
      return this.finish(out, v);
    }
    if (fi.repeated) {
      if (!Array.isArray(v)) {
        this.fail('MW_CONFIG_INVALID', path, `expected a list, got ${describe(v)}`, v, parent, key);
        return undefined;
      }
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        const d = this.value(fi, v[i], `${path}[${i}]`, check, v, i);
        if (d !== undefined) out.push(d);
      }
      return this.finish(out, v);
    }
    return this.value(fi, v, path, check, parent, key);
  }

  private value(d: Pick<FieldSchema, 'kind' | 'message' | 'enum'>, v: unknown, path: string, check: boolean, parent: object, key: string | number): unknown {
    switch (d.kind) {
      case 'message':
        return this.message(typeInfo(lookupType(d.message!)), v, path, check, parent, key);
      case 'any':
        return this.any(v, path, check, parent, key);
      case 'enum':
        return this.enumValue(d.enum!, v, path, parent, key);
      case 'duration':
        return this.duration(v, path, parent, key);
      case 'timestamp':
        return this.timestamp(v, path, parent, key);
      case 'struct':
        if (!isObject(v)) return this.fail('MW_CONFIG_INVALID', path, `expected an object, got ${describe(v)}`, v, parent, key);
        return plainJson(v);
      case 'list':
        if (!Array.isArray(v)) return this.fail('MW_CONFIG_INVALID', path, `expected a list, got ${describe(v)}`, v, parent, key);
        return plainJson(v);
      case 'value':
        return plainJson(v);
      default:
        return this.scalar(d.kind, v, path, parent, key);
    }
  }

  private any(v: unknown, path: string, check: boolean, parent: object, key: string | number): object | undefined {
    if (!isObject(v)) {
      this.fail('MW_CONFIG_INVALID', path, `expected an object with "@type", got ${describe(v)}`, v, parent, key);
      return undefined;
    }
    const optional = this.optionalAny;
    this.optionalAny = false;
    const url = v['@type'];
    if (typeof url !== 'string' || !url) {
      this.fail('MW_CONFIG_INVALID', path, 'missing "@type" (the type URL of the typed config, e.g. "type.googleapis.com/envoy...")', v);
      return undefined;
    }
    const schema = resolveType(url);
    if (schema && TYPED_STRUCTS.has(schema.name)) return this.typedStruct(v, path, check, parent, key, optional);
    // An optional filter Meshwork lacks: keep only its type, for the filter chain to skip it.
    if (optional && !messageSupport(schema?.name ?? '')?.extension) return this.finish({ '@type': schema ? TYPE_URL_PREFIX + schema.name : url }, v);
    if (!schema) {
      const hint = /\.v2(alpha)?\.|^(type\.googleapis\.com\/)?envoy\.api\./.test(url) ? ' (a v2 API type; use its v3 equivalent)' : '';
      this.fail('MW_CONFIG_UNKNOWN_EXTENSION', path, `unknown extension type "${url}"${hint}`, undefined, v, '@type');
      return undefined;
    }
    const ti = typeInfo(schema);
    if (check && !ti.support?.extension) {
      this.fail('MW_CONFIG_UNSUPPORTED', path, `extension ${ti.name} is not supported by Meshwork`, undefined, v, '@type');
      check = false;
    }
    if (schema.wellKnown) {
      // A well-known type inside an Any keeps its JSON form under "value": {"@type": ".../Duration", "value": "1s"}.
      for (const k of Object.keys(v)) if (k !== '@type' && k !== 'value') this.unknownField(ti, k, path, v);
      const inner = v.value === undefined ? undefined : this.value({ kind: schema.wellKnown }, v.value, join(path, 'value'), check, v, 'value');
      return this.finish({ '@type': TYPE_URL_PREFIX + ti.name, value: inner }, v);
    }
    // The canonical URL, whatever host prefix was written, so that registries can key on it.
    return this.message(ti, v, path, check, parent, key, TYPE_URL_PREFIX + ti.name);
  }

  /**
   * A TypedStruct (xds.type.v3 / udpa.type.v1): the config of the extension `type_url` as a Struct. An Envoy
   * message type is decoded as if written with that @type; an extension Meshwork configures with plain JSON
   * (STRUCT_CONFIGURED_EXTENSIONS: Istio's own filters, whose protos Envoy's API does not hold) keeps its Struct,
   * under its @type, for the extension to validate.
   */
  private typedStruct(v: Record<string, unknown>, path: string, check: boolean, parent: object, key: string | number, optional: boolean): object | undefined {
    const inner = v.type_url;
    if (typeof inner !== 'string' || !inner) {
      this.fail('MW_CONFIG_INVALID', join(path, 'type_url'), 'a TypedStruct needs the type_url of the config it holds', v);
      return undefined;
    }
    const value = v.value ?? {};
    if (!isObject(value)) {
      this.fail('MW_CONFIG_INVALID', join(path, 'value'), `expected an object (google.protobuf.Struct), got ${describe(value)}`, value, v, 'value');
      return undefined;
    }
    const canonical = inner.includes('/') ? inner : `${TYPE_URL_PREFIX}${inner}`;
    if (STRUCT_CONFIGURED_EXTENSIONS.has(canonical.slice(canonical.lastIndexOf('/') + 1))) {
      return this.finish({ ...(plainJson(value) as Record<string, unknown>), '@type': TYPE_URL_PREFIX + canonical.slice(canonical.lastIndexOf('/') + 1) }, v);
    }
    if (!resolveType(canonical)) {
      if (optional) return this.finish({ '@type': canonical }, v);
      this.fail('MW_CONFIG_UNKNOWN_EXTENSION', join(path, 'type_url'), `unknown extension type "${inner}"`, undefined, v, 'type_url');
      return undefined;
    }
    this.optionalAny = optional;
    return this.any({ ...value, '@type': canonical }, join(path, 'value'), check, parent, key);
  }

  private enumValue(e: EnumSchema, v: unknown, path: string, parent: object, key: string | number): string | undefined {
    if (typeof v === 'string') {
      if (Object.hasOwn(e.values, v)) return v;
      const names = Object.keys(e.values);
      const sameButCase = names.find((n) => n.toLowerCase() === v.toLowerCase());
      const hint = sameButCase ? ` (enum names are case-sensitive: did you mean "${sameButCase}"?)` : ` (one of ${names.join(', ')})`;
      this.fail('MW_CONFIG_INVALID', path, `unknown value "${v}" for enum ${e.name}${hint}`, v, parent, key);
      return undefined;
    }
    const name = typeof v === 'number' ? e.names.get(v) : undefined;
    if (name !== undefined) return name;
    this.fail('MW_CONFIG_INVALID', path, `expected a value of enum ${e.name}, got ${describe(v)}`, v, parent, key);
    return undefined;
  }

  private duration(v: unknown, path: string, parent: object, key: string | number): number | undefined {
    let seconds: number;
    let nanos: number;
    if (typeof v === 'string') {
      const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
      if (!m) {
        const hint = /^\d+(\.\d+)?(ms|m|h|us|ns)$/.test(v) ? '; durations are written in seconds with an "s" suffix, e.g. "0.25s"' : ' (expected e.g. "1.5s")';
        this.fail('MW_CONFIG_INVALID', path, `invalid duration ${JSON.stringify(v)}${hint}`, v, parent, key);
        return undefined;
      }
      seconds = Number(m[2]) * (m[1] ? -1 : 1);
      nanos = Number((m[3] ?? '').padEnd(9, '0')) * (m[1] ? -1 : 1);
    } else if (isObject(v) && Object.keys(v).every((k) => k === 'seconds' || k === 'nanos')) {
      seconds = toInteger(v.seconds ?? 0);
      nanos = toInteger(v.nanos ?? 0);
      if (Number.isNaN(seconds) || Number.isNaN(nanos) || Math.abs(nanos) > 999_999_999) {
        this.fail('MW_CONFIG_INVALID', path, 'invalid duration: seconds must be an integer and nanos an integer within ±999999999', v, parent, key);
        return undefined;
      }
    } else {
      this.fail('MW_CONFIG_INVALID', path, `expected a duration like "1.5s", got ${describe(v)}`, v, parent, key);
      return undefined;
    }
    if (seconds < 0 || nanos < 0) {
      this.fail('MW_CONFIG_INVALID', path, 'duration must not be negative', v, parent, key);
      return undefined;
    }
    if (seconds > 315_576_000_000) {
      this.fail('MW_CONFIG_INVALID', path, 'duration is out of range (at most 10000 years)', v, parent, key);
      return undefined;
    }
    return seconds * 1000 + nanos / 1e6;
  }

  private timestamp(v: unknown, path: string, parent: object, key: string | number): number | undefined {
    const ms = typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) {
      this.fail('MW_CONFIG_INVALID', path, `expected an RFC 3339 timestamp, got ${describe(v)}`, v, parent, key);
      return undefined;
    }
    return ms;
  }

  private scalar(kind: ScalarKind, v: unknown, path: string, parent: object, key: string | number): unknown {
    switch (kind) {
      case 'string':
        if (typeof v === 'string') return v;
        return this.fail('MW_CONFIG_INVALID', path, `expected a string, got ${describe(v)}`, v, parent, key);
      case 'bool':
        if (typeof v === 'boolean') return v;
        return this.fail('MW_CONFIG_INVALID', path, `expected true or false, got ${describe(v)}`, v, parent, key);
      case 'bytes':
        if (typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) return Buffer.from(v, 'base64');
        return this.fail('MW_CONFIG_INVALID', path, `expected base64-encoded bytes, got ${describe(v)}`, v, parent, key);
      case 'double':
      case 'float': {
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
        if (!Number.isNaN(n) || v === 'NaN') return n;
        return this.fail('MW_CONFIG_INVALID', path, `expected a number, got ${describe(v)}`, v, parent, key);
      }
      default: {
        const n = toInteger(v);
        if (Number.isNaN(n)) return this.fail('MW_CONFIG_INVALID', path, `expected an integer, got ${describe(v)}`, v, parent, key);
        const [min, max] = INT_RANGES[kind];
        if (n < min || n > max) {
          const why = Number.isSafeInteger(n) || n < 0 ? `out of range for ${kind}` : 'beyond 2^53, which Meshwork cannot represent exactly';
          return this.fail('MW_CONFIG_INVALID', path, `${String(v)} is ${why}`, v, parent, key);
        }
        return n;
      }
    }
  }

  private checkSupport(fi: FieldInfo, decoded: unknown, path: string, raw: Record<string, unknown>, rawKey: string): void {
    const s = fi.support;
    if (!s || s.status === 'unsupported') {
      if (isSet(fi, decoded)) {
        this.fail('MW_CONFIG_UNSUPPORTED', path, `field "${fi.name}" is not supported by Meshwork${s?.note ? ` (${s.note})` : ''}`, undefined, raw, rawKey, 'key');
      }
      return;
    }
    if (!s.values) return;
    const values = fi.repeated ? (decoded as unknown[]) : [decoded];
    values.forEach((val, i) => {
      if (typeof val === 'string' && !s.values!.includes(val)) {
        const [p, k] = fi.repeated ? [raw[rawKey], i] : [raw, rawKey];
        this.fail('MW_CONFIG_UNSUPPORTED', fi.repeated ? `${path}[${i}]` : path, `${val} is not supported (Meshwork supports ${s.values!.join(', ')})`, undefined, p, k);
      }
    });
  }

  private checkRules(fi: FieldInfo, decoded: unknown, path: string, raw: Record<string, unknown>): void {
    const rules = fi.compiled!;
    if (decoded === undefined) {
      // A oneof member's rules apply only when it is the member that is set.
      if (fi.oneof) return;
      if (rules.required) return this.fail('MW_CONFIG_INVALID', path, 'is required', raw);
      // proto3 scalars, lists and maps have no presence: PGV checks their zero value (a missing name with
      // min_len 1 is an error), while absent messages are only checked for `required`.
      if (fi.presence || rules.ignoreEmpty) return;
      const zero = zeroValue(fi);
      const reason = fi.repeated || fi.map ? rules.list?.(zero) : rules.value?.(zero);
      if (reason) this.fail('MW_CONFIG_INVALID', path, `is required (${reason})`, raw);
      return;
    }
    if (rules.ignoreEmpty && !isSet({ ...fi, presence: false }, decoded)) return;
    const key = locateKey(raw, fi.name);
    const written = raw[key];
    if (fi.repeated || fi.map) {
      const reason = rules.list?.(decoded);
      if (reason) this.fail('MW_CONFIG_INVALID', path, reason, written, raw, key);
      if (!rules.value) return;
      for (const [k, item] of Object.entries(decoded as object)) {
        const r = rules.value(item);
        if (r) this.fail('MW_CONFIG_INVALID', fi.map ? `${path}[${JSON.stringify(k)}]` : `${path}[${k}]`, r, undefined, written, fi.map ? k : Number(k));
      }
      return;
    }
    const reason = rules.value?.(decoded);
    if (reason) this.fail('MW_CONFIG_INVALID', path, reason, written, raw, key);
  }
}

// The written key of a field: its snake_case name, or its lowerCamelCase JSON name.
function locateKey(raw: object, name: string): string {
  return Object.hasOwn(raw, name) ? name : jsonName(name);
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/** proto3 JSON integers: a JSON number or a decimal string ("int64 as string"); NaN when neither. */
function toInteger(v: unknown): number {
  if (typeof v === 'number') return Number.isInteger(v) ? v : NaN;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return NaN;
}

function zeroValue(fi: FieldInfo): unknown {
  if (fi.repeated) return [];
  if (fi.map) return {};
  switch (fi.kind) {
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    case 'bool':
      return false;
    case 'enum':
      return fi.enum!.names.get(0);
    default:
      return 0;
  }
}

/** Whether a decoded field counts as set: present for fields with presence, else different from its zero. */
function isSet(fi: FieldInfo, decoded: unknown): boolean {
  if (fi.presence) return true;
  if (fi.repeated) return (decoded as unknown[]).length > 0;
  if (fi.map) return Object.keys(decoded as object).length > 0;
  if (fi.kind === 'bytes') return (decoded as Buffer).length > 0;
  return decoded !== zeroValue(fi);
}

/** A deep, frozen copy of JSON-like data (Struct, Value, ListValue). */
function plainJson(v: unknown): unknown {
  if (Array.isArray(v)) return Object.freeze(v.map(plainJson));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__') Object.defineProperty(out, k, { value: plainJson(x), enumerable: true });
      else out[k] = plainJson(x);
    }
    return Object.freeze(out);
  }
  return v;
}

/** The field name nearest to a misspelt one, if it is close enough to be a likely typo. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.floor(name.length / 3) + 1);
  for (const c of candidates) {
    const d = editDistance(name, c, bestDistance);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
