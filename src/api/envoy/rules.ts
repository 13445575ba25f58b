// The protoc-gen-validate rules Envoy's protos carry (`[(validate.rules).string = {min_len: 1}]`, ...), turned
// into small check functions once per field. Only the cheap, common rules are checked; well_known_regex
// (header name/value syntax) is left to the code that uses the value.
import type { EnumSchema } from './protos.js';

/** Returns the reason a value breaks a rule, or undefined. Values are in decoded form (durations in ms). */
export type Check = (value: unknown) => string | undefined;

export interface FieldRules {
  /** message.required / duration.required / any.required / timestamp.required: the field must be present. */
  readonly required: boolean;
  /** Checks the value (of each item for repeated fields: the list itself is checked by `list`). */
  readonly value?: Check;
  /** Checks a repeated field's list or a map field's object as a whole. */
  readonly list?: Check;
  /** PGV's ignore_empty: an empty value skips the checks. */
  readonly ignoreEmpty: boolean;
}

type Rules = Record<string, any>;

export function compileRules(rules: Readonly<Rules> | undefined, enumType?: EnumSchema): FieldRules | undefined {
  if (!rules) return undefined;
  const required = Boolean(rules.message?.required || rules.duration?.required || rules.any?.required || rules.timestamp?.required);
  let value: Check | undefined;
  let list: Check | undefined;
  let ignoreEmpty = false;
  if (rules.repeated) {
    const r = rules.repeated;
    list = all([
      r.min_items !== undefined && ((v) => (arr(v).length < r.min_items ? `must have at least ${r.min_items} item(s)` : undefined)),
      r.max_items !== undefined && ((v) => (arr(v).length > r.max_items ? `must have at most ${r.max_items} item(s)` : undefined)),
      r.unique && ((v) => (new Set(arr(v).map((x) => JSON.stringify(x))).size !== arr(v).length ? 'items must be unique' : undefined)),
    ]);
    value = r.items ? scalarCheck(r.items, enumType) : undefined;
    ignoreEmpty = Boolean(r.ignore_empty);
  } else if (rules.map) {
    const r = rules.map;
    const keyCheck = r.keys ? scalarCheck(r.keys) : undefined;
    list = all([
      r.min_pairs !== undefined && ((v) => (Object.keys(v as object).length < r.min_pairs ? `must have at least ${r.min_pairs} entr(y/ies)` : undefined)),
      r.max_pairs !== undefined && ((v) => (Object.keys(v as object).length > r.max_pairs ? `must have at most ${r.max_pairs} entr(y/ies)` : undefined)),
      keyCheck && ((v) => firstOf(Object.keys(v as object), (k) => prefixed(`key "${k}"`, keyCheck(k)))),
    ]);
    value = r.values ? scalarCheck(r.values, enumType) : undefined;
    ignoreEmpty = Boolean(r.ignore_empty);
  } else {
    value = scalarCheck(rules, enumType);
    for (const kind of Object.values(rules)) if (kind && typeof kind === 'object' && kind.ignore_empty) ignoreEmpty = true;
  }
  if (!required && !value && !list) return undefined;
  return { required, value, list, ignoreEmpty };
}

const arr = (v: unknown): unknown[] => v as unknown[];
const prefixed = (what: string, reason: string | undefined) => (reason ? `${what} ${reason}` : undefined);
function firstOf<T>(xs: readonly T[], f: (x: T) => string | undefined): string | undefined {
  for (const x of xs) {
    const r = f(x);
    if (r) return r;
  }
  return undefined;
}
function all(checks: Array<Check | false | undefined>): Check | undefined {
  const active = checks.filter((c): c is Check => typeof c === 'function');
  if (!active.length) return undefined;
  return active.length === 1 ? active[0] : (v) => firstOf(active, (c) => c(v));
}

const NUMBER_KINDS = ['double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64'];

