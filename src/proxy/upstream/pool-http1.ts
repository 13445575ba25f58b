// HTTP/1.1 upstream connection pool for one host: keep-alive connections, one request at a time each (no
// upstream pipelining, as in Envoy), idle connections reused most-recently-used first so that surplus ones
// time out. Requests are written with our own codec straight onto the socket. A connection that has taken
// max_requests_per_connection requests is draining: it is closed when that last response completes, never
// reused (Envoy's remaining_streams reaching 0).
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { HeaderMap } from '../http/headers.js';
import { encodeChunk, encodeTrailers, LAST_CHUNK, ResponseParser, writeRequestHead, type ResponseHead } from '../http/http1/index.js';
import { RequestSlot, type ResourceManager } from './circuit-breakers.js';
import type { ClusterStats } from './cluster.js';
import { connectTarget, type Host } from './host.js';
import type { ConnPool, UpstreamCallbacks, UpstreamStream, UpstreamTransport } from './pool.js';
import { applySocketOptions, type ConnectionOptions } from './connection-options.js';
import type { TlsInfo } from '../stream-info.js';

/** A pool's transport: the cluster's (ClusterTransport), whose connection options are optional here so that a
 *  transport built without them (tests, health checks) means none. */
export type PoolTransport = UpstreamTransport & { conn?: ConnectionOptions };

export class Http1Pool implements ConnPool {
  readonly host: Host;
  readonly transport: PoolTransport;
  readonly stats: ClusterStats;
  private idle: Http1Connection[] = [];
  private readonly busy = new Set<Http1Connection>();
  /** requests waiting for a connection because the circuit breakers' max_connections was reached */
  private readonly pending: Http1Stream[] = [];
  private draining = false;
  /** the circuit breakers of this pool's routing priority */
  readonly res: ResourceManager;

  constructor(host: Host, transport: PoolTransport, stats: ClusterStats, res: ResourceManager) {
    this.host = host;
    this.transport = transport;
    this.stats = stats;
    this.res = res;
  }

  newStream(cb: UpstreamCallbacks, opts: { method: string; upgrade: boolean }): UpstreamStream {
    const stream = new Http1Stream(this, cb, opts.method, opts.upgrade);
    let conn = this.idle.pop();
    while (conn && conn.closed) conn = this.idle.pop();
    if (conn) {
      if (!stream.slot.tryActivate()) {
        this.idle.push(conn);
        stream.overflow();
        return stream;
      }
    } else {
      // No free connection: the request is pending (max_pending_requests) until a new connection takes it
      // or, at max_connections, until one of ours frees up. A request given a new connection becomes active
      // at once (max_requests); Envoy does that when the connection is up — the limits are the same.
      if (!stream.slot.tryPending()) {
        stream.overflow();
        return stream;
      }
      if (!this.canConnect()) {
        this.pending.push(stream);
        return stream;
      }
      if (!stream.slot.tryActivate()) {
        stream.overflow();
        return stream;
      }
      conn = new Http1Connection(this);
    }
    this.busy.add(conn);
    conn.attach(stream);
    return stream;
  }

  /** max_connections (cluster-wide per priority, and per host); a pool without any connection still opens one,
   * as Envoy does, so that its waiting requests cannot be stranded by other hosts' connections. */
  private canConnect(): boolean {
    const res = this.res;
    if (res.connections.canCreate() && this.host.activeConnections < res.maxConnectionsPerHost) return true;
    res.stats.upstream_cx_overflow.inc();
    return this.busy.size === 0 && this.idle.length === 0;
  }

  /** Give `conn` (or a new connection) to the first waiting request that may become active. */
  private servePending(conn: Http1Connection | null): boolean {
    let st: Http1Stream | undefined;
    while ((st = this.pending.shift())) {
      if (!st.slot.tryActivate()) {
        st.overflow();
        continue;
      }
      conn ??= new Http1Connection(this);
      this.busy.add(conn);
      conn.attach(st);
      st.replay();
      return true;
    }
    return false;
  }

