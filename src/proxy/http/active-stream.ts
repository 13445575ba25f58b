// ActiveStream: one request/response exchange inside the connection manager, codec-agnostic (HTTP/1 and
// HTTP/2 codecs both drive it). It applies the standard headers, runs the decoder filters in order and the
// encoder filters in reverse, sends local replies, enforces per-stream timeouts, and on completion writes
// the access log and the stats.
//
// Filter iteration (a simplified form of Envoy's): an event walks the filters from the first; a filter that
// returns 'stop' holds it there. While headers are held at filter k, later body events reach filters up to
// k and are buffered for the filters after k until k calls continueDecoding(). The terminal router always
// holds headers and receives the body itself, so the common one-filter chain takes a direct path.
import { performance } from 'node:perf_hooks';
import { logger } from '../../common/log.js';
import { ResponseFlag, StreamInfo } from '../stream-info.js';
import type { RouteActionEntry, RouteResult } from '../router/route-table.js';
import { streamTimeouts } from '../router/timeouts.js';
import type { HcmConfig } from './conn-manager-config.js';
import type { FilterCallbacks, FilterStatus, HttpFilter, LocalReplyOptions, UpgradeCallbacks } from './filter.js';
import { HeaderMap } from './headers.js';
import { normalizeRequestPath } from './path-normalization.js';
import { mutateRequestHeaders, mutateResponseHeaders } from './standard-headers.js';

const log = logger('http');

/** What a codec provides for one stream's response side. */
export interface ResponseWriter {
  readonly protocol: string;
  writeHeaders(headers: HeaderMap, endStream: boolean): void;
  /** false when the downstream buffer is above its limit; wait for onDrain */
  writeData(data: Buffer, endStream: boolean): boolean;
  writeTrailers(trailers: HeaderMap): void;
  /** abort the stream (HTTP/1: close the connection; HTTP/2: RST_STREAM) */
  reset(reason: string): void;
  onDrain(cb: () => void): void;
  aboveWatermark(): boolean;
  /** stop/resume reading this request's body */
  readDisable(disable: boolean): void;
  readonly upgrade?: UpgradeCallbacks;
}

export interface ConnectionInfo {
  readonly id: number;
  readonly peer: string;
  readonly local: string;
  readonly scheme: 'http' | 'https';
  readonly tls: import('../stream-info.js').TlsInfo | undefined;
  readonly sni: string | undefined;
}

type Pending = { kind: 'data'; data: Buffer; end: boolean } | { kind: 'trailers'; trailers: HeaderMap };

// gRPC status for a local reply, from Envoy's Grpc::Utility::httpToGrpcStatus.
function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

const NO_BODY_STATUS = (s: number) => s === 204 || s === 304 || (s >= 100 && s < 200);

export class ActiveStream implements FilterCallbacks {
  readonly streamInfo: StreamInfo;
  requestHeaders!: HeaderMap;
  private readonly cfg: HcmConfig;
  private readonly writer: ResponseWriter;
  private readonly conn: ConnectionInfo;
  private readonly filters: HttpFilter[];
  private readonly onComplete: (s: ActiveStream) => void;
  private routeCached: RouteResult | null | undefined = undefined;
  // decode iteration state
  private headersStoppedAt = -1;
  private decodePending: Pending[] | null = null;
  private requestEnded = false;
  // encode state
  private encodeStoppedAt = -1;
  private encodePending: (Pending | { kind: 'headers'; headers: HeaderMap; end: boolean })[] | null = null;
  responseStarted = false;
  responseEnded = false;
  private done = false;
  private isGrpc = false;
  private isHead = false;
  private isUpgrade = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** the stream idle timeout in force (ms) and performance.now() of the last activity (see touch) */
  private idleMs = 0;
  private lastActive = 0;
  private requestTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private drainCbs: (() => void)[] | null = null;
  readonly upgrade: UpgradeCallbacks | undefined;

