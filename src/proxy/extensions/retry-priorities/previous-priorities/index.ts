// envoy.retry_priorities.previous_priorities (PreviousPrioritiesConfig): retries spread over the priorities
// instead of hammering the one that failed. Every `update_frequency` attempts, the priorities of the hosts
// attempted so far are excluded and the load is redistributed over the others by their health, as regular
// host selection distributes it; when no healthy priority is left, the exclusions reset and the original load
// applies again. Istio sets it (update_frequency 2) for VirtualService `retries.retryRemoteLocalities`, where the
// priorities are localities by proximity: the first retry stays local, later ones leave for other localities.
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';
import type { RetryPriority, RetryPriorityFactory } from '../../../router/retry-priority.js';

export const TYPE_URL = 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig';
export const NAME = 'envoy.retry_priorities.previous_priorities';

export class PreviousPriorities implements RetryPriority {
  /** priority of every attempted host, in order */
  private attempted: number[] = [];
  private excluded: boolean[] = [];
  /** the adjusted load, recomputed every `updateFrequency` attempts */
  private load: number[] | undefined;

  constructor(private readonly updateFrequency: number) {}

  onHostAttempted(host: Host): void {
    this.attempted.push(host.priority);
  }

  determinePriorityLoad(health: readonly number[], original: readonly number[]): readonly number[] {
    const n = this.attempted.length;
    if (n < this.updateFrequency) return original;
    if (n % this.updateFrequency === 0) {
      for (const p of this.attempted) this.excluded[p] = true;
      this.load = this.adjusted(health);
    }
    return this.load ?? original;
  }

  /** Envoy's distribution over the priorities left (health × 100 / their total, in order, rounding to the
   *  first); undefined when nothing at all is healthy, so the cluster's own handling applies. */
  private adjusted(health: readonly number[]): number[] | undefined {
    let avail = this.available(health);
    if (avail === 0) {
      // every healthy priority was tried: start over
      this.excluded = [];
      this.attempted = [];
      avail = this.available(health);
    }
    if (avail === 0) return undefined;
    const load = new Array<number>(health.length).fill(0);
    let left = 100;
    while (left > 0) {
      for (let p = 0; p < health.length; p++) {
        const d = Math.min(left, Math.floor(((this.excluded[p] ? 0 : health[p]!) * 100) / avail));
        load[p]! += d;
        left -= d;
      }
    }
    return load;
  }

  private available(health: readonly number[]): number {
    let total = 0;
    for (let p = 0; p < health.length; p++) if (!this.excluded[p]) total += health[p]!;
    return Math.min(100, total);
  }
}

export const previousPriorities: RetryPriorityFactory = {
  names: [TYPE_URL, NAME],
  compile(cfg, path) {
    // proto3: absent is 0, which Envoy's validation rejects too
    const f = cfg.update_frequency ?? 0;
    if (typeof f !== 'number' || !Number.isInteger(f) || f <= 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.update_frequency`, `must be an integer greater than 0, not ${String(f)}`);
    return () => new PreviousPriorities(f);
  },
};
