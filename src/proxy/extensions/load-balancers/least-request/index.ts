// LEAST_REQUEST (Envoy's LeastRequestLoadBalancer).
// - All weights equal: "power of N choices": sample choice_count hosts at random (with replacement) and take
//   the one with the fewest active requests; ties keep the first sampled. O(choice_count) per pick.
// - Weights differ, or active_request_bias is set explicitly (Envoy's default since
//   least_request_lb_active_request_bias_forces_weighted): an EDF schedule over
//   weight / (active_requests + 1) ^ active_request_bias. As in Envoy, a host's scaled weight is read when the
//   host enters the schedule (at update, and each time it is picked), so a host that gets busy is picked less
//   often but never drained completely.
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { Host } from '../../../upstream/host.js';
import { EdfScheduler } from '../common/edf.js';
import { chooseWithRetries, randomInt, randomUint32, weightsEqual, type LbFactory } from '../common/lb.js';

export const lbPolicy = 'LEAST_REQUEST';

export const create: LbFactory = (cluster, opts) => {
  const cfg = cluster.least_request_lb_config ?? {};
  const path = 'least_request_lb_config';
  const choiceCount: number = cfg.choice_count ?? 2;
  if (!Number.isInteger(choiceCount) || choiceCount < 2) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.choice_count`, `must be an integer >= 2, got ${choiceCount}`);
  }
  if (cfg.slow_start_config !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.slow_start_config`, 'slow start is not implemented');
  }
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

  const random = opts?.random ?? Math.random;
  const seed = randomUint32(random);
  let hosts: readonly Host[] = [];
  let edf: EdfScheduler<Host> | undefined;

  const pick = (): Host | null => {
    if (edf) return edf.pickAndAdd(hostWeight)!;
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
      const weighted = hosts.length > 1 && (biasSet || !weightsEqual(hosts));
      edf = weighted ? EdfScheduler.create(hosts, hostWeight, seed) : undefined;
    },
    chooseHost(ctx) {
      return chooseWithRetries(ctx, hosts.length, pick);
    },
  };
};
