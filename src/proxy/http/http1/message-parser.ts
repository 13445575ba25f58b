// The incremental machinery the request and response parsers share: buffering of unconsumed bytes, the
// line-oriented head/trailer scanner, and body framing (Content-Length, chunked, until-close).
//
// Why it is shaped like this (it decides the proxy's requests/s):
//  - Heads are parsed line by line straight out of the socket chunk; nothing is copied unless a head straddles
//    two reads. A line is decoded only once it is complete. While it is incomplete we only remember how far we
//    looked for its LF, so a client dribbling a long line byte by byte costs O(n) scanning, not O(n^2).
//  - Every byte of a head is checked against a 256-entry table (chars.ts) in the same loop that finds the field
//    boundaries: one pass, no regexes. The loop only records offsets; when the blank line arrives the whole
//    head is decoded with one latin1 call and names/values are sliced from that string straight into
//    HeaderMap's flat array (no per-header objects, no native call per field: that halved the cost).
//  - Body bytes are handed out as subarray views of the chunk they arrived in (zero copy). Buffered bytes live
//    in a stash that only grows at its end or is replaced by a new buffer, so views handed out earlier are never
//    overwritten.
//  - Offsets inside an unfinished head are kept relative to the head's first byte: the head is not consumed
//    until it is complete, so it always starts at the first unconsumed byte, whichever buffer holds it.
import { MeshworkError } from '../../../common/errors.js';
import { HeaderMap } from '../headers.js';
import { Ch, FIELD_VALUE, HEX, type Latin1Buffer, TCHAR } from './chars.js';

export type BodyKind = 'none' | 'length' | 'chunked';

/** What the parser itself calls back with; the request and response sides add their head and error callbacks. */
export interface MessageCallbacks {
  onBody(chunk: Buffer): void;
  onMessageComplete(trailers: HeaderMap | undefined): void;
}

export interface ParserLimits {
  /** Envoy max_request_headers_kb / max_response_headers_kb: cap on the bytes of the whole head (start line,
   * field lines, their CRLFs and the blank line) and, separately, of a trailer section. Default 60. */
  maxHeadersKb?: number;
  /** Envoy common_http_protocol_options.max_headers_count: cap on field lines per head / trailer section.
   * Default 100. */
  maxHeadersCount?: number;
  /** Cap on the chunk extensions of one chunk-size line. Envoy has none; Node added one (16 KiB) after
   * CVE-2024-22019, where a client streamed endless extensions that no limit counted. Default 16384. */
  maxChunkExtensionBytes?: number;
}

// parser states
const S_HEAD = 0; // reading a start line + field lines
export const S_BODY = 1; // Content-Length body, `remaining` bytes left
const S_CHUNK_SIZE = 2; // expecting a chunk-size line
const S_CHUNK_DATA = 3; // inside chunk data, `remaining` bytes left
const S_CHUNK_END = 4; // expecting the CRLF after chunk data
const S_TRAILERS = 5; // reading the trailer section after the last chunk
export const S_CLOSE_BODY = 6; // body delimited by connection close (responses only)
export const S_HOLD = 7; // upgrade/CONNECT head delivered: the rest is not HTTP, held for takeRemainder()
export const S_IDLE = 8; // response parser: no response expected
export const S_DEAD = 9; // error, destroyed, or the connection is done with HTTP

export const NEED_MORE = -1;
export const STOP = -2; // failed, or the remainder was taken over (hold); the caller must not stash anything

// Connection header tokens
export const CONN_CLOSE = 1;
export const CONN_KEEP_ALIVE = 2;
export const CONN_UPGRADE = 4;

const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER;

export abstract class MessageParser {
  protected state = S_HEAD;
  protected paused = false;
  private running = false;

  // Unconsumed bytes kept between execute() calls: sbuf[sstart, send). `sowned` means sbuf is our own
  // allocation, so bytes past `send` may be written in place.
  private sbuf: Buffer | null = null;
  private sstart = 0;
  private send = 0;
  private sowned = false;

  // progress inside the current head / trailer section / chunk-size line, relative to its first byte
  private lineOff = 0; // offset of the first line not parsed yet
  private scanOff = 0; // >0: the line at lineOff is incomplete and holds no LF before lineOff + scanOff
  private lines = 0; // field lines seen in this section
  protected startLineDone = false;

