// One request's retry bookkeeping (Envoy's RetryStateImpl): whether a response or a reset is retried, how
// many retries remain, the fully jittered exponential back-off, the hosts already tried (previous_hosts
// predicate), the retry priority (previous_priorities), and the retry statistics of the cluster. The router owns the attempts; this only decides.
import type { HeaderMap } from '../http/headers.js';
import type { Counter, StatsStore } from '../observability/stats.js';
import type { Host } from '../upstream/host.js';
import type { UpstreamResetReason } from '../upstream/pool.js';
import { GRPC_STATUS_BITS, RetryOn, type RetryPolicy } from './retry-policy.js';
import type { RetryPriority } from './retry-priority.js';

/** Envoy's RetryStatus: Yes, No, NoOverflow (circuit breaker said no), NoRetryLimitExceeded */
export type RetryDecision = 'retry' | 'no' | 'overflow' | 'limit-exceeded';

export interface RetryStats {
  upstream_rq_retry: Counter;
  upstream_rq_retry_success: Counter;
  upstream_rq_retry_limit_exceeded: Counter;
  upstream_rq_retry_backoff_exponential: Counter;
  upstream_rq_per_try_timeout: Counter;
  upstream_rq_per_try_idle_timeout: Counter;
  retry_or_shadow_abandoned: Counter;
}

// Made once per cluster stats scope (the cluster's ClusterStats stays as the cluster defines it).
const statsByScope = new WeakMap<StatsStore, RetryStats>();

/** The retry counters of a cluster, given its `cluster.<name>.` stats scope. */
export function retryStats(scope: StatsStore): RetryStats {
  let s = statsByScope.get(scope);
  if (!s) {
    s = {
      upstream_rq_retry: scope.counter('upstream_rq_retry'),
      upstream_rq_retry_success: scope.counter('upstream_rq_retry_success'),
      upstream_rq_retry_limit_exceeded: scope.counter('upstream_rq_retry_limit_exceeded'),
      upstream_rq_retry_backoff_exponential: scope.counter('upstream_rq_retry_backoff_exponential'),
      upstream_rq_per_try_timeout: scope.counter('upstream_rq_per_try_timeout'),
      upstream_rq_per_try_idle_timeout: scope.counter('upstream_rq_per_try_idle_timeout'),
      retry_or_shadow_abandoned: scope.counter('retry_or_shadow_abandoned'),
    };
    statsByScope.set(scope, s);
  }
  return s;
}

/** What stopped an attempt without a response: a pool reset, or one of the router's per-try timers. */
export type AttemptFailure = UpstreamResetReason | 'per-try-timeout';

const RESET_RETRY_BITS = RetryOn['5xx'] | RetryOn['gateway-error'] | RetryOn.reset;

/**
 * The cluster's circuit breaker for retries (max_retries or retry_budget): tryRetry claims a slot (counting
 * upstream_rq_retry_overflow itself when none is free), releaseRetry gives it back.
 */
export interface RetryAdmission {
  tryRetry(): boolean;
  releaseRetry(): void;
}

export class RetryState {
  readonly policy: RetryPolicy;
  private readonly stats: RetryStats;
  private readonly random: () => number;
  private readonly admission: RetryAdmission | undefined;
  private remaining: number;
  private backOffStep = 1;
  private readonly tried: Host[] = [];
  /** the retry_priority's state for this request (previous_priorities), when the policy has one */
  private readonly priority: RetryPriority | undefined;
  /** a retry was granted and its outcome is not known yet: it holds a circuit-breaker slot until then */
  private inFlight = false;

  constructor(policy: RetryPolicy, stats: RetryStats, opts: { random?: () => number; admission?: RetryAdmission } = {}) {
    this.policy = policy;
    this.stats = stats;
    this.random = opts.random ?? Math.random;
    this.admission = opts.admission;
    this.remaining = policy.numRetries;
    this.priority = policy.retryPriority?.();
  }

  /** Would the policy retry this response, retries left or not? (Envoy's wouldRetryFromHeaders) */
  wouldRetryHeaders(h: HeaderMap): boolean {
    // an upstream Envoy that is overloaded asks not to be retried
    if (h.has('x-envoy-overloaded')) return false;
    const p = this.policy;
    const on = p.retryOn;
    const status = Number(h.get(':status'));
    if (on & RetryOn['5xx'] && status >= 500 && status < 600) return true;
    if (on & RetryOn['gateway-error'] && (status === 502 || status === 503 || status === 504)) return true;
    if (on & RetryOn['retriable-4xx'] && status === 409) return true;
    if (on & RetryOn['retriable-status-codes'] && p.retriableStatusCodes.has(status)) return true;
    if (on & RetryOn['envoy-ratelimited'] && h.has('x-envoy-ratelimited')) return true;
    if (on & RetryOn['retriable-headers']) for (const m of p.retriableHeaders) if (m.matches(h)) return true;
    // gRPC: only a trailers-only response carries grpc-status in its headers
    const gs = h.get('grpc-status');
    if (gs !== undefined) {
      const bit = GRPC_STATUS_BITS.get(Number(gs));
      if (bit !== undefined && on & bit) return true;
    }
    return false;
  }