  constructor(cfg: HcmConfig, conn: ConnectionInfo, writer: ResponseWriter, onComplete: (s: ActiveStream) => void) {
    this.cfg = cfg;
    this.conn = conn;
    this.writer = writer;
    this.onComplete = onComplete;
    this.upgrade = writer.upgrade;
    const info = new StreamInfo({ remote: conn.peer, local: conn.local, id: conn.id });
    info.protocol = writer.protocol;
    info.downstreamTls = conn.tls;
    info.requestedServerName = conn.sni;
    this.streamInfo = info;
    const fs = cfg.filters;
    this.filters = new Array(fs.length);
    for (let i = 0; i < fs.length; i++) this.filters[i] = fs[i]!.create(this);
    cfg.stats.downstream_rq_total.inc();
    cfg.stats.downstream_rq_active.inc();
    if (cfg.streamIdleTimeoutMs > 0) this.startIdleTimer(cfg.streamIdleTimeoutMs, info.startMono);
    if (cfg.requestTimeoutMs > 0) this.requestTimer = setTimeout(() => this.onRequestTimeout(), cfg.requestTimeoutMs);
    if (cfg.maxStreamDurationMs > 0) this.durationTimer = setTimeout(() => this.onDurationTimeout(), cfg.maxStreamDurationMs);
  }

  // ---- events from the codec ----

  decodeHeaders(headers: HeaderMap, endStream: boolean): void {
    this.requestHeaders = headers;
    const info = this.streamInfo;
    info.requestHeaders = headers;
    const method = headers.get(':method') ?? '';
    this.isHead = method === 'HEAD';
    const ct = headers.get('content-type');
    this.isGrpc = ct !== undefined && ct.startsWith('application/grpc');
    // Only a real upgrade (the codec saw Connection: upgrade with Upgrade, Envoy's Utility::isUpgrade) is one; a
    // stray Upgrade header is an ordinary hop-by-hop header, removed with the others below.
    // CONNECT is the upgrade type "CONNECT" (Envoy's HCM refuses it too unless upgrade_configs names it).
    const upgradeType = this.upgrade !== undefined ? (headers.get('upgrade') ?? (method === 'CONNECT' ? 'CONNECT' : undefined)) : undefined;
    if (upgradeType !== undefined) {
      const allowed = this.cfg.upgrades.get(upgradeType.toLowerCase());
      if (!allowed) {
        // Envoy: an upgrade that the connection manager is not configured for is refused with 403
        this.cfg.stats.downstream_rq_ws_on_non_ws_route.inc();
        this.requestEnded = endStream;
        this.sendLocalReply(403, '', { details: 'upgrade_failed' });
        return;
      }
      this.isUpgrade = true;
    }
    if (this.cfg.headersWithUnderscores !== 'ALLOW') {
      let bad = false;
      headers.forEach((k) => { if (k.includes('_')) bad = true; });
      if (bad) {
        if (this.cfg.headersWithUnderscores === 'REJECT_REQUEST') {
          this.requestEnded = endStream;
          this.sendLocalReply(400, '', { details: 'unexpected_underscore', flag: ResponseFlag.DownstreamProtocolError });
          return;
        }
        for (let i = headers.raw.length - 2; i >= 0; i -= 2) if (headers.raw[i]!.includes('_')) headers.raw.splice(i, 2);
      }
    }
    // Envoy's maybeNormalizePath, before any filter or route reads the path (path-normalization.ts). A fragment
    // is refused whatever the config says; the rest only runs when the HCM asks for it.
    const p = headers.get(':path');
    if (p !== undefined && p.charCodeAt(0) === 0x2f && (this.cfg.transformsPath || p.includes('#'))) {
      const cfg = this.cfg;
      const n = normalizeRequestPath(p, { normalize: cfg.normalizePath, mergeSlashes: cfg.mergeSlashes, escapedSlashes: cfg.escapedSlashesAction });
      // a gRPC client cannot follow a redirect: it is refused instead, as in Envoy
      if (n.action === 'reject' || (n.action === 'redirect' && this.isGrpc)) {
        cfg.stats.downstream_rq_failed_path_normalization.inc();
        this.requestEnded = endStream;
        this.sendLocalReply(400, '', { details: 'path_normalization_failed' });
        return;
      }
      if (n.action === 'redirect') {
        cfg.stats.downstream_rq_redirected_with_normalized_path.inc();
        this.requestEnded = endStream;
        this.sendLocalReply(307, '', { details: 'path_normalization_failed', headers: [['location', n.path]], plainHttp: true });
        return;
      }
      if (n.path !== p) headers.set(':path', n.path);
    }
    const r = mutateRequestHeaders(headers, this.cfg, { peer: this.conn.peer, scheme: this.conn.scheme, upgrade: this.isUpgrade, tls: this.conn.tls });
    info.downstreamRemoteAddress = r.remoteAddress;
    if (endStream) this.markRequestEnded();
    this.iterateDecodeHeaders(0, endStream);
  }

