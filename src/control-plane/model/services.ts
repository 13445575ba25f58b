// Services: one per ServiceEntry host and namespace (Istio's model.Service), with its ports (protocol inferred
// from the port name when absent), addresses, resolution, location and exportTo. A workload that registers
// itself for a host no ServiceEntry declares creates an implicit in-mesh service (how `meshwork proxy --sidecar
// --service x` works without Kubernetes: Kubernetes Services play that part in Istio).
//
// Several ServiceEntries may declare one host in one namespace. Istio (SidecarScope.appendSidecarServices)
// merges them when they agree on resolution, metadata labels, workloadSelector and exportTo: the ports of all
// of them, by port number, the first declaration's port winning a number two declare; otherwise the first one
// alone is the service. "First" is the oldest in Istio; Meshwork keeps no creation time, so it is the first by
// name, Istio's own tie-break. Endpoints of every one of them belong to the service (instances.ts keys them by
// namespace and host). `meshwork analyze` warns about both conflicts (validation/service-entries.ts).
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
  /** "ServiceEntry ns/name" (of the first one when several merged), or "registered" for an implicit service */
  readonly source: string;
  /** what must agree for ServiceEntries of one host to merge (absent: an implicit service) */
  readonly mergeKey?: string;
  /** the ServiceEntry's name: which declaration comes first */
  readonly entryName?: string;
}

export function serviceKey(s: { namespace: string; hostname: string }): string {
  return `${s.namespace}/${s.hostname}`;
}

export function servicesOfEntry(r: MeshResource<'ServiceEntry'>): Service[] {
  const spec: ServiceEntrySpec = r.spec;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) =>
    Object.freeze({ name: p.name, number: p.number, protocol: portProtocol(p.name, p.protocol), ...(p.targetPort ? { targetPort: p.targetPort } : {}) }),
  );
  const mergeKey = JSON.stringify([spec.resolution ?? 'NONE', sorted(r.metadata.labels), sorted(spec.workloadSelector?.labels), [...(spec.exportTo ?? [])].sort()]);
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
      mergeKey,
      entryName: r.metadata.name,
    }),
  );
}

const sorted = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).sort();

/** Two declarations of one host in one namespace that Istio merges (canMergeServices). */
export function canMerge(a: Service, b: Service): boolean {
  return a.mergeKey !== undefined && a.mergeKey === b.mergeKey;
}

/** The declarations of one host in one namespace → the service (see the top of this file). */
function mergeDeclarations(list: Service[]): Service {
  if (list.length === 1) return list[0]!;
  const ordered = [...list].sort((a, b) => cmp(a.entryName ?? '', b.entryName ?? ''));
  const first = ordered[0]!;
  const ports = [...first.ports];
  for (const s of ordered.slice(1)) {
    if (!canMerge(first, s)) continue;
    for (const p of s.ports) if (!ports.some((x) => x.number === p.number)) ports.push(p);
  }
  return ports.length === first.ports.length ? first : Object.freeze({ ...first, ports: Object.freeze(ports) });
}

/** Services by host name (a host may be declared in several namespaces). Immutable. */
export class ServiceIndex {
  private readonly byHost: ReadonlyMap<string, readonly Service[]>;
  /** every service, sorted by host name then namespace */
  readonly all: readonly Service[];

  constructor(services: Iterable<Service>) {
    const declared = new Map<string, Service[]>();
    for (const s of services) {
      const k = serviceKey(s);
      (declared.get(k) ?? declared.set(k, []).get(k)!).push(s);
    }
    const byHost = new Map<string, Service[]>();
    for (const list of declared.values()) {
      const s = mergeDeclarations(list);
      (byHost.get(s.hostname) ?? byHost.set(s.hostname, []).get(s.hostname)!).push(s);
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