  /** A waiting request went away (route timeout, downstream reset). */
  cancelPending(st: Http1Stream): void {
    const i = this.pending.indexOf(st);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /** Called by a connection when its stream finished and it may carry another request. */
  release(conn: Http1Connection): void {
    this.busy.delete(conn);
    if (this.pending.length > 0 && this.servePending(conn)) return;
    if (this.draining) return conn.close();
    conn.startIdle();
    this.idle.push(conn);
  }

  forget(conn: Http1Connection): void {
    this.busy.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.res.connections.dec();
    // a connection slot freed up: a waiting request may open a new connection now
    if (this.pending.length > 0 && this.canConnect()) this.servePending(null);
  }

  drain(): void {
    this.draining = true;
    for (const c of this.idle) c.close();
    this.idle = [];
  }

  destroy(): void {
    this.drain();
    for (const st of this.pending.splice(0)) st.fail('remote-reset', 'connection termination');
    for (const c of this.busy) c.close();
    this.busy.clear();
  }
}

class Http1Connection {
  readonly pool: Http1Pool;
  readonly socket: net.Socket;
  private readonly parser: ResponseParser;
  stream: Http1Stream | null = null;
  ready = false;
  closed = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** performance.now() when the connection last went idle; -1 while it carries a request */
  private idleSince = -1;
  private pendingWrites: (string | Buffer)[] = [];
  private responseBytes = 0;
  localAddress: string | undefined;
  tlsInfo: TlsInfo | undefined;
  /** requests this connection may still take (max_requests_per_connection); Infinity when unlimited */
  private remaining: number;
  /** took its last request: closed when that one finishes, never back to idle */
  private draining = false;

  constructor(pool: Http1Pool) {
    this.pool = pool;
    const { host, transport, stats } = pool;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_http1_total.inc();
    stats.upstream_cx_active.inc();
    host.activeConnections++;
    pool.res.connections.inc();
    const s = transport.tls
      ? tls.connect({ ...transport.tls.connectOptions, ...connectTarget(host) })
      : net.connect(connectTarget(host));
    this.socket = s;
    s.setNoDelay(true);
    applySocketOptions(s, transport.conn);
    this.remaining = transport.conn?.maxRequestsPerConnection || Infinity;
    this.connectTimer = setTimeout(() => this.onConnectTimeout(), transport.connectTimeoutMs);
    s.once(transport.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('end', () => this.onEnd());
    s.on('error', (err) => this.onSocketError(err));
    s.on('close', () => this.onClose());
    s.on('drain', () => this.stream?.cb.onWritable?.());
    this.parser = new ResponseParser({
      onInformational: (status, headers) => this.onInformational(status, headers),
      onResponseHead: (head) => this.onResponseHead(head),
      onBody: (chunk) => this.stream?.deliverData(chunk),
      onMessageComplete: (trailers) => this.onResponseComplete(trailers),
      onError: (reason) => this.fail('protocol-error', reason),
    });
  }

  attach(stream: Http1Stream): void {
    this.idleSince = -1; // busy: an armed idle timer finds that out when it fires (see startIdle)
    if (--this.remaining === 0) {
      this.draining = true;
      this.pool.stats.upstream_cx_max_requests.inc();
    }
    this.stream = stream;
    this.responseBytes = 0;
    stream.conn = this;
    if (this.ready) {
      stream.localAddress = this.localAddress;
      stream.tls = this.tlsInfo;
    }
  }

  /** Tell the parser which method the next response answers (HEAD responses have no body). */
  parserExpect(method: string, upgrade: boolean): void {
    this.parser.expectResponse(method, upgrade);
  }

  // The idle timeout is lazy, as on downstream connections: a keep-alive connection goes idle and busy once per
  // request, and clearing and setting a timer each time costs more than the rest of the bookkeeping. So the
  // timer stays armed; going idle only moves idleSince, and when the timer fires it closes the connection,
  // waits out the rest of the period, or (busy) leaves it to the next startIdle.
  startIdle(): void {
    // idle_timeout 0 disables the timeout, as in Envoy
    const ms = this.pool.transport.idleTimeoutMs;
    if (ms <= 0) return;
    this.idleSince = performance.now();
    if (!this.idleTimer) this.armIdleTimer(ms);
  }

  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(onUpstreamIdleTimer, ms, this);
    this.idleTimer.unref();
  }

  checkIdle(): void {
    this.idleTimer = undefined;
    if (this.closed || this.stream || this.idleSince < 0) return; // busy: startIdle starts a new period
    const left = this.pool.transport.idleTimeoutMs - (performance.now() - this.idleSince);
    if (left > 1) this.armIdleTimer(left);
    else this.close();
  }

