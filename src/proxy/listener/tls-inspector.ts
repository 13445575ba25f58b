// Envoy's tls_inspector and http_inspector listener filters as pure functions over the bytes peeked from the
// start of a connection. The listener calls them again each time more bytes arrive (with everything read so
// far, not just the new chunk) until the answer is no longer 'need-more'; the bytes are then replayed into
// the chosen filter chain, so nothing here consumes or copies them (one exception: a ClientHello fragmented
// over several TLS records is stitched together, which real clients practically never do).

/** Envoy's TLS_MAX_CLIENT_HELLO: a ClientHello still incomplete after this many bytes gives up the connection. */
export const MAX_CLIENT_HELLO = 64 * 1024;
/** Envoy's http_inspector MAX_INSPECT_SIZE: a request line not finished within this many bytes gives up. */
export const MAX_HTTP_INSPECT = 8 * 1024;

export type ClientHelloResult =
  | { result: 'need-more' }
  /** not a TLS ClientHello (or a malformed one): Envoy leaves transport_protocol at raw_buffer and continues */
  | { result: 'not-tls' }
  /** a ClientHello bigger than the limit: Envoy closes the connection (tls_inspector.client_hello_too_large) */
  | { result: 'too-large' }
  /** sni is lowercased, as Envoy stores requested_server_name; alpn keeps the client's preference order */
  | { result: 'tls'; sni?: string; alpn: string[] };

const NEED_MORE: ClientHelloResult = Object.freeze({ result: 'need-more' });
const NOT_TLS: ClientHelloResult = Object.freeze({ result: 'not-tls' });
const TOO_LARGE: ClientHelloResult = Object.freeze({ result: 'too-large' });

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const MAX_RECORD_PLAINTEXT = 16384; // RFC 8446 5.1: a longer plaintext record is a protocol error
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;

/**
 * Looks for a TLS ClientHello at the start of `buf` and returns its SNI and ALPN list. Only the framing and
 * the two extensions are checked; everything else (versions, cipher lists, key shares) is the TLS stack's
 * business once the connection is handed over.
 */
