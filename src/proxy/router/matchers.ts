// Compiled matchers shared by the route table, RBAC and every other extension that matches strings, headers or
// query parameters the way Envoy does. Everything here is built once from decoded config; the returned objects
// only compare.
//
// Regular expressions: Envoy runs RE2. We run V8's engine, so `compileRegex` translates RE2 syntax into an
// equivalent JS pattern (named groups, \A \z, POSIX classes, octal and \x{...} escapes, RE2's `.`, `\s`, `^`
// and `$` semantics, leading inline flags) and rejects with a ConfigError what RE2 rejects (backreferences,
// lookarounds, bad escapes, repetition counts over 1000) and what JS cannot express (\p classes, \C, inline
// flags after the start, ungreedy mode).
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';

// ---- decoded config shapes (envoy.type.matcher.v3 / envoy.config.route.v3) ----

export interface RegexMatcherConfig {
  regex?: string;
  google_re2?: unknown;
}
export interface StringMatcherConfig {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: RegexMatcherConfig;
  custom?: unknown;
  ignore_case?: boolean;
}
export interface HeaderMatcherConfig {
  name?: string;
  exact_match?: string;
  safe_regex_match?: RegexMatcherConfig;
  range_match?: { start?: number; end?: number };
  present_match?: boolean;
  prefix_match?: string;
  suffix_match?: string;
  contains_match?: string;
  string_match?: StringMatcherConfig;
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}
export interface QueryParameterMatcherConfig {
  name?: string;
  string_match?: StringMatcherConfig;
  present_match?: boolean;
}
export interface RuntimeFractionalPercentConfig {
  default_value?: { numerator?: number; denominator?: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION' };
  runtime_key?: string;
}
export interface RouteMatchConfig {
  prefix?: string;
  path?: string;
  safe_regex?: RegexMatcherConfig;
  connect_matcher?: unknown;
  path_separated_prefix?: string;
  path_match_policy?: unknown;
  case_sensitive?: boolean;
  runtime_fraction?: RuntimeFractionalPercentConfig;
  headers?: HeaderMatcherConfig[];
  query_parameters?: QueryParameterMatcherConfig[];
  grpc?: object;
  tls_context?: { presented?: boolean; validated?: boolean };
  dynamic_metadata?: unknown[];
  filter_state?: unknown[];
}

// ---- small helpers ----

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** Lowercase ASCII letters only, as absl::AsciiStrToLower does: keeps the length, so prefix offsets stay valid. */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/**
 * Which of the oneof `fields` is set on `obj` (proto oneofs decode to at most one defined property; YAML can
 * carry several, which Envoy's loader rejects). Throws when more than one is set, or none and `required`.
 */
export function oneOf<K extends string>(obj: object, fields: readonly K[], path: string, required: boolean): K | undefined {
  const rec = obj as Record<string, unknown>;
  const set = fields.filter((f) => rec[f] !== undefined && rec[f] !== null);
  if (set.length > 1) throw invalid(path, `only one of ${set.join(', ')} may be set`);
  if (set.length === 0 && required) throw invalid(path, `one of ${fields.join(', ')} must be set`);
  return set[0];
}

/** Envoy's PathUtil::removeQueryAndFragment: everything before the first '?' or '#'. */
export function removeQueryAndFragment(path: string): string {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x3f || c === 0x23) return path.slice(0, i);
  }
  return path;
}

// ---- RE2 → JS regular expressions ----

export interface CompiledRegex {
  /** the RE2 pattern as configured */
  readonly pattern: string;
  /** number of capturing groups (for \N references in substitutions) */
  readonly groupCount: number;
  /** RE2::FullMatch: the whole input must match */
  fullMatch(input: string): boolean;
  /**
   * The pattern with the global flag, for scanning (RE2::GlobalReplace). Shared: callers set lastIndex before
   * each exec; safe because matching is synchronous.
   */
  readonly global: RegExp;
}

// RE2's POSIX classes as JS class ranges.
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const hexEscape = (code: number) => '\\u' + code.toString(16).padStart(4, '0');
const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';

interface Translation {
  source: string;
  ignoreCase: boolean;
  groups: number;
}

