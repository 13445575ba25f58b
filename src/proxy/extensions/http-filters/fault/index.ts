// envoy.filters.http.fault (HTTPFault): inject delays, aborts (HTTP or gRPC status) and response bandwidth
// limits into a chosen share of requests, to test how services cope with failure. Settings are compiled once
// (filter level, and each route's typed_per_filter_config override through createPerRoute); per request the
// filter only draws the percentages and runs timers.
//
// Envoy's order, kept here: pick the settings (route override wins whole), check upstream_cluster,
// downstream_nodes and headers; set up the response rate limit; then a delay (holding the request headers,
// and with them the body, until it expires), after which an abort may still follow; else an abort at once.
// Each stream counts as at most one active fault, charged against max_active_faults until the stream ends.
import { ConfigError } from '../../../../common/errors.js';
import { compileFractionalPercent, percentHit, PERCENT_0, type FractionalPercent } from '../../../../common/fractional-percent.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Counter, Gauge, StatsStore } from '../../../observability/stats.js';
import { compileHeaderMatchers, matchAllHeaders, type HeaderMatcher } from '../../../router/matchers.js';
import { ResponseFlag } from '../../../stream-info.js';
import { ResponseRateLimiter } from './response-rate-limiter.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

// The header-controlled faults (each works only when the matching header_* provider is configured).
export const FAULT_HEADERS = Object.freeze({
  delay: 'x-envoy-fault-delay-request',
  delayPercentage: 'x-envoy-fault-delay-request-percentage',
  abort: 'x-envoy-fault-abort-request',
  abortGrpc: 'x-envoy-fault-abort-grpc-request',
  abortPercentage: 'x-envoy-fault-abort-request-percentage',
  throughput: 'x-envoy-fault-throughput-response',
  throughputPercentage: 'x-envoy-fault-throughput-response-percentage',
});

/** A fault's share of requests; for header-controlled faults a request header may lower it (never raise it). */
interface Percentage {
  readonly configured: FractionalPercent;
  readonly header: string | undefined;
}

export interface FaultSettings {
  /** fixedMs undefined: the delay comes from x-envoy-fault-delay-request */
  readonly delay: { readonly fixedMs: number | undefined; readonly percentage: Percentage } | undefined;
  /** neither status set: both come from the x-envoy-fault-abort-* headers */
  readonly abort: { readonly httpStatus: number | undefined; readonly grpcStatus: number | undefined; readonly fromHeaders: boolean; readonly percentage: Percentage } | undefined;
  /** kbps undefined: from x-envoy-fault-throughput-response */
  readonly responseRateLimit: { readonly kbps: number | undefined; readonly percentage: Percentage } | undefined;
  readonly headers: readonly HeaderMatcher[];
  readonly upstreamCluster: string | undefined;
  readonly downstreamNodes: ReadonlySet<string> | undefined;
  readonly maxActiveFaults: number;
  readonly disableDownstreamClusterStats: boolean;
}

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const UINT = /^[ \t]*\+?(\d{1,15})[ \t]*$/;

/** absl::SimpleAtoi for an unsigned header value; undefined when absent or malformed. */
function headerUint(headers: HeaderMap, name: string): number | undefined {
  const v = headers.get(name);
  if (v === undefined) return undefined;
  const m = UINT.exec(v);
  return m ? Number(m[1]) : undefined;
}

function percentage(cfg: any, path: string, header: string | undefined): Percentage {
  // FractionalPercent left unset is 0 %, as in Envoy: a fault without a percentage never fires
  return Object.freeze({ configured: compileFractionalPercent(cfg, path, PERCENT_0), header });
}

function effectivePercent(p: Percentage, headers: HeaderMap): FractionalPercent {
  if (p.header === undefined) return p.configured;
  const n = headerUint(headers, p.header);
  if (n === undefined) return p.configured;
  return { numerator: Math.min(n, p.configured.numerator), denominator: p.configured.denominator };
}

