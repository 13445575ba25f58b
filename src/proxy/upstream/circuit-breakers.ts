// Circuit breakers (cluster.circuit_breakers): per routing priority, cluster-wide limits on open connections,
// requests waiting for a connection, active requests and concurrent retries. A request over a limit fails at
// once (503, flag UO) rather than queueing behind a saturated upstream. This is Envoy's resource manager:
// each limit is a counter with a maximum, an `<x>_open` gauge that reads 1 while the limit is reached and,
// with track_remaining, a `remaining_<x>` gauge.
import type { Counter, Gauge, StatsStore } from '../observability/stats.js';

export type RoutingPriority = 'DEFAULT' | 'HIGH';

export class Resource {
  count = 0;
  private readonly limit: () => number;
  private readonly open: Gauge;
  private readonly remaining: Gauge | undefined;

  constructor(limit: () => number, open: Gauge, remaining: Gauge | undefined) {
    this.limit = limit;
    this.open = open;
    this.remaining = remaining;
    this.update();
  }

  max(): number {
    return this.limit();
  }

  canCreate(): boolean {
    return this.count < this.limit();
  }

  inc(): void {
    this.count++;
    this.update();
  }

  dec(): void {
    this.count--;
    this.update();
  }

  private update(): void {
    const max = this.limit();
    this.open.set(this.count >= max ? 1 : 0);
    this.remaining?.set(max > this.count ? max - this.count : 0);
  }
}

/** The limits of one priority. */
export class ResourceManager {
  readonly priority: RoutingPriority;
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: Resource;
  /** per_host_thresholds.max_connections (Envoy honours only that field per host) */
  readonly maxConnectionsPerHost: number;
  /** the overflow counters, shared by both priorities as in Envoy (cluster.<name>.upstream_*_overflow) */
  readonly stats: BreakerStats;
  readonly thresholds: { max_connections: number; max_pending_requests: number; max_requests: number; max_retries: number };

  constructor(priority: RoutingPriority, t: any, perHost: any, scope: StatsStore, stats: BreakerStats) {
    this.priority = priority;
    this.stats = stats;
    const s = scope.scope(`circuit_breakers.${priority.toLowerCase()}.`);
    const track = t?.track_remaining === true;
    const res = (max: () => number, open: string, remaining: string) => new Resource(max, s.gauge(open), track ? s.gauge(remaining) : undefined);
    const maxConnections = t?.max_connections ?? 1024;
    const maxPending = t?.max_pending_requests ?? 1024;
    const maxRequests = t?.max_requests ?? 1024;
    const maxRetries = t?.max_retries ?? 3;
    this.thresholds = { max_connections: maxConnections, max_pending_requests: maxPending, max_requests: maxRequests, max_retries: maxRetries };
    this.connections = res(() => maxConnections, 'cx_open', 'remaining_cx');
    this.pendingRequests = res(() => maxPending, 'rq_pending_open', 'remaining_pending');
    this.requests = res(() => maxRequests, 'rq_open', 'remaining_rq');
    const budget = t?.retry_budget;
    if (budget) {
      // A retry budget replaces max_retries: a share of the requests active or pending now, never below
      // min_retry_concurrency.
      const percent = budget.budget_percent?.value ?? 20;
      const minConcurrency = budget.min_retry_concurrency ?? 3;
      this.retries = res(() => Math.max(Math.floor((percent / 100) * (this.requests.count + this.pendingRequests.count)), minConcurrency), 'rq_retry_open', 'remaining_retries');
    } else this.retries = res(() => maxRetries, 'rq_retry_open', 'remaining_retries');
    this.maxConnectionsPerHost = perHost?.max_connections ?? Number.MAX_SAFE_INTEGER;
  }
}

export interface BreakerStats {
  /** a connection could not be opened because max_connections was reached */
  upstream_cx_overflow: Counter;
  /** a request failed because max_pending_requests or max_requests was reached */
  upstream_rq_pending_overflow: Counter;
  /** a retry was not made because max_retries or the retry budget was reached */
  upstream_rq_retry_overflow: Counter;
  upstream_rq_pending_total: Counter;
  upstream_rq_pending_active: Gauge;
}

export class CircuitBreakers {
  readonly default: ResourceManager;
  readonly high: ResourceManager;
  readonly stats: BreakerStats;

  /** `config` is the decoded Cluster.circuit_breakers (or undefined); `scope` the cluster's "cluster.<name>." */
  constructor(config: any, scope: StatsStore) {
    this.stats = {
      upstream_cx_overflow: scope.counter('upstream_cx_overflow'),
      upstream_rq_pending_overflow: scope.counter('upstream_rq_pending_overflow'),
      upstream_rq_retry_overflow: scope.counter('upstream_rq_retry_overflow'),
      upstream_rq_pending_total: scope.counter('upstream_rq_pending_total'),
      upstream_rq_pending_active: scope.gauge('upstream_rq_pending_active'),
    };
    // Envoy: with several entries for one priority the first wins; a priority without one gets the defaults.
    const pick = (list: any[] | undefined, p: RoutingPriority) => list?.find((t) => (t.priority ?? 'DEFAULT') === p);
    const mk = (p: RoutingPriority) => new ResourceManager(p, pick(config?.thresholds, p), pick(config?.per_host_thresholds, p), scope, this.stats);
    this.default = mk('DEFAULT');
    this.high = mk('HIGH');
  }

  forPriority(p: RoutingPriority | undefined): ResourceManager {
    return p === 'HIGH' ? this.high : this.default;
  }

  /**
   * Claim a retry slot before retrying (max_retries or the retry budget). False — and upstream_rq_retry_overflow
   * counted — when none is free: the router then returns the response it has instead of retrying. A true
   * result must be paired with releaseRetry() when that retry attempt ends.
   */
  tryRetry(p: RoutingPriority | undefined): boolean {
    const r = this.forPriority(p).retries;
    if (!r.canCreate()) {
      this.stats.upstream_rq_retry_overflow.inc();
      return false;
    }
    r.inc();
    return true;
  }

  releaseRetry(p: RoutingPriority | undefined): void {
    this.forPriority(p).retries.dec();
  }
}

/**
 * One request's claim on its priority's limits: pending while it waits for a connection, then active. The
 * pools hold one per stream so that every way a stream can end releases exactly what it took.
 */
export class RequestSlot {
  private state: 0 | 1 | 2 = 0; // none, pending, active
  constructor(private readonly res: ResourceManager) {}

  /** Start waiting for a connection; false (nothing taken, overflow counted) at max_pending_requests. */
  tryPending(): boolean {
    const r = this.res;
    if (!r.pendingRequests.canCreate()) {
      r.stats.upstream_rq_pending_overflow.inc();
      return false;
    }
    r.pendingRequests.inc();
    r.stats.upstream_rq_pending_total.inc();
    r.stats.upstream_rq_pending_active.inc();
    this.state = 1;
    return true;
  }

  /** Become an active request; false (and the slot released, overflow counted) at max_requests. */
  tryActivate(): boolean {
    const r = this.res;
    this.leavePending();
    if (!r.requests.canCreate()) {
      r.stats.upstream_rq_pending_overflow.inc();
      return false;
    }
    r.requests.inc();
    this.state = 2;
    return true;
  }

  release(): void {
    this.leavePending();
    if (this.state === 2) this.res.requests.dec();
    this.state = 0;
  }

  private leavePending(): void {
    if (this.state !== 1) return;
    this.res.pendingRequests.dec();
    this.res.stats.upstream_rq_pending_active.dec();
    this.state = 0;
  }
}
