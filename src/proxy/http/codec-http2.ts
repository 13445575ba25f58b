// Downstream HTTP/2 (h2c with prior knowledge, or h2 negotiated by TLS ALPN). node:http2 does the framing and
// HPACK; each stream becomes an ActiveStream. We own the socket (already TLS-terminated when TLS is used)
// and hand it to a framing-only Http2Server with `emit('connection')`.
import http2 from 'node:http2';
import type net from 'node:net';
import { ActiveStream, type ConnectionInfo, type ResponseWriter } from './active-stream.js';
import type { HcmConfig } from './conn-manager-config.js';
import type { DownstreamConnection } from './codec-http1.js';
import { HeaderMap } from './headers.js';

interface SessionState {
  info: ConnectionInfo;
  cfg: HcmConfig;
  streams: Set<ActiveStream>;
  onClose: () => void;
  session?: http2.ServerHttp2Session;
}

// Keyed by session: `session.socket` is a Proxy, never the socket we handed over. The server emits 'session'
// synchronously inside emit('connection'), so the connection being attached is known at that moment.
const states = new WeakMap<http2.ServerHttp2Session, SessionState>();
let attaching: SessionState | undefined;
const servers = new WeakMap<HcmConfig, http2.Http2Server>();

function serverFor(cfg: HcmConfig): http2.Http2Server {
  let s = servers.get(cfg);
  if (s) return s;
  s = http2.createServer({
    settings: {
      maxConcurrentStreams: Math.min(cfg.http2.maxConcurrentStreams, 2 ** 31 - 1),
      initialWindowSize: Math.min(cfg.http2.initialStreamWindowSize, 2 ** 31 - 1),
      maxHeaderListSize: cfg.maxRequestHeadersKb * 1024,
    },
    maxSessionMemory: 64,
    // HTTP/2 connection-level checks (pseudo-headers, connection-specific headers) stay on in node.
  });
  s.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => onStream(stream, rawHeaders));
  s.on('session', (session) => {
    session.on('error', () => {});
    const st = attaching;
    attaching = undefined;
    if (st) {
      st.session = session;
      states.set(session, st);
    }
  });
  servers.set(cfg, s);
  return s;
}

function onStream(stream: http2.ServerHttp2Stream, raw: string[]): void {
  const st = stream.session ? states.get(stream.session as http2.ServerHttp2Session) : undefined;
  if (!st) {
    stream.on('error', () => {});
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  st.cfg.stats.downstream_rq_http2_total.inc();
  const headers = new HeaderMap();
  // pseudo-headers first, then the rest, as in Envoy's header maps
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.charCodeAt(0) === 58) headers.add(raw[i]!, raw[i + 1]!);
  let cookie: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.charCodeAt(0) === 58) continue;
    // HTTP/2 splits cookies into several fields; HTTP/1 upstreams need them joined (RFC 9113 §8.2.3)
    if (k === 'cookie') cookie = cookie === undefined ? raw[i + 1]! : `${cookie}; ${raw[i + 1]!}`;
    else headers.add(k, raw[i + 1]!);
  }
  if (cookie !== undefined) headers.add('cookie', cookie);
  if (!headers.has(':authority')) {
    const host = headers.get('host');
    if (host) headers.set(':authority', host);
  }
  headers.remove('host');
  const writer = new Http2Writer(stream);
  const s = new ActiveStream(st.cfg, st.info, writer, () => st.streams.delete(s));
  st.streams.add(s);
  stream.on('data', (chunk: Buffer) => s.decodeData(chunk, false));
  // node emits 'trailers' as soon as the frame is parsed, possibly before DATA still queued in the readable
  // side: the trailers are passed on at 'end', after the last byte of the body.
  let trailers: HeaderMap | undefined;
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
    const h = new HeaderMap();
    for (const k of Object.keys(t)) {
      const v = t[k];
      if (Array.isArray(v)) for (const x of v) h.add(k, x);
      else if (v !== undefined) h.add(k, String(v));
    }
    trailers = h;
  });
  stream.on('end', () => {
    if (trailers) s.decodeTrailers(trailers);
    else if (!stream.endAfterHeaders) s.decodeData(Buffer.alloc(0), true); // headers-only requests ended already
  });
  stream.on('error', () => {});
  stream.on('close', () => {
    if (!s.finished) s.onDownstreamReset();
  });
  // Methods are case-sensitive (RFC 9110 §9.1). The HTTP/1 parser accepts only Envoy's upper-case list, but
  // nghttp2 takes any token, so ":method: delete" would miss an RBAC rule on DELETE and reach an upstream that
  // may upper-case it. A method with a lower-case letter is refused here as over HTTP/1.
  const method = headers.get(':method');
  if (method !== undefined && hasLowerCase(method)) {
    s.decodeHeadersRejected(headers, 400, '', 'http2.invalid_method');
    return;
  }
  s.decodeHeaders(headers, stream.readableEnded || stream.endAfterHeaders);
}