  /** A request the codec refuses before any filter runs (e.g. HTTP/1.0 when accept_http_10 is off). */
  decodeHeadersRejected(headers: HeaderMap, status: number, body: string, details: string): void {
    this.requestHeaders = headers;
    this.streamInfo.requestHeaders = headers;
    this.sendLocalReply(status, body, { details });
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (this.done) return;
    this.streamInfo.bytesReceived += data.length;
    this.touch();
    if (endStream) this.markRequestEnded();
    this.iterateDecodeBody({ kind: 'data', data, end: endStream });
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.touch();
    this.markRequestEnded();
    this.iterateDecodeBody({ kind: 'trailers', trailers });
  }

  /** The downstream went away (connection closed or RST_STREAM) before the response finished. */
  onDownstreamReset(): void {
    if (this.done) return;
    this.streamInfo.setFlag(ResponseFlag.DownstreamConnectionTermination);
    this.cfg.stats.downstream_rq_rx_reset.inc();
    this.finish();
  }

  private markRequestEnded(): void {
    this.requestEnded = true;
    this.streamInfo.lastDownstreamRxByteReceived = this.streamInfo.elapsed();
    if (this.requestTimer) {
      clearTimeout(this.requestTimer);
      this.requestTimer = undefined;
    }
  }

  // The stream idle timer is lazy, like the connections' idle timers: activity (two or three events per
  // request) only records the time, which is cheaper than refresh() moving the timer in Node's timer list each
  // time; when the timer fires it re-arms for what is left of the period after the last activity.
  private touch(): void {
    if (this.idleTimer !== undefined) this.lastActive = performance.now();
  }

  private startIdleTimer(ms: number, now: number): void {
    this.idleMs = ms;
    this.lastActive = now;
    this.idleTimer = setTimeout(onStreamIdleTimer, ms, this);
  }

  checkIdle(): void {
    this.idleTimer = undefined;
    if (this.done) return;
    const left = this.idleMs - (performance.now() - this.lastActive);
    if (left > 1) this.idleTimer = setTimeout(onStreamIdleTimer, left, this);
    else this.onIdleTimeout();
  }

  // ---- decoder filter iteration ----

  private iterateDecodeHeaders(from: number, endStream: boolean): void {
    const fs = this.filters;
    for (let i = from; i < fs.length; i++) {
      const f = fs[i]!;
      if (f.decodeHeaders && f.decodeHeaders(this.requestHeaders, endStream) === 'stop') {
        if (this.done || this.responseStarted) return;
        this.headersStoppedAt = i;
        return;
      }
      if (this.done) return;
    }
    this.headersStoppedAt = fs.length;
  }

  private iterateDecodeBody(ev: Pending): void {
    const k = this.headersStoppedAt;
    const fs = this.filters;
    // filters up to and including the one holding the headers see the event now
    const upTo = Math.min(k, fs.length - 1);
    let status: FilterStatus = 'continue';
    for (let i = 0; i <= upTo; i++) {
      status = this.callDecodeBody(fs[i]!, ev);
      if (this.done) return;
      if (status === 'stop') return;
    }
    if (k < fs.length - 1) (this.decodePending ??= []).push(ev);
  }

  private callDecodeBody(f: HttpFilter, ev: Pending): FilterStatus {
    if (ev.kind === 'data') return f.decodeData ? f.decodeData(ev.data, ev.end) : 'continue';
    return f.decodeTrailers ? f.decodeTrailers(ev.trailers) : 'continue';
  }