function scalarCheck(rules: Rules, enumType?: EnumSchema): Check | undefined {
  const checks: Array<Check | false | undefined> = [];
  if (rules.string) checks.push(...stringChecks(rules.string));
  if (rules.bytes) {
    const r = rules.bytes;
    const len = (v: unknown) => (v as Buffer).length;
    checks.push(
      r.min_len !== undefined && ((v) => (len(v) < r.min_len ? `must be at least ${r.min_len} byte(s) long` : undefined)),
      r.max_len !== undefined && ((v) => (len(v) > r.max_len ? `must be at most ${r.max_len} byte(s) long` : undefined)),
    );
  }
  for (const kind of NUMBER_KINDS) if (rules[kind]) checks.push(...rangeChecks(rules[kind], (v) => v as number, String));
  if (rules.duration) {
    const ms = (d: Rules | undefined) => (d ? Number(d.seconds ?? 0) * 1000 + Number(d.nanos ?? 0) / 1e6 : undefined);
    const r = rules.duration;
    checks.push(...rangeChecks({ gt: ms(r.gt), gte: ms(r.gte), lt: ms(r.lt), lte: ms(r.lte), const: ms(r.const) }, (v) => v as number, (n) => `${n / 1000}s`));
  }
  if (rules.bool?.const !== undefined) checks.push((v) => (v !== rules.bool.const ? `must be ${rules.bool.const}` : undefined));
  if (rules.enum && enumType) {
    const r = rules.enum;
    const num = (v: unknown) => enumType.values[v as string];
    const names = (ns: unknown) => ([] as number[]).concat(ns as number[]).map((n) => enumType.names.get(n) ?? String(n));
    checks.push(
      r.const !== undefined && ((v) => (num(v) !== r.const ? `must be ${names(r.const)[0]}` : undefined)),
      r.in !== undefined && ((v) => (![].concat(r.in).includes(num(v) as never) ? `must be one of ${names(r.in).join(', ')}` : undefined)),
      r.not_in !== undefined && ((v) => ([].concat(r.not_in).includes(num(v) as never) ? `must not be ${names(r.not_in).join(' or ')}` : undefined)),
    );
  }
  return all(checks);
}

function stringChecks(r: Rules): Array<Check | false> {
  const s = (v: unknown) => v as string;
  // PGV counts characters as code points (runes) and bytes as UTF-8.
  const runes = (v: unknown) => [...s(v)].length;
  const bytes = (v: unknown) => Buffer.byteLength(s(v));
  let pattern: RegExp | undefined;
  try {
    pattern = r.pattern !== undefined ? new RegExp(r.pattern, 'u') : undefined;
  } catch {
    pattern = undefined; // an RE2-only construct: leave it to the filter that uses the field
  }
  return [
    r.min_len !== undefined && ((v) => (runes(v) < r.min_len ? `must be at least ${r.min_len} character(s) long` : undefined)),
    r.max_len !== undefined && ((v) => (runes(v) > r.max_len ? `must be at most ${r.max_len} character(s) long` : undefined)),
    r.min_bytes !== undefined && ((v) => (bytes(v) < r.min_bytes ? `must be at least ${r.min_bytes} byte(s) long` : undefined)),
    r.max_bytes !== undefined && ((v) => (bytes(v) > r.max_bytes ? `must be at most ${r.max_bytes} byte(s) long` : undefined)),
    r.prefix !== undefined && ((v) => (!s(v).startsWith(r.prefix) ? `must start with "${r.prefix}"` : undefined)),
    r.suffix !== undefined && ((v) => (!s(v).endsWith(r.suffix) ? `must end with "${r.suffix}"` : undefined)),
    r.contains !== undefined && ((v) => (!s(v).includes(r.contains) ? `must contain "${r.contains}"` : undefined)),
    r.in !== undefined && ((v) => (![].concat(r.in).includes(s(v) as never) ? `must be one of ${[].concat(r.in).map((x) => `"${x}"`).join(', ')}` : undefined)),
    r.not_in !== undefined && ((v) => ([].concat(r.not_in).includes(s(v) as never) ? `must not be "${s(v)}"` : undefined)),
    pattern !== undefined && ((v) => (!pattern.test(s(v)) ? `must match /${r.pattern}/` : undefined)),
  ];
}

function rangeChecks(r: Rules, num: (v: unknown) => number, show: (n: number) => string): Array<Check | false> {
  return [
    r.const !== undefined && ((v) => (num(v) !== Number(r.const) ? `must be ${show(Number(r.const))}` : undefined)),
    r.gt !== undefined && ((v) => (!(num(v) > Number(r.gt)) ? `must be greater than ${show(Number(r.gt))}` : undefined)),
    r.gte !== undefined && ((v) => (!(num(v) >= Number(r.gte)) ? `must be at least ${show(Number(r.gte))}` : undefined)),
    r.lt !== undefined && ((v) => (!(num(v) < Number(r.lt)) ? `must be less than ${show(Number(r.lt))}` : undefined)),
    r.lte !== undefined && ((v) => (!(num(v) <= Number(r.lte)) ? `must be at most ${show(Number(r.lte))}` : undefined)),
    r.in !== undefined && ((v) => (![].concat(r.in).map(Number).includes(num(v)) ? `must be one of ${[].concat(r.in).join(', ')}` : undefined)),
    r.not_in !== undefined && ((v) => ([].concat(r.not_in).map(Number).includes(num(v)) ? `must not be ${show(num(v))}` : undefined)),
  ];
}