function translateRe2(src: string, path: string): Translation {
  const bad = (why: string) => invalid(path, `invalid regular expression: ${why}`);
  const cannot = (why: string) => unsupported(path, `regular expression uses ${why}, which Meshwork's JavaScript regex engine cannot run`);
  let i = 0;
  let out = '';
  let groups = 0;
  let ignoreCase = false;
  let dotAll = false;
  let multiLine = false;
  // JS has no inline flags: a leading (?flags) group becomes RegExp flags or an equivalent translation.
  const lead = /^\(\?([imsU]+)\)/.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i') ignoreCase = true;
      else if (f === 's') dotAll = true;
      else if (f === 'm') multiLine = true;
      else throw cannot('the ungreedy flag (?U)');
    }
    i = lead[0].length;
  }

  // One escape sequence starting at src[at] === '\\'; returns [js, next index].
  const escape = (at: number, inClass: boolean): [string, number] => {
    const c = src[at + 1];
    if (c === undefined) throw bad('trailing \\');
    if (c >= '1' && c <= '7' && !isOctal(src[at + 2])) throw bad(`backreference \\${c} is not supported`);
    if (c >= '0' && c <= '7') {
      // up to three octal digits, as RE2 reads them
      let j = at + 1;
      let code = 0;
      for (let n = 0; n < 3 && isOctal(src[j]); n++, j++) code = code * 8 + (src.charCodeAt(j) - 48);
      return [hexEscape(code), j];
    }
    switch (c) {
      case '8':
      case '9':
        throw bad(`invalid escape \\${c}`);
      case 'x': {
        let hex: string;
        let next: number;
        if (src[at + 2] === '{') {
          const close = src.indexOf('}', at + 3);
          if (close < 0) throw bad('unterminated \\x{');
          hex = src.slice(at + 3, close);
          next = close + 1;
        } else {
          hex = src.slice(at + 2, at + 4);
          next = at + 4;
          if (hex.length !== 2) throw bad('\\x needs two hex digits');
        }
        if (!/^[0-9A-Fa-f]+$/.test(hex)) throw bad(`invalid hex escape \\x${hex}`);
        const code = parseInt(hex, 16);
        if (code > 0x10ffff) throw bad(`escape \\x{${hex}} is beyond Unicode`);
        if (code > 0xffff) throw cannot(`the astral code point escape \\x{${hex}}`);
        return [hexEscape(code), next];
      }
      case 'a':
        return ['\\x07', at + 2];
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return ['\\' + c, at + 2];
      // RE2's \s is [\t\n\f\r ]; JS's also matches \v and Unicode spaces.
      case 's':
        return [inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]', at + 2];
      case 'S':
        // Inside a class the complement cannot be spelled out; JS's \S differs only on \v and Unicode spaces.
        return [inClass ? '\\S' : '[^\\t\\n\\f\\r ]', at + 2];
      case 'b':
      case 'B':
        if (inClass) throw bad(`invalid escape \\${c} in a character class`);
        return ['\\' + c, at + 2];
      case 'A':
        if (inClass) throw bad('invalid escape \\A in a character class');
        return ['(?<![\\s\\S])', at + 2];
      case 'z':
        if (inClass) throw bad('invalid escape \\z in a character class');
        return ['(?![\\s\\S])', at + 2];
      case 'p':
      case 'P':
        throw cannot(`the Unicode class \\${c}`);
      case 'C':
        throw cannot('\\C (any byte)');
      case 'Q': {
        if (inClass) throw cannot('\\Q inside a character class');
        const end = src.indexOf('\\E', at + 2);
        const lit = src.slice(at + 2, end < 0 ? src.length : end);
        let js = '';
        for (const ch of lit) js += /[A-Za-z0-9_]/.test(ch) ? ch : escapeLiteral(ch);
        return [js, end < 0 ? src.length : end + 2];
      }
    }
    if (/[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) >= 0x80) throw bad(`invalid escape \\${c}`);
    // escaped punctuation is a literal in RE2; a \u escape keeps it literal in JS whatever the context
    return [hexEscape(c.charCodeAt(0)), at + 2];
  };

  while (i < src.length) {
    const c = src[i]!;
    switch (c) {
      case '\\': {
        const [js, next] = escape(i, false);
        out += js;
        i = next;
        continue;
      }
      case '[': {
        let j = i + 1;
        let cls = '[';
        if (src[j] === '^') {
          cls += '^';
          j++;
        }
        // RE2 reads a ']' right after '[' or '[^' as a literal; JS would close an empty class
        if (src[j] === ']') {
          cls += '\\]';
          j++;
        }
        for (;;) {
          if (j >= src.length) throw bad('missing closing ]');
          const ch = src[j]!;
          if (ch === ']') {
            cls += ']';
            j++;
            break;
          }
          if (ch === '[' && src[j + 1] === ':') {
            const m = /^\[:(\^?)([a-z]+):\]/.exec(src.slice(j));
            if (m) {
              if (m[1]) throw cannot(`the negated POSIX class [:^${m[2]}:]`);
              const range = POSIX_CLASSES[m[2]!];
              if (!range) throw bad(`invalid character class [:${m[2]}:]`);
              cls += range;
              j += m[0].length;
              continue;
            }
          }
          if (ch === '\\') {
            const [js, next] = escape(j, true);
            cls += js;
            j = next;
            continue;
          }
          cls += ch === '[' ? '\\[' : ch;
          j++;
        }
        out += cls;
        i = j;
        continue;
      }
      case '(': {
        if (src[i + 1] !== '?') {
          out += '(';
          groups++;
          i++;
          continue;
        }
        if (src.startsWith('(?:', i)) {
          out += '(?:';
          i += 3;
          continue;
        }
        if (src.startsWith('(?P<', i)) {
          out += '(?<';
          groups++;
          i += 4;
          continue;
        }
        if (src.startsWith('(?<', i) && src[i + 3] !== '=' && src[i + 3] !== '!') {
          out += '(?<';
          groups++;
          i += 3;
          continue;
        }
        if (/^\(\?[imsU-]+[:)]/.test(src.slice(i))) throw cannot('inline flags other than one leading (?flags) group');
        throw bad(`unsupported group syntax at offset ${i} (RE2 has no lookarounds or backreferences)`);
      }
      case '.':
        // RE2's '.' excludes only \n; JS's also excludes \r, \u2028 and \u2029
        out += dotAll ? '[\\s\\S]' : '[^\\n]';
        i++;
        continue;
      case '^':
        // without (?m) both engines anchor at the start of text only; with it RE2 splits lines on \n alone
        out += multiLine ? '(?<![^\\n])' : '^';
        i++;
        continue;
      case '$':
        out += multiLine ? '(?![^\\n])' : '$';
        i++;
        continue;
      case '{': {
        const m = /^\{(\d+)(?:,(\d*))?\}/.exec(src.slice(i));
        if (m) {
          if (Number(m[1]) > 1000 || (m[2] !== undefined && m[2] !== '' && Number(m[2]) > 1000)) {
            throw bad(`bad repetition operator ${m[0]} (RE2 allows at most 1000)`);
          }
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        continue;
      }
      case '}':
      case ']':
        out += '\\' + c;
        i++;
        continue;
      default:
        out += c;
        i++;
    }
  }
  return { source: out, ignoreCase, groups };
}

