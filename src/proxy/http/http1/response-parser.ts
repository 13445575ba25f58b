// Upstream side of the HTTP/1.1 codec: parses what an upstream answers to the requests the proxy sent. The
// owner announces each request with expectResponse(method) — the method decides framing (a HEAD response has
// no body whatever its headers say) — and reports the connection's end with end(), which finishes a body
// delimited by close. Any malformed response is an onError(reason): the router answers 502/503 with the UPE
// flag and the pool closes the connection.
//
// Strictness mirrors the request side and Envoy's client codec: duplicate or malformed Content-Length,
// Content-Length with Transfer-Encoding, a coding other than exactly "chunked" (Envoy answers these with a
// protocol error where RFC 9112 would read until close), Transfer-Encoding or a non-zero Content-Length on
// 1xx/204 (Envoy's strict_1xx_and_204_response_headers; "Content-Length: 0" is dropped), a 101 nobody asked
// for, and bytes after a complete response (Envoy: "extraneous data after response complete").
import { MeshworkError } from '../../../common/errors.js';
import { HeaderMap } from '../headers.js';
import { Ch, FIELD_VALUE } from './chars.js';
import {
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  MessageParser,
  NEED_MORE,
  STOP,
  S_CLOSE_BODY,
  S_DEAD,
  S_HOLD,
  S_IDLE,
  httpVersionMinor,
  parseContentLength,
  type BodyKind,
  type ParserLimits,
} from './message-parser.js';

/** 'close': no Content-Length and not chunked, so the body runs until the upstream closes (RFC 9112 §6.3 #8) */
export type ResponseBodyKind = BodyKind | 'close';

export interface ResponseHead {
  status: number;
  /** the reason phrase as sent (may be empty) */
  reason: string;
  versionMinor: 0 | 1;
  headers: HeaderMap;
  /** whether the connection may carry another request after this response */
  keepAlive: boolean;
  /** 101 to an upgrade request, or 2xx to CONNECT: the rest of the connection is a tunnel (takeRemainder()) */
  upgrade: boolean;
  bodyKind: ResponseBodyKind;
  /** the Content-Length value when one was sent, else undefined */
  contentLength: number | undefined;
}

export interface ResponseParserCallbacks {
  /** a 1xx other than 101 (100 Continue, 103 Early Hints, ...); the final response follows */
  onInformational(status: number, headers: HeaderMap): void;
  onResponseHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  onMessageComplete(trailers: HeaderMap | undefined): void;
  /** the upstream broke the protocol; the parser is dead, close the connection */
  onError(reason: string): void;
}

export class ResponseParser extends MessageParser {
  protected declare readonly cb: ResponseParserCallbacks;
  private reqMethod = '';
  private reqUpgrade = false;
  // status line of the message being parsed
  private status = 0;
  private reasonEnd = 0; // the reason phrase is hs[13, reasonEnd) of the decoded head
  private minor = 1;
  private keepAlive = true;

  constructor(callbacks: ResponseParserCallbacks, limits: ParserLimits = {}) {
    super(limits, callbacks);
    this.state = S_IDLE;
  }

  /** Announce the request just written: its method, and whether it asked for an upgrade. One at a time (Envoy
   * does not pipeline upstream either). */
  expectResponse(method: string, upgrade = false): void {
    if (this.state !== S_IDLE) throw new MeshworkError('MW_INTERNAL', 'Cannot expect an HTTP/1 response while another is pending');
    this.resetMessage();
    this.reqMethod = method;
    this.reqUpgrade = upgrade;
  }

  /** The upstream closed its side. Returns true when that ended things cleanly (nothing pending, or it finished
   * a close-delimited body, which fires onMessageComplete); false when a response was expected or cut short. */
  end(): boolean {
    const st = this.state;
    if (st === S_IDLE || st === S_DEAD) {
      this.destroy();
      return true;
    }
    this.destroy();
    if (st !== S_CLOSE_BODY) return false;
    this.cb.onMessageComplete(undefined);
    return true;
  }

  protected fail(_status: number, reason: string): number {
    this.destroy();
    this.cb.onError(reason);
    return STOP;
  }

  protected messageComplete(trailers: HeaderMap | undefined): void {
    const keepAlive = this.keepAlive;
    this.resetMessage();
    this.state = keepAlive ? S_IDLE : S_DEAD;
    this.cb.onMessageComplete(trailers);
  }

