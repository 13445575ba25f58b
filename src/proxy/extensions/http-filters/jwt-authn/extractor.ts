// Where tokens are found in a request, as Envoy's jwt_authn Extractor: a provider's from_headers (header name
// + value prefix), from_params (query parameters) and from_cookies, or — when it names none — the default
// locations `Authorization: Bearer <token>` and the `access_token` query parameter. An extractor for several
// providers (allow_missing / allow_missing_or_failed) merges their locations and remembers, per location,
// which issuers named it: a token found there must come from one of them (an empty issuer allows any).
//
// Every value of a repeated header is a token of its own, and all of them must verify: a request cannot slip
// a bad token past the check next to a good one.
import type { HeaderMap } from '../../../http/headers.js';

export interface JwtLocation {
  readonly token: string;
  isIssuerAllowed(iss: string): boolean;
  /** Take the token out of the request (not forwarded upstream). */
  remove(headers: HeaderMap): void;
}

class IssuerChecker {
  private allowAll = false;
  private readonly issuers = new Set<string>();
  add(issuer: string): void {
    if (issuer === '') this.allowAll = true;
    else this.issuers.add(issuer);
  }
  check(iss: string): boolean {
    return this.allowAll || this.issuers.has(iss);
  }
}

interface HeaderLocation {
  readonly name: string;
  readonly prefix: string;
  readonly issuers: IssuerChecker;
}

export interface ProviderLocations {
  readonly issuer: string;
  readonly fromHeaders: readonly { readonly name: string; readonly valuePrefix: string }[];
  readonly fromParams: readonly string[];
  readonly fromCookies: readonly string[];
  /** headers the filter writes for this provider: removed from the request before verification (verifier.ts) */
  readonly sanitize: readonly string[];
}

// RFC 4648 §5 base64url plus '.', the characters of a compact JWS
const isJwtChar = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e;

/** After the prefix: skip to the first token character and take the run of token characters from there. */
function tokenAfter(value: string, from: number): string {
  let start = from;
  while (start < value.length && !isJwtChar(value.charCodeAt(start))) start++;
  if (start === value.length) return value; // nothing token-like: Envoy hands the value on as it is
  let end = start;
  while (end < value.length && isJwtChar(value.charCodeAt(end))) end++;
  return value.slice(start, end);
}

/** The decoded value of the first `name` parameter of the :path query, or undefined. */
function queryParam(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (safeDecode(k) !== name) continue;
    return eq < 0 ? '' : safeDecode(part.slice(eq + 1));
  }
  return undefined;
}

function safeDecode(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** :path without every `name` parameter (the other parameters untouched, in order). */
export function removeQueryParam(path: string, name: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  const kept = query.split('&').filter((part) => {
    const eq = part.indexOf('=');
    return safeDecode(eq < 0 ? part : part.slice(0, eq)) !== name;
  });
  return path.slice(0, q) + (kept.length ? '?' + kept.join('&') : '') + (hash < 0 ? '' : path.slice(hash));
}

function cookieValue(headers: HeaderMap, name: string): string | undefined {
  for (const h of headers.getAll('cookie')) {
    for (const part of h.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

export class Extractor {
  private readonly headerLocations: HeaderLocation[] = [];
  private readonly params = new Map<string, IssuerChecker>();
  private readonly cookies = new Map<string, IssuerChecker>();

  constructor(providers: readonly ProviderLocations[]) {
    const byKey = new Map<string, HeaderLocation>();
    for (const p of providers) {
      const addHeader = (name: string, prefix: string) => {
        const key = `${name}\u0000${prefix}`;
        let loc = byKey.get(key);
        if (!loc) {
          loc = { name, prefix, issuers: new IssuerChecker() };
          byKey.set(key, loc);
          this.headerLocations.push(loc);
        }
        loc.issuers.add(p.issuer);
      };
      const addTo = (map: Map<string, IssuerChecker>, key: string) => {
        let c = map.get(key);
        if (!c) map.set(key, (c = new IssuerChecker()));
        c.add(p.issuer);
      };
      for (const h of p.fromHeaders) addHeader(h.name, h.valuePrefix);
      for (const q of p.fromParams) addTo(this.params, q);
      for (const c of p.fromCookies) addTo(this.cookies, c);
      if (!p.fromHeaders.length && !p.fromParams.length && !p.fromCookies.length) {
        addHeader('authorization', 'Bearer ');
        addTo(this.params, 'access_token');
      }
    }
  }

  extract(headers: HeaderMap): JwtLocation[] {
    const out: JwtLocation[] = [];
    for (const loc of this.headerLocations) {
      for (const value of headers.getAll(loc.name)) {
        let token = value;
        if (loc.prefix !== '') {
          const at = value.indexOf(loc.prefix);
          if (at < 0) continue;
          token = tokenAfter(value, at + loc.prefix.length);
        }
        const name = loc.name;
        out.push({ token, isIssuerAllowed: (iss) => loc.issuers.check(iss), remove: (h) => void h.remove(name) });
      }
    }
    if (this.params.size) {
      const path = headers.get(':path') ?? '';
      for (const [name, issuers] of this.params) {
        const token = queryParam(path, name);
        if (token === undefined) continue;
        out.push({
          token,
          isIssuerAllowed: (iss) => issuers.check(iss),
          remove: (h) => {
            const p = h.get(':path');
            if (p !== undefined) h.set(':path', removeQueryParam(p, name));
          },
        });
      }
    }
    for (const [name, issuers] of this.cookies) {
      const token = cookieValue(headers, name);
      if (token === undefined) continue;
      // Envoy leaves cookies in place even without `forward` (documented caveat of from_cookies)
      out.push({ token, isIssuerAllowed: (iss) => issuers.check(iss), remove: () => {} });
    }
    return out;
  }
}