  continueDecoding(): void {
    if (this.done) return;
    const k = this.headersStoppedAt;
    if (k < 0 || k >= this.filters.length - 1) return;
    const pending = this.decodePending;
    this.decodePending = null;
    this.iterateDecodeHeaders(k + 1, this.requestEnded && !pending);
    if (!pending) return;
    const fs = this.filters;
    for (const ev of pending) {
      for (let i = k + 1; i < fs.length; i++) {
        if (i > this.headersStoppedAt) {
          (this.decodePending ??= []).push(ev);
          break;
        }
        if (this.callDecodeBody(fs[i]!, ev) === 'stop' || this.done) break;
      }
    }
  }

  // ---- FilterCallbacks ----

  route(): RouteResult | null {
    if (this.routeCached === undefined) {
      const h = this.requestHeaders;
      this.routeCached = this.cfg.routeTable.route(h);
      this.streamInfo.routeName = this.routeCached?.entry.name || undefined;
      if (this.routeCached?.entry.kind === 'route') this.applyRouteTimeouts(this.routeCached.entry);
    }
    return this.routeCached;
  }

  clearRouteCache(): void {
    this.routeCached = undefined;
  }

  perFilterConfig<T>(filterName: string): T | undefined {
    return this.route()?.perFilterConfig(filterName) as T | undefined;
  }

  readDisable(disable: boolean): void {
    this.writer.readDisable(disable);
  }

  onDownstreamDrain(cb: () => void): void {
    (this.drainCbs ??= []).push(cb);
    if (this.drainCbs.length === 1) {
      this.writer.onDrain(() => {
        const cbs = this.drainCbs;
        this.drainCbs = null;
        if (cbs) for (const c of cbs) c();
      });
    }
  }

  downstreamAboveWatermark(): boolean {
    return this.writer.aboveWatermark();
  }

  resetStream(reason: string): void {
    if (this.done) return;
    this.streamInfo.setFlag(ResponseFlag.LocalReset);
    this.cfg.stats.downstream_rq_tx_reset.inc();
    this.writer.reset(reason);
    this.finish();
  }

  sendLocalReply(status: number, body: string | Buffer, opts?: LocalReplyOptions): void {
    if (this.done) return;
    const info = this.streamInfo;
    if (opts?.flag) info.setFlag(opts.flag);
    info.responseCodeDetails = opts?.details ?? info.responseCodeDetails;
    if (this.responseStarted) {
      // Too late for a reply: the response is on its way; all we can do is reset.
      this.resetStream(opts?.details ?? 'local_reset');
      return;
    }
    const h = new HeaderMap();
    if (this.isGrpc && !opts?.plainHttp) {
      // gRPC clients only understand trailers-only responses: map the HTTP status to a gRPC status
      h.add(':status', '200');
      h.add('content-type', 'application/grpc');
      h.add('grpc-status', String(opts?.grpcStatus ?? httpToGrpcStatus(status)));
      if (body.length > 0) h.add('grpc-message', encodeURIComponent(body.toString()));
      if (opts?.headers) for (const [k, v] of opts.headers) h.add(k, v);
      opts?.mutateHeaders?.(h);
      this.encodeHeaders(h, true);
      return;
    }
    h.add(':status', String(status));
    if (opts?.headers) for (const [k, v] of opts.headers) h.add(k, v);
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    if (buf.length > 0) {
      h.set('content-type', h.get('content-type') ?? 'text/plain');
      h.set('content-length', String(buf.length));
    } else if (!NO_BODY_STATUS(status)) h.set('content-length', '0');
    h.set('date', new Date().toUTCString());
    opts?.mutateHeaders?.(h);
    if (buf.length > 0 && !this.isHead) {
      this.encodeHeaders(h, false);
      this.encodeData(buf, true);
    } else this.encodeHeaders(h, true);
  }

  encodeHeaders(headers: HeaderMap, endStream: boolean): void {
    if (this.done) return;
    this.touch();
    if (this.encodeStoppedAt >= 0) {
      (this.encodePending ??= []).push({ kind: 'headers', headers, end: endStream });
      return;
    }
    this.runEncodeHeaders(this.filters.length - 1, headers, endStream);
  }