function escapeLiteral(ch: string): string {
  const code = ch.codePointAt(0)!;
  return code > 0xffff ? ch : hexEscape(code);
}

/** Compile an RE2 pattern; `path` names the field for errors. */
export function compileRegex(pattern: string, path: string): CompiledRegex {
  const t = translateRe2(pattern, path);
  const flags = t.ignoreCase ? 'i' : '';
  let full: RegExp;
  let global: RegExp;
  try {
    full = new RegExp(`^(?:${t.source})$`, flags);
    global = new RegExp(t.source, 'g' + flags);
  } catch (err) {
    const msg = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw invalid(path, `invalid regular expression: ${msg}`);
  }
  return Object.freeze({ pattern, groupCount: t.groups, fullMatch: (s: string) => full.test(s), global });
}

/** Compile a RegexMatcher message ({regex}); errors name `${path}.regex`. */
export function compileRegexMatcher(rm: RegexMatcherConfig | undefined, path: string): CompiledRegex {
  if (rm?.regex === undefined) throw invalid(`${path}.regex`, 'a regular expression is required');
  return compileRegex(rm.regex, `${path}.regex`);
}

// ---- StringMatcher ----

export interface StringMatcher {
  match(value: string): boolean;
}

const STRING_MATCH_FIELDS = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'custom'] as const;

