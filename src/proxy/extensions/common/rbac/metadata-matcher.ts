// envoy.type.matcher.v3.MetadataMatcher / ValueMatcher / ListMatcher / OrMatcher, compiled once into closures,
// with the semantics of Envoy's source/common/common/matchers.cc and Config::Metadata::metadataValue:
//  - the value is looked up in the `filter` namespace of the stream's dynamic metadata, key by key along `path`;
//    a key that is missing, or a step into something that is not a struct, yields an unset value, which no
//    value matcher accepts (only `invert` turns that into a match);
//  - string_match: the value must be a string; double_match: a number (range [start, end) or exact);
//    bool_match: a boolean equal to it; null_match: null; present_match: any set value (lists and structs too,
//    as Envoy's PresentMatcher does, whatever its proto comment says); list_match.one_of: a list with an element
//    the inner matcher accepts; or_match: any of its matchers;
//  - `invert` flips the result (an unset value then matches).
// Dynamic metadata here is plain JavaScript (StreamInfo.dynamicMetadata: namespace → fields), the proto3 JSON of
// google.protobuf.Struct: strings, numbers, booleans, null, arrays (list_value) and objects (struct_value).
// JWT payloads (jwt_authn's payload_in_metadata) come from JSON.parse, so a key like "__proto__" or
// "constructor" is looked up only among a struct's own keys, never on its prototype.
import { ConfigError } from '../../../../common/errors.js';
import { compileStringMatcher, oneOf, type StringMatcherConfig } from '../../../router/matchers.js';

/** The stream's dynamic metadata as StreamInfo keeps it. */
export type DynamicMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;

/** A compiled ValueMatcher; `undefined` is the unset value (Envoy's KIND_NOT_SET). */
export type ValueTest = (v: unknown) => boolean;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

const VALUE_PATTERNS = ['null_match', 'double_match', 'string_match', 'bool_match', 'present_match', 'list_match', 'or_match'] as const;

const isStruct = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Compile an envoy.type.matcher.v3.ValueMatcher. */
export function compileValueMatcher(vm: any, path: string): ValueTest {
  if (vm === null || typeof vm !== 'object') throw invalid(path, 'a value matcher must be a message');
  const which = oneOf(vm, VALUE_PATTERNS, path, true)!;
  const at = `${path}.${which}`;
  switch (which) {
    case 'null_match':
      return (v) => v === null;
    case 'double_match': {
      const dm = vm.double_match ?? {};
      const how = oneOf(dm, ['range', 'exact'] as const, at, true)!;
      if (how === 'exact') {
        const want = Number(dm.exact);
        return (v) => typeof v === 'number' && v === want;
      }
      const start = Number(dm.range?.start ?? 0);
      const end = Number(dm.range?.end ?? 0);
      return (v) => typeof v === 'number' && start <= v && v < end;
    }
    case 'string_match': {
      const sm = compileStringMatcher(vm.string_match as StringMatcherConfig, at);
      return (v) => typeof v === 'string' && sm.match(v);
    }
    case 'bool_match': {
      const want = vm.bool_match === true;
      return (v) => typeof v === 'boolean' && v === want;
    }
    case 'present_match': {
      if (vm.present_match !== true) return () => false;
      return (v) => v !== undefined;
    }
    case 'list_match': {
      const lm = vm.list_match ?? {};
      oneOf(lm, ['one_of'] as const, at, true);
      const inner = compileValueMatcher(lm.one_of, `${at}.one_of`);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (inner(v[i])) return true;
        return false;
      };
    }
    case 'or_match': {
      const list = vm.or_match?.value_matchers;
      if (!Array.isArray(list) || list.length < 2) throw invalid(`${at}.value_matchers`, 'at least 2 value matchers are required');
      const ms = list.map((m: unknown, i: number) => compileValueMatcher(m, `${at}.value_matchers[${i}]`));
      return (v) => {
        for (let i = 0; i < ms.length; i++) if (ms[i]!(v)) return true;
        return false;
      };
    }
  }
}

/** Envoy's Config::Metadata::metadataValue: the value at `keys` in namespace `filter`, undefined when unset. */
export function metadataValue(md: DynamicMetadata, filter: string, keys: readonly string[]): unknown {
  if (md === undefined || !Object.hasOwn(md, filter)) return undefined;
  let cur: unknown = md[filter];
  for (let i = 0; i < keys.length; i++) {
    // only a struct can be stepped into; a key of a string, list or number finds nothing
    if (!isStruct(cur) || !Object.hasOwn(cur, keys[i]!)) return undefined;
    cur = cur[keys[i]!];
  }
  // a value of a kind Struct cannot hold (a function, a symbol, undefined) is no value
  switch (typeof cur) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'object':
      return cur;
    default:
      return undefined;
  }
}

/** Compile an envoy.type.matcher.v3.MetadataMatcher into a test on the stream's dynamic metadata. */
export function compileMetadataMatcher(mm: any, path: string): (md: DynamicMetadata) => boolean {
  if (mm === null || typeof mm !== 'object') throw invalid(path, 'a metadata matcher must be a message');
  const filter = mm.filter;
  if (typeof filter !== 'string' || filter === '') throw invalid(`${path}.filter`, 'value length must be at least 1 characters');
  const segments = mm.path;
  if (!Array.isArray(segments) || segments.length === 0) throw invalid(`${path}.path`, 'at least one path segment is required');
  const keys = segments.map((s: any, i: number) => {
    if (typeof s?.key !== 'string' || s.key === '') throw invalid(`${path}.path[${i}].key`, 'value length must be at least 1 characters');
    return s.key as string;
  });
  if (mm.value === undefined) throw invalid(`${path}.value`, 'a value matcher is required');
  const test = compileValueMatcher(mm.value, `${path}.value`);
  const invert = mm.invert === true;
  return (md) => test(metadataValue(md, filter, keys)) !== invert;
}