export function inspectClientHello(buf: Buffer, maxSize = MAX_CLIENT_HELLO): ClientHelloResult {
  // Early verdicts from the first bytes, so that plaintext protocols are told apart after one read.
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  if (buf.length > 1 && buf[1] !== 3) return NOT_TLS;
  if (buf.length > 5 && buf[5] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  // The handshake header announces the ClientHello's length: refuse an oversized one without waiting for it.
  if (buf.length >= 9 && buf.readUInt16BE(3) >= 4 && 4 + buf.readUIntBE(6, 3) > maxSize) return TOO_LARGE;

  // Collect handshake fragments record by record until the ClientHello (4-byte header + body) is complete.
  let off = 0;
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let have = 0;
  let helloLen = -1;
  for (;;) {
    if (buf.length - off < 5) return buf.length >= maxSize ? TOO_LARGE : NEED_MORE;
    const len = buf.readUInt16BE(off + 3);
    if (buf[off] !== RECORD_HANDSHAKE || buf[off + 1] !== 3 || len === 0 || len > MAX_RECORD_PLAINTEXT) return NOT_TLS;
    if (buf.length - off - 5 < len) return buf.length >= maxSize ? TOO_LARGE : NEED_MORE;
    const frag = buf.subarray(off + 5, off + 5 + len);
    off += 5 + len;
    if (!first) first = frag;
    else (more ??= [first]).push(frag);
    have += len;
    if (helloLen < 0 && have >= 4) {
      const head = more ? Buffer.concat(more) : first;
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      helloLen = 4 + head.readUIntBE(1, 3);
      if (helloLen > maxSize) return TOO_LARGE;
    }
    if (helloLen >= 0 && have >= helloLen) {
      const hello = more ? Buffer.concat(more) : first;
      return parseClientHelloBody(hello.subarray(4, helloLen));
    }
  }
}

function parseClientHelloBody(b: Buffer): ClientHelloResult {
  // legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2> compression_methods<1..2^8-1>
  if (b.length < 35) return NOT_TLS;
  const version = b.readUInt16BE(0);
  if (version >> 8 !== 3 || (version & 0xff) < 1) return NOT_TLS; // SSLv3 and older are refused like BoringSSL
  let p = 34;
  const sid = b[p];
  if (sid > 32) return NOT_TLS;
  p += 1 + sid;
  if (p + 2 > b.length) return NOT_TLS;
  const cs = b.readUInt16BE(p);
  if (cs < 2 || cs % 2 !== 0) return NOT_TLS;
  p += 2 + cs;
  if (p + 1 > b.length) return NOT_TLS;
  const cm = b[p];
  if (cm < 1) return NOT_TLS;
  p += 1 + cm;
  if (p > b.length) return NOT_TLS;
  if (p === b.length) return { result: 'tls', alpn: [] }; // no extensions at all
  if (p + 2 > b.length || p + 2 + b.readUInt16BE(p) !== b.length) return NOT_TLS;
  p += 2;

  let sni: string | undefined;
  let alpn: string[] = [];
  let seenSni = false;
  let seenAlpn = false;
  while (p < b.length) {
    if (p + 4 > b.length) return NOT_TLS;
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const data = b.subarray(p + 4, p + 4 + len);
    if (data.length !== len) return NOT_TLS;
    p += 4 + len;
    if (type === EXT_SERVER_NAME) {
      if (seenSni) return NOT_TLS;
      seenSni = true;
      const name = parseServerName(data);
      if (name === null) return NOT_TLS; // BoringSSL fails the handshake on a malformed server_name
      sni = name;
    } else if (type === EXT_ALPN) {
      if (seenAlpn) return NOT_TLS;
      seenAlpn = true;
      alpn = parseAlpn(data); // a malformed list is ignored, as Envoy leaves the error to the TLS stack
    }
  }
  return sni === undefined ? { result: 'tls', alpn } : { result: 'tls', sni, alpn };
}

/** server_name extension: ServerNameList<1..2^16-1> of { name_type(1), HostName<1..2^16-1> }; null = malformed */
function parseServerName(d: Buffer): string | undefined | null {
  if (d.length < 2 || d.readUInt16BE(0) !== d.length - 2) return null;
  let p = 2;
  let host: string | undefined;
  while (p < d.length) {
    if (p + 3 > d.length) return null;
    const type = d[p];
    const len = d.readUInt16BE(p + 1);
    if (len === 0 || p + 3 + len > d.length) return null;
    if (type === 0 && host === undefined) {
      const name = d.subarray(p + 3, p + 3 + len);
      if (name.includes(0)) return null;
      host = name.toString('latin1').toLowerCase();
    }
    p += 3 + len;
  }
  return host;
}

/** ALPN extension: ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1> */
function parseAlpn(d: Buffer): string[] {
  if (d.length < 4 || d.readUInt16BE(0) !== d.length - 2) return [];
  const out: string[] = [];
  let p = 2;
  while (p < d.length) {
    const len = d[p];
    if (len === 0 || p + 1 + len > d.length) return [];
    out.push(d.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return out;
}

export type HttpInspectResult =
  | 'need-more'
  | 'http/1.1'
  | 'http/1.0'
  /** the HTTP/2 prior-knowledge connection preface */
  | 'h2c'
  /** not HTTP: Envoy sets no application protocol and continues */
  | 'unknown'
  /** no complete request line within MAX_HTTP_INSPECT bytes: Envoy closes the connection */
  | 'too-large';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

// RFC 9110 tchar, for the method token
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Tells HTTP/1.x and h2c apart from the first bytes of a plaintext connection, as Envoy's http_inspector
 * does: the exact HTTP/2 preface is h2c; a well-formed request line `METHOD SP target SP HTTP/d.d` is
 * http/1.1 when the version is 1.1 and http/1.0 otherwise. A malformed prefix is 'unknown' as soon as it
 * is seen, without waiting for the end of the line.
 */
export function inspectHttp(buf: Buffer, maxSize = MAX_HTTP_INSPECT): HttpInspectResult {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return buf.length < H2_PREFACE.length ? 'need-more' : 'h2c';

  // method
  let p = 0;
  while (p < buf.length && TCHAR[buf[p]]) p++;
  if (p === buf.length) return tooLargeOr(buf, maxSize);
  if (p === 0 || buf[p] !== SP) return 'unknown';
  // request-target: any visible byte (obs-text included, as the HTTP/1 parsers tolerate it)
  const targetStart = ++p;
  while (p < buf.length && buf[p] > SP && buf[p] !== 0x7f) p++;
  if (p === buf.length) return tooLargeOr(buf, maxSize);
  // A line ending here would be an HTTP/0.9 simple request, which Envoy's codecs do not speak.
  if (p === targetStart || buf[p] !== SP) return 'unknown';
  // "HTTP/" DIGIT "." DIGIT, then CRLF (a bare LF is tolerated like the parsers do)
  const v = ++p;
  for (let i = 0; i < 8; i++, p++) {
    if (p === buf.length) return tooLargeOr(buf, maxSize);
    const c = buf[p];
    const ok = i < 5 ? c === 'HTTP/'.charCodeAt(i) : i === 6 ? c === 0x2e : c >= 0x30 && c <= 0x39;
    if (!ok) return 'unknown';
  }
  if (p === buf.length) return tooLargeOr(buf, maxSize);
  if (buf[p] === CR) {
    if (++p === buf.length) return tooLargeOr(buf, maxSize);
  }
  if (buf[p] !== LF) return 'unknown';
  return buf[v + 5] === 0x31 && buf[v + 7] === 0x31 ? 'http/1.1' : 'http/1.0';
}

function tooLargeOr(buf: Buffer, maxSize: number): HttpInspectResult {
  return buf.length >= maxSize ? 'too-large' : 'need-more';
}