function hasLowerCase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) return true;
  }
  return false;
}

export class Http2ServerConnection implements DownstreamConnection {
  private readonly socket: net.Socket;
  private readonly state: SessionState;
  private closed = false;

  constructor(socket: net.Socket, cfg: HcmConfig, info: ConnectionInfo, onClose: () => void) {
    this.socket = socket;
    cfg.stats.downstream_cx_http2_total.inc();
    cfg.stats.downstream_cx_http2_active.inc();
    this.state = { info, cfg, streams: new Set(), onClose };
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      cfg.stats.downstream_cx_http2_active.dec();
      onClose();
    });
    attaching = this.state;
    serverFor(cfg).emit('connection', socket);
    attaching = undefined;
  }

  get activeStreams(): number {
    return this.state.streams.size;
  }

  drain(): void {
    // GOAWAY: in-flight streams finish, no new ones are accepted, then the session closes
    const s = this.state.session;
    if (s && !s.closed) s.close();
    else this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

class Http2Writer implements ResponseWriter {
  readonly protocol = 'HTTP/2';
  private readonly stream: http2.ServerHttp2Stream;
  private trailers: http2.OutgoingHttpHeaders | null = null;
  private wantsTrailers = false;

  constructor(stream: http2.ServerHttp2Stream) {
    this.stream = stream;
  }

  writeHeaders(h: HeaderMap, endStream: boolean): void {
    const st = this.stream;
    if (st.destroyed || st.headersSent) return;
    const out: Record<string, string | string[]> = {};
    const a = h.raw;
    for (let i = 0; i < a.length; i += 2) {
      const k = a[i]!;
      if (k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding' || k === 'upgrade' || k === 'proxy-connection') continue;
      const prev = out[k];
      if (prev === undefined) out[k] = a[i + 1]!;
      else if (Array.isArray(prev)) prev.push(a[i + 1]!);
      else out[k] = [prev, a[i + 1]!];
    }
    // Trailers can only be sent on a stream opened for them, and whether the upstream sends any is unknown
    // yet: every response with a body waits for trailers (none → node ends with an empty DATA frame).
    this.wantsTrailers = !endStream;
    if (this.wantsTrailers) {
      st.once('wantTrailers', () => {
        if (!st.destroyed) st.sendTrailers(this.trailers ?? {});
      });
    }
    st.respond(out, { endStream, waitForTrailers: this.wantsTrailers });
  }

  writeData(data: Buffer, endStream: boolean): boolean {
    const st = this.stream;
    if (st.destroyed) return true;
    if (endStream) {
      st.end(data.length > 0 ? data : undefined);
      return true;
    }
    return st.write(data);
  }

  writeTrailers(trailers: HeaderMap): void {
    const st = this.stream;
    if (st.destroyed) return;
    if (this.wantsTrailers) {
      const out: Record<string, string> = {};
      trailers.forEach((k, v) => (out[k] = out[k] ? `${out[k]},${v}` : v));
      this.trailers = out;
    }
    st.end();
  }

  reset(_reason: string): void {
    const st = this.stream;
    if (!st.destroyed) st.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }

  onDrain(cb: () => void): void {
    this.stream.once('drain', cb);
  }

  aboveWatermark(): boolean {
    return this.stream.writableNeedDrain;
  }

  readDisable(disable: boolean): void {
    if (disable) this.stream.pause();
    else this.stream.resume();
  }
}
