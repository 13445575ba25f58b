// Active health checking of one cluster, after Envoy's HealthCheckerImplBase: one session per host runs a
// check every interval (with jitter), counts consecutive results against healthy_threshold /
// unhealthy_threshold and flips the host's FAILED_ACTIVE_HC flag (`host.failedActiveHc`); the cluster
// rebuilds its priority set on every flip. What a check *is* (HTTP GET, TCP payloads, grpc.health.v1) is a
// health-checker extension (src/proxy/extensions/health-checkers/<name>/), looked up by the HealthCheck oneof
// name; this file only schedules, times out and keeps score.
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { healthCheckers } from '../extensions/registry.js';
import type { Counter, Gauge, StatsStore } from '../observability/stats.js';
import type { Host } from './host.js';
import type { UpstreamTransport } from './pool.js';

const log = logger('health_check');

/** One check's outcome. `network` failures (connect error, reset, timeout) and `retriable` ones count toward
 * unhealthy_threshold; any other failure (e.g. an HTTP status outside expected_statuses) fails the host at once. */
export type CheckResult = { ok: true } | { ok: false; network: boolean; retriable?: boolean; reason: string };

/** A health checker's per-host state (a kept-alive connection, an HTTP/2 session). */
export interface HealthCheckSession {
  /** Run one check. Never rejects; the manager applies the timeout. */
  check(): Promise<CheckResult>;
  /** Tear down any connection (after a timeout, or when the host goes away); a later check reconnects. */
  close(): void;
}

export interface HealthCheckerContext {
  readonly clusterName: string;
  readonly transport: UpstreamTransport;
  /** HealthCheck.reuse_connection (default true) */
  readonly reuseConnection: boolean;
  /** config path of the oneof field, for errors */
  readonly path: string;
}

/** A health-checker extension, registered under its HealthCheck oneof name (e.g. 'http_health_check'). */
export interface HealthCheckerFactory {
  readonly name: string;
  /** Validate and compile the checker's config once; return the per-host session constructor. */
  compile(config: any, ctx: HealthCheckerContext): (host: Host) => HealthCheckSession;
}

const CHECKER_FIELDS = ['http_health_check', 'tcp_health_check', 'grpc_health_check', 'custom_health_check'] as const;

interface Timing {
  timeout: number;
  interval: number;
  unhealthyInterval: number;
  unhealthyEdgeInterval: number;
  healthyEdgeInterval: number;
  noTrafficInterval: number;
  noTrafficHealthyInterval: number | undefined;
  intervalJitter: number;
  intervalJitterPercent: number;
  initialJitter: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  alwaysLogFailures: boolean;
}

export interface HealthCheckStats {
  attempt: Counter;
  success: Counter;
  failure: Counter;
  network_failure: Counter;
  passive_failure: Counter;
  verify_cluster: Counter;
  healthy: Gauge;
  degraded: Gauge;
}

/** What the manager needs from its cluster (kept narrow so it can be unit-tested without one). */
export interface HealthCheckedCluster {
  readonly name: string;
  readonly transport: UpstreamTransport;
  /** the cluster scope ("cluster.<name>.") */
  readonly statsScope: StatsStore;
  /** whether the cluster ever opened an upstream connection (Envoy: upstream_cx_total used) */
  hadTraffic(): boolean;
  /** a host's FAILED_ACTIVE_HC flag flipped: rebuild the load-balancing state */
  onHealthChanged(): void;
  /** a check passed on a host not failed by active HC (outlier detection may end its ejection) */
  onCheckPassed?(host: Host): void;
}

function ms(v: number | undefined, path: string, def: number | undefined, positive: boolean): number {
  if (v === undefined) {
    if (def === undefined) throw new ConfigError('MW_CONFIG_INVALID', path, 'is required');
    return def;
  }
  if (!Number.isFinite(v) || v < 0 || (positive && v === 0)) throw new ConfigError('MW_CONFIG_INVALID', path, `must be a ${positive ? 'positive' : 'non-negative'} duration`);
  return v;
}

