// Byte-class tables for the HTTP/1.1 codec. The parsers test every byte of a head against one of these, so
// each class is a 256-entry typed array indexed by the byte: one load per byte, no branches on ranges.

/** token characters (RFC 9110 §5.6.2): 1 = tchar, 2 = uppercase ALPHA (a tchar that must be lowercased), 0 = not */
export const TCHAR = new Uint8Array(256);
/** field-vchar / SP / HTAB / obs-text: what a field value may hold (RFC 9110 §5.5). NUL, CR, LF, DEL and the
 * other controls are 0 — Envoy rejects them too (nghttp2's header value check, Balsa's kError level). */
export const FIELD_VALUE = new Uint8Array(256);
/** request-target bytes: visible ASCII only (0x21-0x7E). Envoy's URL check additionally lets HTAB and FF
 * through (an http-parser quirk); we do not, since whitespace inside a target is a smuggling ambiguity. */
export const TARGET = new Uint8Array(256);
/** authority (RFC 3986 §3.2) bytes allowed in Host and in CONNECT / absolute-form targets; the same set
 * nghttp2_check_authority (Envoy's Host validation) accepts */
export const AUTHORITY = new Uint8Array(256);
/** hex digit value, or -1 */
export const HEX = new Int8Array(256).fill(-1);

const TOKEN_PUNCT = "!#$%&'*+-.^_`|~";
for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  const digit = c >= 0x30 && c <= 0x39;
  const lower = c >= 0x61 && c <= 0x7a;
  const upper = c >= 0x41 && c <= 0x5a;
  if (digit || lower || TOKEN_PUNCT.includes(ch)) TCHAR[c] = 1;
  if (upper) TCHAR[c] = 2;
  if (c === 0x09 || (c >= 0x20 && c <= 0x7e) || c >= 0x80) FIELD_VALUE[c] = 1;
  if (c >= 0x21 && c <= 0x7e) TARGET[c] = 1;
  if (digit || lower || upper || "-._~!$&'()*+,;=:@[]%".includes(ch)) AUTHORITY[c] = 1;
  if (digit) HEX[c] = c - 0x30;
  else if (c >= 0x61 && c <= 0x66) HEX[c] = c - 0x61 + 10;
  else if (c >= 0x41 && c <= 0x46) HEX[c] = c - 0x41 + 10;
}

/** The bytes the parsers compare against. A const enum, so that tsc writes them as literals: an imported
 * `const` is read through a module cell with a hole check on every use, i.e. on every byte of a loop. */
export const enum Ch {
  CR = 13,
  LF = 10,
  SP = 32,
  HTAB = 9,
}

/** Buffer's native one-copy latin1 decoder. It is what toString('latin1', s, e) ends up calling, minus the
 * encoding-name dispatch; @types/node does not declare it. */
export interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

/** True when every char of `s` is an authority byte (Host header / CONNECT target check). */
export function isAuthority(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || AUTHORITY[c] === 0) return false;
  }
  return true;
}