export function compileStringMatcher(sm: StringMatcherConfig, path: string): StringMatcher {
  const which = oneOf(sm, STRING_MATCH_FIELDS, path, true)!;
  const ic = sm.ignore_case === true;
  if (which === 'custom') throw unsupported(`${path}.custom`, 'custom string matcher extensions are not supported');
  if (which === 'safe_regex') {
    if (ic) throw invalid(`${path}.ignore_case`, 'ignore_case has no effect for safe_regex');
    const re = compileRegexMatcher(sm.safe_regex, `${path}.safe_regex`);
    return Object.freeze({ match: (v: string) => re.fullMatch(v) });
  }
  const want = sm[which]!;
  if (which !== 'exact' && want === '') throw invalid(`${path}.${which}`, 'value must not be empty');
  if (ic) {
    const lw = asciiLower(want);
    switch (which) {
      case 'exact':
        return Object.freeze({ match: (v: string) => v.length === lw.length && asciiLower(v) === lw });
      case 'prefix':
        return Object.freeze({ match: (v: string) => v.length >= lw.length && asciiLower(v.slice(0, lw.length)) === lw });
      case 'suffix':
        return Object.freeze({ match: (v: string) => v.length >= lw.length && asciiLower(v.slice(v.length - lw.length)) === lw });
      case 'contains':
        return Object.freeze({ match: (v: string) => asciiLower(v).includes(lw) });
    }
  }
  switch (which) {
    case 'exact':
      return Object.freeze({ match: (v: string) => v === want });
    case 'prefix':
      return Object.freeze({ match: (v: string) => v.startsWith(want) });
    case 'suffix':
      return Object.freeze({ match: (v: string) => v.endsWith(want) });
    case 'contains':
      return Object.freeze({ match: (v: string) => v.includes(want) });
  }
}

// ---- HeaderMatcher ----

export interface HeaderMatcher {
  /** lowercase header name */
  readonly name: string;
  matches(headers: HeaderMap): boolean;
}

const HEADER_MATCH_FIELDS = [
  'exact_match',
  'safe_regex_match',
  'range_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
] as const;

// absl::SimpleAtoi for int64: optional ASCII whitespace around an optionally signed decimal integer.
const INT_RE = /^[ \t\n\v\f\r]*([+-]?\d+)[ \t\n\v\f\r]*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function compileHeaderMatcher(hm: HeaderMatcherConfig, path: string): HeaderMatcher {
  if (!hm.name) throw invalid(`${path}.name`, 'a header name is required');
  if (/[\0\r\n]/.test(hm.name)) throw invalid(`${path}.name`, 'header name contains NUL, CR or LF');
  const name = asciiLower(hm.name);
  const invert = hm.invert_match === true;
  const missingAsEmpty = hm.treat_missing_header_as_empty === true;
  // Envoy keeps an HTTP/1 Host header as :authority and resolves a lookup of "host" to it.
  const get =
    name === 'host'
      ? (h: HeaderMap) => h.getJoined(':authority') ?? h.getJoined('host')
      : (h: HeaderMap) => h.getJoined(name);
  const which = oneOf(hm, HEADER_MATCH_FIELDS, path, false);

  if (which === undefined || which === 'present_match') {
    // no specifier at all means "present"
    const present = which === undefined ? true : hm.present_match === true;
    return Object.freeze({
      name,
      matches: (h: HeaderMap) => {
        if (get(h) === undefined && !missingAsEmpty) return invert ? present : !present;
        return present !== invert;
      },
    });
  }

  let test: (v: string) => boolean;
  switch (which) {
    case 'exact_match': {
      const want = hm.exact_match!;
      // an empty exact_match matches any value, as in Envoy
      test = want === '' ? () => true : (v) => v === want;
      break;
    }
    case 'safe_regex_match': {
      const re = compileRegexMatcher(hm.safe_regex_match, `${path}.safe_regex_match`);
      test = (v) => re.fullMatch(v);
      break;
    }
    case 'range_match': {
      const r = hm.range_match!;
      const start = BigInt(Math.trunc(r.start ?? 0));
      const end = BigInt(Math.trunc(r.end ?? 0));
      test = (v) => {
        const m = INT_RE.exec(v);
        if (!m) return false;
        const n = BigInt(m[1]!);
        return n >= INT64_MIN && n <= INT64_MAX && n >= start && n < end;
      };
      break;
    }
    case 'prefix_match':
    case 'suffix_match':
    case 'contains_match': {
      const want = hm[which]!;
      if (want === '') throw invalid(`${path}.${which}`, 'value must not be empty');
      test =
        which === 'prefix_match' ? (v) => v.startsWith(want) : which === 'suffix_match' ? (v) => v.endsWith(want) : (v) => v.includes(want);
      break;
    }
    case 'string_match': {
      const sm = compileStringMatcher(hm.string_match!, `${path}.string_match`);
      test = (v) => sm.match(v);
      break;
    }
  }
  return Object.freeze({
    name,
    matches: (h: HeaderMap) => {
      let v = get(h);
      if (v === undefined) {
        // a missing header never matches (inverted or not) unless it is to be read as ""
        if (!missingAsEmpty) return false;
        v = '';
      }
      return test(v) !== invert;
    },
  });
}

