// envoy.filters.http.router: the terminal HTTP filter. It takes the route the connection manager chose,
// finalizes the request headers (rewrites, header mutations), picks a host with the cluster's balancer,
// opens an upstream stream on that host's pool and relays both directions with flow control, enforcing the
// route timeout. A request may take several attempts (retry_policy: src/proxy/router/retry-*.ts) — each on a
// new stream, after a back-off, with the body replayed from a bounded buffer — and may be copied to mirror
// clusters (src/proxy/router/mirror.ts).
import { performance } from 'node:perf_hooks';
import { Deadline } from '../../../../common/deadline.js';
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import { ipOf } from '../../../http/standard-headers.js';
import { startMirrors, type MirrorSet } from '../../../router/mirror.js';
import { withRequestHeaders } from '../../../router/retry-policy.js';
import { RequestBuffer, RetryState, retryStats, type RetryDecision } from '../../../router/retry-state.js';
import type { RouteActionEntry, RouteResult } from '../../../router/route-table.js';
import { attemptTimeouts, type AttemptTimeouts } from '../../../router/timeouts.js';
import { ResponseFlag } from '../../../stream-info.js';
import type { Cluster } from '../../../upstream/cluster.js';
import type { Host } from '../../../upstream/host.js';
import type { UpstreamCallbacks, UpstreamResetReason, UpstreamStream } from '../../../upstream/pool.js';
import { TcpTunnelStream } from '../../../upstream/tcp-tunnel.js';

interface RouterConfig {
  suppressEnvoyHeaders: boolean;
  respectExpectedRqTimeout: boolean;
  /** the listener's per_connection_buffer_limit_bytes: the most request body kept for retries */
  connectionBufferLimit: number;
  stats: { rq_total: { inc(): void }; rq_direct_response: { inc(): void }; rq_redirect: { inc(): void }; no_route: { inc(): void }; no_cluster: { inc(): void } };
}

