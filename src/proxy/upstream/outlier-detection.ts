// Outlier detection (cluster.outlier_detection): passive health checking from the results of real requests.
// The router reports each request's outcome per host; consecutive-error ejections happen inline, success-rate
// and failure-percentage ones at each `interval` sweep, which is also when ejected hosts come back. An ejected
// host carries `host.ejected` and leaves the balancer's set (Cluster.rebuild) until then.
//
// Semantics follow Envoy's detector (source/common/upstream/outlier_detection_impl.cc): the same defaults, the
// same order of checks, the ejection time base × backoff capped at max_ejection_time, backoff shrinking by one
// per sweep once the host stayed healthy for an interval, and the max_ejection_percent rule
// 100·(ejected+1)/hosts ≤ max (at least one host only with always_eject_one_host).
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../../common/errors.js';
import type { Counter, Gauge, StatsStore } from '../observability/stats.js';
import type { Host } from './host.js';

/** What the router reports: an HTTP status from the upstream, or a failure that originated here. */
export type OutlierResult =
  | number
  /** connect failure, connect timeout, reset or protocol error before a response: Envoy's LocalOriginConnectFailed */
  | 'connect-failed'
  /** the route (or per-try) timeout fired: Envoy's LocalOriginTimeout, counted as a 504 unless split */
  | 'timeout';

type EjectionType =
  | 'consecutive_5xx'
  | 'consecutive_gateway_failure'
  | 'consecutive_local_origin_failure'
  | 'success_rate'
  | 'local_origin_success_rate'
  | 'failure_percentage'
  | 'local_origin_failure_percentage';

const TYPES: readonly EjectionType[] = [
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'consecutive_local_origin_failure',
  'success_rate',
  'local_origin_success_rate',
  'failure_percentage',
  'local_origin_failure_percentage',
];

/** The decoded OutlierDetection with Envoy's defaults filled in; percentages in 0..100, times in ms. */
export interface OutlierConfig {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  maxEjectionTimeJitterMs: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  splitExternalLocalOriginErrors: boolean;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  successRateStdevFactor: number;
  failurePercentageThreshold: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  successfulActiveHealthCheckUnejectHost: boolean;
  enforcing: Readonly<Record<EjectionType, number>>;
}

/** Fill in Envoy's defaults and check what the proto rules do not (max_ejection_time ≥ base_ejection_time). */
export function compileOutlierConfig(c: any, path: string): OutlierConfig {
  if (c.monitors !== undefined && c.monitors.length > 0) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.monitors`, 'outlier detection monitor extensions are not supported');
  }
  const baseEjectionTimeMs = c.base_ejection_time ?? 30_000;
  const cfg: OutlierConfig = {
    consecutive5xx: c.consecutive_5xx ?? 5,
    consecutiveGatewayFailure: c.consecutive_gateway_failure ?? 5,
    consecutiveLocalOriginFailure: c.consecutive_local_origin_failure ?? 5,
    intervalMs: c.interval ?? 10_000,
    baseEjectionTimeMs,
    // Envoy: when unset, 300 s or base_ejection_time, whichever is larger
    maxEjectionTimeMs: c.max_ejection_time ?? Math.max(300_000, baseEjectionTimeMs),
    maxEjectionTimeJitterMs: c.max_ejection_time_jitter ?? 0,
    maxEjectionPercent: Math.min(100, c.max_ejection_percent ?? 10),
    alwaysEjectOneHost: c.always_eject_one_host ?? false,
    splitExternalLocalOriginErrors: c.split_external_local_origin_errors ?? false,
    successRateMinimumHosts: c.success_rate_minimum_hosts ?? 5,
    successRateRequestVolume: c.success_rate_request_volume ?? 100,
    successRateStdevFactor: c.success_rate_stdev_factor ?? 1900,
    failurePercentageThreshold: c.failure_percentage_threshold ?? 85,
    failurePercentageMinimumHosts: c.failure_percentage_minimum_hosts ?? 5,
    failurePercentageRequestVolume: c.failure_percentage_request_volume ?? 50,
    successfulActiveHealthCheckUnejectHost: c.successful_active_health_check_uneject_host ?? true,
    enforcing: {
      consecutive_5xx: c.enforcing_consecutive_5xx ?? 100,
      consecutive_gateway_failure: c.enforcing_consecutive_gateway_failure ?? 0,
      consecutive_local_origin_failure: c.enforcing_consecutive_local_origin_failure ?? 100,
      success_rate: c.enforcing_success_rate ?? 100,
      local_origin_success_rate: c.enforcing_local_origin_success_rate ?? 100,
      failure_percentage: c.enforcing_failure_percentage ?? 0,
      local_origin_failure_percentage: c.enforcing_failure_percentage_local_origin ?? 0,
    },
  };
  for (const f of ['interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_time_jitter'] as const) {
    if (c[f] !== undefined && c[f] < 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.${f}`, 'must not be negative');
  }
  if (cfg.intervalMs <= 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.interval`, 'must be greater than 0');
  if (cfg.maxEjectionTimeMs < cfg.baseEjectionTimeMs) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.max_ejection_time`, "outlier detector's max_ejection_time cannot be smaller than base_ejection_time");
  }
  return Object.freeze(cfg);
}

