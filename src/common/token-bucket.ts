// A token bucket with Envoy's local rate limit semantics: it starts full, and every fill_interval (counted from
// its creation) adds tokens_per_fill, never above max_tokens — in steps, not continuously. Envoy drives the
// steps with a timer; here they are computed lazily from a monotonic clock when the bucket is used, so an idle
// bucket costs nothing and the hot path never arms a timer.
import { performance } from 'node:perf_hooks';
import { ConfigError } from './errors.js';

export interface TokenBucketConfig {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** Envoy refuses faster refills: its buckets were refilled by a timer. */
export const MIN_FILL_INTERVAL_MS = 50;

/** Validate a decoded envoy.type.v3.TokenBucket (fill_interval in ms). */
export function compileTokenBucket(tb: { max_tokens?: number; tokens_per_fill?: number; fill_interval?: number }, path: string): TokenBucketConfig {
  const invalid = (field: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', `${path}.${field}`, reason);
  const maxTokens = tb.max_tokens;
  if (!(Number.isInteger(maxTokens) && maxTokens! > 0)) throw invalid('max_tokens', `must be a positive integer, got ${maxTokens}`);
  const tokensPerFill = tb.tokens_per_fill ?? 1;
  if (!(Number.isInteger(tokensPerFill) && tokensPerFill > 0)) throw invalid('tokens_per_fill', `must be a positive integer, got ${tokensPerFill}`);
  const fillIntervalMs = tb.fill_interval;
  if (fillIntervalMs === undefined) throw invalid('fill_interval', 'a fill interval is required');
  if (!(fillIntervalMs >= MIN_FILL_INTERVAL_MS)) throw invalid('fill_interval', `must be at least ${MIN_FILL_INTERVAL_MS}ms, got ${fillIntervalMs}ms`);
  return Object.freeze({ maxTokens: maxTokens!, tokensPerFill, fillIntervalMs });
}

export class TokenBucket {
  private tokens: number;
  /** monotonic time (ms) of the last fill step; steps fall at creation + k·fillIntervalMs */
  private lastFill: number;

  constructor(
    readonly config: TokenBucketConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = config.maxTokens;
    this.lastFill = now();
  }

  private refill(): void {
    const { fillIntervalMs, tokensPerFill, maxTokens } = this.config;
    const t = this.now();
    const steps = Math.floor((t - this.lastFill) / fillIntervalMs);
    if (steps <= 0) return;
    this.lastFill += steps * fillIntervalMs;
    if (this.tokens < maxTokens) this.tokens = Math.min(maxTokens, this.tokens + steps * tokensPerFill);
  }

  /** Take `n` tokens if there are that many; false (and nothing taken) otherwise. */
  consume(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  remaining(): number {
    this.refill();
    return this.tokens;
  }

  /** ms until the next fill step */
  msUntilNextFill(): number {
    this.refill();
    return this.lastFill + this.config.fillIntervalMs - this.now();
  }

  /**
   * Seconds until the next fill as Envoy's x-ratelimit-reset reports it: the interval minus the whole seconds
   * elapsed since the last fill, truncated to seconds.
   */
  resetSeconds(): number {
    this.refill();
    const elapsedWholeSeconds = Math.floor((this.now() - this.lastFill) / 1000) * 1000;
    return Math.max(0, Math.trunc((this.config.fillIntervalMs - elapsedWholeSeconds) / 1000));
  }

  /** Whether the bucket is full, i.e. indistinguishable from a fresh one (idle per-connection buckets can go). */
  isFull(): boolean {
    return this.remaining() >= this.config.maxTokens;
  }
}