  // Field lines of the current section, as offsets relative to its first byte: [nameStart, nameEnd,
  // valueStart, valueEnd] per line, plus whether the name has uppercase. Strings are cut only when the section
  // is complete, from one latin1 decode of the whole section (one native call instead of two per field).
  private readonly offs: Int32Array;
  private readonly upper: Uint8Array;

  // the message being parsed
  protected remaining = 0;
  protected clCount = 0;
  protected clValue = '';
  protected teCount = 0;
  protected teValue = '';
  protected hostCount = 0;
  protected hostValue = '';
  protected conn = 0;
  protected upgradeValue: string | undefined = undefined;
  protected expectValue: string | undefined = undefined;

  protected readonly maxHeadBytes: number;
  protected readonly maxHeadersCount: number;
  private readonly maxChunkExt: number;

  constructor(
    limits: ParserLimits,
    // the callbacks both sides share; each subclass declares its own wider type for this field
    protected readonly cb: MessageCallbacks,
  ) {
    this.maxHeadBytes = (limits.maxHeadersKb ?? 60) * 1024;
    this.maxHeadersCount = limits.maxHeadersCount ?? 100;
    this.maxChunkExt = limits.maxChunkExtensionBytes ?? 16384;
    this.offs = new Int32Array(4 * this.maxHeadersCount);
    this.upper = new Uint8Array(this.maxHeadersCount);
  }

  /** Parse start line at `ls`; returns the offset after its CRLF, NEED_MORE, or STOP (after fail()). */
  protected abstract parseStartLine(buf: Buffer, ls: number, end: number): number;
  /** The head ended; `next` is the first byte after it, `headers` its fields and `hs` the head decoded as
   * latin1 (for start-line strings). Returns where to continue, or STOP. */
  protected abstract headComplete(buf: Buffer, next: number, end: number, headers: HeaderMap, hs: string): number;
  protected abstract messageComplete(trailers: HeaderMap | undefined): void;
  protected abstract fail(status: number, reason: string): number;

  /** Feed bytes read from the connection. Callbacks fire synchronously. Must not be called from a callback. */
  execute(chunk: Buffer): void {
    if (this.state === S_DEAD || chunk.length === 0) return;
    if (this.running) throw new MeshworkError('MW_INTERNAL', 'Cannot feed the HTTP/1 parser from inside its own callback');
    if (this.sbuf !== null || this.paused) {
      this.append(chunk);
      if (!this.paused) this.drain();
      return;
    }
    const pos = this.run(chunk, 0, chunk.length);
    if (pos >= 0 && pos < chunk.length) this.keep(chunk, pos, chunk.length, false);
  }

  /** After an upgrade / CONNECT head (or at any time): the raw bytes received after what was parsed. The
   * parser is finished afterwards; the owner pipes the connection itself. */
  takeRemainder(): Buffer {
    const rest = this.sbuf === null ? Buffer.alloc(0) : this.sbuf.subarray(this.sstart, this.send);
    this.destroy();
    return rest;
  }

  /** Stop parsing for good: later input is ignored and no callback fires any more (also mid-callback). */
  destroy(): void {
    this.state = S_DEAD;
    this.sbuf = null;
    this.paused = false;
  }

  /** Bytes received but not parsed yet (pipelined requests while paused, a partial head, held upgrade data).
   * The owner should stop reading the socket while paused so that this cannot grow without bound. */
  get bufferedBytes(): number {
    return this.sbuf === null ? 0 : this.send - this.sstart;
  }

  get isDead(): boolean {
    return this.state === S_DEAD;
  }