/** Validate and compile an HTTPFault message (filter config or per-route override). */
export function compileFaultSettings(cfg: any, path: string): FaultSettings {
  let delay: FaultSettings['delay'];
  if (cfg.delay) {
    const d = cfg.delay;
    const dp = `${path}.delay`;
    if (d.header_delay !== undefined) {
      delay = { fixedMs: undefined, percentage: percentage(d.percentage, `${dp}.percentage`, FAULT_HEADERS.delayPercentage) };
    } else {
      if (d.fixed_delay === undefined) throw invalid(dp, 'one of fixed_delay or header_delay is required');
      if (!(d.fixed_delay > 0)) throw invalid(`${dp}.fixed_delay`, `must be a positive duration, got ${d.fixed_delay / 1000}s`);
      delay = { fixedMs: d.fixed_delay, percentage: percentage(d.percentage, `${dp}.percentage`, undefined) };
    }
  }
  let abort: FaultSettings['abort'];
  if (cfg.abort) {
    const a = cfg.abort;
    const ap = `${path}.abort`;
    const set = ['http_status', 'grpc_status', 'header_abort'].filter((f) => a[f] !== undefined);
    if (set.length !== 1) throw invalid(ap, 'exactly one of http_status, grpc_status or header_abort is required');
    if (a.http_status !== undefined && !(Number.isInteger(a.http_status) && a.http_status >= 200 && a.http_status < 600)) {
      throw invalid(`${ap}.http_status`, `must be in [200, 600), got ${a.http_status}`);
    }
    const fromHeaders = a.header_abort !== undefined;
    abort = {
      httpStatus: a.http_status,
      grpcStatus: a.grpc_status,
      fromHeaders,
      percentage: percentage(a.percentage, `${ap}.percentage`, fromHeaders ? FAULT_HEADERS.abortPercentage : undefined),
    };
  }
  let responseRateLimit: FaultSettings['responseRateLimit'];
  if (cfg.response_rate_limit) {
    const r = cfg.response_rate_limit;
    const rp = `${path}.response_rate_limit`;
    if (r.header_limit !== undefined) {
      responseRateLimit = { kbps: undefined, percentage: percentage(r.percentage, `${rp}.percentage`, FAULT_HEADERS.throughputPercentage) };
    } else {
      const kbps = r.fixed_limit?.limit_kbps;
      if (kbps === undefined) throw invalid(rp, 'one of fixed_limit or header_limit is required');
      if (!(Number.isInteger(kbps) && kbps >= 1)) throw invalid(`${rp}.fixed_limit.limit_kbps`, `must be at least 1, got ${kbps}`);
      responseRateLimit = { kbps, percentage: percentage(r.percentage, `${rp}.percentage`, undefined) };
    }
  }
  const nodes: string[] = cfg.downstream_nodes ?? [];
  return Object.freeze({
    delay,
    abort,
    responseRateLimit,
    headers: compileHeaderMatchers(cfg.headers, `${path}.headers`),
    upstreamCluster: cfg.upstream_cluster || undefined,
    downstreamNodes: nodes.length ? new Set(nodes) : undefined,
    maxActiveFaults: cfg.max_active_faults ?? Infinity,
    disableDownstreamClusterStats: cfg.disable_downstream_cluster_stats === true,
  });
}

interface FaultStats {
  readonly scope: StatsStore;
  readonly delays_injected: Counter;
  readonly aborts_injected: Counter;
  readonly response_rl_injected: Counter;
  readonly faults_overflow: Counter;
  readonly active_faults: Gauge;
}

function makeStats(store: StatsStore, prefix: string): FaultStats {
  const scope = store.scope(`${prefix}fault.`);
  return {
    scope,
    delays_injected: scope.counter('delays_injected'),
    aborts_injected: scope.counter('aborts_injected'),
    response_rl_injected: scope.counter('response_rl_injected'),
    faults_overflow: scope.counter('faults_overflow'),
    active_faults: scope.gauge('active_faults'),
  };
}

class FaultFilter implements HttpFilter {
  private settings: FaultSettings | undefined;
  private headers: HeaderMap | undefined;
  private delayTimer: NodeJS.Timeout | undefined;
  private faultActive = false;
  private downstreamCluster: string | undefined;
  private limiter: ResponseRateLimiter | undefined;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly base: FaultSettings,
    private readonly stats: FaultStats,
    private readonly name: string,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const s = this.cb.perFilterConfig<FaultSettings>(this.name) ?? this.base;
    if (!this.applies(s, headers)) return 'continue';
    this.settings = s;
    this.headers = headers;
    const dc = headers.get('x-envoy-downstream-service-cluster');
    if (dc && !s.disableDownstreamClusterStats) this.downstreamCluster = dc;

