// HTTP/2 upstream pool for one host: one multiplexed session (h2c, or h2 over TLS with ALPN), a new one when
// the current session goes away or is full. node:http2 does the framing; we only map streams and headers.
// A session that has opened max_requests_per_connection streams is draining, as in Envoy: no new stream goes
// on it, its streams finish, and it is closed when the last one does.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { HeaderMap } from '../http/headers.js';
import { RequestSlot, type ResourceManager } from './circuit-breakers.js';
import type { ClusterStats } from './cluster.js';
import { connectTarget, type Host } from './host.js';
import type { ConnPool, UpstreamCallbacks, UpstreamStream } from './pool.js';
import { applySocketOptions } from './connection-options.js';
import type { PoolTransport } from './pool-http1.js';
import type { TlsInfo } from '../stream-info.js';

// Connection-specific headers are illegal in HTTP/2 (RFC 9113 §8.2.2); node:http2 throws on them.
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

export function headerMapToH2(h: HeaderMap): http2.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  const a = h.raw;
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i]!;
    const v = a[i + 1]!;
    if (H2_FORBIDDEN.has(k)) continue;
    if (k === 'te' && v.toLowerCase() !== 'trailers') continue;
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = k === 'cookie' ? `${prev}; ${v}` : [prev, v];
  }
  return out;
}

export function h2ToHeaderMap(obj: http2.IncomingHttpHeaders | Record<string, unknown>, rawPairs?: string[]): HeaderMap {
  if (rawPairs) {
    const raw: string[] = [];
    // pseudo-headers first, as Envoy's header maps keep them
    for (let i = 0; i < rawPairs.length; i += 2) if (rawPairs[i]!.charCodeAt(0) === 58) raw.push(rawPairs[i]!, rawPairs[i + 1]!);
    for (let i = 0; i < rawPairs.length; i += 2) if (rawPairs[i]!.charCodeAt(0) !== 58) raw.push(rawPairs[i]!, rawPairs[i + 1]!);
    return new HeaderMap(raw);
  }
  const h = new HeaderMap();
  for (const k of Object.keys(obj)) {
    const v = (obj as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) h.add(k, String(x));
    else h.add(k, String(v));
  }
  return h;
}

export class Http2Pool implements ConnPool {
  readonly host: Host;
  readonly transport: PoolTransport;
  private readonly stats: ClusterStats;
  private session: http2.ClientHttp2Session | null = null;
  private active = 0;
  private sessions = new Set<http2.ClientHttp2Session>();
  private draining = false;
  /** the circuit breakers of this pool's routing priority */
  readonly res: ResourceManager;

  constructor(host: Host, transport: PoolTransport, stats: ClusterStats, res: ResourceManager) {
    this.host = host;
    this.transport = transport;
    this.stats = stats;
    this.res = res;
  }

  /**
   * Circuit breakers for a stream about to open: pending (max_pending_requests) when it must wait for a session
   * to connect, then active (max_requests). One session per host carries every stream, so max_connections is
   * counted (cx_open, upstream_cx_overflow) but a host always gets its session.
   */
  admit(slot: RequestSlot): boolean {
    const s = this.session;
    const ready = s && !s.closed && !s.destroyed && (s as any).__mwConnected() && this.active < this.transport.h2MaxConcurrentStreams;
    if (!ready && !slot.tryPending()) return false;
    return slot.tryActivate();
  }