  protected resumeParsing(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.running && this.sbuf !== null && this.state !== S_DEAD) this.drain();
  }

  /** Keep [from, end) of `buf` as the unconsumed bytes, without copying. */
  protected hold(buf: Buffer, from: number, end: number): number {
    this.keep(buf, from, end, false);
    return STOP;
  }

  private keep(buf: Buffer, from: number, end: number, owned: boolean): void {
    this.sbuf = buf;
    this.sstart = from;
    this.send = end;
    this.sowned = owned;
  }

  private append(chunk: Buffer): void {
    const sb = this.sbuf;
    if (sb === null) return this.keep(chunk, 0, chunk.length, false);
    if (this.sowned && this.send + chunk.length <= sb.length) {
      chunk.copy(sb, this.send);
      this.send += chunk.length;
      return;
    }
    // Grow into a new buffer (never shift in place: body views handed out earlier may point into sb).
    const len = this.send - this.sstart;
    const nb = Buffer.allocUnsafeSlow(Math.max(2 * (len + chunk.length), 4096));
    sb.copy(nb, 0, this.sstart, this.send);
    chunk.copy(nb, len);
    this.keep(nb, 0, len + chunk.length, true);
  }

  private drain(): void {
    const buf = this.sbuf!;
    const end = this.send;
    const owned = this.sowned;
    this.sbuf = null; // run() may hold() a new remainder
    const pos = this.run(buf, this.sstart, end);
    if (pos >= 0 && pos < end) this.keep(buf, pos, end, owned);
  }

  /** Parse buf[pos, end). Returns the first unconsumed offset, or STOP when nothing is to be kept. */
  private run(buf: Buffer, pos: number, end: number): number {
    this.running = true;
    try {
      while (pos < end && !this.paused) {
        switch (this.state) {
          case S_HEAD: {
            if (!this.startLineDone && this.lineOff === 0) {
              // RFC 9112 §2.2: ignore empty lines before a start line (some clients send a CRLF after a body)
              while (pos + 1 < end && buf[pos] === Ch.CR && buf[pos + 1] === Ch.LF) pos += 2;
              if (pos === end || (buf[pos] === Ch.CR && pos + 1 === end)) return pos;
            }
            const r = this.parseSection(buf, pos, end);
            if (r < 0) return r === NEED_MORE ? pos : STOP;
            pos = r;
            break;
          }
          case S_BODY:
          case S_CHUNK_DATA: {
            const n = Math.min(this.remaining, end - pos);
            this.remaining -= n;
            const chunk = buf.subarray(pos, pos + n);
            pos += n;
            const st = this.state;
            if (st === S_CHUNK_DATA && this.remaining === 0) this.state = S_CHUNK_END;
            this.cb.onBody(chunk);
            if (st === S_BODY && this.remaining === 0 && this.state === S_BODY) this.messageComplete(undefined);
            break;
          }
          case S_CHUNK_SIZE: {
            const r = this.parseChunkSize(buf, pos, end);
            if (r < 0) return r === NEED_MORE ? pos : STOP;
            pos = r;
            break;
          }
          case S_CHUNK_END: {
            if (buf[pos] !== Ch.CR || (pos + 1 < end && buf[pos + 1] !== Ch.LF)) {
              this.fail(400, 'http1.invalid_chunk_end');
              return STOP;
            }
            if (pos + 1 === end) return pos;
            pos += 2;
            this.state = S_CHUNK_SIZE;
            break;
          }
          case S_TRAILERS: {
            const r = this.parseSection(buf, pos, end);
            if (r < 0) return r === NEED_MORE ? pos : STOP;
            pos = r;
            break;
          }
          case S_CLOSE_BODY: {
            const chunk = buf.subarray(pos, end);
            pos = end;
            this.cb.onBody(chunk);
            break;
          }
          case S_IDLE:
            this.fail(400, 'http1.unexpected_data');
            return STOP;
          default: // S_HOLD keeps everything; S_DEAD drops everything
            return this.state === S_HOLD ? pos : STOP;
        }
      }
      return this.state === S_DEAD ? STOP : pos;
    } finally {
      this.running = false;
    }
  }

  /** Reset per-message state; the next bytes start a new head. */
  protected resetMessage(): void {
    this.state = S_HEAD;
    this.startLineDone = false;
    this.lineOff = 0;
    this.scanOff = 0;
    this.lines = 0;
    this.clCount = 0;
    this.teCount = 0;
    this.hostCount = 0;
    this.conn = 0;
    this.upgradeValue = undefined;
    this.expectValue = undefined;
  }

  protected beginChunked(): void {
    this.state = S_CHUNK_SIZE;
    this.lineOff = 0;
    this.scanOff = 0;
  }

  /** Frame the body the head announced; done before the head callback, which may already look at the state. */
  protected beginBody(kind: BodyKind, cl: number): void {
    if (kind === 'length') {
      this.state = S_BODY;
      this.remaining = cl;
    } else if (kind === 'chunked') {
      this.beginChunked();
    }
  }

  /** After the head callback: a message without a body is complete at once. Returns where to continue, or STOP. */
  protected afterHead(noBody: boolean, next: number): number {
    if (this.state === S_DEAD) return STOP;
    if (noBody) {
      this.messageComplete(undefined);
      if (this.state === S_DEAD) return STOP;
    }
    return next;
  }

  /** Head or trailer section starting at `base`. Returns the offset after its blank line, NEED_MORE or STOP. */
  private parseSection(buf: Buffer, base: number, end: number): number {
    let ls = base + this.lineOff;
    if (this.scanOff > 0) {
      // an incomplete line: decode it only once its LF has arrived
      const from = ls + this.scanOff;
      const lf = from < end ? buf.indexOf(Ch.LF, from) : -1;
      if (lf < 0 || lf >= end) return this.sectionNeedMore(base, ls, end);
      this.scanOff = 0;
    }
    const trailers = this.state === S_TRAILERS;
    for (;;) {
      if (ls >= end) return this.sectionNeedMore(base, ls, end);
      const c = buf[ls];
      let next: number;
      if (c === Ch.CR || c === Ch.LF) {
        // blank line: end of the section
        if (c === Ch.LF) return this.fail(400, 'http1.bare_lf');
        // a lone CR so far: look at the next byte itself rather than waiting for some later LF
        if (ls + 1 === end) return this.sectionNeedMore(base, ls, end, 0);
        if (buf[ls + 1] !== Ch.LF) return this.fail(400, 'http1.bare_cr');
        next = ls + 2;
        if (next - base > this.maxHeadBytes) return this.fail(431, trailers ? 'http1.trailers_too_large' : 'http1.headers_too_large');
        this.lineOff = 0;
        const hs = (buf as Latin1Buffer).latin1Slice(base, next);
        const fields = this.buildFields(hs, trailers);
        if (trailers) {
          this.messageComplete(fields.length === 0 ? undefined : new HeaderMap(fields));
          return this.state === S_DEAD ? STOP : next;
        }
        return this.headComplete(buf, next, end, new HeaderMap(fields), hs);
      }
      if (!trailers && !this.startLineDone) {
        next = this.parseStartLine(buf, ls, end);
        if (next >= 0) this.startLineDone = true;
      } else {
        next = this.parseFieldLine(buf, base, ls, end, trailers);
      }
      if (next === NEED_MORE) return this.sectionNeedMore(base, ls, end);
      if (next < 0) return STOP;
      if (next - base > this.maxHeadBytes) return this.fail(431, trailers ? 'http1.trailers_too_large' : 'http1.headers_too_large');
      ls = next;
      this.lineOff = ls - base;
    }
  }

  /** `scanned`: bytes of the line at `ls` known to hold no LF (default: all that arrived). */
  private sectionNeedMore(base: number, ls: number, end: number, scanned = end - ls): number {
    // An unfinished section of `end - base` bytes needs at least one more byte, so at the limit it is too big.
    if (end - base >= this.maxHeadBytes) {
      return this.fail(431, this.state === S_TRAILERS ? 'http1.trailers_too_large' : 'http1.headers_too_large');
    }
    this.lineOff = ls - base;
    this.scanOff = scanned;
    if (end > ls && this.state === S_HEAD && !this.startLineDone) {
      const r = this.startLineNeedMore(end - ls);
      if (r === STOP) return STOP;
    }
    return NEED_MORE;
  }

  /** Hook: an incomplete start line of `len` bytes (no LF yet); returns STOP after fail() to reject it. */
  protected startLineNeedMore(_len: number): number {
    return NEED_MORE;
  }

  /** One field line (header or trailer). Returns the offset after its CRLF, NEED_MORE, or STOP. */
  private parseFieldLine(buf: Buffer, base: number, ls: number, end: number, trailer: boolean): number {
    // the tables in locals: an imported binding is re-read (cell load + hole check) on every byte otherwise
    const tchar = TCHAR;
    let i = ls;
    let c = buf[i]!;
    // A line starting with whitespace is obs-fold (RFC 9112 §5.2), or whitespace between the start line and
    // the first field (§2.2): both are smuggling vectors, both rejected.
    if (c === Ch.SP || c === Ch.HTAB) return this.fail(400, 'http1.obs_fold');
    let upper = 0;
    while (i < end) {
      const t = tchar[buf[i]!]!;
      if (t === 0) break;
      upper |= t;
      i++;
    }
    if (i === end) return NEED_MORE;
    c = buf[i]!;
    if (c !== 0x3a) {
      // RFC 9112 §5.1: no whitespace is allowed between the field name and colon; a server MUST reject it
      if (c === Ch.SP || c === Ch.HTAB) return this.fail(400, 'http1.whitespace_before_colon');
      if (c === Ch.CR || c === Ch.LF) return this.fail(400, 'http1.missing_colon');
      return this.fail(400, 'http1.invalid_header_name');
    }
    if (i === ls) return this.fail(400, 'http1.invalid_header_name');
    const ne = i++;
    while (i < end && (buf[i] === Ch.SP || buf[i] === Ch.HTAB)) i++;
    const vs = i;
    // FIELD_VALUE spelled out as compares: the value bytes are most of a head, and a second typed-array load
    // (with its own map and bounds checks) per byte cost more than the two compares
    while (i < end) {
      const b = buf[i]!;
      if (b < 0x20 ? b !== Ch.HTAB : b === 0x7f) break;
      i++;
    }
    if (i === end) return NEED_MORE;
    c = buf[i]!;
    if (c !== Ch.CR) return this.fail(400, c === Ch.LF ? 'http1.bare_lf' : 'http1.invalid_characters');
    if (i + 1 === end) return NEED_MORE;
    if (buf[i + 1] !== Ch.LF) return this.fail(400, 'http1.bare_cr');
    let ve = i;
    while (ve > vs && (buf[ve - 1] === Ch.SP || buf[ve - 1] === Ch.HTAB)) ve--;
    const k = this.lines;
    if (k === this.maxHeadersCount) return this.fail(431, trailer ? 'http1.too_many_trailers' : 'http1.too_many_headers');
    this.lines = k + 1;
    const o = this.offs;
    o[4 * k] = ls - base;
    o[4 * k + 1] = ne - base;
    o[4 * k + 2] = vs - base;
    o[4 * k + 3] = ve - base;
    this.upper[k] = upper & 2;
    return i + 2;
  }

  /** Names and values of the section's field lines, cut from its decoded text `hs`. */
  private buildFields(hs: string, trailers: boolean): string[] {
    const o = this.offs;
    const n = this.lines;
    const raw: string[] = [];
    for (let k = 0; k < n; k++) {
      // (V8's toLowerCase beats a lookup table of interned names: measured, the Map hashing costs more)
      let name = hs.slice(o[4 * k]!, o[4 * k + 1]!);
      if (this.upper[k] !== 0) name = name.toLowerCase();
      const vs = o[4 * k + 2]!;
      const ve = o[4 * k + 3]!;
      const value = vs === ve ? '' : hs.slice(vs, ve);
      raw.push(name, value);
      if (!trailers) this.noteField(name, value);
    }
    this.lines = 0;
    return raw;
  }

  /** Remember the fields that decide framing and connection handling. Switch on length first: most names
   * are rejected by one integer compare. */
  private noteField(name: string, value: string): void {
    switch (name.length) {
      case 4:
        if (name === 'host') {
          this.hostCount++;
          this.hostValue = value;
        }
        break;
      case 6:
        if (name === 'expect') this.expectValue = value;
        break;
      case 7:
        if (name === 'upgrade') this.upgradeValue = value;
        break;
      case 10:
        if (name === 'connection') this.conn |= connectionTokens(value);
        break;
      case 14:
        if (name === 'content-length') {
          this.clCount++;
          this.clValue = value;
        }
        break;
      case 17:
        if (name === 'transfer-encoding') {
          this.teCount++;
          this.teValue = value;
        }
        break;
    }
  }

  /** chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1). Returns the offset after the line, NEED_MORE or STOP. */
  private parseChunkSize(buf: Buffer, ls: number, end: number): number {
    const from = ls + this.scanOff;
    const lf = buf.indexOf(Ch.LF, from);
    if (lf < 0 || lf >= end) {
      // 16 hex digits are more than any size we accept; the rest of a line can only be extensions
      if (end - ls > 16 + this.maxChunkExt + 1) return this.fail(413, 'http1.chunk_extension_too_large');
      this.scanOff = end - ls;
      return NEED_MORE;
    }
    this.scanOff = 0;
    if (lf === ls || buf[lf - 1] !== Ch.CR) return this.fail(400, 'http1.bare_lf');
    const cr = lf - 1;
    let i = ls;
    let size = 0;
    while (i < cr) {
      const h = HEX[buf[i]!]!;
      if (h < 0) break;
      size = size * 16 + h;
      if (size > MAX_CHUNK_SIZE) return this.fail(400, 'http1.invalid_chunk_size');
      i++;
    }
    if (i === ls) return this.fail(400, 'http1.invalid_chunk_size');
    if (i < cr) {
      if (cr - i > this.maxChunkExt) return this.fail(413, 'http1.chunk_extension_too_large');
      if (!validChunkExtensions(buf, i, cr)) return this.fail(400, 'http1.invalid_chunk_extension');
    }
    if (size === 0) {
      this.state = S_TRAILERS;
      this.lineOff = 0;
    } else {
      this.state = S_CHUNK_DATA;
      this.remaining = size;
    }
    return lf + 1;
  }
}

