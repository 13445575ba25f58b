// Request path normalization before any filter or route sees the path, as Envoy's
// ConnectionManagerUtility::maybeNormalizePath and PathUtil (source/common/http/path_utility.cc), so that what
// RBAC and routes match is exactly what is forwarded:
//  1. a fragment ('#') in the path: the request is rejected (Envoy's default, http_reject_path_with_fragment);
//  2. path_with_escaped_slashes_action: %2F/%2f → '/' and %5C/%5c → '\' in the path part; REJECT_REQUEST refuses
//     a path that had any, UNESCAPE_AND_REDIRECT answers a redirect to the unescaped (and normalized) path,
//     UNESCAPE_AND_FORWARD goes on with it, KEEP_UNCHANGED does nothing;
//  3. normalize_path: the Chromium URL path canonicalizer Envoy embeds (canonicalPath below);
//  4. merge_slashes: runs of '/' become one (after canonicalization, to catch what decoding produced).
// Only the part before the first '?' changes; the query is kept as sent.
//
// canonicalPath follows Envoy's snapshot of Chromium's url_canon_path.cc character by character:
//  - '.' / '%2e' segments are RFC 3986 dot segments ('..' never climbs above the root);
//  - '\' becomes '/';
//  - escapes of unreserved characters (ALPHA, DIGIT, '-', '.', '_', '~') are decoded (%61dmin → admin), others
//    are kept exactly as sent (%2F stays %2F, in its original case);
//  - characters that may not appear in a path (controls, space, '"', '#', '<', '>', '?', '`', '{', '|', '}',
//    '^', DEL, and every non-ASCII byte) are percent-encoded with upper-case hex;
//  - a NUL, raw or as %00, fails the request (400);
//  - ';' is an ordinary character: "/..;/admin" has a segment "..;" that is not a dot segment and is forwarded
//    as is (as Envoy does; servlet containers that treat ';' as a parameter delimiter must be guarded by a rule).
// The hot path: a request whose path needs none of this pays one scan of the path with a lookup table.

export type EscapedSlashesAction = 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';

export interface PathNormalizationOptions {
  readonly normalize: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashes: EscapedSlashesAction;
}

/** What the connection manager does with the request: go on with `path`, redirect to it, or reject (400). */
export type PathNormalizationResult = { action: 'continue'; path: string } | { action: 'redirect'; path: string } | { action: 'reject' };

const REJECT: PathNormalizationResult = { action: 'reject' };

/** Envoy's maybeNormalizePath for an origin-form :path (starting with '/'). */
export function normalizeRequestPath(path: string, opts: PathNormalizationOptions): PathNormalizationResult {
  if (path.includes('#')) return REJECT;
  let p = path;
  let redirect = false;
  if (opts.escapedSlashes !== 'KEEP_UNCHANGED' && opts.escapedSlashes !== undefined) {
    const u = unescapeSlashes(p);
    if (u !== p) {
      if (opts.escapedSlashes === 'REJECT_REQUEST') return REJECT;
      redirect = opts.escapedSlashes === 'UNESCAPE_AND_REDIRECT';
      p = u;
    }
  }
  if (opts.normalize) {
    const c = canonicalizePathAndQuery(p);
    if (c === null) return REJECT;
    p = c;
  }
  if (opts.mergeSlashes) p = mergeSlashes(p);
  return { action: redirect ? 'redirect' : 'continue', path: p };
}

/** PathUtil::unescapeSlashes: %2F/%2f → '/', %5C/%5c → '\' in the path part. */
export function unescapeSlashes(path: string): string {
  const q = path.indexOf('?');
  const p = q < 0 ? path : path.slice(0, q);
  if (!p.includes('%')) return path;
  const u = p.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  return u === p ? path : q < 0 ? u : u + path.slice(q);
}

/** PathUtil::mergeSlashes: the path part rebuilt from its non-empty segments, keeping a leading and trailing '/'. */
export function mergeSlashes(path: string): string {
  const q = path.indexOf('?');
  const p = q < 0 ? path : path.slice(0, q);
  if (!p.includes('//')) return path;
  const segs = p.split('/').filter((s) => s !== '');
  // as Envoy: "//" has no segments and keeps both slashes
  const merged = (p.startsWith('/') ? '/' : '') + segs.join('/') + (p.endsWith('/') ? '/' : '');
  return q < 0 ? merged : merged + path.slice(q);
}

/** PathUtil::canonicalPath: canonicalize the part before '?', keep the query; null when it cannot be (400). */
export function canonicalizePathAndQuery(path: string): string | null {
  const q = path.indexOf('?');
  if (q < 0) return canonicalizePath(path);
  const c = canonicalizePath(path.slice(0, q));
  return c === null ? null : c + path.slice(q);
}

// Chromium's kPathCharLookup, per byte
const PASS = 0;
const SPECIAL = 1; // needs a look: '.', '\', '%', and everything below
const ESCAPE = 2 | SPECIAL; // written as %XX
const UNESCAPE = 4; // an escape of it is decoded (not SPECIAL when raw: copied as is)
const INVALID = 8 | SPECIAL; // fails the canonicalization (NUL)

const LOOKUP = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  let f: number;
  if (c === 0) f = INVALID;
  else if (c < 0x20 || c >= 0x7f) f = ESCAPE;
  else if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f || c === 0x7e) f = UNESCAPE;
  else if (' "#%<>?`{|}^\\'.includes(String.fromCharCode(c))) f = ESCAPE;
  else if (c === 0x2e) f = SPECIAL;
  else f = PASS; // ! $ & ' ( ) * + , / : ; = @ [ ]
  LOOKUP[c] = f;
}

