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
import { compileRegex, type CompiledRegex } from '../../common/re2.js';
import type { HeaderMap } from '../http/headers.js';

export { compileRegex, type CompiledRegex };

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

// ---- RE2 → JS regular expressions: src/common/re2.ts (the control plane validates regexes with it too) ----

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
  /** Why `input` does not match (the first condition that fails, in words), or undefined when it matches: for
   *  the admin /why explanation, never on the request path. */
  explain(input: RouteMatchInput): string | undefined;
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
    case 'connect_matcher':
      // CONNECT requests only (they have no path, so no path matcher takes them); Envoy's ConnectRouteEntryImpl
      pathTest = (input) => input.headers.get(':method') === 'CONNECT';
      matchedLength = () => 0;
      break;
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
  const pathWords = which === 'connect_matcher' ? 'not a CONNECT request' : `path does not match ${which}${which === 'safe_regex' ? ` ${JSON.stringify(m.safe_regex?.regex)}` : ` ${JSON.stringify(m[which])}`}${caseSensitive ? '' : ' (case-insensitive)'}`;
  const explain = (input: RouteMatchInput): string | undefined => {
    if (!pathTest(input)) return pathWords;
    if (m.grpc && !isGrpcRequest(input.headers)) return 'not a gRPC request';
    for (const h of headers) if (!h.matches(input.headers)) return `header ${JSON.stringify(h.name)} does not match`;
    for (const qm of query) if (!qm.matches(input.query)) return `query parameter ${JSON.stringify(qm.name)} does not match`;
    if (!matches(input)) return 'runtime_fraction did not sample this request';
    return undefined;
  };
  return Object.freeze({ matches, matchedLength, explain });
}
