// Downstream HTTP/1.1 over a raw socket with Meshwork's own parser: one ActiveStream at a time, pipelined
// requests answered strictly in order (the parser pauses after each request until its response is done),
// 100-continue answered by the proxy as Envoy does by default, upgrades handed over as raw byte streams.
import { performance } from 'node:perf_hooks';
import type net from 'node:net';
import { ResponseFlag } from '../stream-info.js';
import { ActiveStream, type ConnectionInfo, type ResponseWriter } from './active-stream.js';
import type { HcmConfig } from './conn-manager-config.js';
import type { UpgradeCallbacks } from './filter.js';
import { HeaderMap } from './headers.js';
import { CONTINUE_100, encodeChunk, encodeTrailers, LAST_CHUNK, RequestParser, writeResponseHead, type RequestHead } from './http1/index.js';

export interface DownstreamConnection {
  /** Stop taking new requests: close when idle, or after the current response (Connection: close). */
  drain(listenerAccepting?: boolean): void;
  destroy(): void;
  readonly activeStreams: number;
}

export class Http1ServerConnection implements DownstreamConnection {
  private readonly socket: net.Socket;
  private readonly cfg: HcmConfig;
  private readonly info: ConnectionInfo;
  private readonly parser: RequestParser;
  private stream: ActiveStream | null = null;
  private writer: Http1Writer | null = null;
  private draining = false;
  private closed = false;
  private upgraded = false;
  private pipelinePaused = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the connection last went idle; -1 while a request is being read or served */
  private idleSince = -1;
  private headersTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly onClose: () => void;

