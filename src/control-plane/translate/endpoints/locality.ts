// Locality-aware load balancing, as Istio applies it to each proxy's ClusterLoadAssignments
// (pilot/pkg/networking/core/loadbalancer: ApplyLocalityLoadBalancer and its helpers). The endpoints of a cluster
// are grouped by locality; relative to the locality (and labels) of the proxy asking, the groups then get:
//
//  - `distribute` (applyLocalityWeights): the first rule whose `from` matches the proxy's locality sets each
//    matching group's load_balancing_weight to its share of the `to` weight; groups no `to` names get nothing.
//  - failover (applyLocalityFailover): priorities by proximity — same region/zone/subzone P0, same region/zone
//    P1, same region P2, elsewhere P3, or P4 for a region a `failover` rule of the proxy's region does not name
//    as its `to` — compacted to 0..N without gaps. Only with outlier detection (Istio's rule: without it Envoy
//    never notices a priority going bad, so traffic would never fail over).
//  - failoverPriority (applyFailoverPriorities): priorities by how many of the listed labels, in order, an
//    endpoint shares with the proxy (a "label=value" entry compares with that value instead); the locality
//    rules of `failover` are applied on top when both are set.
//
// The mesh default is Istio's: locality load balancing enabled with no rules, so a DestinationRule with
// outlierDetection alone gets proximity priorities; `enabled: false` turns all of it off.
import type { LocalityLoadBalancerSetting } from '../../../api/mesh/types.js';
import type { EffectivePolicy } from '../../model/destination-rules.js';
import type { Endpoint } from '../../model/instances.js';
import type { Labels } from '../../model/labels.js';

/** One LocalityLbEndpoints in the making. */
export interface LocalityGroup {
  /** "region/zone/subzone" ("" when the endpoints have none) */
  readonly locality: string;
  readonly endpoints: readonly Endpoint[];
  /** load_balancing_weight of the group */
  readonly weight: number;
  readonly priority: number;
}

/** The proxy a load assignment is computed for. */
export interface LocalityClient {
  readonly locality?: string;
  readonly labels: Labels;
}