const HEX_DIGITS = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** A '.' or '%2e'/'%2E' at i: its length, or 0 (Chromium's IsDot). */
function dotLength(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x2e) return 1;
  if (c === 0x25 && i + 3 <= end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

const isSlash = (c: number) => c === 0x2f || c === 0x5c;

/** Chromium's CanonicalizePath on a path without query; null when it fails (a NUL). */
export function canonicalizePath(path: string): string | null {
  const end = path.length;
  if (end === 0) return '/';
  const lookup = LOOKUP;
  // the common case: nothing special (no '.', '%', '\', nothing to escape) after a leading '/'
  let i = 0;
  while (i < end) {
    const c = path.charCodeAt(i);
    if (c > 0xff || (lookup[c]! & SPECIAL) !== 0) break;
    i++;
  }
  if (i === end && path.charCodeAt(0) === 0x2f) return path;

  let out = isSlash(path.charCodeAt(0)) ? '' : '/';
  let ok = true;
  let lastInvalidPercent = -Infinity;
  i = 0;
  while (i < end) {
    // copy the run of ordinary characters in one slice
    const run = i;
    while (i < end) {
      const c = path.charCodeAt(i);
      if (c > 0xff || (lookup[c]! & SPECIAL) !== 0) break;
      i++;
    }
    if (i > run) out += path.slice(run, i);
    if (i === end) break;

    const c = path.charCodeAt(i);
    const dot = dotLength(path, i, end);
    if (dot > 0) {
      if (out.charCodeAt(out.length - 1) === 0x2f) {
        // a segment starting with a dot: ".", "..", or just a name that starts with one
        const after = i + dot;
        if (after === end) {
          i = end; // "." at the end: the output already ends with '/'
          continue;
        }
        if (isSlash(path.charCodeAt(after))) {
          i = after + 1; // "./"
          continue;
        }
        const dot2 = dotLength(path, after, end);
        const afterDots = after + dot2;
        if (dot2 > 0 && (afterDots === end || isSlash(path.charCodeAt(afterDots)))) {
          // "..": back up to the previous slash, never above the first one
          out = backUpToPreviousSlash(out);
          i = afterDots === end ? end : afterDots + 1;
          continue;
        }
      }
      out += '.';
      i += dot;
      continue;
    }
    if (c === 0x5c) {
      out += '/';
      i++;
      continue;
    }
    if (c === 0x25) {
      const h1 = i + 2 < end ? hexValue(path.charCodeAt(i + 1)) : -1;
      const h2 = h1 >= 0 ? hexValue(path.charCodeAt(i + 2)) : -1;
      if (h2 < 0) {
        // not an escape: a literal '%', remembered (a decoded character after it could form a new escape)
        lastInvalidPercent = out.length;
        out += '%';
        i++;
        continue;
      }
      const v = h1 * 16 + h2;
      if (lookup[v]! & UNESCAPE) {
        out += String.fromCharCode(v);
        if (lastInvalidPercent >= out.length - 3) out = checkForNestedEscapes(path, i + 3, end, lastInvalidPercent, out);
      } else {
        // kept exactly as sent (hex case included); %00 fails
        out += path.slice(i, i + 3);
        if (v === 0) ok = false;
      }
      i += 3;
      continue;
    }
    // a character that must be escaped (a raw NUL is escaped too, and fails)
    if (c === 0) ok = false;
    out += escaped(c);
    i++;
  }
  return ok ? out : null;
}

/** %XX (upper-case hex) of a character as it is written on the wire: our codecs give latin1 code units;
 *  anything wider is encoded as UTF-8 so that it is still percent-encoded byte by byte. */
function escaped(code: number): string {
  if (code < 0x100) return '%' + HEX_DIGITS[code >> 4] + HEX_DIGITS[code & 15];
  let s = '';
  for (const b of Buffer.from(String.fromCharCode(code), 'utf8')) s += '%' + HEX_DIGITS[b >> 4] + HEX_DIGITS[b & 15];
  return s;
}

/** Drop the last segment of `out` (which ends with '/'), keeping the slash before it; the root stays. */
function backUpToPreviousSlash(out: string): string {
  const i = out.lastIndexOf('/', out.length - 2);
  return i < 0 ? out : out.slice(0, i + 1);
}

/**
 * Chromium's CheckForNestedEscapes: an invalid '%' followed by characters that were decoded from escapes must not
 * turn into a valid escape in the output ("%%30%30" would read as "%00" if canonicalized again): such a '%' is
 * written as "%25".
 */
function checkForNestedEscapes(spec: string, next: number, end: number, pct: number, out: string): string {
  const length = out.length;
  const lastUnescaped = out[length - 1]!;
  const appendNext = pct === length - 2;
  let probe = out;
  if (appendNext) {
    if (next === end || spec.charCodeAt(next) >= 0x80) return out;
    probe = out + spec[next];
  }
  if (probe.length >= pct + 3 && hexValue(probe.charCodeAt(pct + 1)) >= 0 && hexValue(probe.charCodeAt(pct + 2)) >= 0) {
    // "%" + the one or two characters after it → "%25" + them
    return out.slice(0, pct) + '%25' + out.slice(pct + 1, length - 1) + lastUnescaped;
  }
  return out;
}