/** Requests of one interval: written to `current`, judged from `previous` (the last complete interval). */
class SuccessRateBuckets {
  private cur = { total: 0, success: 0 };
  private prev = { total: 0, success: 0 };
  /** -1 until a sweep computed one, as /clusters prints it */
  lastRate = -1;
  add(success: boolean): void {
    this.cur.total++;
    if (success) this.cur.success++;
  }
  rotate(): void {
    this.prev = this.cur;
    this.cur = { total: 0, success: 0 };
  }
  /** [success rate in %, volume] of the last complete interval, or undefined when it saw no request */
  rateAndVolume(): [number, number] | undefined {
    const p = this.prev;
    return p.total === 0 ? undefined : [(p.success * 100) / p.total, p.total];
  }
}

class HostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  numEjections = 0;
  /** multiplier of base_ejection_time for the current/next ejection */
  ejectTimeBackoff = 0;
  lastEjectionTime = 0;
  lastUnejectionTime: number | undefined;
  jitterMs = 0;
  readonly external = new SuccessRateBuckets();
  readonly localOrigin = new SuccessRateBuckets();
  constructor(readonly host: Host) {}
}

type OutlierStats = Record<`ejections_enforced_${EjectionType}` | `ejections_detected_${EjectionType}`, Counter> & {
  ejections_active: Gauge;
  ejections_overflow: Counter;
  ejections_enforced_total: Counter;
  ejections_total: Counter;
  ejections_consecutive_5xx: Counter;
  ejections_success_rate: Counter;
};

export interface OutlierDetectorOptions {
  /** monotonic clock in ms (tests pass their own) */
  now?: () => number;
  /** uniform in [0, 1) */
  random?: () => number;
}

export class OutlierDetector {
  readonly config: OutlierConfig;
  readonly stats: OutlierStats;
  private readonly monitors = new Map<Host, HostMonitor>();
  private readonly onChange: (host: Host) => void;
  private readonly now: () => number;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** hosts ejected now; kept here because the gauge is shared with a cluster this one replaced */
  private ejectedCount = 0;
  /** cluster-wide figures of the last sweep for /clusters: [average, ejection threshold], -1 when not computed */
  successRate: [number, number] = [-1, -1];
  localOriginSuccessRate: [number, number] = [-1, -1];

  /** `onChange` runs after a host was ejected or brought back (the cluster rebuilds its balancers). */
  constructor(config: OutlierConfig, scope: StatsStore, onChange: (host: Host) => void, opts: OutlierDetectorOptions = {}) {
    this.config = config;
    this.onChange = onChange;
    this.now = opts.now ?? (() => performance.now());
    this.random = opts.random ?? Math.random;
    const s = scope.scope('outlier_detection.');
    const stats: Record<string, Counter | Gauge> = {
      ejections_active: s.gauge('ejections_active'),
      ejections_overflow: s.counter('ejections_overflow'),
      ejections_enforced_total: s.counter('ejections_enforced_total'),
      ejections_total: s.counter('ejections_total'),
      ejections_consecutive_5xx: s.counter('ejections_consecutive_5xx'),
      ejections_success_rate: s.counter('ejections_success_rate'),
    };
    for (const t of TYPES) {
      stats[`ejections_enforced_${t}`] = s.counter(`ejections_enforced_${t}`);
      stats[`ejections_detected_${t}`] = s.counter(`ejections_detected_${t}`);
    }
    this.stats = stats as OutlierStats;
    this.stats.ejections_active.set(0);
  }