interface Loc {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export function parseLocality(s: string | undefined): Loc {
  const [region = '', zone = '', subZone = ''] = (s ?? '').split('/');
  return { region, zone, subZone };
}

/** Istio's util.LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
export function lbPriority(proxy: Loc, ep: Loc): number {
  if (proxy.region !== ep.region) return 3;
  if (proxy.zone !== ep.zone) return 2;
  return proxy.subZone === ep.subZone ? 0 : 1;
}

/** Istio's util.LocalityMatch: does `locality` match the rule "region[/zone[/subzone]]" ("*" matches any part,
 *  a missing zone or subzone matches any)? */
export function localityMatch(locality: Loc, rule: string): boolean {
  const r = parseLocality(rule);
  return (r.region === '*' || r.region === locality.region) && (r.zone === '*' || r.zone === '' || r.zone === locality.zone) && (r.subZone === '*' || r.subZone === '' || r.subZone === locality.subZone);
}

/** Istio's GetLocalityLbSetting with the mesh default (enabled, no rules); undefined when turned off. */
export function localityLbSetting(policy: EffectivePolicy): LocalityLoadBalancerSetting | undefined {
  const s = policy.loadBalancer?.localityLbSetting;
  if (!s) return MESH_DEFAULT;
  return s.enabled === false ? undefined : s;
}

const MESH_DEFAULT: LocalityLoadBalancerSetting = Object.freeze({ enabled: true });

/** Whether the cluster needs locality_weighted_lb_config (Istio's applyLocalityLoadBalancer of the cluster
 *  builder): with `distribute`, or with failover rules that take effect. */
export function needsLocalityWeights(policy: EffectivePolicy): boolean {
  const s = localityLbSetting(policy);
  if (!s) return false;
  if (s.distribute?.length) return true;
  return policy.outlierDetection !== undefined && (!!s.failover?.length || !!s.failoverPriority?.length);
}

/** Groups of endpoints by locality, sorted by locality; each weighted by the sum of its endpoints' weights. */
export function groupByLocality(eps: readonly Endpoint[]): LocalityGroup[] {
  const groups = new Map<string, Endpoint[]>();
  for (const e of eps) {
    const k = e.locality ?? '';
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(e);
  }
  return [...groups.keys()].sort().map((locality) => {
    const endpoints = groups.get(locality)!;
    return { locality, endpoints, weight: sumWeights(endpoints), priority: 0 };
  });
}

const sumWeights = (eps: readonly Endpoint[]): number => eps.reduce((n, e) => n + e.weight, 0);

/**
 * Istio's ApplyLocalityLoadBalancer: the groups as `client` should see them under `policy`. Pure; the groups
 * come back unchanged when nothing applies (no locality setting, or failover without outlier detection).
 */
export function applyLocalityLb(groups: readonly LocalityGroup[], client: LocalityClient, policy: EffectivePolicy): readonly LocalityGroup[] {
  const setting = localityLbSetting(policy);
  if (!setting || groups.length === 0) return groups;
  const proxy = parseLocality(client.locality);
  if (setting.distribute?.length) return applyLocalityWeights(groups, proxy, setting.distribute);
  if (policy.outlierDetection === undefined) return groups;
  if (setting.failoverPriority?.length) {
    const byLabels = applyFailoverPriorities(groups, client, setting.failoverPriority);
    return setting.failover?.length ? applyLocalityFailover(byLabels, proxy, setting.failover) : byLabels;
  }
  return applyLocalityFailover(groups, proxy, setting.failover ?? []);
}

function applyLocalityWeights(groups: readonly LocalityGroup[], proxy: Loc, distribute: NonNullable<LocalityLoadBalancerSetting['distribute']>): LocalityGroup[] {
  const rule = distribute.find((d) => localityMatch(proxy, d.from ?? ''));
  if (!rule) return [...groups];
  const weights = new Map<number, number>();
  const unmatched = new Set(groups.keys());
  for (const [to, w] of Object.entries(rule.to ?? {})) {
    const hits = [...unmatched].filter((i) => localityMatch(parseLocality(groups[i]!.locality), to));
    // a wildcard `to` matching several groups splits its weight among them by their own weights
    const total = hits.reduce((n, i) => n + groups[i]!.weight, 0);
    for (const i of hits) {
      unmatched.delete(i);
      const share = (groups[i]!.weight * w) / total;
      if (share > 0) weights.set(i, Math.ceil(share));
    }
  }
  // Istio empties the groups no `to` names; a LocalityLbEndpoints without endpoints takes no traffic, so they
  // are left out altogether here (the proxy sees the same hosts).
  return groups.flatMap((g, i) => (unmatched.has(i) ? [] : [{ ...g, weight: weights.get(i) ?? g.weight }]));
}

function applyLocalityFailover(groups: readonly LocalityGroup[], proxy: Loc, failover: NonNullable<LocalityLoadBalancerSetting['failover']>): LocalityGroup[] {
  const raw = groups.map((g) => {
    const ep = parseLocality(g.locality);
    let p = lbPriority(proxy, ep);
    if (p === 3) {
      // the first rule for the proxy's region decides: its `to` region stays P3, every other region drops to P4
      const rule = failover.find((f) => f.from === proxy.region);
      if (rule && (g.locality === '' || ep.region !== rule.to)) p = 4;
    }
    // failoverPriority's priorities (if any) stay the major key: at most 5 locality levels fit under each
    return g.priority * 5 + p;
  });
  return compact(groups, raw);
}

/** Label-based priorities: within each locality group, endpoints split by how well they match the proxy. */
function applyFailoverPriorities(groups: readonly LocalityGroup[], client: LocalityClient, failoverPriority: readonly string[]): LocalityGroup[] {
  const proxyLabels = withTopologyLabels(client.labels, client.locality);
  // Istio: a proxy without labels gets no label priorities
  if (Object.keys(proxyLabels).length === 0) return [...groups];
  const rules = failoverPriority.map((entry) => {
    const eq = entry.indexOf('=');
    return eq < 0 ? { label: entry, value: proxyLabels[entry] } : { label: entry.slice(0, eq), value: entry.slice(eq + 1) };
  });
  const lowest = rules.length;
  const split: LocalityGroup[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, Endpoint[]>();
    for (const e of g.endpoints) {
      const labels = withTopologyLabels(e.labels, e.locality);
      const miss = rules.findIndex((r) => r.value !== labels[r.label]);
      const p = miss < 0 ? 0 : lowest - miss;
      (byPriority.get(p) ?? byPriority.set(p, []).get(p)!).push(e);
    }
    for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
      const endpoints = byPriority.get(p)!;
      split.push({ locality: g.locality, endpoints, weight: sumWeights(endpoints), priority: p });
    }
  }
  return compact(split, split.map((g) => g.priority));
}

/** Envoy wants priorities 0..N without gaps: renumber the distinct values in order. */
function compact(groups: readonly LocalityGroup[], raw: readonly number[]): LocalityGroup[] {
  const order = [...new Set(raw)].sort((a, b) => a - b);
  return groups.map((g, i) => ({ ...g, priority: order.indexOf(raw[i]!) }));
}

export const TOPOLOGY_LABELS = {
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  subZone: 'topology.istio.io/subzone',
} as const;

/** Istio augments proxy and endpoint labels with the topology labels of their locality, so failoverPriority
 *  can name them; labels set explicitly win. */
export function withTopologyLabels(labels: Labels, locality: string | undefined): Labels {
  if (!locality) return labels;
  const l = parseLocality(locality);
  const out: Record<string, string> = {};
  if (l.region) out[TOPOLOGY_LABELS.region] = l.region;
  if (l.zone) out[TOPOLOGY_LABELS.zone] = l.zone;
  if (l.subZone) out[TOPOLOGY_LABELS.subZone] = l.subZone;
  return { ...out, ...labels };
}
