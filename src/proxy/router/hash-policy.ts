// A route's hash_policy (RouteAction.HashPolicy), compiled once into a function that computes the request's
// 64-bit hash for RING_HASH and MAGLEV clusters, as Envoy's Http::HashPolicyImpl does:
// - each policy hashes one input with xxHash64: a header's values (sorted, after an optional regex_rewrite),
//   a cookie, the downstream source IP, a query parameter, or a filter-state object that can hash itself;
// - a policy whose input is absent contributes nothing;
// - the results are combined as hash = rotl(hash, 1) ^ next, so that repeated policies do not cancel out;
// - a `terminal` policy stops the list once a hash exists (from it or from an earlier policy).
// A cookie policy with a ttl generates the cookie when the request has none, hashes the generated value and
// returns a Set-Cookie for the response, which keeps a client on one host from its first request on.
//
// Envoy evaluates the hash lazily, from inside the hashing balancers: the router should call this only for a
// cluster whose lb_policy hashes (RING_HASH, MAGLEV), or other clusters would hand out cookies for nothing.
import { ConfigError } from '../../common/errors.js';
import { toHex64, xxh64, xxh64List } from '../../common/hash.js';
import type { HeaderMap } from '../http/headers.js';
import { asciiLower, oneOf } from './matchers.js';
import { compileRegexRewrite, type RegexMatchAndSubstituteConfig, type RegexRewrite } from './path-rewrite.js';

/** The decoded RouteAction.HashPolicy message. */
interface HashPolicyConfig {
  header?: { header_name?: string; regex_rewrite?: RegexMatchAndSubstituteConfig };
  cookie?: { name?: string; ttl?: number; path?: string; attributes?: { name?: string; value?: string }[] };
  connection_properties?: { source_ip?: boolean };
  query_parameter?: { name?: string };
  filter_state?: { key?: string };
  terminal?: boolean;
}

export interface HashRequest {
  headers: HeaderMap;
  /** the downstream peer's IP without port (IPv6 without brackets), as Envoy's addressAsString prints it */
  sourceIp: string;
  /** the :path's query string, after the '?' and not decoded; undefined when the path has no '?' */
  query: string | undefined;
  /**
   * The downstream connection's remote and local addresses ("ip:port", "[v6]:port"). Envoy derives a generated
   * cookie's value from them, so that streams racing on one connection get the same cookie; when absent the
   * source IP alone is used, which gives every connection from that IP the same cookie.
   */
  remoteAddress?: string;
  localAddress?: string;
  /** filter state by key; an object with a `hash(): bigint | undefined` method is hashable (Envoy's Hashable) */
  filterState?: ReadonlyMap<string, unknown>;
}

export interface HashResult {
  /** undefined when no policy found its input: the balancer then picks a random point */
  hash: bigint | undefined;
  /** Set-Cookie values to add to the response, one per cookie the policies generated */
  setCookies?: string[];
}

export type HashPolicyFn = (req: HashRequest) => HashResult;

type Method = (req: HashRequest, out: HashResult) => bigint | undefined;

const MASK64 = 0xffff_ffff_ffff_ffffn;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

function required(value: string | undefined, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(path, 'must be a non-empty string');
  return value;
}

/**
 * Envoy's Utility::parseCookieValue: the first cookie named `name` across all Cookie headers, with surrounding
 * double quotes removed; '' when absent.
 */
function parseCookie(headers: HeaderMap, name: string): string {
  for (const header of headers.getAll('cookie')) {
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).replace(/^ +/, '') !== name) continue;
      let v = part.slice(eq + 1);
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return '';
}

/** The first value of query parameter `name` (Envoy's QueryParamsMulti::parseQueryString: split on '&' then '='). */
function queryValue(query: string, name: string): string | undefined {
  let start = 0;
  while (start < query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const hasValue = eq >= 0 && eq < end;
    if (query.slice(start, hasValue ? eq : end) === name) return hasValue ? query.slice(eq + 1, end) : '';
    start = end + 1;
  }
  return undefined;
}