  write(data: string | Buffer): boolean {
    if (!this.ready) {
      this.pendingWrites.push(data);
      return true;
    }
    this.pool.stats.upstream_cx_tx_bytes_total.add(data.length);
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    const tlsCfg = this.pool.transport.tls;
    if (tlsCfg) {
      const reason = tlsCfg.verify(this.socket as tls.TLSSocket);
      if (reason) {
        this.pool.transport.onConnectFail();
        this.fail('connect-failure', `TLS error: ${reason}`);
        return;
      }
    }
    this.ready = true;
    this.localAddress = `${this.socket.localAddress}:${this.socket.localPort}`;
    if (tlsCfg) this.tlsInfo = tlsCfg.info(this.socket as tls.TLSSocket);
    if (this.stream) {
      this.stream.localAddress = this.localAddress;
      this.stream.tls = this.tlsInfo;
    }
    const pending = this.pendingWrites;
    this.pendingWrites = [];
    if (pending.length > 0) {
      this.socket.cork();
      for (const p of pending) this.write(p);
      this.socket.uncork();
    }
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    this.pool.stats.upstream_cx_connect_timeout.inc();
    this.pool.stats.upstream_cx_connect_fail.inc();
    this.pool.host.cxConnectFail++;
    this.fail('connect-timeout', 'connection timeout');
  }

  private onData(d: Buffer): void {
    this.responseBytes += d.length;
    this.pool.stats.upstream_cx_rx_bytes_total.add(d.length);
    if (!this.stream) {
      // bytes on an idle connection: the upstream is misbehaving; never reuse it
      this.close();
      return;
    }
    this.parser.execute(d);
  }

  private onInformational(status: number, headers: HeaderMap): void {
    headers.raw.unshift(':status', String(status));
    this.stream?.cb.onInformational?.(headers);
  }

  private onResponseHead(head: ResponseHead): void {
    const st = this.stream;
    if (!st) return;
    if (head.upgrade && st.upgrade) {
      const headers = head.headers;
      headers.raw.unshift(':status', '101');
      const rest = this.parser.takeRemainder();
      this.detachForUpgrade();
      st.cb.onUpgrade?.(headers, this.socket, rest);
      return;
    }
    st.keepAlive = head.keepAlive;
    head.headers.raw.unshift(':status', String(head.status));
    st.gotHeaders = true;
    st.cb.onHeaders(head.headers, head.bodyKind === 'none');
  }

  private onResponseComplete(trailers: HeaderMap | undefined): void {
    const st = this.stream;
    if (!st) return;
    st.responseDone = true;
    if (trailers && trailers.size > 0) st.cb.onTrailers(trailers);
    else if (st.gotHeaders && !st.endDelivered) st.deliverData(Buffer.alloc(0), true);
    this.finishStream();
  }

  /** The response completed: reuse the connection when both sides are complete and keep-alive holds. */
  finishStream(): void {
    const st = this.stream;
    if (!st || !st.responseDone) return;
    st.slot.release();
    if (!st.requestDone) {
      // Envoy closes a connection whose response finished before the request body was sent.
      this.stream = null;
      this.close();
      return;
    }
    this.stream = null;
    if (st.keepAlive && !this.closed && !this.draining) {
      this.pool.release(this);
    } else this.close();
  }

  private detachForUpgrade(): void {
    this.stream?.slot.release();
    this.stream = null;
    this.closed = true; // no longer ours
    this.pool.forget(this);
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('drain');
  }

  private onEnd(): void {
    // EOF from upstream: ends an until-close body, or is a reset before the response completed
    this.parser.end();
    if (this.stream) this.fail('remote-reset', 'connection termination');
    else this.close();
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (!this.ready) {
      if (this.connectTimer) {
        this.pool.stats.upstream_cx_connect_fail.inc();
        this.pool.host.cxConnectFail++;
      }
      this.fail('connect-failure', `delayed connect error: ${CONNECT_ERRORS[err.code ?? ''] ?? err.code ?? err.message}`);
    } else this.fail('remote-reset', err.code ?? err.message);
  }

  private onClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.cleanup();
    }
    if (this.stream) this.fail('remote-reset', 'connection termination');
  }

  fail(reason: 'connect-failure' | 'connect-timeout' | 'remote-reset' | 'protocol-error', detail: string): void {
    const st = this.stream;
    this.stream = null;
    if (reason === 'protocol-error') this.pool.stats.upstream_cx_protocol_error.inc();
    this.close();
    st?.fail(reason, detail);
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.cleanup();
    }
    this.socket.destroy();
  }

  private cleanup(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.pool.stats.upstream_cx_active.dec();
    this.pool.stats.upstream_cx_destroy.inc();
    this.pool.host.activeConnections--;
    this.pool.forget(this);
  }
}

class Http1Stream implements UpstreamStream {
  readonly host: Host;
  readonly cb: UpstreamCallbacks;
  readonly method: string;
  readonly upgrade: boolean;
  readonly pool: Http1Pool;
  /** this request's claim on the circuit breakers, released however the stream ends */
  readonly slot: RequestSlot;
  conn: Http1Connection | null = null;
  /** what the router sent while the request waited for a connection, replayed once it has one */
  private deferred: (() => void)[] | null = null;
  localAddress: string | undefined;
  tls: TlsInfo | undefined;
  private chunked = false;
  requestDone = false;
  responseDone = false;
  gotHeaders = false;
  endDelivered = false;
  keepAlive = true;
  finished = false;
  private paused = false;
  private held: { chunk: Buffer; end: boolean }[] | null = null;

