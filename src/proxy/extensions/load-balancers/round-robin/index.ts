// ROUND_ROBIN (Envoy's RoundRobinLoadBalancer). Equal weights: plain rotation over the host list. Unequal
// weights: an EDF schedule (common/edf.ts), which spreads each host's turns evenly instead of serving them in
// runs. Both start at a random point, drawn once per balancer, so that proxies started together do not all
// send their first requests to the same host; the rotation index survives host-set updates, as in Envoy.
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';
import { EdfScheduler } from '../common/edf.js';
import { chooseWithRetries, randomUint32, weightsEqual, type LbFactory } from '../common/lb.js';

export const lbPolicy = 'ROUND_ROBIN';

const weightOf = (h: Host) => h.weight;

export const create: LbFactory = (cluster, opts) => {
  if (cluster.round_robin_lb_config?.slow_start_config !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', 'round_robin_lb_config.slow_start_config', 'slow start is not implemented');
  }
  const seed = randomUint32(opts?.random ?? Math.random);
  let rrIndex = seed;
  let hosts: readonly Host[] = [];
  let edf: EdfScheduler<Host> | undefined;

  const pick = (): Host | null => {
    if (edf) return edf.pickAndAdd(weightOf)!;
    if (hosts.length === 0) return null;
    return hosts[rrIndex++ % hosts.length]!;
  };

  return {
    update(next) {
      hosts = next.slice();
      // Envoy rebuilds the schedule from the same seed on every host-set change.
      edf = weightsEqual(hosts) ? undefined : EdfScheduler.create(hosts, weightOf, seed);
    },
    chooseHost(ctx) {
      // Walking the rotation once visits every host, so one attempt per host suffices for shouldSkip.
      return chooseWithRetries(ctx, hosts.length, pick);
    },
  };
};
