// What one proxy sees of the mesh (Istio's SidecarScope): the services it may reach and the rules that apply to
// it. Without a Sidecar resource that is every service exported to its namespace; with one, the services its
// egress hosts admit, plus the destinations of the VirtualServices they admit (Istio adds those too, so that a
// route never points at a cluster the proxy lacks).
//
// Scopes depend only on (snapshot, proxy type, namespace, labels), so proxies alike share one scope object.
import type { DestinationRule } from './destination-rules.js';
import { egressAdmits, type Sidecar } from './sidecars.js';
import type { Proxy } from './proxy.js';
import type { Service } from './services.js';
import type { MeshSnapshot } from './snapshot.js';
import type { VirtualService } from './virtual-services.js';

export interface ProxyScope {
  readonly sidecar?: Sidecar;
  /** the services the proxy may reach, sorted by host name */
  readonly services: readonly Service[];
  /** a visible service by host name */
  service(hostname: string): Service | undefined;
  /** the DestinationRule for a visible service, as this proxy sees it */
  destinationRule(service: Service): DestinationRule | undefined;
  /** the VirtualServices bound to "mesh" this proxy sees */
  readonly meshVirtualServices: readonly VirtualService[];
}

const cache = new WeakMap<MeshSnapshot, Map<string, ProxyScope>>();

export function scopeOf(snapshot: MeshSnapshot, proxy: Proxy): ProxyScope {
  const key = `${proxy.type}|${proxy.namespace}|${JSON.stringify(Object.entries(proxy.labels).sort())}`;
  let perSnapshot = cache.get(snapshot);
  if (!perSnapshot) cache.set(snapshot, (perSnapshot = new Map()));
  let scope = perSnapshot.get(key);
  if (!scope) perSnapshot.set(key, (scope = buildScope(snapshot, proxy)));
  return scope;
}

function buildScope(snapshot: MeshSnapshot, proxy: Proxy): ProxyScope {
  const ns = proxy.namespace;
  const exported = snapshot.services.visibleFrom(ns);
  // Sidecar resources configure sidecars; gateways see every service exported to their namespace.
  const sidecar = proxy.type === 'sidecar' ? snapshot.sidecars.forProxy(ns, proxy.labels) : undefined;
  let meshVs = snapshot.virtualServices.forMesh(ns);
  let services = exported;
  if (sidecar) {
    const egress = sidecar.egressHosts;
    meshVs = meshVs.filter((v) => v.hosts.some((h) => egressAdmits(egress, h, v.namespace)));
    const wanted = new Set<string>();
    for (const v of meshVs) {
      for (const h of v.http) {
        // route destinations and every mirror (`mirror` and `mirrors`), as Istio's virtualServiceDestinations
        for (const d of [...(h.route ?? []).map((r) => r.destination), ...(h.mirror ? [h.mirror] : []), ...(h.mirrors ?? []).map((m) => m.destination)]) wanted.add(d.host);
      }
    }
    for (const v of meshVs) for (const t of [...v.tcp, ...v.tls]) for (const r of t.route ?? []) wanted.add(r.destination.host);
    services = exported.filter((s) => egressAdmits(egress, s.hostname, s.namespace) || wanted.has(s.hostname));
  }
  const byHost = new Map(services.map((s) => [s.hostname, s]));
  const drs = new Map<Service, DestinationRule | undefined>();
  return Object.freeze({
    ...(sidecar ? { sidecar } : {}),
    services: Object.freeze(services),
    meshVirtualServices: Object.freeze([...meshVs]),
    service: (hostname: string) => byHost.get(hostname),
    destinationRule(service: Service) {
      if (!drs.has(service)) drs.set(service, snapshot.destinationRules.lookup(service.hostname, service.namespace, ns, proxy.labels));
      return drs.get(service);
    },
  });
}
