// RANDOM (Envoy's RandomLoadBalancer): a uniformly random host. Like Envoy's, it ignores host weights.
import type { Host } from '../../../upstream/host.js';
import { chooseWithRetries, randomInt, type LbFactory } from '../common/lb.js';

export const lbPolicy = 'RANDOM';

export const create: LbFactory = (_cluster, opts) => {
  const random = opts?.random ?? Math.random;
  let hosts: readonly Host[] = [];
  const pick = (): Host | null => (hosts.length === 0 ? null : hosts[randomInt(random, hosts.length)]!);
  return {
    update(next) {
      hosts = next.slice();
    },
    chooseHost(ctx) {
      return chooseWithRetries(ctx, hosts.length, pick);
    },
  };
};
