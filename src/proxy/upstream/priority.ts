// Load balancing under failure, after Envoy's LoadBalancerBase: which priority level a request goes to
// (health × overprovisioning_factor, spilling over to lower priorities), panic mode (below
// healthy_panic_threshold a priority balances over all of its hosts, healthy or not), and locality-weighted
// balancing within a priority. Everything is computed in `update` (on membership or health changes); a pick
// is one random number against a cumulative table plus the balancer's own pick.
import { ConfigError } from '../../common/errors.js';
import type { Host } from './host.js';
import type { LbContext, LoadBalancer, LoadBalancerFactory } from './load-balancer.js';

export interface PriorityOptions {
  /** ClusterLoadAssignment.Policy.overprovisioning_factor, in percent (Envoy's default 140 = 1.4×) */
  readonly overprovisioningFactor: number;
  /** CommonLbConfig.healthy_panic_threshold, in percent (default 50; 0 disables panic mode) */
  readonly panicThreshold: number;
  /** CommonLbConfig.locality_weighted_lb_config is set */
  readonly localityWeighted: boolean;
}

/** Read and validate the cluster's priority/panic/locality options (load time). */
export function priorityOptions(cluster: any, path: string): PriorityOptions {
  const of = cluster.load_assignment?.policy?.overprovisioning_factor ?? 140;
  if (!Number.isInteger(of) || of < 1) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.load_assignment.policy.overprovisioning_factor`, `must be an integer ≥ 1, not ${of}`);
  }
  const clc = cluster.common_lb_config ?? {};
  const panic = clc.healthy_panic_threshold?.value ?? 50;
  if (!(panic >= 0 && panic <= 100)) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.common_lb_config.healthy_panic_threshold.value`, `must be a percentage between 0 and 100, not ${panic}`);
  }
  return { overprovisioningFactor: of, panicThreshold: panic, localityWeighted: clc.locality_weighted_lb_config !== undefined };
}

/** The level a draw r in [0, 100) falls in under `load` (percent per level). */
function pickLevel(load: readonly number[], r: number): number {
  let acc = 0;
  for (let p = 0; p < load.length - 1; p++) if (r < (acc += load[p]!)) return p;
  return load.length - 1;
}

export interface PriorityLoad {
  /** percentage of requests per priority (sums to 100 when any host exists) */
  readonly load: number[];
  /** per priority: balance over all hosts because too few are healthy */
  readonly panic: boolean[];
}

/**
 * Envoy's priority load: each level's health is min(100, OF × healthy / total) (integer percent); the
 * levels, in order, take min(remaining, health × 100 / normalized total health), so a half-healthy P0 with
 * the default 1.4 keeps 70% and spills 30% to P1. A level is in panic when the total health is below 100 and
 * its own healthy percentage is below the threshold; when every level is in panic, load follows host counts.
 */
export function computePriorityLoad(sets: readonly { total: number; healthy: number }[], opts: PriorityOptions): PriorityLoad {
  const n = sets.length;
  const health = sets.map((s) => (s.total === 0 ? 0 : Math.min(100, Math.floor((opts.overprovisioningFactor * s.healthy) / s.total))));
  const totalHealth = Math.min(100, health.reduce((a, b) => a + b, 0));
  const panic = sets.map((s) => totalHealth < 100 && (s.total === 0 ? 0 : (100 * s.healthy) / s.total) < opts.panicThreshold);
  const load = new Array<number>(n).fill(0);
  if (n === 0) return { load, panic };
  if (opts.panicThreshold > 0 && panic.every(Boolean)) {
    // total panic: spread by host count, whatever their health
    const hosts = sets.reduce((a, s) => a + s.total, 0);
    if (hosts === 0) return { load, panic };
    let left = 100;
    for (let p = 0; p < n; p++) left -= load[p] = Math.floor((100 * sets[p]!.total) / hosts);
    load[sets.findIndex((s) => s.total > 0)]! += left;
    return { load, panic };
  }
  if (totalHealth === 0) {
    load[0] = 100; // nothing healthy and no panic: the pick finds no host (503 no healthy upstream)
    return { load, panic };
  }
  let left = 100;
  for (let p = 0; p < n; p++) left -= load[p] = Math.min(left, Math.floor((health[p]! * 100) / totalHealth));
  // integer rounding leaves a few percent over: the first level with health takes it, as in Envoy
  if (left > 0) load[health.findIndex((h) => h > 0)]! += left;
  return { load, panic };
}

/**
 * A per-request change of the priority load (Envoy's RetryPriority::determinePriorityLoad): given each level's
 * health (min(100, OF × healthy / total), in percent) and the load the cluster computed, the load to pick a
 * level by. Called only on a retry's pick, so the first attempt pays nothing.
 */
