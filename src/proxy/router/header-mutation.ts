// request/response_headers_to_add/remove, compiled once per level (route configuration, virtual host, route,
// weighted cluster) into blocks, and per route into one ordered list of blocks, so a request only runs the
// list. Each block behaves like one of Envoy's HeaderParsers; see `applyBlock` for its exact order of effects.
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';
import { compileFormatString, type Formatter } from '../observability/formatter.js';
import type { StreamInfo } from '../stream-info.js';
import { asciiLower } from './matchers.js';

export type AppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOptionConfig {
  header?: { key?: string; value?: string; raw_value?: Buffer | Uint8Array };
  /** deprecated: true = APPEND_IF_EXISTS_OR_ADD, false = OVERWRITE_IF_EXISTS_OR_ADD */
  append?: boolean;
  append_action?: AppendAction;
  keep_empty_value?: boolean;
}

interface AddOp {
  readonly name: string;
  readonly value: Formatter;
  readonly action: AppendAction;
  readonly keepEmpty: boolean;
}

/** One level's mutations, in Envoy's HeaderParser form. */
export interface HeaderMutationBlock {
  readonly remove: readonly string[];
  readonly add: readonly AddOp[];
}

const ACTIONS: ReadonlySet<string> = new Set(['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS']);
const CTL = /[\0\r\n]/;

// Envoy refuses to touch pseudo-headers and Host here: :path/:authority have their own route rewrites, and Host
// behaved inconsistently between HTTP/1 and HTTP/2.
const isProtected = (name: string) => name.startsWith(':') || asciiLower(name) === 'host';

/**
 * Compile one level's `*_headers_to_add` / `*_headers_to_remove`. `addPath`/`removePath` name the two fields for
 * errors. Returns undefined when the level has nothing to do.
 */
export function compileHeaderMutationBlock(
  add: readonly HeaderValueOptionConfig[] | undefined,
  remove: readonly string[] | undefined,
  addPath: string,
  removePath: string,
): HeaderMutationBlock | undefined {
  if (!add?.length && !remove?.length) return undefined;
  const ops = (add ?? []).map((opt, i): AddOp => {
    const p = `${addPath}[${i}]`;
    const key = opt.header?.key;
    if (!key) throw new ConfigError('MW_CONFIG_INVALID', `${p}.header.key`, 'a header name is required');
    if (CTL.test(key)) throw new ConfigError('MW_CONFIG_INVALID', `${p}.header.key`, 'header name contains NUL, CR or LF');
    if (isProtected(key)) throw new ConfigError('MW_CONFIG_INVALID', `${p}.header.key`, ':-prefixed or host headers may not be modified');
    if (opt.header!.value !== undefined && opt.header!.raw_value !== undefined) {
      throw new ConfigError('MW_CONFIG_INVALID', `${p}.header`, 'only one of value or raw_value may be set');
    }
    const raw = opt.header!.raw_value;
    const value = raw !== undefined ? Buffer.from(raw).toString('latin1') : (opt.header!.value ?? '');
    if (CTL.test(value)) throw new ConfigError('MW_CONFIG_INVALID', `${p}.header.value`, 'header value contains NUL, CR or LF');
    let action: AppendAction;
    if (opt.append !== undefined) {
      if (opt.append_action !== undefined && opt.append_action !== 'APPEND_IF_EXISTS_OR_ADD') {
        throw new ConfigError('MW_CONFIG_INVALID', p, "both append and append_action are set and it's not allowed");
      }
      action = opt.append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD';
    } else {
      action = opt.append_action ?? 'APPEND_IF_EXISTS_OR_ADD';
      if (!ACTIONS.has(action)) throw new ConfigError('MW_CONFIG_INVALID', `${p}.append_action`, `unknown append action ${action}`);
    }
    return Object.freeze({
      name: asciiLower(key),
      // header formatters omit empty values, so a missing %REQ(x)% yields "" (and then no header)
      value: compileFormatString(value, { omitEmptyValues: true, path: `${p}.header.value` }),
      action,
      keepEmpty: opt.keep_empty_value === true,
    });
  });
  const removes = (remove ?? []).map((name, i) => {
    if (isProtected(name)) throw new ConfigError('MW_CONFIG_INVALID', `${removePath}[${i}]`, ':-prefixed or host headers may not be removed');
    if (name === '' || CTL.test(name)) throw new ConfigError('MW_CONFIG_INVALID', `${removePath}[${i}]`, 'invalid header name');
    return asciiLower(name);
  });
  return Object.freeze({ remove: Object.freeze(removes), add: Object.freeze(ops) });
}

/**
 * Envoy's HeaderParser::evaluateHeaders: removals first; then every value is formatted and every condition
 * (ADD_IF_ABSENT, OVERWRITE_IF_EXISTS) checked against the headers as they stand after removal, before any of
 * this block's writes; then all overwrites; then all appends.
 */
function applyBlock(b: HeaderMutationBlock, headers: HeaderMap, info: StreamInfo): void {
  for (const name of b.remove) headers.remove(name);
  if (b.add.length === 0) return;
  const overwrite: string[] = [];
  const append: string[] = [];
  for (const op of b.add) {
    const v = op.value.format(info);
    if (v === '' && !op.keepEmpty) continue;
    if (op.action === 'APPEND_IF_EXISTS_OR_ADD') append.push(op.name, v);
    else if (op.action === 'ADD_IF_ABSENT') {
      if (!headers.has(op.name)) append.push(op.name, v);
    } else if (op.action === 'OVERWRITE_IF_EXISTS_OR_ADD' || headers.has(op.name)) overwrite.push(op.name, v);
  }
  for (let i = 0; i < overwrite.length; i += 2) headers.set(overwrite[i]!, overwrite[i + 1]!);
  for (let i = 0; i < append.length; i += 2) headers.add(append[i]!, append[i + 1]!);
}

/** A route's full, ordered header mutation for one direction. */
export interface HeaderMutator {
  readonly empty: boolean;
  apply(headers: HeaderMap, info: StreamInfo): void;
}

export const NO_HEADER_MUTATION: HeaderMutator = Object.freeze({ empty: true, apply: () => {} });

/** Chain blocks (undefined entries are levels without mutations) into one mutator that runs them in order. */
export function chainHeaderMutations(blocks: readonly (HeaderMutationBlock | undefined)[]): HeaderMutator {
  const list = blocks.filter((b): b is HeaderMutationBlock => b !== undefined);
  if (list.length === 0) return NO_HEADER_MUTATION;
  return Object.freeze({
    empty: false,
    apply(headers: HeaderMap, info: StreamInfo) {
      for (const b of list) applyBlock(b, headers, info);
    },
  });
}

/**
 * Http::Utility::updateAuthority: set :authority to `hostname`; with append_x_forwarded_host, first record the
 * old authority in x-forwarded-host unless it is already the last value there.
 */
export function updateAuthority(headers: HeaderMap, hostname: string, appendXForwardedHost: boolean): void {
  const old = headers.get(':authority') ?? '';
  if (appendXForwardedHost && old !== '') {
    const xfh = headers.get('x-forwarded-host');
    if (xfh === undefined || xfh === '') headers.set('x-forwarded-host', old);
    else {
      const parts = xfh.split(',').map((s) => s.trim()).filter((s) => s !== '');
      if (parts.length === 0 || parts[parts.length - 1] !== old) headers.set('x-forwarded-host', `${xfh},${old}`);
    }
  }
  headers.set(':authority', hostname);
}
