// Downstream side of the HTTP/1.1 codec: turns the bytes a client sends into request heads, body chunks and
// message ends. It is the proxy's security boundary, so everything that could make two HTTP implementations
// disagree about where a request ends (request smuggling) is rejected before the head is delivered:
// conflicting or malformed framing headers, bare CR/LF, obs-fold, whitespace before a colon, invalid bytes.
//
// Status codes follow Envoy's HTTP/1 codec (Balsa parser + codec_impl.cc) unless noted:
//   400  every syntax error; duplicate Content-Length (even identical: Balsa runs with
//        disallow_multiple_content_length, so "5" twice and "5, 5" are both rejected); Content-Length together
//        with Transfer-Encoding (unless allow_chunked_length); missing Host in HTTP/1.1 (Envoy's
//        missing_host_header); a body on CONNECT
//   431  head larger than max_request_headers_kb, or more than max_headers_count fields (Envoy counts the
//        request line into the same budget, so a huge request-target is 431 too)
//   501  Transfer-Encoding other than exactly "chunked" (so "gzip, chunked" and "chunked, chunked" as well), or
//        Transfer-Encoding on CONNECT
//   414  only when maxRequestLineBytes is set: a Meshwork option (Envoy has no separate request-line limit);
//        RFC 9112 §3 names 414 for a request-target longer than the server is willing to parse
//   505  any HTTP version other than 1.0/1.1 (RFC 9110 §15.6.6); Balsa would treat e.g. HTTP/1.2 as 1.0 and the
//        codec then answers 426 unless accept_http_10 — we prefer the standard answer
//   413  chunk extensions above maxChunkExtensionBytes (no Envoy equivalent; Node answers 413 as well)
// Stricter than Envoy on purpose, each a MUST or SHOULD of RFC 9110/9112: more than one Host (§3.2), userinfo
// in an absolute-form target (RFC 9110 §4.2.4), Transfer-Encoding in an HTTP/1.0 request (§6.1), HTAB/FF in a
// request-target.
// Left to the connection manager (Envoy does them there too): 426 for HTTP/1.0 without accept_http_10 (the head
// carries versionMinor), headers_with_underscores_action (underscores are valid tchars, allowed here), path
// normalization and #fragment handling, Connection-header nomination checks.
import { MeshworkError } from '../../../common/errors.js';
import { HeaderMap } from '../headers.js';
import { Ch, isAuthority, TARGET, TCHAR } from './chars.js';
import {
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  MessageParser,
  NEED_MORE,
  STOP,
  S_DEAD,
  S_HOLD,
  connectionTokens,
  httpVersionMinor,
  parseContentLength,
  type BodyKind,
  type ParserLimits,
} from './message-parser.js';

export interface RequestHead {
  method: string;
  /** origin-form path + query as sent; '*' for OPTIONS *; for absolute-form the path part (Envoy rewrites
   * absolute-form to origin-form, see allowAbsoluteUrl); '' for CONNECT, whose target is the authority */
  path: string;
  /** the Host value; for absolute-form and CONNECT the target's authority, which also replaced Host in
   * `headers` (RFC 9112 §3.2.2, Envoy's handlePath). Undefined only for HTTP/1.0 without Host. */
  authority: string | undefined;
  /** lowercase 'http' / 'https' from an absolute-form target, else undefined (the connection decides) */
  scheme: string | undefined;
  versionMinor: 0 | 1;
  /** names lowercase, values with surrounding whitespace trimmed, in arrival order */
  headers: HeaderMap;
  /** HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` */
  keepAlive: boolean;
  /** CONNECT, or HTTP/1.1 `Connection: upgrade` + `Upgrade` (except h2c, which is stripped as Envoy does).
   * The parser then holds every later byte for takeRemainder(); bodyKind is 'none'. */
  upgrade: boolean;
  /** HTTP/1.1 with `Expect: 100-continue` (case-insensitive) */
  expectContinue: boolean;
  bodyKind: BodyKind;
  /** the Content-Length value when one was sent (and kept), else undefined */
  contentLength: number | undefined;
}

export type RequestErrorStatus = 400 | 413 | 414 | 431 | 501 | 505;

export interface RequestParserCallbacks {
  onRequestHead(head: RequestHead): void;
  /** a view of the received bytes (no copy); valid as long as the owner keeps it */
  onBody(chunk: Buffer): void;
  /** the parser pauses itself before calling this; call resume() for the next pipelined request */
  onMessageComplete(trailers: HeaderMap | undefined): void;
  /** `reason` is a stable detail string (Envoy's response code detail where one exists). The parser is dead
   * afterwards: answer `status` and close the connection. */
  onError(status: RequestErrorStatus, reason: string): void;
}