  constructor(pool: Http1Pool, cb: UpstreamCallbacks, method: string, upgrade: boolean) {
    this.pool = pool;
    this.host = pool.host;
    this.cb = cb;
    this.method = method;
    this.upgrade = upgrade;
    this.slot = new RequestSlot(pool.res);
  }

  /** Over a circuit breaker: fail with UO after the router's current call returns (it is still sending). */
  overflow(): void {
    this.finished = true;
    this.slot.release();
    process.nextTick(() => this.cb.onReset('overflow', ''));
  }

  fail(reason: 'connect-failure' | 'connect-timeout' | 'remote-reset' | 'protocol-error', detail: string): void {
    this.slot.release();
    if (this.finished) return;
    this.finished = true;
    this.cb.onReset(reason, detail);
  }

  /** Run what the router sent while waiting; it stopped reading the downstream then, so let it resume. */
  replay(): void {
    const ops = this.deferred;
    this.deferred = null;
    if (!ops) return;
    for (const op of ops) op();
    this.cb.onWritable?.();
  }

  private defer(op: () => void): void {
    if (!this.finished) (this.deferred ??= []).push(op);
  }

  sendHeaders(headers: HeaderMap, endStream: boolean): void {
    if (!this.conn) return this.defer(() => this.sendHeaders(headers, endStream));
    const conn = this.conn;
    const method = headers.get(':method') ?? 'GET';
    const enc = writeRequestHead(method, headers.get(':path') ?? '/', headers, endStream);
    this.chunked = enc.framing === 'chunked';
    conn.parserExpect(method, this.upgrade);
    if (!endStream && conn.ready) {
      // Hold the head until the end of this tick, as Envoy's write buffer waits for the next write event: a
      // request the downstream codec rejects later in the same read (a broken chunk after a valid head) is
      // reset before any of its bytes reach the upstream, and the head shares a segment with the first body bytes.
      conn.socket.cork();
      process.nextTick(uncork, conn.socket);
    }
    conn.write(enc.head);
    if (endStream) this.requestDone = true;
  }

  sendData(chunk: Buffer, endStream: boolean): boolean {
    const conn = this.conn;
    if (!conn && !this.finished) {
      this.defer(() => this.sendData(chunk, endStream));
      return false; // hold the downstream until a connection takes this request
    }
    if (!conn || conn.closed) return true;
    let ok = true;
    if (this.chunked) {
      if (chunk.length > 0) ok = conn.write(encodeChunk(chunk));
      if (endStream) ok = conn.write(LAST_CHUNK);
    } else if (chunk.length > 0) ok = conn.write(chunk);
    if (endStream) {
      this.requestDone = true;
      conn.finishStream();
    }
    return ok;
  }

  sendTrailers(trailers: HeaderMap): void {
    const conn = this.conn;
    if (!conn) return this.defer(() => this.sendTrailers(trailers));
    if (conn.closed) return;
    if (this.chunked) conn.write(encodeTrailers(trailers));
    this.requestDone = true;
    conn.finishStream();
  }

  deliverData(chunk: Buffer, end = false): void {
    if (this.paused) {
      (this.held ??= []).push({ chunk, end });
      return;
    }
    if (end) this.endDelivered = true;
    if (chunk.length > 0 || end) this.cb.onData(chunk, end);
    if (end) this.finished = true;
  }

  pauseResponse(): void {
    this.paused = true;
    this.conn?.socket.pause();
  }

  resumeResponse(): void {
    this.paused = false;
    const held = this.held;
    this.held = null;
    if (held) for (const h of held) this.deliverData(h.chunk, h.end);
    if (!this.paused) this.conn?.socket.resume();
  }

  reset(): void {
    this.finished = true;
    this.slot.release();
    this.deferred = null;
    if (!this.conn) this.pool.cancelPending(this);
    const conn = this.conn;
    if (conn && conn.stream === this) {
      conn.stream = null;
      conn.close();
    }
  }
}

// strerror() texts for the usual connect failures: Envoy's transport failure reason reads
// "delayed connect error: Connection refused", which operators grep for.
const CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ETIMEDOUT: 'Connection timed out',
};

function onUpstreamIdleTimer(c: Http1Connection): void {
  c.checkIdle();
}

function uncork(sock: net.Socket): void {
  sock.uncork();
}