  private runEncodeHeaders(from: number, headers: HeaderMap, endStream: boolean): void {
    const fs = this.filters;
    for (let i = from; i >= 0; i--) {
      const f = fs[i]!;
      if (f.encodeHeaders && f.encodeHeaders(headers, endStream) === 'stop') {
        this.encodeStoppedAt = i;
        (this.encodePending ??= []).unshift({ kind: 'headers', headers, end: endStream });
        return;
      }
      if (this.done) return;
    }
    this.writeResponseHeaders(headers, endStream);
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.done) return;
    this.touch();
    this.encodeDataFrom(this.filters.length - 1, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.encodeTrailersFrom(this.filters.length - 1, trailers);
  }

  // Body events walk the encoder filters down from `from`; while the headers are held at filter k, the filters
  // after it in encode order (index < k) have not seen the headers yet, so the event waits for them in encodePending.
  private encodeDataFrom(from: number, data: Buffer, endStream: boolean): void {
    const fs = this.filters;
    for (let i = from; i >= 0; i--) {
      if (i < this.encodeStoppedAt) {
        this.encodePending!.push({ kind: 'data', data, end: endStream });
        return;
      }
      const f = fs[i]!;
      if (f.encodeData && f.encodeData(data, endStream) === 'stop') return;
      if (this.done) return;
    }
    this.writeResponseData(data, endStream);
  }

  private encodeTrailersFrom(from: number, trailers: HeaderMap): void {
    const fs = this.filters;
    for (let i = from; i >= 0; i--) {
      if (i < this.encodeStoppedAt) {
        this.encodePending!.push({ kind: 'trailers', trailers });
        return;
      }
      const f = fs[i]!;
      if (f.encodeTrailers && f.encodeTrailers(trailers) === 'stop') return;
      if (this.done) return;
    }
    this.writeResponseTrailers(trailers);
  }

  injectEncodedData(from: HttpFilter, data: Buffer, endStream: boolean): void {
    if (!this.done) this.encodeDataFrom(this.filters.indexOf(from) - 1, data, endStream);
  }

  injectEncodedTrailers(from: HttpFilter, trailers: HeaderMap): void {
    if (!this.done) this.encodeTrailersFrom(this.filters.indexOf(from) - 1, trailers);
  }

  continueEncoding(): void {
    if (this.done || this.encodeStoppedAt < 0) return;
    const from = this.encodeStoppedAt - 1;
    const pending = this.encodePending ?? [];
    this.encodeStoppedAt = -1;
    this.encodePending = null;
    // the held events pass the filters after the one that held them (a later one may hold the headers again)
    for (const ev of pending) {
      if (this.done) return;
      if (ev.kind === 'headers') this.runEncodeHeaders(from, ev.headers, ev.end);
      else if (ev.kind === 'data') this.encodeDataFrom(from, ev.data, ev.end);
      else this.encodeTrailersFrom(from, ev.trailers);
    }
  }

  // ---- writing the response ----

  private writeResponseHeaders(headers: HeaderMap, endStream: boolean): void {
    const info = this.streamInfo;
    const status = Number(headers.get(':status'));
    info.responseCode = status;
    info.responseHeaders = headers;
    const cfg = this.cfg;
    // the request id is only looked up when the response is to carry it
    const requestId = cfg.alwaysSetRequestIdInResponse ? this.requestHeaders?.get('x-request-id') : undefined;
    mutateResponseHeaders(headers, cfg, requestId, this.isUpgrade && status === 101);
    this.responseStarted = true;
    info.firstDownstreamTxByteSent = info.elapsed();
    if (this.isHead && !endStream) {
      // HEAD: the headers describe a body that is never sent
      this.writer.writeHeaders(headers, true);
      this.responseEnded = true;
      this.maybeFinish();
      return;
    }
    this.writer.writeHeaders(headers, endStream);
    if (endStream) {
      this.responseEnded = true;
      this.maybeFinish();
    }
  }

  private writeResponseData(data: Buffer, endStream: boolean): void {
    if (this.responseEnded) return;
    this.streamInfo.bytesSent += data.length;
    this.writer.writeData(data, endStream);
    if (endStream) {
      this.responseEnded = true;
      this.maybeFinish();
    }
  }