  /** Start the interval sweeps (unit tests call sweep() themselves instead). */
  start(): void {
    if (!this.timer) this.arm();
  }

  /** Follow the cluster's membership: new hosts get a monitor, removed ones release their ejection. */
  setHosts(hosts: readonly Host[]): void {
    const keep = new Set(hosts);
    for (const [h] of this.monitors) {
      if (keep.has(h)) continue;
      if (h.ejected) {
        h.ejected = false;
        this.stats.ejections_active.set(--this.ejectedCount);
      }
      this.monitors.delete(h);
    }
    for (const h of hosts) if (!this.monitors.has(h)) this.monitors.set(h, new HostMonitor(h));
  }

  /** A request's outcome on `host` (called by the router; cheap: counters and a comparison). */
  putResult(host: Host, result: OutlierResult): void {
    const m = this.monitors.get(host);
    if (!m) return; // the host left the cluster while the request was in flight
    if (typeof result === 'number') {
      // a response arrived, so the connection worked: Envoy reports LocalOriginConnectSuccess first
      if (this.config.splitExternalLocalOriginErrors) this.localOriginSuccess(m);
      this.putHttpStatus(m, result);
    } else if (this.config.splitExternalLocalOriginErrors) this.localOriginFailure(m);
    else this.putHttpStatus(m, result === 'timeout' ? 504 : 503);
  }

  /** successful_active_health_check_uneject_host: a passing active health check ends an ejection. */
  healthCheckSucceeded(host: Host): void {
    if (this.config.successfulActiveHealthCheckUnejectHost && host.ejected && this.monitors.has(host)) this.uneject(host);
  }