  private getSession(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed && this.active < this.transport.h2MaxConcurrentStreams) return s;
    return this.connect();
  }

  private connect(): http2.ClientHttp2Session {
    const { host, transport, stats } = this;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_http2_total.inc();
    stats.upstream_cx_active.inc();
    host.activeConnections++;
    if (!this.res.connections.canCreate()) this.res.stats.upstream_cx_overflow.inc();
    this.res.connections.inc();
    // a pipe has no host:port for the URL node:http2 wants; the connection is made by createConnection
    const authority = `${transport.tls ? 'https' : 'http'}://${host.pipe !== undefined ? 'localhost' : host.id}`;
    const opts = transport.conn;
    const session = http2.connect(authority, {
      ...(transport.tls
        ? {
            createConnection: () => {
              const s = tls.connect({ ALPNProtocols: ['h2'], ...transport.tls!.connectOptions, ...connectTarget(host) });
              applySocketOptions(s, opts);
              return s;
            },
          }
        : opts?.keepalive || host.pipe !== undefined
          ? {
              // to reach the socket before it connects (TCP keepalive), or to reach a pipe; node:http2 would
              // otherwise open the same TCP connection itself
              createConnection: () => {
                const s = net.connect(connectTarget(host));
                applySocketOptions(s, opts);
                return s;
              },
            }
          : {}),
      peerMaxConcurrentStreams: transport.h2MaxConcurrentStreams,
    });
    this.session = session;
    this.sessions.add(session);
    let connected = false;
    const timer = setTimeout(() => {
      stats.upstream_cx_connect_timeout.inc();
      stats.upstream_cx_connect_fail.inc();
      host.cxConnectFail++;
      session.destroy(new Error('connection timeout'));
    }, transport.connectTimeoutMs);
    session.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      if (transport.tls) {
        const reason = transport.tls.verify(session.socket as tls.TLSSocket);
        if (reason) {
          transport.onConnectFail();
          session.destroy(new Error(`TLS error: ${reason}`));
        }
      }
    });
    session.on('error', () => {
      if (!connected) {
        stats.upstream_cx_connect_fail.inc();
        host.cxConnectFail++;
      }
    });
    session.on('goaway', () => {
      if (this.session === session) this.session = null;
    });
    session.once('close', () => {
      clearTimeout(timer);
      if (this.session === session) this.session = null;
      this.sessions.delete(session);
      stats.upstream_cx_active.dec();
      stats.upstream_cx_destroy.inc();
      host.activeConnections--;
      this.res.connections.dec();
    });
    session.setTimeout(transport.idleTimeoutMs, () => {
      if (this.active === 0 || (session as any).__mwActive === 0) session.close();
    });
    (session as any).__mwActive = 0;
    (session as any).__mwConnected = () => connected;
    (session as any).__mwRemaining = opts?.maxRequestsPerConnection || Infinity;
    return session;
  }

  newStream(cb: UpstreamCallbacks, _opts: { method: string; upgrade: boolean }): UpstreamStream {
    return new Http2Stream(this, cb);
  }

  /** Called by a stream to open itself on a session. */
  open(headers: HeaderMap, endStream: boolean, st: Http2Stream): http2.ClientHttp2Stream {
    const session = this.getSession();
    this.active++;
    (session as any).__mwActive++;
    // waitForTrailers: the request body may end with trailers (gRPC, chunked HTTP/1 with trailers), which
    // node:http2 can only send when the stream was opened this way.
    const req = session.request(headerMapToH2(headers), { endStream, waitForTrailers: !endStream });
    if (--(session as any).__mwRemaining === 0) {
      // its last stream: new ones go to a new session; this one closes once its streams are done
      (session as any).__mwDraining = true;
      if (this.session === session) this.session = null;
      this.stats.upstream_cx_max_requests.inc();
    }
    req.once('close', () => {
      st.slot.release();
      this.active--;
      (session as any).__mwActive--;
      if ((this.draining || (session as any).__mwDraining) && (session as any).__mwActive === 0) session.close();
    });
    st.sessionConnected = (session as any).__mwConnected;
    return req;
  }

  drain(): void {
    this.draining = true;
    for (const s of this.sessions) if ((s as any).__mwActive === 0) s.close();
    this.session = null;
  }

  destroy(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.session = null;
  }
}

/** a session's TLS, read once */
const sessionTls = new WeakMap<http2.Http2Session, TlsInfo>();

