// envoy.filters.http.router: the terminal HTTP filter. It takes the route the connection manager chose,
// finalizes the request headers (rewrites, header mutations), picks a host with the cluster's balancer,
// opens an upstream stream on that host's pool and relays both directions with flow control, enforcing the
// route timeout. Retries, mirroring and per-try timeouts arrive with the resilience work.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import { ipOf } from '../../../http/standard-headers.js';
import type { RouteResult } from '../../../router/route-table.js';
import { ResponseFlag } from '../../../stream-info.js';
import type { Cluster } from '../../../upstream/cluster.js';
import type { Host } from '../../../upstream/host.js';
import type { UpstreamCallbacks, UpstreamResetReason, UpstreamStream } from '../../../upstream/pool.js';

interface RouterConfig {
  suppressEnvoyHeaders: boolean;
  respectExpectedRqTimeout: boolean;
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
};

class Router implements HttpFilter, UpstreamCallbacks {
  private readonly cb: FilterCallbacks;
  private readonly rc: RouterConfig;
  private readonly getCluster: (name: string) => Cluster | undefined;
  private upstream: UpstreamStream | null = null;
  private cluster: Cluster | null = null;
  private host: Host | null = null;
  private route: RouteResult | null = null;
  private timer: NodeJS.Timeout | undefined;
  private upstreamStart = 0;
  private responseStarted = false;
  private upstreamDone = false;
  private requestDone = false;
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
    const clusterName = route.clusterName;
    const cluster = clusterName ? this.getCluster(clusterName) : undefined;
    info.upstreamCluster = clusterName || undefined;
    if (!cluster) {
      this.rc.stats.no_cluster.inc();
      cb.sendLocalReply(entry.clusterNotFoundResponseCode, '', { flag: ResponseFlag.NoClusterFound, details: 'cluster_not_found' });
      return 'stop';
    }
    this.cluster = cluster;
    // Timeout: the route's, or x-envoy-upstream-rq-timeout-ms from a trusted client (external ones had their
    // x-envoy-* headers stripped by the connection manager).
    let timeoutMs = entry.timeoutMs;
    const hdrTimeout = headers.get('x-envoy-upstream-rq-timeout-ms');
    if (hdrTimeout !== undefined) {
      headers.remove('x-envoy-upstream-rq-timeout-ms');
      const n = Number(hdrTimeout);
      if (Number.isInteger(n) && n >= 0) timeoutMs = n;
    }
    if (this.rc.respectExpectedRqTimeout) {
      const exp = Number(headers.get('x-envoy-expected-rq-timeout-ms'));
      if (Number.isInteger(exp) && exp > 0) timeoutMs = exp;
    }
    route.finalizeRequestHeaders(headers, info, !this.rc.suppressEnvoyHeaders);
    // Host selection (with the route's hash policy for RING_HASH / MAGLEV)
    let hash: bigint | undefined;
    // Envoy computes the hash only for the balancers that use one (and only then hands out generated cookies)
    const hp = entry.hashPolicyFn;
    if (hp && cluster.usesHash) {
      const p = headers.get(':path') ?? '';
      const q = p.indexOf('?');
      const r = hp({ headers, sourceIp: ipOf(info.downstreamRemoteAddress), query: q >= 0 ? p.slice(q + 1) : undefined, remoteAddress: info.downstreamDirectRemoteAddress, localAddress: info.downstreamLocalAddress });
      hash = r.hash;
      this.setCookies = r.setCookies;
    }
    const host = cluster.chooseHost(hash === undefined ? undefined : { hash });
    if (!host) {
      cluster.stats.upstream_cx_none_healthy.inc();
      cb.sendLocalReply(503, 'no healthy upstream', { flag: ResponseFlag.NoHealthyUpstream, details: 'no_healthy_upstream' });
      return 'stop';
    }
    this.host = host;
    info.upstreamHost = host.id;
    if (entry.autoHostRewrite && host.hostname) headers.set(':authority', host.hostname);
    if (timeoutMs > 0 && !this.rc.suppressEnvoyHeaders) headers.set('x-envoy-expected-rq-timeout-ms', String(timeoutMs));
    const downstreamH2 = info.protocol === 'HTTP/2';
    const pool = cluster.poolFor(host, downstreamH2 ? 'http2' : 'http1');
    const method = headers.get(':method') ?? 'GET';
    host.activeRequests++;
    host.rqTotal++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    info.upstreamRequestAttemptCount = 1;
    this.upstreamStart = performance.now();
    if (timeoutMs > 0) this.timer = setTimeout(() => this.onRouteTimeout(), timeoutMs);
    const up = pool.newStream(this, { method, upgrade: cb.upgrade !== undefined && headers.has('upgrade') });
    this.upstream = up;
    info.firstUpstreamTxByteSent = info.elapsed();
    up.sendHeaders(headers, endStream);
    if (endStream) this.requestDone = true;
    return 'stop';
  }

  decodeData(data: Buffer, endStream: boolean): 'stop' {
    const up = this.upstream;
    if (!up || this.upstreamDone) return 'stop';
    if (endStream) this.requestDone = true;
    if (!up.sendData(data, endStream)) {
      // The upstream connection is full: stop reading the downstream until it drains.
      this.cb.readDisable(true);
    }
    return 'stop';
  }

  decodeTrailers(trailers: HeaderMap): 'stop' {
    this.requestDone = true;
    this.upstream?.sendTrailers(trailers);
    return 'stop';
  }

  // ---- upstream events ----

  onWritable(): void {
    this.cb.readDisable(false);
  }

  onInformational(_headers: HeaderMap): void {
    // 100-continue was answered by the connection manager; other 1xx are not forwarded (Envoy's default)
  }

  onHeaders(headers: HeaderMap, endStream: boolean): void {
    const cb = this.cb;
    const info = cb.streamInfo;
    info.firstUpstreamRxByteReceived = info.elapsed();
    this.responseStarted = true;
    const status = Number(headers.get(':status'));
    this.countStatus(status);
    if (!this.rc.suppressEnvoyHeaders) headers.set('x-envoy-upstream-service-time', String(Math.round(performance.now() - this.upstreamStart)));
    this.route!.finalizeResponseHeaders(headers, info);
    if (this.setCookies) for (const c of this.setCookies) headers.add('set-cookie', c);
    if (endStream) this.upstreamComplete();
    cb.encodeHeaders(headers, endStream);
  }

  onData(chunk: Buffer, endStream: boolean): void {
    const cb = this.cb;
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
    this.countStatus(101);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
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
    this.upstreamDone = true;
    this.release(false);
    if (this.timer) clearTimeout(this.timer);
    info.upstreamTransportFailureReason = detail;
    if (this.responseStarted) {
      cluster.stats.upstream_rq_rx_reset.inc();
      info.setFlag(ResponseFlag.UpstreamConnectionTermination);
      cb.resetStream('upstream_reset_after_response_started');
      return;
    }
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
    cb.sendLocalReply(status, `upstream connect error or disconnect/reset before headers. reset reason: ${text}${detail && detail !== text ? `, transport failure reason: ${detail}` : ''}`, {
      flag,
      details: `upstream_reset_before_response_started{${text.replace(/ /g, '_')}}`,
    });
  }

  private onRouteTimeout(): void {
    this.timer = undefined;
    if (this.upstreamDone) return;
    const cb = this.cb;
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_timeout.inc();
    cb.streamInfo.setFlag(ResponseFlag.UpstreamRequestTimeout);
    this.upstreamDone = true;
    this.upstream?.reset();
    this.release(false);
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
    this.upstreamDone = true;
    const info = this.cb.streamInfo;
    info.lastUpstreamRxByteReceived = info.elapsed();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.release(true);
  }

  private released = false;
  private release(completed: boolean): void {
    if (this.released || !this.cluster) return;
    this.released = true;
    const st = this.cluster.stats;
    st.upstream_rq_active.dec();
    if (this.host) this.host.activeRequests--;
    if (completed) {
      st.upstream_rq_completed.inc();
      st.upstream_rq_time.record(performance.now() - this.upstreamStart);
    }
    if (this.upstream) this.cb.streamInfo.upstreamLocalAddress = this.upstream.localAddress;
  }

  onDestroy(): void {
    if (this.timer) clearTimeout(this.timer);
    if (!this.upstreamDone) {
      // The downstream went away (or replied locally) while the upstream was still working: cancel it.
      this.upstreamDone = true;
      this.upstream?.reset();
      if (this.cluster) this.cluster.stats.upstream_rq_tx_reset.inc();
      this.release(false);
    }
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

function locationReq(headers: HeaderMap) {
  return { authority: headers.get(':authority') ?? '', path: headers.get(':path') ?? '/', scheme: headers.get(':scheme') ?? 'http', headers };
}