export interface PriorityLoadOverride {
  determinePriorityLoad(health: readonly number[], original: readonly number[]): readonly number[];
}


interface LevelState {
  lb: LoadBalancer;
  /** locality-weighted: cumulative effective weights and one balancer per locality */
  localities?: { cum: number[]; total: number; lbs: LoadBalancer[] };
}

/** The cluster's priority levels, rebuilt on every membership/health change. */
export class PrioritySet {
  private cumLoad: number[] = [];
  /** per level health in percent, for retry priorities */
  private health: number[] = [];
  private levels: LevelState[] = [];
  /** balancers by level (and locality), reused across updates so their state (a round-robin position, a
   * ring) survives health changes as it does in Envoy */
  private lbs = new Map<string, LoadBalancer>();
  private nextLbs = new Map<string, LoadBalancer>();
  /** the last computed load, for tests and the admin API */
  current: PriorityLoad = { load: [], panic: [] };

  constructor(
    private readonly opts: PriorityOptions,
    private readonly lbFactory: LoadBalancerFactory,
    private readonly clusterConfig: any,
  ) {}

  /** `byPriority[p]` holds the hosts of priority p; `available(h)` says whether h may take traffic now. */
  update(byPriority: readonly (readonly Host[] | undefined)[], available: (h: Host) => boolean): void {
    const sets = [...byPriority].map((hosts = []) => ({ hosts, healthy: hosts.filter(available) }));
    const pl = computePriorityLoad(sets.map((s) => ({ total: s.hosts.length, healthy: s.healthy.length })), this.opts);
    this.current = pl;
    this.health = sets.map((s) => (s.hosts.length === 0 ? 0 : Math.min(100, Math.floor((this.opts.overprovisioningFactor * s.healthy.length) / s.hosts.length))));
    let acc = 0;
    this.cumLoad = pl.load.map((l) => (acc += l));
    this.nextLbs = new Map();
    this.levels = sets.map((s, p) => {
      const lb = this.balancer(String(p), pl.panic[p] ? s.hosts : s.healthy);
      if (pl.panic[p] || !this.opts.localityWeighted) return { lb };
      return { lb, localities: this.localities(p, s.hosts, s.healthy) };
    });
    this.lbs = this.nextLbs;
  }

  private balancer(key: string, hosts: readonly Host[]): LoadBalancer {
    const lb = this.lbs.get(key) ?? this.lbFactory(this.clusterConfig);
    lb.update(hosts);
    this.nextLbs.set(key, lb);
    return lb;
  }

  /**
   * Envoy's effective locality weight: load_balancing_weight × min(1, OF × healthy / total) of the locality,
   * so a locality that loses hosts sheds its share to the others. Localities without a weight get nothing.
   */
  private localities(p: number, hosts: readonly Host[], healthy: readonly Host[]): LevelState['localities'] {
    const groups = new Map<string, { weight: number; total: number; healthy: Host[] }>();
    for (const h of hosts) {
      const key = JSON.stringify([h.locality?.region ?? '', h.locality?.zone ?? '', h.locality?.sub_zone ?? '']);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { weight: h.localityWeight ?? 0, total: 0, healthy: [] }));
      g.total++;
    }
    for (const h of healthy) groups.get(JSON.stringify([h.locality?.region ?? '', h.locality?.zone ?? '', h.locality?.sub_zone ?? '']))!.healthy.push(h);
    const cum: number[] = [];
    const lbs: LoadBalancer[] = [];
    let total = 0;
    for (const [key, g] of groups) {
      const eff = g.weight * Math.min(1, (this.opts.overprovisioningFactor / 100) * (g.healthy.length / g.total));
      if (eff <= 0) continue;
      cum.push((total += eff));
      lbs.push(this.balancer(`${p}|${key}`, g.healthy));
    }
    return total > 0 ? { cum, total, lbs } : undefined;
  }

  chooseHost(ctx: LbContext | undefined): Host | null {
    const cum = this.cumLoad;
    if (cum.length === 0) return null;
    const r = Math.random() * 100;
    let p = 0;
    const override = ctx?.retryPriority;
    if (override) p = pickLevel(override.determinePriorityLoad(this.health, this.current.load), r);
    else while (p < cum.length - 1 && r >= cum[p]!) p++;
    const level = this.levels[p]!;
    const loc = level.localities;
    if (loc) {
      const x = Math.random() * loc.total;
      let i = 0;
      while (i < loc.cum.length - 1 && x >= loc.cum[i]!) i++;
      return loc.lbs[i]!.chooseHost(ctx);
    }
    return level.lb.chooseHost(ctx);
  }
}
