// EDS: one ClusterLoadAssignment per EDS cluster of a proxy (services resolved STATIC or NONE), named like the
// cluster. Endpoints are grouped by locality (region/zone/subzone) with each group weighted by the sum of its
// endpoints' weights, as Istio does; a subset cluster gets only the endpoints its subset labels select. The
// cluster's locality load balancing (locality.ts) then sets priorities and weights relative to the proxy's own
// locality, so the set depends on that locality too (xds/mesh-generator.ts shares it among the proxies of one
// locality and scope).
import type { Subset } from '../../../api/mesh/types.js';
import { trafficPolicyFor, type DestinationRule, type EffectivePolicy } from '../../model/destination-rules.js';
import type { Endpoint } from '../../model/instances.js';
import { selects } from '../../model/labels.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { TLS_MODE_LABEL, type Proxy } from '../../model/proxy.js';
import { TLS_MODE_MATCH } from '../security/mtls.js';
import { scopeOf } from '../../model/scope.js';
import type { Service, ServicePort } from '../../model/services.js';
import { outboundClusterName, socketAddress, type Json } from '../common.js';
import { applyLocalityLb, groupByLocality, type LocalityClient, type LocalityGroup } from './locality.js';

/** Services whose outbound clusters are EDS clusters (their endpoints come by EDS). */
export function usesEds(s: Service): boolean {
  return s.resolution === 'STATIC' || s.resolution === 'NONE';
}

export function subsetEndpoints(eps: readonly Endpoint[], subset: Subset | undefined): readonly Endpoint[] {
  if (!subset?.labels) return eps;
  return eps.filter((e) => selects(subset.labels, e.labels));
}

/** The `endpoints` of a ClusterLoadAssignment: locality groups (see locality.ts), in locality order. */
export function renderGroups(groups: readonly LocalityGroup[]): Json[] {
  return groups.map((g) => {
    const [region, zone, subZone] = g.locality.split('/');
    const locality: Json = {};
    if (region) locality.region = region;
    if (zone) locality.zone = zone;
    if (subZone) locality.sub_zone = subZone;
    return {
      ...(g.locality ? { locality } : {}),
      lb_endpoints: g.endpoints.map((e) => ({
        endpoint: { address: socketAddress(e.address, e.port) },
        health_status: e.health,
        load_balancing_weight: e.weight,
        // the mark auto-mTLS clients match on (security/mtls.ts): this workload's proxy speaks mTLS
        ...(e.labels[TLS_MODE_LABEL] === 'istio' ? { metadata: { filter_metadata: { [TLS_MODE_MATCH]: { tlsMode: 'istio' } } } } : {}),
      })),
      load_balancing_weight: g.weight,
      ...(g.priority > 0 ? { priority: g.priority } : {}),
    };
  });
}

/** Locality groups without any locality-aware policy (inbound clusters, tests). */
export function localityEndpoints(eps: readonly Endpoint[]): Json[] {
  return renderGroups(groupByLocality(eps));
}

/**
 * A ClusterLoadAssignment; with `client` and `policy`, as that proxy sees it under the cluster's locality load
 * balancing (priorities and weights relative to its locality and labels).
 */
export function loadAssignment(clusterName: string, eps: readonly Endpoint[], client?: LocalityClient, policy?: EffectivePolicy): Json {
  const groups = groupByLocality(eps);
  return { cluster_name: clusterName, endpoints: renderGroups(client && policy ? applyLocalityLb(groups, client, policy) : groups) };
}

/** EDS cluster names of one service port: the port's cluster and one per subset of its DestinationRule. */
function assignmentsOf(snapshot: MeshSnapshot, s: Service, port: ServicePort, dr: DestinationRule | undefined, client: LocalityClient): Json[] {
  const eps = snapshot.endpoints.endpoints(s, port.number);
  return [undefined, ...(dr?.spec.subsets ?? [])].map((sub) =>
    loadAssignment(outboundClusterName(port.number, sub?.name, s.hostname), subsetEndpoints(eps, sub), client, trafficPolicyFor(dr, port.number, sub)),
  );
}

/** Every ClusterLoadAssignment a proxy's EDS clusters need, sorted by cluster name. */
export function buildEndpoints(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  const scope = scopeOf(snapshot, proxy);
  const out: Json[] = [];
  for (const s of scope.services) {
    if (!usesEds(s)) continue;
    const dr = scope.destinationRule(s);
    for (const p of s.ports) if (p.protocol !== 'UDP') out.push(...assignmentsOf(snapshot, s, p, dr, proxy));
  }
  return out.sort((a, b) => (a.cluster_name < b.cluster_name ? -1 : a.cluster_name > b.cluster_name ? 1 : 0));
}