  /** Would the policy retry after this failure? (Envoy's wouldRetryFromReset; per-try timeouts count as local resets) */
  wouldRetryFailure(f: AttemptFailure): boolean {
    const on = this.policy.retryOn;
    if (f === 'overflow') return false;
    if ((f === 'connect-failure' || f === 'connect-timeout') && on & (RetryOn['connect-failure'] | RetryOn['reset-before-request'])) return true;
    if (on & RESET_RETRY_BITS) return true;
    return f === 'refused-stream' && (on & RetryOn['refused-stream']) !== 0;
  }

  /** Called with every attempt's response headers. */
  shouldRetryHeaders(h: HeaderMap): RetryDecision {
    return this.decide(this.wouldRetryHeaders(h));
  }

  /** Called with every attempt that ended without a response. */
  shouldRetryFailure(f: AttemptFailure): RetryDecision {
    return this.decide(this.wouldRetryFailure(f));
  }

  // Envoy's RetryStateImpl::shouldRetry: a retried attempt whose outcome is not retriable is a retry success;
  // the retry's circuit-breaker slot is held until that outcome is known.
  private decide(would: boolean): RetryDecision {
    if (this.inFlight && !would) this.stats.upstream_rq_retry_success.inc();
    this.release();
    if (!would) return 'no';
    if (this.remaining === 0) {
      this.stats.upstream_rq_retry_limit_exceeded.inc();
      return 'limit-exceeded';
    }
    this.remaining--;
    if (this.admission && !this.admission.tryRetry()) return 'overflow';
    this.inFlight = true;
    this.stats.upstream_rq_retry.inc();
    return 'retry';
  }

  /** The request is over (or retries were abandoned): give back a held retry slot. */
  release(): void {
    if (!this.inFlight) return;
    this.inFlight = false;
    this.admission?.releaseRetry();
  }

  /**
   * Envoy's JitteredExponentialBackOffStrategy: the n-th retry waits a uniform draw in [0, (2^n - 1) × base),
   * capped at max — 0-24 ms, 0-74 ms, 0-174 ms, ... with the 25 ms default.
   */
  nextBackOffMs(): number {
    const p = this.policy;
    const ceiling = ((2 ** this.backOffStep) - 1) * p.backOffBaseMs;
    if (ceiling <= p.backOffMaxMs) this.backOffStep++;
    this.stats.upstream_rq_retry_backoff_exponential.inc();
    return Math.min(Math.floor(this.random() * ceiling), p.backOffMaxMs);
  }

  /** A host was attempted (the previous_hosts predicate remembers it). */
  onHostAttempted(host: Host): void {
    if (this.policy.previousHosts) this.tried.push(host);
    this.priority?.onHostAttempted(host);
  }

  /**
   * LbContext.shouldSkip for the next pick, or undefined when the policy has no host predicate. It rejects
   * already-tried hosts at most host_selection_retry_max_attempts times, after which the balancer's pick stands.
   */
  /** LbContext.maxPicks to go with hostFilter(): the first pick and the re-picks the policy allows. */
  get hostSelectionPicks(): number {
    return this.policy.hostSelectionMaxAttempts + 1;
  }

  hostFilter(): ((host: Host) => boolean) | undefined {
    if (!this.policy.previousHosts || this.tried.length === 0) return undefined;
    let rejections = this.policy.hostSelectionMaxAttempts;
    const tried = this.tried;
    return (h: Host): boolean => {
      if (rejections <= 0 || !tried.includes(h)) return false;
      rejections--;
      return true;
    };
  }

  /** LbContext.retryPriority for the next pick (the policy's retry_priority, fed with the hosts tried). */
  get retryPriority(): RetryPriority | undefined {
    return this.priority;
  }

}

/**
 * The request body kept for retries: chunks as they arrive, until more than `limit` bytes — then it is
 * dropped, and from then on the request can no longer be replayed (Envoy's retry_or_shadow_abandoned).
 */
export class RequestBuffer {
  private chunks: Buffer[] | null = [];
  private size = 0;
  private readonly limit: number;
  trailers: HeaderMap | undefined;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** false once the limit has been passed (now or before) */
  add(chunk: Buffer): boolean {
    if (!this.chunks) return false;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.chunks = null;
      return false;
    }
    if (chunk.length > 0) this.chunks.push(chunk);
    return true;
  }

  get overflowed(): boolean {
    return this.chunks === null;
  }

  get body(): readonly Buffer[] {
    return this.chunks ?? [];
  }
}