    this.maybeLimitResponse(s, headers);
    const delayMs = this.delayMs(s, headers);
    if (delayMs !== undefined && this.tryActivate(s)) {
      this.delayTimer = setTimeout(() => this.afterDelay(), delayMs);
      this.stats.delays_injected.inc();
      if (this.downstreamCluster) this.stats.scope.counter(`${this.downstreamCluster}.delays_injected`).inc();
      this.cb.streamInfo.setFlag(ResponseFlag.DelayInjected);
      return 'stop';
    }
    return this.maybeAbort(s, headers) ? 'stop' : 'continue';
  }

  // While the delay runs, body and trailers are passed on to the stream, which holds them (in order) for the
  // filters after this one until continueDecoding().

  encodeData(data: Buffer, endStream: boolean): FilterStatus {
    if (!this.limiter) return 'continue';
    this.limiter.writeData(data, endStream);
    return 'stop';
  }

  encodeTrailers(trailers: HeaderMap): FilterStatus {
    if (!this.limiter) return 'continue';
    this.limiter.writeTrailers(trailers);
    return 'stop';
  }

  onDestroy(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    this.limiter?.destroy();
    if (this.faultActive) {
      this.faultActive = false;
      this.stats.active_faults.dec();
    }
  }

  private applies(s: FaultSettings, headers: HeaderMap): boolean {
    if (!s.delay && !s.abort && !s.responseRateLimit) return false;
    if (s.upstreamCluster !== undefined && this.cb.route()?.clusterName !== s.upstreamCluster) return false;
    if (s.downstreamNodes) {
      const node = headers.get('x-envoy-downstream-service-node');
      if (node === undefined || !s.downstreamNodes.has(node)) return false;
    }
    return matchAllHeaders(s.headers, headers);
  }

  /** Count this stream as an active fault once; false (faults_overflow) when max_active_faults is reached. */
  private tryActivate(s: FaultSettings): boolean {
    if (this.faultActive) return true;
    if (this.stats.active_faults.value >= s.maxActiveFaults) {
      this.stats.faults_overflow.inc();
      return false;
    }
    this.stats.active_faults.inc();
    this.faultActive = true;
    return true;
  }

  private delayMs(s: FaultSettings, headers: HeaderMap): number | undefined {
    const d = s.delay;
    if (!d || !percentHit(effectivePercent(d.percentage, headers))) return undefined;
    const ms = d.fixedMs ?? headerUint(headers, FAULT_HEADERS.delay);
    return ms !== undefined && ms > 0 ? ms : undefined;
  }

  private afterDelay(): void {
    this.delayTimer = undefined;
    // a delay can be followed by an abort
    if (!this.maybeAbort(this.settings!, this.headers!)) this.cb.continueDecoding();
  }

  /** Envoy's abortStatus: an HTTP status wins; a gRPC status alone answers HTTP 200 with that grpc-status. */
  private maybeAbort(s: FaultSettings, headers: HeaderMap): boolean {
    const a = s.abort;
    if (!a || !percentHit(effectivePercent(a.percentage, headers))) return false;
    let http = a.httpStatus;
    let grpc = a.grpcStatus;
    if (a.fromHeaders) {
      const h = headerUint(headers, FAULT_HEADERS.abort);
      http = h !== undefined && h >= 200 && h < 600 ? h : undefined;
      grpc = http === undefined ? headerUint(headers, FAULT_HEADERS.abortGrpc) : undefined;
    }
    if (http === undefined && grpc === undefined) return false;
    if (!this.tryActivate(s)) return false;
    this.stats.aborts_injected.inc();
    if (this.downstreamCluster) this.stats.scope.counter(`${this.downstreamCluster}.aborts_injected`).inc();
    this.cb.sendLocalReply(http ?? 200, 'fault filter abort', { flag: ResponseFlag.FaultInjected, details: 'fault_filter_abort', grpcStatus: grpc });
    return true;
  }

  private maybeLimitResponse(s: FaultSettings, headers: HeaderMap): void {
    const r = s.responseRateLimit;
    if (!r || !percentHit(effectivePercent(r.percentage, headers))) return;
    const kbps = r.kbps ?? headerUint(headers, FAULT_HEADERS.throughput);
    if (kbps === undefined || kbps <= 0 || !this.tryActivate(s)) return;
    this.stats.response_rl_injected.inc();
    this.limiter = new ResponseRateLimiter(
      kbps * 1024,
      (data, end) => this.cb.injectEncodedData(this, data, end),
      (trailers) => this.cb.injectEncodedTrailers(this, trailers),
    );
  }
}

export const faultFilter: HttpFilterFactory = {
  typeUrls: [TYPE_URL],
  create(config: any, ctx: FilterFactoryContext) {
    const settings = compileFaultSettings(config, ctx.path);
    const stats = makeStats(ctx.stats, ctx.statPrefix);
    const name = ctx.name;
    return (cb) => new FaultFilter(cb, settings, stats, name);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext) {
    return compileFaultSettings(config, ctx.path);
  },
};
