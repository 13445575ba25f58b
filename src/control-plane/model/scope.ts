// What one proxy sees of the mesh (Istio's SidecarScope): the services it may reach and the rules that apply to
// it. Without a Sidecar resource that is every service exported to its namespace, on every port; with one, the
// services its egress listeners admit, each on the ports where it is admitted (a listener with a port admits
// its hosts on that port only; the catch-all listener without a port admits its hosts on every other port, as
// Istio's GetEgressListenerForRDS picks them), plus the destinations of the VirtualServices they admit (Istio
// adds those too, so that a route never points at a cluster the proxy lacks).
//
// A service admitted on some of its ports only appears here as a copy restricted to those ports, so clusters,
// endpoints and route configurations follow the port scoping without knowing about it. A route destination
// keeps the ports its routes use (the destination's port, else the port of the listener the route serves).
//
// Scopes depend only on (snapshot, proxy type, namespace, labels), so proxies alike share one scope object.
import type { Destination } from '../../api/mesh/types.js';
import type { DestinationRule } from './destination-rules.js';
import { intersects } from './hosts.js';
import { egressAdmits, egressListenerFor, inboundPorts, type Sidecar } from './sidecars.js';
import type { InboundPort, Proxy } from './proxy.js';
import type { Service } from './services.js';
import type { MeshSnapshot } from './snapshot.js';
import type { VirtualService } from './virtual-services.js';

/** One outbound listener port of a sidecar. */
export interface OutboundPort {
  readonly port: number;
  /** the egress listener's `bind`; absent: the proxy's OUTBOUND_BIND */
  readonly bind?: string;
  /** the services reachable on this port (admitted there by the egress listeners), sorted by host name */
  readonly services: readonly Service[];
}

export interface ProxyScope {
  readonly sidecar?: Sidecar;
  /** the services the proxy may reach, sorted by host name, each with the ports it may reach them on */
  readonly services: readonly Service[];
  /** the sidecar's outbound listener ports, ascending (UDP ports left out) */
  readonly outbound: readonly OutboundPort[];
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

/** A sidecar's inbound listeners: its --port flags, or its Sidecar's `ingress` (see sidecars.ts). */
export function inboundPortsOf(snapshot: MeshSnapshot, proxy: Proxy): readonly InboundPort[] {
  if (proxy.type !== 'sidecar') return [];
  return inboundPorts(proxy, scopeOf(snapshot, proxy).sidecar);
}

/** Every destination a VirtualService routes (or mirrors) to, over http, tcp and tls routes. */
function destinations(v: VirtualService): Destination[] {
  const out: Destination[] = [];
  for (const h of v.http) {
    // route destinations and every mirror (`mirror` and `mirrors`), as Istio's virtualServiceDestinations
    out.push(...(h.route ?? []).map((r) => r.destination), ...(h.mirror ? [h.mirror] : []), ...(h.mirrors ?? []).map((m) => m.destination));
  }
  for (const t of [...v.tcp, ...v.tls]) for (const r of t.route ?? []) out.push(r.destination);
  return out;
}

function restrict(s: Service, ports: ReadonlySet<number>): Service {
  if (s.ports.every((p) => ports.has(p.number))) return s;
  return Object.freeze({ ...s, ports: Object.freeze(s.ports.filter((p) => ports.has(p.number))) });
}

function buildScope(snapshot: MeshSnapshot, proxy: Proxy): ProxyScope {
  const ns = proxy.namespace;
  const exported = snapshot.services.visibleFrom(ns);
  // Sidecar resources configure sidecars; gateways see every service exported to their namespace.
  const sidecar = proxy.type === 'sidecar' ? snapshot.sidecars.forProxy(ns, proxy.labels) : undefined;
  let meshVs = snapshot.virtualServices.forMesh(ns);
  let services = exported;
  const outbound = new Map<number, { bind?: string; services: Service[] }>();
  const addOutbound = (s: Service, port: number, bind?: string) => {
    const o = outbound.get(port) ?? outbound.set(port, { ...(bind ? { bind } : {}), services: [] }).get(port)!;
    o.services.push(s);
  };
  if (!sidecar) {
    for (const s of exported) for (const p of s.ports) if (p.protocol !== 'UDP') addOutbound(s, p.number);
  } else {
    meshVs = meshVs.filter((v) => v.hosts.some((h) => egressAdmits(sidecar.egressHosts, h, v.namespace)));
    // the ports each service is admitted on
    const admitted = new Map<Service, Set<number>>();
    for (const s of exported) {
      const ports = new Set<number>();
      for (const p of s.ports) {
        const l = egressListenerFor(sidecar, p.number);
        if (l && egressAdmits(l.hosts, s.hostname, s.namespace)) ports.add(p.number);
      }
      // a service without ports (a registered workload that declared none) is admitted by its host alone
      if (ports.size > 0 || (s.ports.length === 0 && egressAdmits(sidecar.egressHosts, s.hostname, s.namespace))) admitted.set(s, ports);
    }
    for (const [s, ports] of admitted) {
      for (const p of s.ports) {
        if (p.protocol === 'UDP' || !ports.has(p.number)) continue;
        addOutbound(restrict(s, ports), p.number, egressListenerFor(sidecar, p.number)!.bind);
      }
    }
    // route destinations: the ports their routes use, on the listeners of the hosts the VirtualService serves
    const byHost = new Map(exported.map((s) => [s.hostname, s]));
    const needed = new Map<Service, Set<number>>();
    for (const v of meshVs) {
      const served = new Set<number>();
      for (const [s, ports] of admitted) if (v.hosts.some((h) => intersects(h, s.hostname))) for (const p of ports) served.add(p);
      for (const d of destinations(v)) {
        const s = byHost.get(d.host);
        if (!s) continue;
        const set = needed.get(s) ?? needed.set(s, new Set()).get(s)!;
        if (d.port?.number) set.add(d.port.number);
        else if (s.ports.length === 1) set.add(s.ports[0]!.number);
        else for (const p of served) set.add(p);
      }
    }
    services = [];
    for (const s of exported) {
      const own = admitted.get(s);
      const extra = needed.get(s);
      if (!own && !extra) continue;
      services.push(restrict(s, new Set([...(own ?? []), ...(extra ?? [])])));
    }
    // the outbound lists hold the copies restricted to the admitted ports; the scope's to admitted + needed:
    // keep one object per service (clusters and routes key on it)
    const final = new Map(services.map((s) => [s.hostname, s]));
    for (const o of outbound.values()) o.services = o.services.map((s) => final.get(s.hostname) ?? s);
  }
  const byHost = new Map(services.map((s) => [s.hostname, s]));
  const drs = new Map<Service, DestinationRule | undefined>();
  return Object.freeze({
    ...(sidecar ? { sidecar } : {}),
    services: Object.freeze(services),
    outbound: Object.freeze(
      [...outbound]
        .sort((a, b) => a[0] - b[0])
        .map(([port, o]) => Object.freeze({ port, ...(o.bind ? { bind: o.bind } : {}), services: Object.freeze(o.services) })),
    ),
    meshVirtualServices: Object.freeze([...meshVs]),
    service: (hostname: string) => byHost.get(hostname),
    destinationRule(service: Service) {
      if (!drs.has(service)) drs.set(service, snapshot.destinationRules.lookup(service.hostname, service.namespace, ns, proxy.labels));
      return drs.get(service);
    },
  });
}