/** "HTTP/d.d" at buf[s, e): the minor version for HTTP/1.0 and 1.1, -2 for any other well-formed version,
 * -1 when it is not a version at all. Names are case-sensitive (RFC 9112 §2.3). */
export function httpVersionMinor(buf: Buffer, s: number, e: number): number {
  if (e - s !== 8 || buf[s] !== 0x48 || buf[s + 1] !== 0x54 || buf[s + 2] !== 0x54 || buf[s + 3] !== 0x50) return -1;
  if (buf[s + 4] !== 0x2f || buf[s + 6] !== 0x2e) return -1;
  const major = buf[s + 5]! - 48;
  const minor = buf[s + 7]! - 48;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return -1;
  return major === 1 && minor <= 1 ? minor : -2;
}

/** Parse a Connection value into CONN_* bits (comma-separated, case-insensitive tokens). */
export function connectionTokens(v: string): number {
  // fast path for the values clients actually send
  if (v === 'keep-alive') return CONN_KEEP_ALIVE;
  if (v === 'close') return CONN_CLOSE;
  let bits = 0;
  for (const part of v.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === 'close') bits |= CONN_CLOSE;
    else if (t === 'keep-alive') bits |= CONN_KEEP_ALIVE;
    else if (t === 'upgrade') bits |= CONN_UPGRADE;
  }
  return bits;
}