  /** HTTP-version SP status-code SP [ reason-phrase ] CRLF. A missing SP after the code is tolerated: the
   * grammar requires it but servers omit it, and it cannot change framing. */
  protected parseStartLine(buf: Buffer, ls: number, end: number): number {
    let j = ls;
    while (j < end && buf[j] !== Ch.CR && buf[j] !== Ch.LF) j++;
    if (j === end) return NEED_MORE;
    if (buf[j] === Ch.LF) return this.fail(502, 'http1.bare_lf');
    if (j + 1 === end) return NEED_MORE;
    if (buf[j + 1] !== Ch.LF) return this.fail(502, 'http1.bare_cr');
    const minor = j - ls < 8 ? -1 : httpVersionMinor(buf, ls, ls + 8);
    if (minor < 0) return this.fail(502, minor === -1 ? 'http1.invalid_version' : 'http1.unsupported_version');
    if (j - ls < 12 || buf[ls + 8] !== Ch.SP || (j > ls + 12 && buf[ls + 12] !== Ch.SP)) return this.fail(502, 'http1.invalid_status');
    const d0 = buf[ls + 9]! - 48;
    const d1 = buf[ls + 10]! - 48;
    const d2 = buf[ls + 11]! - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.fail(502, 'http1.invalid_status');
    const fieldValue = FIELD_VALUE; // see parseFieldLine: the table in a local for the byte loop
    for (let k = ls + 13; k < j; k++) if (fieldValue[buf[k]!] === 0) return this.fail(502, 'http1.invalid_characters');
    this.status = d0 * 100 + d1 * 10 + d2;
    this.reasonEnd = j - ls;
    this.minor = minor;
    return j + 2;
  }

  protected headComplete(buf: Buffer, next: number, end: number, headers: HeaderMap, hs: string): number {
    const status = this.status;
    const method = this.reqMethod;

    let cl = -1;
    if (this.clCount > 1) return this.fail(502, 'http1.multiple_content_length');
    if (this.clCount === 1) {
      cl = parseContentLength(this.clValue);
      if (cl < 0) return this.fail(502, 'http1.invalid_content_length');
    }
    if (status < 200 || status === 204) {
      if (this.teCount > 0) return this.fail(502, 'http1.transfer_encoding_not_allowed');
      if (cl > 0) return this.fail(502, 'http1.content_length_not_allowed');
      if (cl === 0) {
        headers.remove('content-length');
        cl = -1;
      }
    }
    if (status < 200 && status !== 101) {
      // interim response: report it and parse the final one that follows (RFC 9110 §15.2)
      this.resetMessage();
      this.cb.onInformational(status, headers);
      return this.state === S_DEAD ? STOP : next;
    }
    const chunked = this.teCount > 0;
    if (chunked) {
      if (this.minor === 0) return this.fail(502, 'http1.transfer_encoding_in_http10');
      if (cl >= 0) return this.fail(502, 'http1.content_length_and_chunked_not_allowed');
      if (this.teCount !== 1 || this.teValue.toLowerCase() !== 'chunked') return this.fail(502, 'http1.invalid_transfer_encoding');
    }

    let upgrade = false;
    if (status === 101) {
      if (!this.reqUpgrade) return this.fail(502, 'http1.unexpected_101');
      upgrade = true;
    } else if (method === 'CONNECT' && status < 300) {
      upgrade = true;
    }
    const noBody = upgrade || method === 'HEAD' || status === 204 || status === 304;
    const bodyKind: ResponseBodyKind = noBody ? 'none' : chunked ? 'chunked' : cl > 0 ? 'length' : cl === 0 ? 'none' : 'close';
    const conn = this.conn;
    const head: ResponseHead = {
      status,
      reason: this.reasonEnd > 13 ? hs.slice(13, this.reasonEnd) : '',
      versionMinor: this.minor as 0 | 1,
      headers,
      keepAlive: !upgrade && bodyKind !== 'close' && (conn & CONN_CLOSE) === 0 && (this.minor === 1 || (conn & CONN_KEEP_ALIVE) !== 0),
      upgrade,
      bodyKind,
      contentLength: cl >= 0 ? cl : undefined,
    };
    this.keepAlive = head.keepAlive;

    if (upgrade) {
      this.state = S_HOLD;
      this.hold(buf, next, end);
      this.cb.onResponseHead(head);
      return STOP;
    }
    if (bodyKind === 'close') this.state = S_CLOSE_BODY;
    else this.beginBody(bodyKind, cl);
    this.cb.onResponseHead(head);
    return this.afterHead(bodyKind === 'none', next);
  }
}
