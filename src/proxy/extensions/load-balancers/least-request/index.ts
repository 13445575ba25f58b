// LEAST_REQUEST (Envoy's LeastRequestLoadBalancer).
// - All weights equal: "power of N choices": sample choice_count hosts at random (with replacement) and take
//   the one with the fewest active requests; ties keep the first sampled. O(choice_count) per pick.
// - Weights differ, or active_request_bias is set explicitly (Envoy's default since
//   least_request_lb_active_request_bias_forces_weighted): an EDF schedule over
//   weight / (active_requests + 1) ^ active_request_bias. As in Envoy, a host's scaled weight is read when the
//   host enters the schedule (at update, and each time it is picked), so a host that gets busy is picked less
//   often but never drained completely.
// - slow_start_config (common/slow-start.ts): while a host is in its window the EDF schedule is used even with
//   equal weights, and the scaled weight above is scaled again by the host's ramp (Envoy's order); once every
//   window has passed the balancer goes back to what its weights alone would choose.
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { Host } from '../../../upstream/host.js';
import { EdfScheduler } from '../common/edf.js';
import { chooseWithRetries, randomInt, randomUint32, weightsEqual, type LbFactory } from '../common/lb.js';
import { compileSlowStart } from '../common/slow-start.js';

export const lbPolicy = 'LEAST_REQUEST';

export const create: LbFactory = (cluster, opts) => {
  const cfg = cluster.least_request_lb_config ?? {};
  const path = 'least_request_lb_config';
  const choiceCount: number = cfg.choice_count ?? 2;
  if (!Number.isInteger(choiceCount) || choiceCount < 2) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.choice_count`, `must be an integer >= 2, got ${choiceCount}`);
  }
  const slowStart = compileSlowStart(cfg.slow_start_config, `${path}.slow_start_config`, opts?.now);
  // active_request_bias is a RuntimeDouble; without a runtime layer its default_value is the value.
  const biasSet = cfg.active_request_bias !== undefined;
  let bias: number = cfg.active_request_bias?.default_value ?? 1.0;
  if (!(bias >= 0)) {
    // Envoy accepts the config and falls back to 1.0 with a warning; so do we.
    logger('upstream').warn({ cluster: cluster.name, active_request_bias: bias }, 'invalid active_request_bias, using 1.0');
    bias = 1.0;
  }
  const hostWeight = (h: Host): number => {
    if (bias === 0) return h.weight;
    const active = h.activeRequests + 1;
    return bias === 1 ? h.weight / active : h.weight / Math.pow(active, bias);
  };

  const slowWeight = slowStart ? (h: Host) => slowStart.scale(hostWeight(h), h, slowStart.now()) : hostWeight;

  const random = opts?.random ?? Math.random;
  const seed = randomUint32(random);
  let hosts: readonly Host[] = [];
  let edf: EdfScheduler<Host> | undefined;
  /** when the last host's slow start window ends; -Infinity: no host in slow start, no clock reads */
  let slowUntil = -Infinity;

  const rebuild = (): void => {
    const ramping = slowStart !== undefined && slowStart.now() < slowUntil;
    if (!ramping) slowUntil = -Infinity;
    const weighted = hosts.length > 1 && (ramping || biasSet || !weightsEqual(hosts));
    edf = weighted ? EdfScheduler.create(hosts, ramping ? slowWeight : hostWeight, seed) : undefined;
  };

  const pick = (): Host | null => {
    if (slowUntil !== -Infinity && slowStart!.now() >= slowUntil) rebuild(); // every window has passed
    if (edf) return edf.pickAndAdd(slowUntil === -Infinity ? hostWeight : slowWeight)!;
    const n = hosts.length;
    if (n === 0) return null;
    let best = hosts[randomInt(random, n)]!;
    for (let i = 1; i < choiceCount; i++) {
      const h = hosts[randomInt(random, n)]!;
      if (h.activeRequests < best.activeRequests) best = h;
    }
    return best;
  };

  return {
    update(next) {
      hosts = next.slice();
      if (slowStart) slowUntil = slowStart.track(hosts);
      rebuild();
    },
    chooseHost(ctx) {
      return chooseWithRetries(ctx, hosts.length, pick);
    },
  };
};