/** Content-Length value → length, or -1 when it is not 1*DIGIT. A list ("5, 5") is invalid too: Envoy's Balsa
 * parser (disallow_multiple_content_length) accepts exactly one plain number. 15 digits keep it exact in a
 * double. */
export function parseContentLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}

/** chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string. */
function validChunkExtensions(buf: Buffer, i: number, end: number): boolean {
  const ws = (k: number): number => {
    while (k < end && (buf[k] === Ch.SP || buf[k] === Ch.HTAB)) k++;
    return k;
  };
  const token = (k: number): number => {
    const s = k;
    while (k < end && TCHAR[buf[k]!] !== 0) k++;
    return k === s ? -1 : k;
  };
  while (i < end) {
    i = ws(i);
    if (i === end || buf[i] !== 0x3b /* ; */) return false;
    i = token(ws(i + 1));
    if (i < 0) return false;
    const j = ws(i);
    if (j < end && buf[j] === 0x3d /* = */) {
      i = ws(j + 1);
      if (i < end && buf[i] === 0x22 /* " */) {
        i++;
        for (;;) {
          if (i >= end) return false;
          const c = buf[i]!;
          if (c === 0x22) break;
          if (c === 0x5c /* \ */) {
            i++;
            if (i >= end || FIELD_VALUE[buf[i]!] === 0) return false;
          } else if (FIELD_VALUE[c] === 0) return false;
          i++;
        }
        i++;
      } else {
        i = token(i);
        if (i < 0) return false;
      }
    } else if (j < end && buf[j] !== 0x3b) {
      return false;
    } else {
      i = j;
    }
  }
  return true;
}
