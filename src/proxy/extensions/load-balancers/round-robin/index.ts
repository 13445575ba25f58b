// ROUND_ROBIN (Envoy's RoundRobinLoadBalancer). Equal weights: plain rotation over the host list. Unequal
// weights: an EDF schedule (common/edf.ts), which spreads each host's turns evenly instead of serving them in
// runs. Both start at a random point, drawn once per balancer, so that proxies started together do not all
// send their first requests to the same host; the rotation index survives host-set updates, as in Envoy.
// With slow_start_config (common/slow-start.ts), the EDF schedule is used while a host is in its window, with
// that host's weight ramping up; once every window has passed the balancer goes back to the plain rotation.
import type { Host } from '../../../upstream/host.js';
import { EdfScheduler } from '../common/edf.js';
import { chooseWithRetries, randomUint32, weightsEqual, type LbFactory } from '../common/lb.js';
import { compileSlowStart } from '../common/slow-start.js';

export const lbPolicy = 'ROUND_ROBIN';

const weightOf = (h: Host) => h.weight;

export const create: LbFactory = (cluster, opts) => {
  const slowStart = compileSlowStart(cluster.round_robin_lb_config?.slow_start_config, 'round_robin_lb_config.slow_start_config', opts?.now);
  const seed = randomUint32(opts?.random ?? Math.random);
  let rrIndex = seed;
  let hosts: readonly Host[] = [];
  let edf: EdfScheduler<Host> | undefined;
  /** when the last host's slow start window ends; -Infinity: no host in slow start, no clock reads */
  let slowUntil = -Infinity;

  // slow start: the weight is scaled by the host's ramp, read when the host is (re-)inserted in the schedule
  const slowWeight = slowStart ? (h: Host) => slowStart.scale(h.weight, h, slowStart.now()) : weightOf;

  const rebuild = (): void => {
    const ramping = slowStart !== undefined && slowStart.now() < slowUntil;
    if (!ramping) slowUntil = -Infinity;
    // Envoy rebuilds the schedule from the same seed on every host-set change.
    edf = hosts.length > 1 && (ramping || !weightsEqual(hosts)) ? EdfScheduler.create(hosts, ramping ? slowWeight : weightOf, seed) : undefined;
  };

  const pick = (): Host | null => {
    if (slowUntil !== -Infinity && slowStart!.now() >= slowUntil) rebuild(); // every window has passed
    if (edf) return edf.pickAndAdd(slowUntil === -Infinity ? weightOf : slowWeight)!;
    if (hosts.length === 0) return null;
    return hosts[rrIndex++ % hosts.length]!;
  };

  return {
    update(next) {
      hosts = next.slice();
      if (slowStart) slowUntil = slowStart.track(hosts);
      rebuild();
    },
    chooseHost(ctx) {
      // Walking the rotation once visits every host, so one attempt per host suffices for shouldSkip.
      return chooseWithRetries(ctx, hosts.length, pick);
    },
  };
};