/** All matchers must match (an empty list matches everything), as Http::HeaderUtility::matchHeaders. */
export function compileHeaderMatchers(list: readonly HeaderMatcherConfig[] | undefined, path: string): readonly HeaderMatcher[] {
  return Object.freeze((list ?? []).map((hm, i) => compileHeaderMatcher(hm, `${path}[${i}]`)));
}

export function matchAllHeaders(matchers: readonly HeaderMatcher[], headers: HeaderMap): boolean {
  for (const m of matchers) if (!m.matches(headers)) return false;
  return true;
}

// ---- query parameters ----

/**
 * Query parameters as Envoy's QueryParamsMulti::parseQueryString reads them for route matching: everything after
 * the first '?', split on '&' then the first '=', not percent-decoded; the first value of a repeated key wins.
 */
export function parseQueryString(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  let start = q + 1;
  while (start < path.length) {
    let end = path.indexOf('&', start);
    if (end < 0) end = path.length;
    const eq = path.indexOf('=', start);
    const hasValue = eq >= 0 && eq < end;
    const key = path.slice(start, hasValue ? eq : end);
    if (!out.has(key)) out.set(key, hasValue ? path.slice(eq + 1, end) : '');
    start = end + 1;
  }
  return out;
}

export interface QueryParameterMatcher {
  readonly name: string;
  matches(query: ReadonlyMap<string, string>): boolean;
}

export function compileQueryParameterMatcher(qm: QueryParameterMatcherConfig, path: string): QueryParameterMatcher {
  if (!qm.name) throw invalid(`${path}.name`, 'a query parameter name is required');
  const name = qm.name;
  const which = oneOf(qm, ['string_match', 'present_match'] as const, path, false);
  // present_match (true or false) and no specifier both mean "the parameter is present", as in Envoy
  if (which !== 'string_match') return Object.freeze({ name, matches: (q: ReadonlyMap<string, string>) => q.has(name) });
  const sm = compileStringMatcher(qm.string_match!, `${path}.string_match`);
  return Object.freeze({
    name,
    matches: (q: ReadonlyMap<string, string>) => {
      const v = q.get(name);
      return v !== undefined && sm.match(v);
    },
  });
}

// ---- gRPC ----

/** Envoy's Grpc::Common::isGrpcRequestHeaders: content-type is exactly application/grpc or application/grpc+... */
export function isGrpcRequest(headers: HeaderMap): boolean {
  const ct = headers.get('content-type');
  return ct !== undefined && ct.startsWith('application/grpc') && (ct.length === 16 || ct.charCodeAt(16) === 0x2b);
}

// ---- route match ----

/**
 * One request as the route matchers see it. Derived values (path without query, its lowercase form, the parsed
 * query, the per-request random value) are computed on first use and shared by every route tried.
 */
export class RouteMatchInput {
  private pathOnlyCache: string | undefined;
  private lowerCache: string | undefined;
  private queryCache: Map<string, string> | undefined;
  private randomCache: number | undefined;

  constructor(
    /** the full :path, query included */
    readonly path: string,
    readonly headers: HeaderMap,
    private readonly random: () => number,
    private readonly ignorePathParameters: boolean,
  ) {}

  /** :path without query and fragment (and without ;parameters under ignore_path_parameters_in_path_matching) */
  get pathOnly(): string {
    if (this.pathOnlyCache === undefined) {
      let p = removeQueryAndFragment(this.path);
      if (this.ignorePathParameters) {
        const semi = p.indexOf(';');
        if (semi >= 0) p = p.slice(0, semi);
      }
      this.pathOnlyCache = p;
    }
    return this.pathOnlyCache;
  }

  get pathOnlyLower(): string {
    return (this.lowerCache ??= asciiLower(this.pathOnly));
  }

  get query(): ReadonlyMap<string, string> {
    return (this.queryCache ??= parseQueryString(this.path));
  }

  /**
   * Uniform in [0, 1). Drawn once per request and shared by runtime_fraction and weighted cluster selection,
   * like Envoy's per-stream random value.
   */
  get randomValue(): number {
    return (this.randomCache ??= this.random());
  }
}

