// EDS: one ClusterLoadAssignment per EDS cluster of a proxy (services resolved STATIC or NONE), named like the
// cluster. Endpoints are grouped by locality (region/zone/subzone) with each group weighted by the sum of its
// endpoints' weights, as Istio does; a subset cluster gets only the endpoints its subset labels select.
import type { Subset } from '../../../api/mesh/types.js';
import type { Endpoint } from '../../model/instances.js';
import { selects } from '../../model/labels.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { Proxy } from '../../model/proxy.js';
import { scopeOf } from '../../model/scope.js';
import type { Service, ServicePort } from '../../model/services.js';
import { outboundClusterName, socketAddress, type Json } from '../common.js';

/** Services whose outbound clusters are EDS clusters (their endpoints come by EDS). */
export function usesEds(s: Service): boolean {
  return s.resolution === 'STATIC' || s.resolution === 'NONE';
}

export function subsetEndpoints(eps: readonly Endpoint[], subset: Subset | undefined): readonly Endpoint[] {
  if (!subset?.labels) return eps;
  return eps.filter((e) => selects(subset.labels, e.labels));
}

/** The `endpoints` of a ClusterLoadAssignment: locality groups, sorted by locality. */
export function localityEndpoints(eps: readonly Endpoint[]): Json[] {
  const groups = new Map<string, Endpoint[]>();
  for (const e of eps) (groups.get(e.locality ?? '') ?? groups.set(e.locality ?? '', []).get(e.locality ?? '')!).push(e);
  return [...groups.keys()].sort().map((loc) => {
    const list = groups.get(loc)!;
    const [region, zone, subZone] = loc.split('/');
    const locality: Json = {};
    if (region) locality.region = region;
    if (zone) locality.zone = zone;
    if (subZone) locality.sub_zone = subZone;
    return {
      ...(loc ? { locality } : {}),
      lb_endpoints: list.map((e) => ({
        endpoint: { address: socketAddress(e.address, e.port) },
        health_status: e.health,
        load_balancing_weight: e.weight,
      })),
      load_balancing_weight: list.reduce((n, e) => n + e.weight, 0),
    };
  });
}

export function loadAssignment(clusterName: string, eps: readonly Endpoint[]): Json {
  return { cluster_name: clusterName, endpoints: localityEndpoints(eps) };
}

/** EDS cluster names of one service port: the port's cluster and one per subset of its DestinationRule. */
function assignmentsOf(snapshot: MeshSnapshot, s: Service, port: ServicePort, subsets: readonly Subset[]): Json[] {
  const eps = snapshot.endpoints.endpoints(s, port.number);
  return [
    loadAssignment(outboundClusterName(port.number, undefined, s.hostname), eps),
    ...subsets.map((sub) => loadAssignment(outboundClusterName(port.number, sub.name, s.hostname), subsetEndpoints(eps, sub))),
  ];
}

/** Every ClusterLoadAssignment a proxy's EDS clusters need, sorted by cluster name. */
export function buildEndpoints(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  const scope = scopeOf(snapshot, proxy);
  const out: Json[] = [];
  for (const s of scope.services) {
    if (!usesEds(s)) continue;
    const subsets = scope.destinationRule(s)?.spec.subsets ?? [];
    for (const p of s.ports) if (p.protocol !== 'UDP') out.push(...assignmentsOf(snapshot, s, p, subsets));
  }
  return out.sort((a, b) => (a.cluster_name < b.cluster_name ? -1 : a.cluster_name > b.cluster_name ? 1 : 0));
}