function headerMethod(cfg: NonNullable<HashPolicyConfig['header']>, path: string): Method {
  const name = asciiLower(required(cfg.header_name, `${path}.header_name`));
  const rewrite: RegexRewrite | undefined = cfg.regex_rewrite ? compileRegexRewrite(cfg.regex_rewrite, `${path}.regex_rewrite`) : undefined;
  return (req) => {
    const values = req.headers.getAll(name);
    if (values.length === 0) return undefined;
    const vs = rewrite ? values.map((v) => rewrite.replaceAll(v)) : values;
    // sorted, so that the same values in another order hash alike
    return xxh64List(vs.length > 1 ? vs.sort() : vs);
  };
}

function cookieMethod(cfg: NonNullable<HashPolicyConfig['cookie']>, path: string): Method {
  const name = required(cfg.name, `${path}.name`);
  if (cfg.ttl === undefined) {
    return (req) => {
      const v = parseCookie(req.headers, name);
      return v ? xxh64(v) : undefined;
    };
  }
  // Envoy takes the Duration's whole seconds as Max-Age; 0 makes a session cookie (no Max-Age).
  const maxAge = Math.floor(cfg.ttl / 1000);
  const attrs = (cfg.attributes ?? []).map((a, i) => {
    const n = required(a.name, `${path}.attributes[${i}].name`);
    return a.value ? `; ${n}=${a.value}` : `; ${n}`;
  });
  // everything in the Set-Cookie after the value (Envoy's makeSetCookieValue, always HttpOnly)
  const suffix = `"${maxAge > 0 ? `; Max-Age=${maxAge}` : ''}${cfg.path ? `; Path=${cfg.path}` : ''}${attrs.join('')}; HttpOnly`;
  return (req, out) => {
    const v = parseCookie(req.headers, name);
    if (v) return xxh64(v);
    const generated = toHex64(xxh64((req.remoteAddress ?? req.sourceIp) + (req.localAddress ?? '')));
    (out.setCookies ??= []).push(`${name}="${generated}${suffix}`);
    return xxh64(generated);
  };
}

function compileOne(p: HashPolicyConfig, path: string): Method | undefined {
  const kind = oneOf(p, ['header', 'cookie', 'connection_properties', 'query_parameter', 'filter_state'] as const, path, true)!;
  const sub = `${path}.${kind}`;
  switch (kind) {
    case 'header':
      return headerMethod(p.header!, sub);
    case 'cookie':
      return cookieMethod(p.cookie!, sub);
    case 'connection_properties':
      // source_ip: false configures nothing, as in Envoy
      return p.connection_properties!.source_ip ? (req) => (req.sourceIp ? xxh64(req.sourceIp) : undefined) : undefined;
    case 'query_parameter': {
      const name = required(p.query_parameter!.name, `${sub}.name`);
      return (req) => {
        const v = req.query === undefined ? undefined : queryValue(req.query, name);
        return v === undefined ? undefined : xxh64(v);
      };
    }
    case 'filter_state': {
      const key = required(p.filter_state!.key, `${sub}.key`);
      return (req) => {
        const obj = req.filterState?.get(key) as { hash?: () => bigint | undefined } | undefined;
        return typeof obj?.hash === 'function' ? obj.hash() : undefined;
      };
    }
  }
}

/**
 * Compile a route's decoded hash_policy list; undefined when it configures nothing. `path` names the list in
 * error messages.
 */
export function compileHashPolicy(policies: readonly unknown[] | undefined, path = 'hash_policy'): HashPolicyFn | undefined {
  const methods: { evaluate: Method; terminal: boolean }[] = [];
  (policies ?? []).forEach((raw, i) => {
    const p = raw as HashPolicyConfig;
    const evaluate = compileOne(p, `${path}[${i}]`);
    if (evaluate) methods.push({ evaluate, terminal: p.terminal === true });
  });
  if (methods.length === 0) return undefined;
  return (req) => {
    const out: HashResult = { hash: undefined };
    let hash: bigint | undefined;
    for (const m of methods) {
      const h = m.evaluate(req, out);
      if (h !== undefined) hash = hash === undefined ? h : (((hash << 1n) | (hash >> 63n)) & MASK64) ^ h;
      if (m.terminal && hash !== undefined) break;
    }
    out.hash = hash;
    return out;
  };
}