/** Validate a cluster's health_checks at load time; returns the compiled form (undefined without checks). */
export function compileHealthChecks(cluster: { name: string; transport: UpstreamTransport }, config: any[] | undefined, path: string): CompiledHealthCheck | undefined {
  if (!config || config.length === 0) return undefined;
  // Envoy: "Multiple health checks not supported"
  if (config.length > 1) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}[1]`, 'only one health check per cluster is supported (as in Envoy)');
  const hc = config[0];
  const p = `${path}[0]`;
  const interval = ms(hc.interval, `${p}.interval`, undefined, true);
  const unhealthyInterval = ms(hc.unhealthy_interval, `${p}.unhealthy_interval`, interval, true);
  const threshold = (v: number | undefined, f: string): number => {
    if (v === undefined) throw new ConfigError('MW_CONFIG_INVALID', `${p}.${f}`, 'is required');
    if (!Number.isInteger(v) || v < 1) throw new ConfigError('MW_CONFIG_INVALID', `${p}.${f}`, 'must be at least 1');
    return v;
  };
  const timing: Timing = {
    timeout: ms(hc.timeout, `${p}.timeout`, undefined, true),
    interval,
    unhealthyInterval,
    unhealthyEdgeInterval: ms(hc.unhealthy_edge_interval, `${p}.unhealthy_edge_interval`, unhealthyInterval, true),
    healthyEdgeInterval: ms(hc.healthy_edge_interval, `${p}.healthy_edge_interval`, interval, true),
    noTrafficInterval: ms(hc.no_traffic_interval, `${p}.no_traffic_interval`, 60_000, true),
    noTrafficHealthyInterval: hc.no_traffic_healthy_interval === undefined ? undefined : ms(hc.no_traffic_healthy_interval, `${p}.no_traffic_healthy_interval`, undefined, true),
    intervalJitter: ms(hc.interval_jitter, `${p}.interval_jitter`, 0, false),
    intervalJitterPercent: hc.interval_jitter_percent ?? 0,
    initialJitter: ms(hc.initial_jitter, `${p}.initial_jitter`, 0, false),
    unhealthyThreshold: threshold(hc.unhealthy_threshold, 'unhealthy_threshold'),
    healthyThreshold: threshold(hc.healthy_threshold, 'healthy_threshold'),
    alwaysLogFailures: hc.always_log_health_check_failures === true,
  };
  const kinds = CHECKER_FIELDS.filter((f) => hc[f] !== undefined);
  if (kinds.length !== 1) throw new ConfigError('MW_CONFIG_INVALID', p, 'exactly one of http_health_check, tcp_health_check, grpc_health_check must be set');
  const kind = kinds[0]!;
  const factory = healthCheckers.get(kind);
  if (!factory) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${p}.${kind}`, `${kind} is not supported`);
  const newSession = factory.compile(hc[kind], { clusterName: cluster.name, transport: cluster.transport, reuseConnection: hc.reuse_connection ?? true, path: `${p}.${kind}` });
  return { timing, newSession, kind };
}

export interface CompiledHealthCheck {
  readonly timing: Timing;
  readonly kind: string;
  readonly newSession: (host: Host) => HealthCheckSession;
}

type Transition = 'unchanged' | 'changed' | 'pending';

class HostSession {
  private timer: NodeJS.Timeout | undefined;
  private firstCheck = true;
  private numHealthy = 0;
  private numUnhealthy = 0;
  private generation = 0;
  private stopped = false;
  private readonly session: HealthCheckSession;

  constructor(
    readonly host: Host,
    private readonly mgr: HealthCheckManager,
    private readonly cfg: CompiledHealthCheck,
  ) {
    this.session = cfg.newSession(host);
  }