export interface RequestParserOptions extends ParserLimits {
  /** Meshwork-only: reject a request line longer than this with 414. Default: no separate limit. */
  maxRequestLineBytes?: number;
  /** Http1ProtocolOptions.allow_custom_methods: accept any token as method, not only Envoy's known list */
  allowCustomMethods?: boolean;
  /** Http1ProtocolOptions.allow_chunked_length: accept Content-Length with chunked (Content-Length is removed) */
  allowChunkedLength?: boolean;
  /** Http1ProtocolOptions.allow_absolute_url (default true): rewrite absolute-form to origin-form + authority */
  allowAbsoluteUrl?: boolean;
}

// Envoy's Balsa parser accepts exactly these methods unless allow_custom_methods is set.
const KNOWN_METHODS = new Set([
  'ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK', 'MERGE', 'MKACTIVITY',
  'MKCALENDAR', 'MKCOL', 'MOVE', 'MSEARCH', 'NOTIFY', 'OPTIONS', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH', 'PURGE',
  'PUT', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE',
]);

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Whether `buf` starts with the HTTP/2 connection preface (prior-knowledge h2c): true, false, or undefined
 * while `buf` is a strict prefix of it and more bytes are needed to tell. */
export function isH2Preface(buf: Buffer): boolean | undefined {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) !== 0) return false;
  return n === H2_PREFACE.length ? true : undefined;
}

export class RequestParser extends MessageParser {
  protected declare readonly cb: RequestParserCallbacks;
  private readonly maxLine: number;
  private readonly allowCustomMethods: boolean;
  private readonly allowChunkedLength: boolean;
  private readonly allowAbsoluteUrl: boolean;
  // request line of the message being parsed (offsets from the head's first byte)
  private methodEnd = 0;
  private targetStart = 0;
  private targetEnd = 0;
  private minor = 1;
  private keepAlive = true;

  constructor(callbacks: RequestParserCallbacks, options: RequestParserOptions = {}) {
    super(options, callbacks);
    this.maxLine = options.maxRequestLineBytes ?? Infinity;
    this.allowCustomMethods = options.allowCustomMethods ?? false;
    this.allowChunkedLength = options.allowChunkedLength ?? false;
    this.allowAbsoluteUrl = options.allowAbsoluteUrl ?? true;
  }

