// The JWKS of a provider with remote_jwks: cached for cache_duration (Envoy's default 10 minutes), fetched
// on demand by the first request that needs it (later requests wait for the same fetch), or — with
// async_fetch — fetched when the config is applied and refreshed in the background so that no request waits
// after the first fetch and expired keys keep serving until new ones arrive (failed attempts are retried
// after failed_refetch_duration, default 1 s).
//
// Beyond Envoy (whose jwt_authn only refetches on expiry): a token whose kid no cached key matches triggers
// one refetch, so that an issuer's key rotation is picked up at once instead of after cache_duration. These
// refetches are rate-limited (one per KID_REFETCH_INTERVAL_MS per provider), so that tokens with made-up kids
// cannot turn the proxy into a load generator against the JWKS server.
import { performance } from 'node:perf_hooks';
import { Jwks } from './jwks.js';
import { Status } from './jwt.js';

export const DEFAULT_CACHE_DURATION_MS = 10 * 60_000;
export const DEFAULT_FAILED_REFETCH_MS = 1000;
export const KID_REFETCH_INTERVAL_MS = 30_000;

export interface RemoteJwksOptions {
  /** The JWKS document (the body of a 200 response); rejects with a reason otherwise. Retries are its own. */
  readonly fetch: () => Promise<string>;
  readonly cacheDurationMs: number;
  /** async_fetch: background refresh instead of on-demand fetching */
  readonly asyncFetch?: { readonly failedRefetchMs: number };
  readonly kidRefetchIntervalMs?: number;
  /** every fetch outcome, for stats and logs */
  readonly onFetch: (ok: boolean, reason?: string) => void;
  /** monotonic ms (tests) */
  readonly now?: () => number;
}

export class RemoteJwks {
  private jwks: Jwks | undefined;
  private fetchedAt = -Infinity;
  private failedAt = -Infinity;
  private lastKidRefetchAt = -Infinity;
  private inflight: Promise<Jwks | Status> | undefined;
  private readonly now: () => number;
  private readonly kidInterval: number;

  constructor(private readonly o: RemoteJwksOptions) {
    this.now = o.now ?? (() => performance.now());
    this.kidInterval = o.kidRefetchIntervalMs ?? Math.min(KID_REFETCH_INTERVAL_MS, o.cacheDurationMs);
  }

  /**
   * async_fetch: the first fetch starts when the config is applied, not with the first request. It waits a
   * tick because the config is compiled before its clusters are in place; a failure is retried in the
   * background (retryLater).
   */
  start(): void {
    if (this.o.asyncFetch) setImmediate(() => void this.fetch());
  }

  /** The keys to verify with: cached ones synchronously, or a fetch in progress. */
  get(): Jwks | Promise<Jwks | Status> | Status {
    const now = this.now();
    if (this.jwks) {
      if (now - this.fetchedAt < this.o.cacheDurationMs) return this.jwks;
      if (this.o.asyncFetch) {
        // stale keys keep serving while the refresh runs (Envoy's async fetch never expires what it has)
        if (!this.inflight && now - this.failedAt >= this.o.asyncFetch.failedRefetchMs) void this.fetch();
        return this.jwks;
      }
    }
    return this.inflight ?? this.fetch();
  }

  /**
   * A token's kid matched no cached key: fetch again unless that was done within the rate-limit interval.
   * Resolves to the new keys, or undefined when no refetch happened or it failed.
   */
  refetchForUnknownKid(): Promise<Jwks | undefined> | undefined {
    const pending = this.inflight;
    if (pending) return pending.then((r) => (typeof r === 'string' ? undefined : r));
    const now = this.now();
    if (now - this.lastKidRefetchAt < this.kidInterval) return undefined;
    this.lastKidRefetchAt = now;
    return this.fetch().then((r) => (typeof r === 'string' ? undefined : r));
  }

  /**
   * async_fetch after a failure: try again after failed_refetch_duration without waiting for a request. The
   * timer holds the source only weakly: filter configs have no teardown hook, so a config that was replaced
   * stops retrying once it is collected instead of polling a dead endpoint forever.
   */
  private retryLater(ms: number): void {
    const ref = new WeakRef(this);
    setTimeout(() => {
      const self = ref.deref();
      if (self && !self.inflight && (!self.jwks || self.now() - self.fetchedAt >= self.o.cacheDurationMs)) void self.fetch();
    }, ms).unref();
  }

  private fetch(): Promise<Jwks | Status> {
    const p = this.o.fetch().then(
      (body) => {
        const parsed = Jwks.parse(body);
        if (!(parsed instanceof Jwks)) throw new Error(`the JWKS is not usable: ${parsed.detail}`);
        this.jwks = parsed;
        this.fetchedAt = this.now();
        this.o.onFetch(true);
        return parsed;
      },
    ).catch((e: unknown) => {
      this.failedAt = this.now();
      this.o.onFetch(false, e instanceof Error ? e.message : String(e));
      if (this.o.asyncFetch) this.retryLater(this.o.asyncFetch.failedRefetchMs);
      return Status.JwksFetchFail;
    }).finally(() => {
      if (this.inflight === p) this.inflight = undefined;
    });
    this.inflight = p;
    return p;
  }
}