  start(): void {
    const j = this.cfg.timing.initialJitter;
    this.schedule(j > 0 ? Math.floor(Math.random() * j) : 0);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.session.close();
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  private run(): void {
    const gen = ++this.generation;
    this.mgr.stats.attempt.inc();
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done || gen !== this.generation || this.stopped) return;
      done = true;
      clearTimeout(timeout);
      this.onResult(r);
    };
    const timeout = setTimeout(() => {
      // the check is abandoned: drop its connection so a hung upstream does not keep it
      this.session.close();
      finish({ ok: false, network: true, reason: `no answer within ${this.cfg.timing.timeout} ms` });
    }, this.cfg.timing.timeout);
    timeout.unref();
    this.session.check().then(finish, (err) => finish({ ok: false, network: true, reason: (err as Error).message }));
  }

  private onResult(r: CheckResult): void {
    const t = this.cfg.timing;
    const h = this.host;
    let transition: Transition = 'unchanged';
    if (r.ok) {
      this.mgr.stats.success.inc();
      this.numUnhealthy = 0;
      if (h.failedActiveHc) {
        // The first result ever on a host skips healthy_threshold, so startup is fast (Envoy's first_check).
        if (this.firstCheck || ++this.numHealthy >= t.healthyThreshold) {
          h.failedActiveHc = false;
          this.numHealthy = 0;
          transition = 'changed';
          log.info({ cluster: this.mgr.clusterName, host: h.id, first_check: this.firstCheck }, 'host became healthy');
        } else transition = 'pending';
      }
    } else {
      this.mgr.stats.failure.inc();
      if (r.network) this.mgr.stats.network_failure.inc();
      this.numHealthy = 0;
      if (!h.failedActiveHc) {
        if ((!r.network && !r.retriable) || ++this.numUnhealthy >= t.unhealthyThreshold) {
          h.failedActiveHc = true;
          this.numUnhealthy = 0;
          transition = 'changed';
          log.warn({ cluster: this.mgr.clusterName, host: h.id, reason: r.reason }, 'host failed its health check and is now unhealthy');
        } else transition = 'pending';
      }
      if (t.alwaysLogFailures && transition !== 'changed') log.warn({ cluster: this.mgr.clusterName, host: h.id, reason: r.reason }, 'health check failed');
    }
    if (r.ok && !h.failedActiveHc) this.mgr.cluster.onCheckPassed?.(h);
    const wasFirst = this.firstCheck;
    this.firstCheck = false;
    if (transition === 'changed') this.mgr.hostChanged();
    if (wasFirst) this.mgr.firstCheckDone(this);
    this.schedule(this.nextInterval(r.ok, transition));
  }

  /** Envoy's interval(): no_traffic_interval until the cluster ever had a connection, then by health and edge. */
  private nextInterval(healthy: boolean, transition: Transition): number {
    const t = this.cfg.timing;
    let base: number;
    if (!this.mgr.cluster.hadTraffic()) base = !this.host.failedActiveHc && t.noTrafficHealthyInterval !== undefined ? t.noTrafficHealthyInterval : t.noTrafficInterval;
    else if (healthy) base = transition === 'unchanged' ? t.interval : t.healthyEdgeInterval;
    else base = transition === 'unchanged' ? t.unhealthyInterval : t.unhealthyEdgeInterval;
    let jitter = 0;
    if (t.intervalJitterPercent > 0) jitter += Math.floor(Math.random() * ((t.intervalJitterPercent * base) / 100));
    if (t.intervalJitter > 0) jitter += Math.floor(Math.random() * t.intervalJitter);
    return base + jitter;
  }
}

/** One cluster's active health checking. */
export class HealthCheckManager {
  readonly stats: HealthCheckStats;
  readonly clusterName: string;
  private readonly sessions = new Map<Host, HostSession>();
  private pendingFirst = new Set<HostSession>();
  private firstWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    readonly cluster: HealthCheckedCluster,
    private readonly compiled: CompiledHealthCheck,
  ) {
    this.clusterName = cluster.name;
    const s = cluster.statsScope.scope('health_check.');
    this.stats = {
      attempt: s.counter('attempt'),
      success: s.counter('success'),
      failure: s.counter('failure'),
      network_failure: s.counter('network_failure'),
      passive_failure: s.counter('passive_failure'),
      verify_cluster: s.counter('verify_cluster'),
      healthy: s.gauge('healthy'),
      degraded: s.gauge('degraded'),
    };
  }

  /**
   * The cluster's host list changed. New hosts start as failed active HC, as in Envoy: they take traffic only
   * once a check passed (the first pass is enough). Removed hosts stop being checked.
   */
  updateHosts(hosts: readonly Host[]): void {
    if (this.stopped) return;
    const keep = new Set(hosts);
    for (const [h, s] of this.sessions) {
      if (keep.has(h)) continue;
      s.stop();
      this.sessions.delete(h);
      this.firstCheckDone(s);
    }
    for (const h of hosts) {
      if (this.sessions.has(h)) continue;
      h.failedActiveHc = true;
      const s = new HostSession(h, this, this.compiled);
      this.sessions.set(h, s);
      this.pendingFirst.add(s);
      s.start();
    }
    this.refreshGauge();
  }

  /** Resolves once every host known now has had its first check (Envoy's cluster warming with health checks). */
  firstRound(): Promise<void> {
    if (this.pendingFirst.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.firstWaiters.push(resolve));
  }

  /** @internal */
  firstCheckDone(s: HostSession): void {
    if (!this.pendingFirst.delete(s) || this.pendingFirst.size > 0) return;
    const w = this.firstWaiters;
    this.firstWaiters = [];
    for (const f of w) f();
  }

  /** @internal */
  hostChanged(): void {
    this.refreshGauge();
    this.cluster.onHealthChanged();
  }

  private refreshGauge(): void {
    let n = 0;
    for (const h of this.sessions.keys()) if (!h.failedActiveHc) n++;
    this.stats.healthy.set(n);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
    this.pendingFirst.clear();
    for (const f of this.firstWaiters) f();
    this.firstWaiters = [];
  }
}