export interface CompiledRouteMatch {
  matches(input: RouteMatchInput): boolean;
  /**
   * How many leading characters of the full :path a prefix_rewrite replaces: the configured prefix or path, or
   * the whole path without query for safe_regex (Envoy's "matched path").
   */
  matchedLength(path: string): number;
}

const FRACTION_DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

const PATH_SPECIFIERS = ['prefix', 'path', 'safe_regex', 'connect_matcher', 'path_separated_prefix', 'path_match_policy'] as const;

export function compileRouteMatch(m: RouteMatchConfig, path: string, opts: { ignorePathParameters?: boolean } = {}): CompiledRouteMatch {
  const which = oneOf(m, PATH_SPECIFIERS, path, true)!;
  if (which === 'connect_matcher') throw unsupported(`${path}.connect_matcher`, 'CONNECT routes are not supported');
  if (which === 'path_match_policy') throw unsupported(`${path}.path_match_policy`, 'path match policy extensions are not supported');
  if (m.tls_context && (m.tls_context.presented !== undefined || m.tls_context.validated !== undefined)) {
    throw unsupported(`${path}.tls_context`, 'matching on the client TLS context is not supported');
  }
  if (m.dynamic_metadata?.length) throw unsupported(`${path}.dynamic_metadata`, 'matching on dynamic metadata is not supported');
  if (m.filter_state?.length) throw unsupported(`${path}.filter_state`, 'matching on filter state is not supported');
  const caseSensitive = m.case_sensitive !== false;

  // The path test, on the path without query (Envoy's PathMatcher strips query and fragment before comparing).
  let pathTest: (input: RouteMatchInput) => boolean;
  let matchedLength: (path: string) => number;
  switch (which) {
    case 'prefix':
    case 'path':
    case 'path_separated_prefix': {
      const want = m[which]!;
      if (which === 'path_separated_prefix' && !/^[^?#]+[^?#/]$/.test(want)) {
        throw invalid(`${path}.path_separated_prefix`, `"${want}" must not be empty, end with '/' or contain '?' or '#'`);
      }
      const w = caseSensitive ? want : asciiLower(want);
      const subject = caseSensitive ? (input: RouteMatchInput) => input.pathOnly : (input: RouteMatchInput) => input.pathOnlyLower;
      pathTest =
        which === 'prefix'
          ? (input) => subject(input).startsWith(w)
          : which === 'path'
            ? (input) => subject(input) === w
            : (input) => {
                const p = subject(input);
                return p.startsWith(w) && (p.length === w.length || p.charCodeAt(w.length) === 0x2f);
              };
      matchedLength = () => want.length;
      break;
    }
    case 'safe_regex': {
      // case_sensitive does not apply to regexes
      const re = compileRegexMatcher(m.safe_regex, `${path}.safe_regex`);
      pathTest = (input) => re.fullMatch(input.pathOnly);
      matchedLength = (p) => removeQueryAndFragment(p).length;
      break;
    }
  }

  const tests: ((input: RouteMatchInput) => boolean)[] = [pathTest];
  if (m.runtime_fraction) {
    const dv = m.runtime_fraction.default_value ?? {};
    const denominator = FRACTION_DENOMINATORS[dv.denominator ?? 'HUNDRED'];
    if (denominator === undefined) throw invalid(`${path}.runtime_fraction.default_value.denominator`, `unknown denominator ${dv.denominator}`);
    const numerator = dv.numerator ?? 0;
    // Without a runtime layer the default value decides, sampled with the request's random value.
    tests.push((input) => Math.floor(input.randomValue * denominator) < numerator);
  }
  if (m.grpc) tests.push((input) => isGrpcRequest(input.headers));
  const headers = compileHeaderMatchers(m.headers, `${path}.headers`);
  if (headers.length) tests.push((input) => matchAllHeaders(headers, input.headers));
  const query = (m.query_parameters ?? []).map((q, i) => compileQueryParameterMatcher(q, `${path}.query_parameters[${i}]`));
  if (query.length) {
    tests.push((input) => {
      const q = input.query;
      for (const qm of query) if (!qm.matches(q)) return false;
      return true;
    });
  }

  const matches =
    tests.length === 1
      ? pathTest
      : (input: RouteMatchInput) => {
          for (const t of tests) if (!t(input)) return false;
          return true;
        };
  return Object.freeze({ matches, matchedLength });
}
