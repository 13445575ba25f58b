// Slow start (Envoy's SlowStartConfig, for ROUND_ROBIN and LEAST_REQUEST): a host new to the balancer takes a
// share of traffic that ramps up over slow_start_window instead of its full share at once, so that an endpoint
// that has just joined (a scale-up, a restart) can warm its caches and JIT first. Its weight is scaled, as in
// Envoy's EdfLoadBalancerBase::applySlowStartFactor, by
//     max(min_weight_percent, time_factor ^ (1 / aggression)),  time_factor = max(elapsed, 1 ms) / window
// where `elapsed` is the time since the host joined: the first time a balancer of its cluster was handed it
// (Envoy sets last_hc_pass_time then when no active health check has), so the hosts present when a cluster is
// created ramp up together (equal shares), and one added later ramps up alone.
//
// Cost: nothing when slow start is not configured (the balancers keep their plain weight functions). When it
// is, a balancer uses its EDF schedule while some host is inside its window, and each pick reads the clock once
// (the weight of the picked host is re-read as it is re-inserted, which is how the ramp takes effect, as in
// Envoy); once every window has passed, the balancer drops back to its schedule without slow start.
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { Host } from '../../../upstream/host.js';

export interface SlowStart {
  readonly windowMs: number;
  readonly aggression: number;
  /** min_weight_percent / 100 */
  readonly minWeight: number;
  /** the clock (ms, monotonic) */
  readonly now: () => number;
  /** Note the hosts' join times (those seen for the first time join now); returns when the last window ends. */
  track(hosts: readonly Host[]): number;
  /** `weight` of `host` scaled for slow start at time `now` */
  scale(weight: number, host: Host, now: number): number;
}

/**
 * When each host joined, shared by every balancer of its cluster (a Host object belongs to one cluster, and a
 * cluster has a balancer per priority and locality, which must agree). Weak: removed hosts are forgotten.
 */
const joined = new WeakMap<Host, number>();

/** The compiled slow_start_config of a balancer config, or undefined when it is absent or has no window. */
export function compileSlowStart(cfg: any, path: string, now: () => number = performanceNow): SlowStart | undefined {
  if (cfg === undefined) return undefined;
  const windowMs: number = cfg.slow_start_window ?? 0;
  // Envoy: no window, no slow start (isSlowStartEnabled)
  if (!(windowMs > 0)) return undefined;
  let aggression: number = cfg.aggression?.default_value ?? 1.0;
  if (!(aggression > 0)) {
    // Envoy accepts it and uses 1.0, logging an error; so do we, once, at load
    logger('upstream').error({ path: `${path}.aggression`, aggression }, 'invalid slow start aggression (must be > 0), using 1.0');
    aggression = 1.0;
  }
  const pct: number = cfg.min_weight_percent?.value ?? 10;
  if (!(pct >= 0 && pct <= 100)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.min_weight_percent.value`, `must be within 0..100, got ${pct}`);
  const minWeight = pct / 100;
  const exponent = 1 / aggression;
  return Object.freeze({
    windowMs,
    aggression,
    minWeight,
    now,
    track(hosts: readonly Host[]): number {
      const t = now();
      let until = -Infinity;
      for (const h of hosts) {
        let since = joined.get(h);
        if (since === undefined) joined.set(h, (since = t));
        if (since + windowMs > until) until = since + windowMs;
      }
      return until;
    },
    scale(weight: number, host: Host, at: number): number {
      const since = joined.get(host);
      if (since === undefined) return weight;
      const elapsed = at - since;
      if (elapsed >= windowMs) return weight;
      const timeFactor = Math.max(elapsed, 1) / windowMs;
      const f = exponent === 1 ? timeFactor : Math.pow(timeFactor, exponent);
      return weight * Math.max(minWeight, f);
    },
  });
}

function performanceNow(): number {
  return performance.now();
}
