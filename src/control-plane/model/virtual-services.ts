// VirtualServices with their hosts and destinations resolved against their namespace, indexed by what they
// bind to: "mesh" (every sidecar) or a gateway ("ns/name"). Order is the order the config store gave them
// (Istio orders by creation time; a store hands resources in a stable order, so the output is deterministic).
import type { HTTPRoute, MeshResource, TCPRoute, TLSRoute, VirtualServiceSpec } from '../../api/mesh/types.js';
import { covers, isExportedTo, resolveHost } from './hosts.js';

export const MESH_GATEWAY = 'mesh';

export interface VirtualService {
  readonly name: string;
  readonly namespace: string;
  /** resolved hosts */
  readonly hosts: readonly string[];
  /** "mesh" or "ns/name" */
  readonly gateways: readonly string[];
  /** routes with every destination host (and mirror) resolved against the VirtualService's namespace */
  readonly http: readonly HTTPRoute[];
  readonly tcp: readonly TCPRoute[];
  readonly tls: readonly TLSRoute[];
  readonly exportTo?: readonly string[];
}

/** A gateway reference as written in a VirtualService of `namespace` → "ns/name" (or "mesh"). */
export function gatewayKey(ref: string, namespace: string): string {
  if (ref === MESH_GATEWAY) return ref;
  return ref.includes('/') ? ref : `${namespace}/${ref}`;
}

function resolveDestinations<T extends { destination?: { host: string } }>(list: readonly T[] | undefined, ns: string): T[] {
  return (list ?? []).map((d) => (d.destination ? { ...d, destination: { ...d.destination, host: resolveHost(d.destination.host, ns) } } : d));
}

export function virtualServiceOf(r: MeshResource<'VirtualService'>): VirtualService {
  const ns = r.metadata.namespace;
  const spec: VirtualServiceSpec = r.spec;
  const gateways = (spec.gateways && spec.gateways.length > 0 ? spec.gateways : [MESH_GATEWAY]).map((g) => gatewayKey(g, ns));
  const http = (spec.http ?? []).map((h) => ({
    ...h,
    ...(h.route ? { route: resolveDestinations(h.route, ns) } : {}),
    ...(h.mirror ? { mirror: { ...h.mirror, host: resolveHost(h.mirror.host, ns) } } : {}),
    ...(h.mirrors ? { mirrors: h.mirrors.map((m) => ({ ...m, destination: { ...m.destination, host: resolveHost(m.destination.host, ns) } })) } : {}),
    ...(h.match ? { match: h.match.map((m) => (m.gateways ? { ...m, gateways: m.gateways.map((g) => gatewayKey(g, ns)) } : m)) } : {}),
  }));
  return Object.freeze({
    name: r.metadata.name,
    namespace: ns,
    hosts: Object.freeze((spec.hosts ?? []).map((h) => resolveHost(h, ns))),
    gateways: Object.freeze(gateways),
    http: Object.freeze(http),
    tcp: Object.freeze((spec.tcp ?? []).map((t) => ({ ...t, ...(t.route ? { route: resolveDestinations(t.route, ns) } : {}) }))),
    tls: Object.freeze((spec.tls ?? []).map((t) => ({ ...t, ...(t.route ? { route: resolveDestinations(t.route, ns) } : {}) }))),
    ...(spec.exportTo ? { exportTo: Object.freeze([...spec.exportTo]) } : {}),
  });
}

export class VirtualServiceIndex {
  private readonly byGateway = new Map<string, VirtualService[]>();

  constructor(resources: readonly MeshResource<'VirtualService'>[]) {
    for (const r of resources) {
      const vs = virtualServiceOf(r);
      for (const g of vs.gateways) (this.byGateway.get(g) ?? this.byGateway.set(g, []).get(g)!).push(vs);
    }
  }

  /** VirtualServices bound to sidecars ("mesh") and exported to `namespace`. */
  forMesh(namespace: string): readonly VirtualService[] {
    return (this.byGateway.get(MESH_GATEWAY) ?? []).filter((v) => isExportedTo(v.exportTo, v.namespace, namespace));
  }

  /** VirtualServices bound to a gateway ("ns/name"). */
  forGateway(key: string): readonly VirtualService[] {
    return this.byGateway.get(key) ?? [];
  }

  /**
   * The VirtualService routing `hostname` for sidecars of `namespace`: one naming the host exactly, else the
   * first whose wildcard host covers it (Istio gives a service one VirtualService on the sidecar side).
   */
  forMeshHost(hostname: string, namespace: string): VirtualService | undefined {
    const list = this.forMesh(namespace);
    return list.find((v) => v.hosts.includes(hostname)) ?? list.find((v) => v.hosts.some((h) => covers(h, hostname)));
  }
}