  /** Continue with buffered pipelined bytes after onMessageComplete (callbacks fire synchronously). */
  resume(): void {
    if (this.state === S_HOLD) throw new MeshworkError('MW_INTERNAL', 'Cannot resume HTTP/1 parsing after an upgrade head: take the remainder or close');
    this.resumeParsing();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  protected fail(status: number, reason: string): number {
    this.destroy();
    this.cb.onError(status as RequestErrorStatus, reason);
    return STOP;
  }

  protected messageComplete(trailers: HeaderMap | undefined): void {
    const keepAlive = this.keepAlive;
    this.resetMessage();
    // Pause so the owner answers pipelined requests strictly in order (Envoy pauses its parser the same way).
    // After a non-keep-alive request nothing more is read: the connection closes after the response.
    if (keepAlive) this.paused = true;
    else this.state = S_DEAD;
    this.cb.onMessageComplete(trailers);
  }

  protected override startLineNeedMore(len: number): number {
    return len - 1 > this.maxLine ? this.fail(414, 'http1.request_line_too_long') : NEED_MORE;
  }

  /** method SP request-target SP HTTP-version CRLF, single spaces only (RFC 9112 §3). Bytes are checked
   * here; the strings are cut in headComplete from the decoded head. */
  protected parseStartLine(buf: Buffer, ls: number, end: number): number {
    const tchar = TCHAR; // see parseFieldLine: tables in locals for the byte loops
    const target = TARGET;
    let i = ls;
    while (i < end && tchar[buf[i]!] !== 0) i++;
    if (i === end) return NEED_MORE;
    if (buf[i] !== Ch.SP || i === ls) return this.fail(400, 'http1.invalid_method');
    const me = i++;
    const ts = i;
    while (i < end && target[buf[i]!] === 1) i++;
    if (i === end) return NEED_MORE;
    if (buf[i] !== Ch.SP || i === ts) return this.fail(400, 'http1.invalid_url');
    const te = i++;
    const vs = i;
    while (i < end && buf[i] !== Ch.CR && buf[i] !== Ch.LF) i++;
    if (i === end) return NEED_MORE;
    if (buf[i] === Ch.LF) return this.fail(400, 'http1.bare_lf');
    if (i + 1 === end) return NEED_MORE;
    if (buf[i + 1] !== Ch.LF) return this.fail(400, 'http1.bare_cr');
    if (i - ls > this.maxLine) return this.fail(414, 'http1.request_line_too_long');
    const minor = httpVersionMinor(buf, vs, i);
    if (minor < 0) {
      if (minor === -1) return this.fail(400, 'http1.invalid_version');
      // "PRI * HTTP/2.0" is an HTTP/2 client with prior knowledge: reported apart so the owner can switch to h2c
      const pri = me - ls === 3 && buf[ls] === 0x50 && buf[ls + 1] === 0x52 && buf[ls + 2] === 0x49;
      const preface = pri && te - ts === 1 && buf[ts] === 0x2a && buf[vs + 5] === 0x32 && buf[vs + 7] === 0x30;
      return this.fail(505, preface ? 'http1.h2_preface' : 'http1.unsupported_version');
    }
    this.methodEnd = me - ls;
    this.targetStart = ts - ls;
    this.targetEnd = te - ls;
    this.minor = minor;
    return i + 2;
  }

  protected headComplete(buf: Buffer, next: number, end: number, headers: HeaderMap, hs: string): number {
    const method = methodString(hs, this.methodEnd);
    if (!this.allowCustomMethods && !KNOWN_METHODS.has(method)) return this.fail(400, 'http1.invalid_method');
    const minor = this.minor;
    const isConnect = method === 'CONNECT';

    // Host: RFC 9112 §3.2 — a server MUST answer 400 to more than one Host or an invalid one
    if (this.hostCount > 1) return this.fail(400, 'http1.multiple_host');
    let authority: string | undefined = this.hostCount === 1 ? this.hostValue : undefined;
    if (authority !== undefined && !isAuthority(authority)) return this.fail(400, 'http.invalid_authority');

    // request-target forms (RFC 9112 §3.2), mapped like Envoy's ServerConnectionImpl::handlePath
    let path = hs.slice(this.targetStart, this.targetEnd);
    let scheme: string | undefined;
    if (isConnect) {
      if (!isConnectTarget(path)) return this.fail(400, 'http1.invalid_url');
      authority = path;
      path = '';
      headers.set('host', authority);
    } else if (path.charCodeAt(0) === 0x2f /* / */) {
      // origin-form: as sent
    } else if (path === '*') {
      if (method !== 'OPTIONS') return this.fail(400, 'http1.invalid_url');
    } else {
      const url = parseAbsoluteUrl(path);
      if (typeof url === 'string') return this.fail(400, url);
      // RFC 9112 §3.2.2: a proxy MUST ignore Host and use the target's authority. With allow_absolute_url off
      // Envoy passes the URL through as the path untouched.
      if (this.allowAbsoluteUrl) {
        scheme = url.scheme;
        authority = url.authority;
        path = url.path;
        headers.set('host', authority);
      }
    }
    if (authority === undefined && minor === 1) return this.fail(400, 'missing_host_header');

    // framing (RFC 9112 §6.3), checked in Envoy's order: Content-Length syntax (Balsa), CONNECT body,
    // Content-Length + Transfer-Encoding, then the coding itself
    let cl = -1;
    if (this.clCount > 1) return this.fail(400, 'http1.multiple_content_length');
    if (this.clCount === 1) {
      cl = parseContentLength(this.clValue);
      if (cl < 0) return this.fail(400, 'http1.invalid_content_length');
      if (isConnect) {
        // RFC 9110 §9.3.6: a CONNECT body has no defined semantics; Envoy drops "0" and rejects the rest
        if (cl !== 0) return this.fail(400, 'http1.body_disallowed');
        headers.remove('content-length');
        cl = -1;
      }
    }
    let bodyKind: BodyKind = 'none';
    if (this.teCount > 0) {
      // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty
      if (minor === 0) return this.fail(400, 'http1.transfer_encoding_in_http10');
      const chunked = this.teCount === 1 && this.teValue.toLowerCase() === 'chunked';
      if (cl >= 0) {
        if (!(this.allowChunkedLength && chunked)) return this.fail(400, 'http1.content_length_and_chunked_not_allowed');
        headers.remove('content-length');
        cl = -1;
      }
      if (!chunked || isConnect) return this.fail(501, 'http1.invalid_transfer_encoding');
      bodyKind = 'chunked';
    } else if (cl > 0) {
      bodyKind = 'length';
    }

    const conn = this.conn;
    let upgrade = isConnect;
    // RFC 9110 §7.8: Upgrade means nothing in HTTP/1.0
    if (!upgrade && (conn & CONN_UPGRADE) !== 0 && this.upgradeValue !== undefined && minor === 1) {
      // Envoy ignores h2c upgrade requests (envoy#7161): strip the upgrade headers, serve over HTTP/1.1
      if (this.upgradeValue.toLowerCase() === 'h2c') stripH2cUpgrade(headers);
      else upgrade = true;
    }
    const expect = this.expectValue;
    const head: RequestHead = {
      method,
      path,
      authority,
      scheme,
      versionMinor: minor as 0 | 1,
      headers,
      keepAlive: (conn & CONN_CLOSE) === 0 && (minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0),
      upgrade,
      expectContinue: minor === 1 && expect !== undefined && expect.toLowerCase() === '100-continue',
      bodyKind: upgrade ? 'none' : bodyKind,
      contentLength: cl >= 0 ? cl : undefined,
    };
    this.keepAlive = head.keepAlive;

    if (upgrade) {
      // Like Envoy's NoBodyData: whatever follows the head is tunnel payload, not HTTP. Hold it (before the
      // callback, so the owner can takeRemainder() from inside it).
      this.state = S_HOLD;
      this.paused = true;
      this.hold(buf, next, end);
      this.cb.onRequestHead(head);
      return STOP;
    }
    this.beginBody(bodyKind, cl);
    this.cb.onRequestHead(head);
    return this.afterHead(bodyKind === 'none', next);
  }
}

/** The method (the head's first `n` chars); the two everyone sends are interned constants, so the per-request
 * comparisons against them are pointer compares. */
function methodString(hs: string, n: number): string {
  if (n === 3 && hs.startsWith('GET')) return 'GET';
  if (n === 4 && hs.startsWith('POST')) return 'POST';
  return hs.slice(0, n);
}

/** authority-form (RFC 9112 §3.2.3): host:port, port required. */
function isConnectTarget(t: string): boolean {
  const c = t.lastIndexOf(':');
  if (c <= 0 || c === t.length - 1 || t.length - c - 1 > 5) return false;
  for (let i = c + 1; i < t.length; i++) {
    const d = t.charCodeAt(i);
    if (d < 0x30 || d > 0x39) return false;
  }
  const host = t.slice(0, c);
  if (host.includes('@') || !isAuthority(host)) return false;
  return host.charCodeAt(0) !== 0x5b /* [ */ || host.charCodeAt(host.length - 1) === 0x5d /* ] */;
}

/** absolute-form → scheme, authority, origin-form path; or an error reason. */
function parseAbsoluteUrl(u: string): { scheme: string; authority: string; path: string } | string {
  const first = u.charCodeAt(0) | 0x20;
  if (first < 0x61 || first > 0x7a) return 'http1.invalid_url';
  let i = 1;
  for (; i < u.length; i++) {
    const c = u.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
    if (!alnum && c !== 0x2b && c !== 0x2d && c !== 0x2e) break;
  }
  if (!u.startsWith('://', i)) return 'http1.invalid_url';
  const scheme = u.slice(0, i).toLowerCase();
  // Envoy: Utility::schemeIsValid accepts only http and https
  if (scheme !== 'http' && scheme !== 'https') return 'http1.invalid_scheme';
  const as = i + 3;
  let ae = as;
  while (ae < u.length) {
    const c = u.charCodeAt(ae);
    if (c === 0x2f || c === 0x3f) break;
    ae++;
  }
  const authority = u.slice(as, ae);
  // userinfo: RFC 9110 §4.2.4 says to treat it as an error ("http://good.example@evil.example/")
  if (authority.length === 0 || authority.includes('@') || !isAuthority(authority)) return 'http1.invalid_url';
  const rest = u.slice(ae);
  return { scheme, authority, path: rest.length === 0 ? '/' : rest.charCodeAt(0) === 0x3f ? '/' + rest : rest };
}

/** Drop an h2c upgrade offer: Upgrade, HTTP2-Settings and their Connection tokens (Envoy's codec does this). */
function stripH2cUpgrade(headers: HeaderMap): void {
  headers.remove('upgrade');
  headers.remove('http2-settings');
  const kept: string[] = [];
  for (const v of headers.getAll('connection')) {
    for (const part of v.split(',')) {
      const t = part.trim();
      const l = t.toLowerCase();
      if (t.length > 0 && l !== 'upgrade' && l !== 'http2-settings') kept.push(t);
    }
  }
  if (kept.length > 0) headers.set('connection', kept.join(','));
  else headers.remove('connection');
}