  /** The per-host success rates the last sweep computed, for /clusters (-1 when none). */
  hostSuccessRate(host: Host): [number, number] {
    const m = this.monitors.get(host);
    return m ? [m.external.lastRate, m.localOrigin.lastRate] : [-1, -1];
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.sweep();
      this.arm();
    }, this.config.intervalMs);
    this.timer.unref();
  }

  private putHttpStatus(m: HostMonitor, status: number): void {
    const cfg = this.config;
    if (status >= 500 && status < 600) {
      m.external.add(false);
      if (status >= 502 && status <= 504) {
        if (++m.consecutiveGatewayFailure === cfg.consecutiveGatewayFailure) this.onConsecutiveError(m, 'consecutive_gateway_failure');
      } else m.consecutiveGatewayFailure = 0;
      if (++m.consecutive5xx === cfg.consecutive5xx) this.onConsecutiveError(m, 'consecutive_5xx');
    } else {
      m.external.add(true);
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
    }
  }

  private localOriginFailure(m: HostMonitor): void {
    m.localOrigin.add(false);
    if (++m.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) this.onConsecutiveError(m, 'consecutive_local_origin_failure');
  }

  private localOriginSuccess(m: HostMonitor): void {
    m.localOrigin.add(true);
    m.consecutiveLocalOriginFailure = 0;
  }

  private onConsecutiveError(m: HostMonitor, type: EjectionType): void {
    if (m.host.ejected) return;
    this.stats[`ejections_detected_${type}`].inc();
    this.eject(m, type);
    // reset so that a further run of errors is detected even without a success in between
    if (type === 'consecutive_5xx') {
      this.stats.ejections_consecutive_5xx.inc(); // deprecated counter Envoy still keeps
      m.consecutive5xx = 0;
    } else if (type === 'consecutive_gateway_failure') m.consecutiveGatewayFailure = 0;
    else m.consecutiveLocalOriginFailure = 0;
  }

  private eject(m: HostMonitor, type: EjectionType): void {
    const cfg = this.config;
    const active = this.ejectedCount;
    let allowed = (100 * (active + 1)) / this.monitors.size <= cfg.maxEjectionPercent;
    if (cfg.alwaysEjectOneHost && active === 0) allowed = true;
    if (!allowed) {
      this.stats.ejections_overflow.inc();
      return;
    }
    if (type === 'consecutive_5xx' || type === 'success_rate') this.stats.ejections_total.inc();
    const pct = cfg.enforcing[type];
    if (pct < 100 && !(this.random() * 100 < pct)) return; // detected but not enforced
    this.stats.ejections_active.set(++this.ejectedCount);
    this.stats.ejections_enforced_total.inc();
    this.stats[`ejections_enforced_${type}`].inc();
    m.host.ejected = true;
    m.numEjections++;
    m.lastEjectionTime = this.now();
    // jitter spreads the hosts' returns so that they do not all reconnect at once
    m.jitterMs = Math.floor(this.random() * (cfg.maxEjectionTimeJitterMs + 1));
    if (m.ejectTimeBackoff * cfg.baseEjectionTimeMs < cfg.maxEjectionTimeMs + cfg.baseEjectionTimeMs) m.ejectTimeBackoff++;
    this.onChange(m.host);
  }

  private uneject(host: Host): void {
    const m = this.monitors.get(host)!;
    this.stats.ejections_active.set(--this.ejectedCount);
    host.ejected = false;
    // a counter close to its threshold would otherwise re-eject the host after very few new errors
    m.consecutive5xx = 0;
    m.consecutiveGatewayFailure = 0;
    m.consecutiveLocalOriginFailure = 0;
    m.lastUnejectionTime = this.now();
    this.onChange(host);
  }

  /** One interval sweep: bring back hosts whose time is up, judge success rates, relax backoffs. */
  sweep(): void {
    const cfg = this.config;
    const now = this.now();
    for (const m of this.monitors.values()) {
      if (m.host.ejected && Math.min(cfg.baseEjectionTimeMs * m.ejectTimeBackoff, cfg.maxEjectionTimeMs) + m.jitterMs <= now - m.lastEjectionTime) {
        this.uneject(m.host);
      }
      m.external.rotate();
      m.localOrigin.rotate();
      m.external.lastRate = -1;
      m.localOrigin.lastRate = -1;
    }
    this.successRate = this.processSuccessRates(false);
    this.localOriginSuccessRate = this.processSuccessRates(true);
    for (const m of this.monitors.values()) {
      if (!m.host.ejected && m.lastUnejectionTime !== undefined && now - m.lastUnejectionTime >= cfg.intervalMs && m.ejectTimeBackoff > 0) m.ejectTimeBackoff--;
    }
  }

  private processSuccessRates(localOrigin: boolean): [number, number] {
    const cfg = this.config;
    const n = this.monitors.size;
    if (n < cfg.successRateMinimumHosts && n < cfg.failurePercentageMinimumHosts) return [-1, -1];
    const srHosts: [HostMonitor, number][] = [];
    const fpHosts: [HostMonitor, number][] = [];
    let sum = 0;
    for (const m of this.monitors.values()) {
      if (m.host.ejected) continue;
      const b = localOrigin ? m.localOrigin : m.external;
      const rv = b.rateAndVolume();
      if (!rv) continue;
      const [rate, volume] = rv;
      if (volume >= Math.min(cfg.successRateRequestVolume, cfg.failurePercentageRequestVolume)) b.lastRate = rate;
      if (volume >= cfg.successRateRequestVolume) {
        srHosts.push([m, rate]);
        sum += rate;
      }
      if (volume >= cfg.failurePercentageRequestVolume) fpHosts.push([m, rate]);
    }
    let result: [number, number] = [-1, -1];
    if (srHosts.length > 0 && srHosts.length >= cfg.successRateMinimumHosts) {
      const mean = sum / srHosts.length;
      let variance = 0;
      for (const [, r] of srHosts) variance += (r - mean) ** 2;
      const stdev = Math.sqrt(variance / srHosts.length);
      const threshold = mean - (cfg.successRateStdevFactor / 1000) * stdev;
      result = [mean, threshold];
      const type: EjectionType = localOrigin ? 'local_origin_success_rate' : 'success_rate';
      for (const [m, r] of srHosts) {
        if (r < threshold && !m.host.ejected) {
          this.stats.ejections_success_rate.inc(); // deprecated counter Envoy still keeps
          this.stats[`ejections_detected_${type}`].inc();
          this.eject(m, type);
        }
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= cfg.failurePercentageMinimumHosts) {
      const type: EjectionType = localOrigin ? 'local_origin_failure_percentage' : 'failure_percentage';
      for (const [m, r] of fpHosts) {
        if (100 - r >= cfg.failurePercentageThreshold && !m.host.ejected) {
          this.stats[`ejections_detected_${type}`].inc();
          this.eject(m, type);
        }
      }
    }
    return result;
  }
}