class Http2Stream implements UpstreamStream {
  readonly host: Host;
  localAddress: string | undefined;
  tls: TlsInfo | undefined;
  private readonly pool: Http2Pool;
  private readonly cb: UpstreamCallbacks;
  private req: http2.ClientHttp2Stream | null = null;
  private done = false;
  sessionConnected: () => boolean = () => false;
  /** this request's claim on the circuit breakers, released when the stream closes */
  readonly slot: RequestSlot;

  constructor(pool: Http2Pool, cb: UpstreamCallbacks) {
    this.pool = pool;
    this.host = pool.host;
    this.cb = cb;
    this.slot = new RequestSlot(pool.res);
  }

  sendHeaders(headers: HeaderMap, endStream: boolean): void {
    if (!this.pool.admit(this.slot)) {
      this.done = true;
      queueMicrotask(() => this.cb.onReset('overflow', ''));
      return;
    }
    let req: http2.ClientHttp2Stream;
    try {
      req = this.pool.open(headers, endStream, this);
    } catch (err) {
      this.slot.release();
      this.done = true;
      queueMicrotask(() => this.cb.onReset('connect-failure', (err as Error).message));
      return;
    }
    this.req = req;
    const cb = this.cb;
    req.once('ready', () => {
      const session = req.session;
      const sock = session?.socket;
      if (sock) this.localAddress = `${sock.localAddress}:${sock.localPort}`;
      const t = this.pool.transport.tls;
      if (t && session && sock) {
        let info = sessionTls.get(session);
        if (!info) sessionTls.set(session, (info = t.info(sock as unknown as tls.TLSSocket)));
        this.tls = info;
      }
    });
    req.on('response', (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, _flags: number, raw: string[]) => {
      const map = h2ToHeaderMap(h, raw as unknown as string[]);
      const status = Number(h[':status']);
      if (status >= 100 && status < 200) cb.onInformational?.(map);
      else {
        const end = req.readableEnded || (req as any).endAfterHeaders === true;
        if (end) this.done = true; // 'end' follows; the response is already complete
        cb.onHeaders(map, end);
      }
    });
    req.on('data', (chunk: Buffer) => cb.onData(chunk, false));
    // 'trailers' can fire before DATA still queued in the readable side (always so while paused): hold
    // them until 'end', after the last byte of the body.
    let trailers: HeaderMap | undefined;
    req.on('trailers', (h) => (trailers = h2ToHeaderMap(h)));
    req.on('end', () => {
      if (this.done) return;
      this.done = true;
      if (trailers) cb.onTrailers(trailers);
      else cb.onData(Buffer.alloc(0), true);
    });
    req.on('error', () => {});
    req.on('close', () => {
      if (this.done) return;
      this.done = true;
      const connected = this.sessionConnected();
      if (!connected) cb.onReset('connect-failure', '');
      else if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) cb.onReset('refused-stream', 'remote refused stream reset');
      else cb.onReset('remote-reset', `remote reset (code ${req.rstCode})`);
    });
    req.on('drain', () => cb.onWritable?.());
  }

  sendData(chunk: Buffer, endStream: boolean): boolean {
    const req = this.req;
    if (!req || req.destroyed) return true;
    if (endStream) {
      this.endWith(null, chunk);
      return true;
    }
    return req.write(chunk);
  }

  sendTrailers(trailers: HeaderMap): void {
    this.endWith(headerMapToH2(trailers), null);
  }

  /** End the request body; the stream was opened with waitForTrailers, so trailers (maybe none) close it. */
  private endWith(trailers: http2.OutgoingHttpHeaders | null, chunk: Buffer | null): void {
    const req = this.req;
    if (!req || req.destroyed) return;
    req.once('wantTrailers', () => {
      if (!req.destroyed) req.sendTrailers(trailers ?? {});
    });
    if (chunk && chunk.length > 0) req.end(chunk);
    else req.end();
  }

  pauseResponse(): void {
    this.req?.pause();
  }

  resumeResponse(): void {
    this.req?.resume();
  }

  reset(): void {
    this.done = true;
    const req = this.req;
    if (req && !req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
  }
}