export const routerFilter: HttpFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'],
  terminal: true,
  create(config: any, ctx: FilterFactoryContext) {
    for (const f of ['upstream_http_filters', 'strict_check_headers']) {
      if (config[f] !== undefined) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ctx.path}.${f}`, `${f} is not supported`);
    }
    const s = ctx.stats.scope(ctx.statPrefix);
    const rc: RouterConfig = {
      suppressEnvoyHeaders: config.suppress_envoy_headers ?? false,
      respectExpectedRqTimeout: config.respect_expected_rq_timeout ?? false,
      connectionBufferLimit: ctx.perConnectionBufferLimit ?? 1024 * 1024,
      stats: { rq_total: s.counter('rq_total'), rq_direct_response: s.counter('rq_direct_response'), rq_redirect: s.counter('rq_redirect'), no_route: s.counter('no_route'), no_cluster: s.counter('no_cluster') },
    };
    const cm = ctx.clusterManager;
    return (cb: FilterCallbacks) => new Router(cb, rc, (name) => cm.get(name));
  },
};

const UPSTREAM_RESET_TEXT: Record<UpstreamResetReason, string> = {
  'connect-failure': 'remote connection failure', // Envoy's text for RemoteConnectionFailure
  'connect-timeout': 'connection timeout',
  'remote-reset': 'connection termination',
  'protocol-error': 'protocol error',
  overflow: 'overflow',
  'local-reset': 'local reset',
  'refused-stream': 'remote refused stream reset',
};

/**
 * One attempt's upstream callbacks. A retry starts a new attempt; events from an abandoned one (a reset
 * stream still draining its last callbacks) are dropped here instead of being checked in every handler.
 */
class Attempt implements UpstreamCallbacks {
  constructor(private readonly r: Router) {}
  private get live(): boolean {
    return this.r.attempt === this;
  }
  onHeaders(h: HeaderMap, end: boolean): void {
    if (this.live) this.r.onHeaders(h, end);
  }
  onData(chunk: Buffer, end: boolean): void {
    if (this.live) this.r.onData(chunk, end);
  }
  onTrailers(t: HeaderMap): void {
    if (this.live) this.r.onTrailers(t);
  }
  onReset(reason: UpstreamResetReason, detail: string): void {
    if (this.live) this.r.onReset(reason, detail);
  }
  onUpgrade(h: HeaderMap, socket: import('node:net').Socket, head: Buffer): void {
    if (this.live) this.r.onUpgrade(h, socket, head);
    else socket.destroy();
  }
  onWritable(): void {
    if (this.live) this.r.onWritable();
  }
  onInformational(): void {}
}

class Router implements HttpFilter {
  private readonly cb: FilterCallbacks;
  private readonly rc: RouterConfig;
  private readonly getCluster: (name: string) => Cluster | undefined;
  /** the current attempt (null between attempts and before the first) */
  attempt: Attempt | null = null;
  private upstream: UpstreamStream | null = null;
  private cluster: Cluster | null = null;
  private host: Host | null = null;
  private route: RouteResult | null = null;
  private entry: RouteActionEntry | null = null;
  /** the request headers as sent upstream, kept to replay them on a retry */
  private headers: HeaderMap | null = null;
  private hash: bigint | undefined;
  private timeouts: AttemptTimeouts = { globalMs: 0, perTryMs: 0, perTryIdleMs: 0 };
  /** the route timeout (one shared timer per duration: it is started and stopped on every request) */
  private routeDeadline: Deadline<Router> | null = null;
  private perTryTimer: NodeJS.Timeout | undefined;
  private perTryIdleTimer: NodeJS.Timeout | undefined;
  private backOffTimer: NodeJS.Timeout | undefined;
  private retry: RetryState | null = null;
  /** the request body kept for retries (only while a retry is possible) */
  private buffer: RequestBuffer | null = null;
  private mirrors: MirrorSet | null = null;
  private attemptCount = 0;
  private upstreamStart = 0;
  private responseStarted = false;
  /** the current attempt is over (or none was made) */
  private upstreamDone = false;
  private requestDone = false;
  /** the request got its answer (or was reset): nothing more goes upstream */
  private finished = false;
  private readDisabled = false;
  private setCookies: string[] | undefined;
  private tunnel: ReturnType<NonNullable<FilterCallbacks['upgrade']>['takeOver']> | null = null;

  constructor(cb: FilterCallbacks, rc: RouterConfig, getCluster: (name: string) => Cluster | undefined) {
    this.cb = cb;
    this.rc = rc;
    this.getCluster = getCluster;
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): 'stop' {
    const cb = this.cb;
    const info = cb.streamInfo;
    this.rc.stats.rq_total.inc();
    const route = cb.route();
    if (!route) {
      this.rc.stats.no_route.inc();
      cb.sendLocalReply(404, '', { flag: ResponseFlag.NoRouteFound, details: 'route_not_found' });
      return 'stop';
    }
    this.route = route;
    const entry = route.entry;
    if (entry.kind === 'direct_response') {
      this.rc.stats.rq_direct_response.inc();
      const extra: [string, string][] = [];
      const loc = entry.location(locationReq(headers));
      if (loc) extra.push(['location', loc]);
      this.localReplyWithRouteHeaders(entry.status, entry.body ?? Buffer.alloc(0), extra, 'direct_response');
      return 'stop';
    }
    if (entry.kind === 'redirect') {
      this.rc.stats.rq_redirect.inc();
      this.localReplyWithRouteHeaders(entry.responseCode, Buffer.alloc(0), [['location', entry.location(locationReq(headers))]], 'via_route');
      return 'stop';
    }
    this.entry = entry;
    const clusterName = route.clusterName;
    const cluster = clusterName ? this.getCluster(clusterName) : undefined;
    info.upstreamCluster = clusterName || undefined;
    if (!cluster) {
      this.rc.stats.no_cluster.inc();
      cb.sendLocalReply(entry.clusterNotFoundResponseCode, '', { flag: ResponseFlag.NoClusterFound, details: 'cluster_not_found' });
      return 'stop';
    }
    this.cluster = cluster;
    // (CONNECT is one too: the codec hands it over as a tunnel; only upgrades and CONNECT have cb.upgrade)
    const upgrade = cb.upgrade !== undefined && (headers.has('upgrade') || headers.get(':method') === 'CONNECT');
    // Retries: the route's policy plus what a trusted client asks for with x-envoy-retry-* (external clients'
    // x-envoy-* control headers were stripped by the connection manager). An upgrade is never replayed.
    // both consumers of x-envoy-* request headers below share one scan for them (retry headers they remove
    // leave it true; the timeout lookups then find nothing, as they would have)
    const envoyHeaders = headers.hasPrefix('x-envoy-');
    const policy = withRequestHeaders(entry.retry, headers, envoyHeaders);
    if (policy && !upgrade) {
      const breakers = cluster.breakers;
      const prio = entry.priority;
      this.retry = new RetryState(policy, retryStats(cluster.stats.scope), {
        admission: { tryRetry: () => breakers.tryRetry(prio), releaseRetry: () => breakers.releaseRetry(prio) },
      });
      // the body is kept for a replay up to the route's per_request_buffer_limit_bytes, bounded by the listener's limit
      if (!endStream) this.buffer = new RequestBuffer(Math.min(entry.perRequestBufferLimit ?? Infinity, this.rc.connectionBufferLimit));
    }
    // Timeouts: the route's (or x-envoy-upstream-rq-timeout-ms / -per-try-timeout-ms from a trusted client)
    this.timeouts = attemptTimeouts(entry, entry.retry.perTryTimeoutMs, entry.retry.perTryIdleTimeoutMs, headers, {
      respectExpected: this.rc.respectExpectedRqTimeout,
      insertExpected: !this.rc.suppressEnvoyHeaders,
    }, envoyHeaders);
    route.finalizeRequestHeaders(headers, info, !this.rc.suppressEnvoyHeaders);
    // Host selection (with the route's hash policy for RING_HASH / MAGLEV)
    // Envoy computes the hash only for the balancers that use one (and only then hands out generated cookies)
    const hp = entry.hashPolicyFn;
    if (hp && cluster.usesHash) {
      const p = headers.get(':path') ?? '';
      const q = p.indexOf('?');
      const r = hp({ headers, sourceIp: ipOf(info.downstreamRemoteAddress), query: q >= 0 ? p.slice(q + 1) : undefined, remoteAddress: info.downstreamDirectRemoteAddress, localAddress: info.downstreamLocalAddress });
      this.hash = r.hash;
      this.setCookies = r.setCookies;
    }
    // a cluster-provided balancer (dynamic forward proxy) picks by the request's headers
    const host = cluster.chooseHost(this.hash === undefined && !cluster.usesRequest ? undefined : { hash: this.hash, downstreamHeaders: headers });
    if (!host) {
      this.noHealthyUpstream();
      return 'stop';
    }
    this.headers = headers;
    if (entry.mirrors.length > 0 && !upgrade) {
      this.mirrors = startMirrors(entry.mirrors, { getCluster: this.getCluster, headers, endStream, downstreamH2: info.protocol === 'HTTP/2', random: Math.random });
    }
    this.startAttempt(host, endStream, upgrade);
    if (endStream) this.onRequestComplete();
    return 'stop';
  }

  /** Open an upstream stream on `host` and send the request: all of it on a retry, the headers on the first try. */
  private startAttempt(host: Host, endStream: boolean, upgrade: boolean): void {
    const cb = this.cb;
    const info = cb.streamInfo;
    const cluster = this.cluster!;
    const entry = this.entry!;
    const retrying = this.attemptCount > 0;
    // an attempt's stream may still hold the headers it was given: a retry sends its own copy
    const headers = retrying ? this.headers!.clone() : this.headers!;
    this.host = host;
    info.upstreamHost = host.id;
    this.retry?.onHostAttempted(host);
    if (entry.autoHostRewrite && host.hostname) headers.set(':authority', host.hostname);
    this.attemptCount++;
    info.upstreamRequestAttemptCount = this.attemptCount;
    if (entry.attemptCountInRequest) headers.set('x-envoy-attempt-count', String(this.attemptCount));
    // a terminated CONNECT (route upgrade_configs CONNECT with connect_config) opens a TCP tunnel to the host
    const tunnel = upgrade && entry.connectTerminate && headers.get(':method') === 'CONNECT';
    const pool = tunnel ? undefined : cluster.poolFor(host, info.protocol === 'HTTP/2' ? 'http2' : 'http1', entry.priority);
    host.activeRequests++;
    host.rqTotal++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    this.released = false;
    this.upstreamDone = false;
    // one clock read for both timestamps (each performance.now() costs a brand check and a native call)
    const now = performance.now();
    this.upstreamStart = now;
    const attempt = new Attempt(this);
    this.attempt = attempt;
    const up = pool ? pool.newStream(attempt, { method: headers.get(':method') ?? 'GET', upgrade }) : new TcpTunnelStream(host, host.transport ?? cluster.transport, cluster.stats, attempt);
    this.upstream = up;
    if (!retrying) {
      info.firstUpstreamTxByteSent = now - info.startMono;
      up.sendHeaders(headers, endStream);
      return;
    }
    // replay what the client sent so far; what is still to come follows in decodeData
    const body = this.buffer?.body ?? [];
    const trailers = this.buffer?.trailers;
    const complete = this.requestDone;
    up.sendHeaders(headers, complete && body.length === 0 && !trailers);
    body.forEach((chunk, i) => up.sendData(chunk, complete && !trailers && i === body.length - 1));
    if (trailers) up.sendTrailers(trailers);
    if (complete) this.armPerTryTimers();
  }

  decodeData(data: Buffer, endStream: boolean): 'stop' {
    if (this.finished) return 'stop';
    if (endStream) this.requestDone = true;
    this.mirrors?.sendData(data, endStream);
    if (this.buffer && !this.buffer.add(data)) {
      if (this.abandonRetries()) return 'stop';
    }
    const up = this.upstream;
    if (up && !this.upstreamDone && !up.sendData(data, endStream)) {
      // The upstream connection is full: stop reading the downstream until it drains.
      this.readDisabled = true;
      this.cb.readDisable(true);
    }
    if (endStream) this.onRequestComplete();
    return 'stop';
  }

  decodeTrailers(trailers: HeaderMap): 'stop' {
    if (this.finished) return 'stop';
    this.requestDone = true;
    this.mirrors?.sendTrailers(trailers);
    if (this.buffer) this.buffer.trailers = trailers;
    if (this.upstream && !this.upstreamDone) this.upstream.sendTrailers(trailers);
    this.onRequestComplete();
    return 'stop';
  }

  /**
   * The body outgrew the retry buffer: this request can no longer be replayed, so it will not be retried
   * (Envoy's retry_or_shadow_abandoned). Waiting in back-off for a retry that cannot happen any more, it is
   * answered 507 at once. Returns true when it was.
   */
  private abandonRetries(): boolean {
    retryStats(this.cluster!.stats.scope).retry_or_shadow_abandoned.inc();
    this.retry?.release();
    this.retry = null;
    this.buffer = null;
    if (this.backOffTimer === undefined) return false;
    clearTimeout(this.backOffTimer);
    this.backOffTimer = undefined;
    this.finished = true;
    this.clearTimers();
    this.cb.sendLocalReply(507, 'exceeded request buffer limit while retrying upstream', { details: 'request_payload_exceeded_retry_buffer_limit' });
    return true;
  }

  /** The downstream request is complete: the route timeout (covering every attempt) and the per-try timers start. */
  private onRequestComplete(): void {
    this.requestDone = true;
    if (this.finished) return;
    const t = this.timeouts;
    if (t.globalMs > 0 && !this.routeDeadline?.armed) (this.routeDeadline ??= new Deadline<Router>(onRouteDeadline, this)).start(t.globalMs);
    if (this.upstream && !this.upstreamDone) this.armPerTryTimers();
    this.mirrors?.requestComplete(t.globalMs);
  }

  private armPerTryTimers(): void {
    const t = this.timeouts;
    if (t.perTryMs > 0 && !this.perTryTimer) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(false), t.perTryMs);
    if (t.perTryIdleMs > 0 && !this.perTryIdleTimer) this.perTryIdleTimer = setTimeout(() => this.onPerTryTimeout(true), t.perTryIdleMs);
  }

  private clearPerTryTimers(): void {
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    if (this.perTryIdleTimer) clearTimeout(this.perTryIdleTimer);
    this.perTryTimer = this.perTryIdleTimer = undefined;
  }

  private clearTimers(): void {
    this.clearPerTryTimers();
    this.routeDeadline?.stop();
    if (this.backOffTimer) clearTimeout(this.backOffTimer);
    this.backOffTimer = undefined;
  }

  // ---- upstream events (through the current Attempt) ----

  onWritable(): void {
    if (!this.readDisabled) return;
    this.readDisabled = false;
    this.cb.readDisable(false);
  }

  onHeaders(headers: HeaderMap, endStream: boolean): void {
    const cb = this.cb;
    const info = cb.streamInfo;
    this.perTryIdleTimer?.refresh();
    const status = Number(headers.get(':status'));
    this.countStatus(status);
    this.cluster!.reportResult(this.host!, status);
    if (this.retry) {
      const d = this.retry.shouldRetryHeaders(headers);
      if (d === 'retry') {
        // the response is dropped and the stream reset; the request goes again after the back-off
        this.upstream!.reset();
        this.endAttempt(false);
        this.scheduleRetry();
        return;
      }
      this.retryVerdict(d);
    }
    const now = performance.now();
    info.firstUpstreamRxByteReceived = now - info.startMono;
    this.responseStarted = true;
    // the route's per-try timeout no longer applies once the response is on its way (the idle one does)
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    this.perTryTimer = undefined;
    if (!this.rc.suppressEnvoyHeaders) headers.set('x-envoy-upstream-service-time', String(Math.round(now - this.upstreamStart)));
    if (this.entry!.attemptCountInResponse) headers.set('x-envoy-attempt-count', String(this.attemptCount));
    this.route!.finalizeResponseHeaders(headers, info);
    if (this.setCookies) for (const c of this.setCookies) headers.add('set-cookie', c);
    if (endStream) this.upstreamComplete();
    cb.encodeHeaders(headers, endStream);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    const cb = this.cb;
    this.perTryIdleTimer?.refresh();
    if (endStream) this.upstreamComplete();
    cb.encodeData(chunk, endStream);
    if (!endStream && cb.downstreamAboveWatermark()) {
      const up = this.upstream!;
      up.pauseResponse();
      cb.onDownstreamDrain(() => up.resumeResponse());
    }
  }

  onTrailers(trailers: HeaderMap): void {
    this.upstreamComplete();
    this.cb.encodeTrailers(trailers);
  }

  onUpgrade(headers: HeaderMap, socket: import('node:net').Socket, head: Buffer): void {
    const cb = this.cb;
    const info = cb.streamInfo;
    this.responseStarted = true;
    this.countStatus(Number(headers.get(':status'))); // 101, or 200 for a terminated CONNECT
    this.clearTimers();
    this.route!.finalizeResponseHeaders(headers, info);
    cb.encodeHeaders(headers, false);
    if (!cb.upgrade) {
      socket.destroy();
      return;
    }
    // From here on the connection is a byte tunnel between the client and the upstream.
    const down = cb.upgrade.takeOver(
      (d) => {
        info.bytesReceived += d.length;
        if (!socket.write(d)) {
          down.pause();
          socket.once('drain', () => down.resume());
        }
      },
      () => socket.end(),
    );
    this.tunnel = down;
    if (head.length > 0) cb.encodeData(head, false);
    socket.on('data', (d: Buffer) => {
      cb.encodeData(d, false);
      if (cb.downstreamAboveWatermark()) {
        socket.pause();
        down.onDrain(() => socket.resume());
      }
    });
    socket.on('end', () => down.end());
    socket.on('close', () => {
      this.upstreamComplete();
      down.end();
      cb.encodeData(Buffer.alloc(0), true);
    });
    socket.on('error', () => {});
  }

  onReset(reason: UpstreamResetReason, detail: string): void {
    if (this.upstreamDone) return;
    const cb = this.cb;
    const info = cb.streamInfo;
    const cluster = this.cluster!;
    this.endAttempt(false);
    // an overflow is the cluster's state, not the host's: Envoy never lets it eject a host
    if (reason !== 'overflow' && this.host) cluster.reportResult(this.host, 'connect-failed');
    info.upstreamTransportFailureReason = detail;
    if (this.responseStarted) {
      this.clearTimers();
      cluster.stats.upstream_rq_rx_reset.inc();
      info.setFlag(ResponseFlag.UpstreamConnectionTermination);
      cb.resetStream('upstream_reset_after_response_started');
      return;
    }
    if (this.retry) {
      const d = this.retry.shouldRetryFailure(reason);
      if (d === 'retry') {
        this.scheduleRetry();
        return;
      }
      this.retryVerdict(d);
    }
    this.clearTimers();
    const text = UPSTREAM_RESET_TEXT[reason];
    let flag: { bit: number } = ResponseFlag.UpstreamRemoteReset;
    let status = 503;
    if (reason === 'connect-failure' || reason === 'connect-timeout') flag = ResponseFlag.UpstreamConnectionFailure;
    else if (reason === 'remote-reset') {
      flag = ResponseFlag.UpstreamConnectionTermination;
      cluster.stats.upstream_rq_rx_reset.inc();
    } else if (reason === 'protocol-error') {
      flag = ResponseFlag.UpstreamProtocolError;
      status = 502;
    } else if (reason === 'overflow') flag = ResponseFlag.UpstreamOverflow;
    cluster.stats.upstream_rq_5xx.inc();
    this.host && (this.host.rqError++);
    this.finished = true;
    cb.sendLocalReply(status, `upstream connect error or disconnect/reset before headers. reset reason: ${text}${detail && detail !== text ? `, transport failure reason: ${detail}` : ''}`, {
      flag,
      details: `upstream_reset_before_response_started{${text.replace(/ /g, '_')}}`,
      // Envoy marks a request its circuit breakers dropped
      headers: reason === 'overflow' && !this.rc.suppressEnvoyHeaders ? [['x-envoy-overloaded', 'true']] : undefined,
    });
  }

  /** A retry the policy wanted but could not have marks the response: UO (circuit breaker) or URX (retries used up). */
  private retryVerdict(d: RetryDecision): void {
    if (d === 'overflow') this.cb.streamInfo.setFlag(ResponseFlag.UpstreamOverflow);
    else if (d === 'limit-exceeded') this.cb.streamInfo.setFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  }

  /** Wait the back-off, then try again on a host chosen anew (avoiding the hosts tried, with previous_hosts). */
  private scheduleRetry(): void {
    this.attempt = null;
    this.upstream = null;
    if (this.readDisabled) this.onWritable();
    const delay = this.retry!.nextBackOffMs();
    this.backOffTimer = setTimeout(() => {
      this.backOffTimer = undefined;
      const shouldSkip = this.retry?.hostFilter();
      const retryPriority = this.retry?.retryPriority;
      const host = this.cluster!.chooseHost(
        this.hash === undefined && !shouldSkip && !retryPriority && !this.cluster!.usesRequest
          ? undefined
          : { hash: this.hash, shouldSkip, maxPicks: shouldSkip ? this.retry!.hostSelectionPicks : undefined, downstreamHeaders: this.headers!, retryPriority },
      );
      if (!host) {
        this.clearTimers();
        this.noHealthyUpstream();
        return;
      }
      this.startAttempt(host, false, false);
    }, delay);
  }

  private noHealthyUpstream(): void {
    this.cluster!.stats.upstream_cx_none_healthy.inc();
    this.finished = true;
    this.cb.sendLocalReply(503, 'no healthy upstream', { flag: ResponseFlag.NoHealthyUpstream, details: 'no_healthy_upstream' });
  }

  /** per_try_timeout / per_try_idle_timeout of the current attempt. */
  private onPerTryTimeout(idle: boolean): void {
    if (idle) this.perTryIdleTimer = undefined;
    else this.perTryTimer = undefined;
    if (this.upstreamDone || this.finished) return;
    const cb = this.cb;
    const cluster = this.cluster!;
    const stats = retryStats(cluster.stats.scope);
    (idle ? stats.upstream_rq_per_try_idle_timeout : stats.upstream_rq_per_try_timeout).inc();
    this.upstream?.reset();
    this.endAttempt(false);
    if (this.host) cluster.reportResult(this.host, 'timeout');
    const details = idle ? 'upstream_per_try_idle_timeout' : 'upstream_per_try_timeout';
    if (this.responseStarted) {
      this.clearTimers();
      cb.streamInfo.setFlag(ResponseFlag.UpstreamRequestTimeout);
      cb.resetStream(details);
      return;
    }
    if (this.retry) {
      const d = this.retry.shouldRetryFailure('per-try-timeout');
      if (d === 'retry') {
        this.scheduleRetry();
        return;
      }
      this.retryVerdict(d);
    }
    this.clearTimers();
    cluster.stats.upstream_rq_5xx.inc();
    this.finished = true;
    cb.sendLocalReply(504, 'upstream request timeout', { flag: ResponseFlag.UpstreamRequestTimeout, details });
  }

  /** The route timeout: it covers all attempts and back-offs, from the end of the request. */
  onRouteTimeout(): void {
    if (this.finished) return;
    const cb = this.cb;
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_timeout.inc();
    if (!this.responseStarted && this.host && !this.upstreamDone) cluster.reportResult(this.host, 'timeout');
    cb.streamInfo.setFlag(ResponseFlag.UpstreamRequestTimeout);
    if (!this.upstreamDone) {
      this.upstream?.reset();
      this.endAttempt(false);
    }
    this.clearTimers();
    this.retry?.release();
    this.finished = true;
    if (this.responseStarted) {
      cb.resetStream('upstream_response_timeout');
      return;
    }
    cluster.stats.upstream_rq_5xx.inc();
    cb.sendLocalReply(504, 'upstream request timeout', { details: 'response_timeout' });
  }

  // ---- bookkeeping ----

  private countStatus(status: number): void {
    const st = this.cluster!.stats;
    const cls = (status / 100) | 0;
    if (cls === 2) st.upstream_rq_2xx.inc();
    else if (cls === 5) st.upstream_rq_5xx.inc();
    else if (cls === 4) st.upstream_rq_4xx.inc();
    else if (cls === 3) st.upstream_rq_3xx.inc();
    else if (cls === 1) st.upstream_rq_1xx.inc();
    let c = st.byCode.get(status);
    if (!c) {
      c = st.scope.counter(`upstream_rq_${status}`);
      st.byCode.set(status, c);
    }
    c.inc();
    const h = this.host!;
    if (status >= 500) h.rqError++;
    else h.rqSuccess++;
  }

  private upstreamComplete(): void {
    if (this.upstreamDone) return;
    const info = this.cb.streamInfo;
    const now = performance.now();
    info.lastUpstreamRxByteReceived = now - info.startMono;
    this.clearTimers();
    this.retry?.release();
    this.finished = true;
    this.endAttempt(true, now);
  }

  /** The current attempt is over: its active-request accounting is released. */
  private endAttempt(completed: boolean, now?: number): void {
    this.upstreamDone = true;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    if (this.perTryIdleTimer) clearTimeout(this.perTryIdleTimer);
    this.perTryTimer = this.perTryIdleTimer = undefined;
    this.release(completed, now);
  }

  private released = false;
  /** `now`: performance.now() if the caller has just read it */
  private release(completed: boolean, now?: number): void {
    if (this.released || !this.cluster) return;
    this.released = true;
    const st = this.cluster.stats;
    st.upstream_rq_active.dec();
    if (this.host) this.host.activeRequests--;
    if (completed) {
      st.upstream_rq_completed.inc();
      st.upstream_rq_time.record((now ?? performance.now()) - this.upstreamStart);
    }
    if (this.upstream) {
      this.cb.streamInfo.upstreamLocalAddress = this.upstream.localAddress;
      this.cb.streamInfo.upstreamTls = this.upstream.tls;
    }
  }

  onDestroy(): void {
    this.clearTimers();
    this.retry?.release();
    // a copy still missing part of the request body is useless to the shadow cluster
    if (!this.requestDone) this.mirrors?.abort();
    if (this.attemptCount > 0 && !this.upstreamDone) {
      // The downstream went away (or replied locally) while the upstream was still working: cancel it.
      this.upstreamDone = true;
      this.upstream?.reset();
      if (this.cluster) this.cluster.stats.upstream_rq_tx_reset.inc();
      this.release(false);
    }
    this.attempt = null;
    this.tunnel?.destroy();
  }

  private localReplyWithRouteHeaders(status: number, body: Buffer, extra: [string, string][], details: string): void {
    const cb = this.cb;
    const route = this.route!;
    // direct responses and redirects still get the route's response header mutations, as in Envoy
    const onHeaders = (h: HeaderMap) => route.finalizeResponseHeaders(h, cb.streamInfo);
    cb.sendLocalReply(status, body, { details, headers: extra, plainHttp: true, mutateHeaders: onHeaders });
  }
}

function onRouteDeadline(r: Router): void {
  r.onRouteTimeout();
}

function locationReq(headers: HeaderMap) {
  return { authority: headers.get(':authority') ?? '', path: headers.get(':path') ?? '/', scheme: headers.get(':scheme') ?? 'http', headers };
}
