// What every balancer in this family shares: the factory shape (with an injectable random source, so tests can
// be deterministic), random draws in the forms Envoy's algorithms consume, and the host-selection retry loop
// that honours LbContext.shouldSkip.
import type { Host } from '../../../upstream/host.js';
import type { LbContext, LoadBalancer } from '../../../upstream/load-balancer.js';

export interface LbOptions {
  /** uniform in [0, 1), like Math.random (the default); tests pass a seeded generator */
  random?: () => number;
  /** a monotonic clock in ms (default performance.now), read by slow start only; tests pass a fake one */
  now?: () => number;
}

/** A LoadBalancerFactory that also accepts LbOptions; assignable to LoadBalancerFactory. */
export type LbFactory = (cluster: Record<string, any>, opts?: LbOptions) => LoadBalancer;

export function randomInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

export function randomUint32(random: () => number): number {
  return Math.floor(random() * 0x1_0000_0000);
}

/** A uniform unsigned 64-bit value, as Envoy's Random::RandomGenerator::random() returns. */
export function random64(random: () => number): bigint {
  return (BigInt(randomUint32(random)) << 32n) | BigInt(randomUint32(random));
}

export function weightsEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i]!.weight !== hosts[0]!.weight) return false;
  return true;
}

/**
 * Envoy's host-selection retry: pick, and while the caller wants another host, pick again with the next
 * attempt number; the last pick is returned even if it is one to skip (LbContext allows that). The number of
 * picks is the retry policy's (LbContext.maxPicks: host_selection_retry_max_attempts + 1), as in Envoy, so a
 * random or least-request pick among two hosts avoids a failed one with probability 1 - (1/4)^5 under Istio's
 * 5, not 3/4; without it, `maxAttempts`, each balancer's own bound (about one pick per host).
 */
export function chooseWithRetries(ctx: LbContext | undefined, maxAttempts: number, pick: (attempt: number) => Host | null): Host | null {
  let host = pick(0);
  const skip = ctx?.shouldSkip;
  if (!host || !skip) return host;
  const limit = ctx.maxPicks ?? maxAttempts;
  for (let attempt = 1; attempt < limit && skip(host); attempt++) {
    const next = pick(attempt);
    if (!next) break;
    host = next;
  }
  return host;
}