  private writeResponseTrailers(trailers: HeaderMap): void {
    if (this.responseEnded) return;
    this.streamInfo.responseTrailers = trailers;
    this.writer.writeTrailers(trailers);
    this.responseEnded = true;
    this.maybeFinish();
  }

  /**
   * The response is complete. Envoy ends the stream here even if the request body is still arriving (the
   * codec then discards the rest or closes the connection).
   */
  private maybeFinish(): void {
    if (this.responseEnded) this.finish();
  }

  get requestComplete(): boolean {
    return this.requestEnded;
  }

  // ---- timeouts ----

  /** The chosen route's idle_timeout and max_stream_duration replace the connection manager's for this stream. */
  private applyRouteTimeouts(entry: RouteActionEntry): void {
    if (this.done) return;
    const t = streamTimeouts(entry, this.requestHeaders, this.cfg.maxStreamDurationMs);
    if (t.idleMs !== undefined) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (t.idleMs > 0) this.startIdleTimer(t.idleMs, performance.now());
    }
    if (this.durationTimer) clearTimeout(this.durationTimer);
    this.durationTimer = undefined;
    if (t.grpcTimeout === '') this.requestHeaders.remove('grpc-timeout');
    else if (t.grpcTimeout !== undefined) this.requestHeaders.set('grpc-timeout', t.grpcTimeout);
    if (t.durationMs !== undefined) {
      // the limit counts from the start of the stream, not from the route choice
      this.durationTimer = setTimeout(() => this.onDurationTimeout(), Math.max(0, t.durationMs - this.streamInfo.elapsed()));
    }
  }

  private onIdleTimeout(): void {
    this.idleTimer = undefined;
    this.cfg.stats.downstream_rq_idle_timeout.inc();
    // Envoy's maybeRequestTimeoutCode: once the client has sent everything, the wait is on the upstream (504)
    this.timeoutReply(this.requestEnded ? 504 : 408, 'stream timeout', 'stream_idle_timeout', ResponseFlag.StreamIdleTimeout);
  }

  private onRequestTimeout(): void {
    this.requestTimer = undefined;
    this.cfg.stats.downstream_rq_timeout.inc();
    this.timeoutReply(408, 'request timeout', 'request_overall_timeout', undefined);
  }

  private onDurationTimeout(): void {
    this.durationTimer = undefined;
    this.timeoutReply(this.requestEnded ? 504 : 408, 'downstream duration timeout', 'max_duration_timeout', ResponseFlag.DurationTimeout, 4 /* DEADLINE_EXCEEDED */);
  }

  private timeoutReply(status: number, body: string, details: string, flag: { bit: number } | undefined, grpcStatus?: number): void {
    if (this.done) return;
    if (this.responseStarted) {
      if (flag) this.streamInfo.setFlag(flag);
      this.resetStream(details);
    } else this.sendLocalReply(status, body, { details, flag, grpcStatus });
  }

  // ---- completion ----

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.requestTimer) clearTimeout(this.requestTimer);
    if (this.durationTimer) clearTimeout(this.durationTimer);
    for (const f of this.filters) {
      if (f.onDestroy) {
        try {
          f.onDestroy();
        } catch (err) {
          log.error({ err }, 'filter onDestroy threw');
        }
      }
    }
    const info = this.streamInfo;
    info.lastDownstreamTxByteSent = info.elapsed();
    const st = this.cfg.stats;
    st.downstream_rq_active.dec();
    st.downstream_rq_completed.inc();
    const code = info.responseCode;
    if (code !== undefined) {
      const cls = (code / 100) | 0;
      if (cls === 2) st.downstream_rq_2xx.inc();
      else if (cls === 5) st.downstream_rq_5xx.inc();
      else if (cls === 4) st.downstream_rq_4xx.inc();
      else if (cls === 3) st.downstream_rq_3xx.inc();
      else if (cls === 1) st.downstream_rq_1xx.inc();
    }
    st.downstream_rq_time.record(info.lastDownstreamTxByteSent);
    for (const l of this.cfg.accessLoggers) l.log(info);
    this.onComplete(this);
  }

  get finished(): boolean {
    return this.done;
  }
}

function onStreamIdleTimer(s: ActiveStream): void {
  s.checkIdle();
}
