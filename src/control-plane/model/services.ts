// Services: one per ServiceEntry host (Istio's model.Service), with its ports (protocol inferred from the port
// name when absent), addresses, resolution, location and exportTo. A workload that registers itself for a host
// no ServiceEntry declares creates an implicit in-mesh service (how `meshwork proxy --sidecar --service x`
// works without Kubernetes: Kubernetes Services play that part in Istio).
import type { MeshResource, ServiceEntrySpec } from '../../api/mesh/types.js';
import { isExportedTo } from './hosts.js';
import { portProtocol, type Protocol } from './protocol.js';

export type Resolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
export type Location = 'MESH_EXTERNAL' | 'MESH_INTERNAL';

export interface ServicePort {
  readonly name: string;
  readonly number: number;
  readonly protocol: Protocol;
  readonly targetPort?: number;
}

export interface Service {
  readonly hostname: string;
  readonly namespace: string;
  readonly ports: readonly ServicePort[];
  readonly addresses: readonly string[];
  readonly resolution: Resolution;
  readonly location: Location;
  readonly exportTo?: readonly string[];
  /** "ServiceEntry ns/name", or "registered" for an implicit service */
  readonly source: string;
}

export function serviceKey(s: { namespace: string; hostname: string }): string {
  return `${s.namespace}/${s.hostname}`;
}

export function servicesOfEntry(r: MeshResource<'ServiceEntry'>): Service[] {
  const spec: ServiceEntrySpec = r.spec;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) =>
    Object.freeze({ name: p.name, number: p.number, protocol: portProtocol(p.name, p.protocol), ...(p.targetPort ? { targetPort: p.targetPort } : {}) }),
  );
  return spec.hosts.map((hostname) =>
    Object.freeze({
      hostname,
      namespace: r.metadata.namespace,
      ports: Object.freeze(ports),
      addresses: Object.freeze([...(spec.addresses ?? [])]),
      resolution: spec.resolution ?? 'NONE',
      location: spec.location ?? 'MESH_EXTERNAL',
      ...(spec.exportTo ? { exportTo: Object.freeze([...spec.exportTo]) } : {}),
      source: `ServiceEntry ${r.metadata.namespace}/${r.metadata.name}`,
    }),
  );
}

/** Services by host name (a host may be declared in several namespaces). Immutable. */
export class ServiceIndex {
  private readonly byHost: ReadonlyMap<string, readonly Service[]>;
  /** every service, sorted by host name then namespace */
  readonly all: readonly Service[];

  constructor(services: Iterable<Service>) {
    const byHost = new Map<string, Service[]>();
    for (const s of services) {
      const list = byHost.get(s.hostname);
      // Istio merges ServiceEntries of one host in one namespace; the first one declared wins here.
      if (list?.some((x) => x.namespace === s.namespace)) continue;
      if (list) list.push(s);
      else byHost.set(s.hostname, [s]);
    }
    this.byHost = byHost;
    this.all = Object.freeze([...byHost.values()].flat().sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace)));
  }

  /** The service of `hostname` a proxy in `fromNamespace` sees: its own namespace's first, else one exported to it. */
  get(hostname: string, fromNamespace: string): Service | undefined {
    const list = this.byHost.get(hostname);
    if (!list) return undefined;
    return list.find((s) => s.namespace === fromNamespace) ?? list.find((s) => isExportedTo(s.exportTo, s.namespace, fromNamespace));
  }

  /** Every declaration of `hostname`, whatever its namespace. */
  declarations(hostname: string): readonly Service[] {
    return this.byHost.get(hostname) ?? [];
  }

  /** The services visible from a namespace (one per host), sorted by host name. */
  visibleFrom(namespace: string): Service[] {
    const out: Service[] = [];
    for (const hostname of this.byHost.keys()) {
      const s = this.get(hostname, namespace);
      if (s) out.push(s);
    }
    return out.sort((a, b) => cmp(a.hostname, b.hostname));
  }

  /** A copy with `services` added (keys already present are replaced) and `removed` keys dropped. */
  with(services: readonly Service[], removed: ReadonlySet<string> = new Set()): ServiceIndex {
    const replaced = new Set(services.map(serviceKey));
    const kept = this.all.filter((s) => !replaced.has(serviceKey(s)) && !removed.has(serviceKey(s)));
    return new ServiceIndex([...kept, ...services]);
  }
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