  constructor(socket: net.Socket, cfg: HcmConfig, info: ConnectionInfo, onClose: () => void) {
    this.socket = socket;
    this.cfg = cfg;
    this.info = info;
    this.onClose = onClose;
    cfg.stats.downstream_cx_http1_total.inc();
    cfg.stats.downstream_cx_http1_active.inc();
    this.parser = new RequestParser(
      {
        onRequestHead: (head) => this.onRequestHead(head),
        onBody: (chunk) => this.stream?.decodeData(chunk, false),
        onMessageComplete: (trailers) => this.onMessageComplete(trailers),
        onError: (status, reason) => this.onParseError(status, reason),
      },
      { maxHeadersKb: cfg.maxRequestHeadersKb, maxHeadersCount: cfg.maxHeadersCount, allowAbsoluteUrl: cfg.allowAbsoluteUrl },
    );
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onSocketClose());
    socket.on('error', () => {});
    this.armIdle();
  }

  get activeStreams(): number {
    return this.stream ? 1 : 0;
  }

  private onData(d: Buffer): void {
    this.cfg.stats.downstream_cx_rx_bytes_total.add(d.length);
    this.idleSince = -1;
    if (!this.stream && this.cfg.requestHeadersTimeoutMs > 0 && !this.headersTimer) {
      this.headersTimer = setTimeout(() => this.onHeadersTimeout(), this.cfg.requestHeadersTimeoutMs);
    }
    this.parser.execute(d);
    // A paused parser holds the next pipelined request until this response is done. Once it holds more than
    // the connection's buffer limit, stop reading, so a client flooding pipelined requests cannot grow it without
    // bound. (Not on every request: pausing and resuming the socket costs two syscalls and a tick per request.)
    if (this.parser.isPaused && !this.upgraded && this.parser.bufferedBytes > this.cfg.perConnectionBufferLimit) {
      this.pipelinePaused = true;
      this.socket.pause();
    }
  }

  private onRequestHead(head: RequestHead): void {
    if (this.headersTimer) {
      clearTimeout(this.headersTimer);
      this.headersTimer = undefined;
    }
    const cfg = this.cfg;
    cfg.stats.downstream_rq_http1_total.inc();
    const protocol = head.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    const writer = new Http1Writer(this, head, protocol);
    this.writer = writer;
    const stream = new ActiveStream(cfg, this.info, writer, (s) => this.onStreamComplete(s));
    this.stream = stream;
    // Envoy's header map: pseudo-headers first; Host becomes :authority. Built as one new list (one scan, no
    // remove/splice and no unshift of the pseudo-headers in front of the parsed ones).
    const fields = head.headers.raw;
    let hostAt = -1;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === 'host') {
        hostAt = i;
        break;
      }
    }
    const host = hostAt >= 0 ? fields[hostAt + 1] : head.authority;
    const raw = [':method', head.method, ':scheme', this.info.scheme, ':path', head.path];
    if (host !== undefined) raw.push(':authority', host);
    else if (head.versionMinor === 0 && cfg.defaultHostForHttp10) raw.push(':authority', cfg.defaultHostForHttp10);
    for (let i = 0; i < fields.length; i += 2) if (fields[i] !== 'host') raw.push(fields[i]!, fields[i + 1]!);
    const h = new HeaderMap(raw);
    if (head.versionMinor === 0 && !cfg.acceptHttp10) {
      // Envoy refuses HTTP/1.0 unless accept_http_10 is set
      writer.forceClose = true;
      stream.decodeHeadersRejected(h, 426, 'Upgrade Required', 'low_version');
      return;
    }
    if (head.expectContinue) {
      // Envoy answers 100-continue itself (proxy_100_continue is off by default) and strips Expect
      h.remove('expect');
      this.socket.write(CONTINUE_100);
    }
    stream.decodeHeaders(h, head.bodyKind === 'none' && !head.upgrade);
  }

  private onMessageComplete(trailers: HeaderMap | undefined): void {
    const s = this.stream;
    if (!s) return;
    if (this.writer?.requestBodyless) {
      this.writer.requestDone = true;
      this.afterExchange();
      return;
    }
    this.writer!.requestDone = true;
    if (trailers && trailers.size > 0) s.decodeTrailers(trailers);
    else s.decodeData(Buffer.alloc(0), true);
    this.afterExchange();
  }

  private onStreamComplete(_s: ActiveStream): void {
    this.afterExchange();
  }

  /** Called when either side of the exchange completes; moves to the next request once both have. */
  private afterExchange(): void {
    const s = this.stream;
    const w = this.writer;
    if (!s || !w || !s.finished || this.upgraded) return;
    if (!w.requestDone) {
      // The response finished before the request body did: Envoy closes rather than reading the rest. A request
      // without a body is complete already (a local reply can finish it inside onRequestHead); the parser's
      // onMessageComplete, which follows at once, moves on to the next request.
      if (s.responseEnded && !w.requestBodyless) this.closeAfterWrite();
      return;
    }
    this.stream = null;
    this.writer = null;
    if (w.forceClose || w.closeAfter || this.draining) {
      this.closeAfterWrite();
      return;
    }
    this.armIdle();
    this.parser.resume();
    if (this.pipelinePaused && !this.parser.isPaused && !this.closed) {
      this.pipelinePaused = false;
      this.socket.resume();
    }
  }

  private onParseError(status: number, reason: string): void {
    const cfg = this.cfg;
    cfg.stats.downstream_cx_protocol_error.inc();
    const s = this.stream;
    if (s && !s.finished) {
      s.streamInfo.setFlag(ResponseFlag.DownstreamProtocolError);
      if (this.writer) this.writer.forceClose = true;
      if (!s.responseStarted) s.sendLocalReply(status, '', { details: `http1.codec_error{${reason}}` });
      else s.resetStream(`http1.codec_error{${reason}}`);
    } else if (!this.closed) {
      // No request in flight: answer the malformed one directly and close; nothing reaches an upstream.
      const body = '';
      this.socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`);
    }
    this.closeAfterWrite();
  }

  private onHeadersTimeout(): void {
    this.headersTimer = undefined;
    if (this.stream || this.closed) return;
    this.cfg.stats.downstream_rq_header_timeout.inc();
    this.socket.end('HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    this.closeAfterWrite();
  }

  // The idle timeout is lazy: a keep-alive connection goes idle and busy once per request, and clearing and
  // setting a timer each time costs more than the rest of the bookkeeping. So the timer stays armed; activity
  // only moves idleSince, and when the timer fires it closes the connection, waits out the rest, or (busy)
  // leaves it to the next armIdle.
  private armIdle(): void {
    if (this.cfg.idleTimeoutMs > 0 && !this.closed) {
      this.idleSince = performance.now();
      if (!this.idleTimer) this.idleTimer = setTimeout(onIdleTimer, this.cfg.idleTimeoutMs, this);
    }
  }

  checkIdle(): void {
    this.idleTimer = undefined;
    if (this.closed || this.stream || this.idleSince < 0) return; // busy: armIdle starts a new period
    const left = this.cfg.idleTimeoutMs - (performance.now() - this.idleSince);
    if (left > 1) {
      this.idleTimer = setTimeout(onIdleTimer, left, this);
      return;
    }
    this.cfg.stats.downstream_cx_idle_timeout.inc();
    this.close();
  }

  private onEnd(): void {
    // half-close from the client: finish the current response (if any), then close
    if (!this.stream) this.close();
    else if (this.writer) this.writer.closeAfter = true;
  }

  private onSocketClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.cleanup();
    }
    const s = this.stream;
    if (s && !s.finished) s.onDownstreamReset();
  }

  closeAfterWrite(): void {
    if (this.closed) return;
    this.closed = true;
    this.cleanup();
    this.socket.end();
    // delayed_close_timeout: give the peer time to read what we wrote, then force the close
    const t = setTimeout(() => this.socket.destroy(), this.cfg.delayedCloseTimeoutMs || 1000);
    t.unref();
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.cleanup();
    }
    this.socket.destroy();
  }

  private cleanup(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.headersTimer) clearTimeout(this.headersTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.cfg.stats.downstream_cx_http1_active.dec();
    this.onClose();
  }

  drain(listenerAccepting = false): void {
    if (this.draining) return;
    this.draining = true;
    if (this.stream) return; // closed after the response in flight, which says Connection: close
    // After a config update (the listener still accepting), an idle connection stays open for drain_timeout like
    // Envoy's HCM: a request the client is already sending is answered (with Connection: close) instead of being
    // lost to a close that races it. On shutdown or listener removal, idle connections close at once.
    if (!listenerAccepting || this.cfg.drainTimeoutMs <= 0) this.closeAfterWrite();
    else this.drainTimer = setTimeout(() => !this.stream && this.closeAfterWrite(), this.cfg.drainTimeoutMs);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  destroy(): void {
    this.close();
  }

  // --- used by the writer ---
  cfgStatsTx(n: number): void {
    this.cfg.stats.downstream_cx_tx_bytes_total.add(n);
  }

  get sock(): net.Socket {
    return this.socket;
  }

  takeOverForUpgrade(onData: (chunk: Buffer) => void, onEnd: () => void): ReturnType<UpgradeCallbacks['takeOver']> {
    this.upgraded = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const sock = this.socket;
    const stats = this.cfg.stats;
    stats.downstream_cx_upgrades_total.inc();
    stats.downstream_cx_upgrades_active.inc();
    sock.removeAllListeners('data');
    sock.removeAllListeners('end');
    const rest = this.parser.takeRemainder();
    sock.on('data', (d: Buffer) => onData(d));
    sock.on('end', onEnd);
    sock.once('close', () => stats.downstream_cx_upgrades_active.dec());
    if (rest.length > 0) queueMicrotask(() => onData(rest));
    // onData paused the socket when the parser held the upgrade head; the tunnel reads from here on
    sock.resume();
    return {
      write: (c) => sock.write(c),
      end: () => sock.end(),
      destroy: () => sock.destroy(),
      pause: () => sock.pause(),
      resume: () => sock.resume(),
      onDrain: (cb) => sock.once('drain', cb),
    };
  }
}

function statusText(status: number): string {
  switch (status) {
    case 400: return 'Bad Request';
    case 408: return 'Request Timeout';
    case 413: return 'Payload Too Large';
    case 414: return 'URI Too Long';
    case 426: return 'Upgrade Required';
    case 431: return 'Request Header Fields Too Large';
    case 501: return 'Not Implemented';
    case 505: return 'HTTP Version Not Supported';
    default: return 'Error';
  }
}

class Http1Writer implements ResponseWriter {
  readonly protocol: string;
  private readonly conn: Http1ServerConnection;
  private readonly keepAlive: boolean;
  private readonly http10: boolean;
  private readonly method: string;
  private chunked = false;
  /** the response head, held for the first body chunk (see writeHeaders) */
  private pendingHead: string | undefined = undefined;
  requestDone: boolean;
  readonly requestBodyless: boolean;
  forceClose = false;
  closeAfter = false;
  readonly upgrade: UpgradeCallbacks | undefined;

  constructor(conn: Http1ServerConnection, head: RequestHead, protocol: string) {
    this.conn = conn;
    this.protocol = protocol;
    this.keepAlive = head.keepAlive;
    this.http10 = head.versionMinor === 0;
    this.method = head.method;
    this.requestBodyless = head.bodyKind === 'none' && !head.upgrade;
    this.requestDone = false;
    this.upgrade = head.upgrade ? { takeOver: (onData, onEnd) => conn.takeOverForUpgrade(onData, onEnd) } : undefined;
  }

  writeHeaders(h: HeaderMap, endStream: boolean): void {
    const status = Number(h.get(':status'));
    const sock = this.conn.sock;
    // (a CONNECT's 2xx starts a tunnel like a 101: the connection is the tunnel's, not closed after it; only
    // upgrades and CONNECT have `upgrade`, so other responses skip the method test)
    if (status !== 101 && (this.upgrade === undefined || status < 200 || status > 299 || this.method !== 'CONNECT')) {
      // A response that starts before the request body is complete ends the connection (Envoy drains it for
      // HTTP/1 rather than reading the rest); say so, so that the client does not reuse it.
      if (this.forceClose || this.closeAfter || !this.keepAlive || this.conn.isDraining || (!this.requestDone && !this.requestBodyless)) {
        this.forceClose = true;
        h.set('connection', 'close');
      } else if (this.http10) h.set('connection', 'keep-alive');
    }
    const enc = writeResponseHead(status, h, { endStream, requestMethod: this.method, peerMinor: this.http10 ? 0 : 1 });
    this.chunked = enc.framing === 'chunked';
    if (enc.framing === 'close' && status !== 101) {
      // an HTTP/1.0 peer without Content-Length: the end of the body is the end of the connection
      this.forceClose = true;
    }
    if (endStream || enc.framing === 'none') sock.write(enc.head, 'latin1');
    else if (enc.framing === 'close') {
      // tunnels (101, CONNECT) and HTTP/1.0 bodies: the bytes after the head may be written by the tunnel
      // itself, so the head goes to the socket now (corked, to share a segment with what follows)
      sock.cork();
      sock.write(enc.head, 'latin1');
      process.nextTick(uncork, sock);
    } else {
      // Hold the head for the first body chunk, which usually comes in the same tick (same upstream read): a
      // small body goes out with it as one string write — one syscall, one TCP segment, and none of the
      // cork/writev machinery. If no body comes in this tick, the head goes out alone.
      this.pendingHead = enc.head;
      process.nextTick(flushPendingHead, this);
    }
  }

  /** Write the held head now (before anything else is written, or when the tick ends without a body). */
  flushHead(): void {
    const head = this.pendingHead;
    if (head === undefined) return;
    this.pendingHead = undefined;
    const sock = this.conn.sock;
    if (!sock.destroyed) sock.write(head, 'latin1');
  }

  writeData(data: Buffer, endStream: boolean): boolean {
    const sock = this.conn.sock;
    this.conn.cfgStatsTx(data.length);
    const head = this.pendingHead;
    if (head !== undefined) {
      this.pendingHead = undefined;
      if (data.length <= COALESCE_MAX_BODY) {
        // latin1 maps bytes 0–255 to themselves, so the body survives the string round trip unchanged
        let out = head;
        if (!this.chunked) out += data.toString('latin1');
        else {
          if (data.length > 0) out += data.length.toString(16) + '\r\n' + data.toString('latin1') + '\r\n';
          if (endStream) out += LAST_CHUNK;
        }
        return sock.write(out, 'latin1');
      }
      sock.write(head, 'latin1');
    }
    let ok = true;
    if (this.chunked) {
      if (data.length > 0) ok = sock.write(encodeChunk(data));
      if (endStream) ok = sock.write(LAST_CHUNK);
    } else if (data.length > 0) ok = sock.write(data);
    return ok;
  }

  writeTrailers(trailers: HeaderMap): void {
    this.flushHead();
    const sock = this.conn.sock;
    if (this.chunked) sock.write(encodeTrailers(trailers), 'latin1');
  }

  reset(_reason: string): void {
    this.pendingHead = undefined;
    this.conn.close();
  }

  onDrain(cb: () => void): void {
    this.conn.sock.once('drain', cb);
  }

  aboveWatermark(): boolean {
    return this.conn.sock.writableNeedDrain;
  }

  readDisable(disable: boolean): void {
    if (disable) this.conn.sock.pause();
    else this.conn.sock.resume();
  }
}

function onIdleTimer(c: Http1ServerConnection): void {
  c.checkIdle();
}

function uncork(sock: net.Socket): void {
  sock.uncork();
}

function flushPendingHead(w: Http1Writer): void {
  w.flushHead();
}

// Bodies up to this size are copied into the head's string write; larger ones are written as they are.
const COALESCE_MAX_BODY = 4096;
