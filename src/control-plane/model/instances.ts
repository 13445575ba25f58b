// Workload instances and the endpoints of each service (Istio's ServiceInstance / IstioEndpoint).
//
// Instances come from three places: a ServiceEntry's inline `endpoints`, WorkloadEntries (selected by the
// `workloadSelector` of ServiceEntries in their namespace), and workloads that register themselves at run time
// (a sidecar's own workload, like Istio's WorkloadEntry auto-registration). An endpoint's port for a service
// port is the instance's `ports[<port name>]`, else the port's `targetPort`, else its number (Istio's rule).
//
// The index keeps one immutable EndpointSet per service, each with its own version: a registration recomputes
// only the sets of the services that instance belongs to, and the other sets (and their versions, which EDS
// caching keys on) are shared with the previous snapshot.
import { createHash } from 'node:crypto';
import type { MeshResource, WorkloadEntrySpec } from '../../api/mesh/types.js';
import { resolveHost } from './hosts.js';
import { NO_LABELS, selects, type Labels } from './labels.js';
import { serviceKey, ServiceIndex, type Service, type ServicePort } from './services.js';

export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING';

export interface WorkloadInstance {
  /** unique: "WorkloadEntry ns/name", "ServiceEntry ns/name#i" (inline endpoint), or a registrant's id */
  readonly id: string;
  readonly namespace: string;
  /** IP, or a DNS name for DNS-resolved services */
  readonly address: string;
  /** service port name → the port the workload listens on */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Labels;
  /** "region/zone/subzone" */
  readonly locality?: string;
  /** load-balancing weight (default 1) */
  readonly weight: number;
  readonly health: HealthStatus;
  readonly serviceAccount?: string;
  /** the service port numbers it is an endpoint on: a ServiceEntry's endpoints (and the workloads its selector
   *  picks) serve that entry's ports only when several entries of one host merge; absent: every port */
  readonly onlyPorts?: readonly number[];
}

/** A workload registered at run time. */
export interface RegisteredInstance extends WorkloadInstance {
  /** The service it serves: a short name (relative to `namespace`) or a FQDN. Absent: only the
   *  workloadSelectors of ServiceEntries in its namespace make it an endpoint. */
  readonly service?: string;
  /** That service's ports, used when no ServiceEntry declares the host (an implicit service is created). */
  readonly servicePorts?: readonly { name: string; number: number; protocol?: string; targetPort?: number }[];
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly labels: Labels;
  readonly locality?: string;
  readonly weight: number;
  readonly health: HealthStatus;
  readonly instanceId: string;
  /** the workload's service account (its SPIFFE identity's last part), when known */
  readonly serviceAccount?: string;
}

/** The endpoints of one service, per service port number. */
export interface EndpointSet {
  readonly version: string;
  readonly byPort: ReadonlyMap<number, readonly Endpoint[]>;
}

const EMPTY_SET: EndpointSet = Object.freeze({ version: 'empty', byPort: new Map() });
const NONE: readonly Endpoint[] = Object.freeze([]);

export function instanceOfEntry(id: string, namespace: string, spec: WorkloadEntrySpec): WorkloadInstance {
  return Object.freeze({
    id,
    namespace,
    address: spec.address ?? '',
    ports: Object.freeze({ ...(spec.ports ?? {}) }),
    labels: Object.freeze({ ...(spec.labels ?? {}) }) as Labels,
    ...(spec.locality ? { locality: spec.locality } : {}),
    weight: spec.weight ?? 1,
    health: 'HEALTHY' as const,
    ...(spec.serviceAccount ? { serviceAccount: spec.serviceAccount } : {}),
  });
}

/** Istio's port rule for one instance on one service port. */
export function endpointPort(inst: WorkloadInstance, port: ServicePort): number {
  const byName = inst.ports[port.name];
  if (byName !== undefined) return byName;
  // A sidecar registering itself names its ports after its own flags ("http-9080"), not after a ServiceEntry's
  // port names ("http"): match it by the service port number, or its endpoint would get the service port.
  const own = (inst as RegisteredInstance).servicePorts?.find((p) => p.number === port.number);
  const byNumber = own ? inst.ports[own.name] : undefined;
  return byNumber ?? port.targetPort ?? port.number;
}

interface Selector {
  readonly namespace: string;
  readonly labels: Labels;
  readonly serviceKeys: readonly string[];
  /** the selecting ServiceEntry's port numbers */
  readonly ports: readonly number[];
}

/**
 * Where endpoints come from. The config part (inline endpoints, WorkloadEntries, selectors) is fixed per config
 * version; `registered` changes at run time (copy on write).
 */
export class EndpointSources {
  constructor(
    readonly inline: ReadonlyMap<string, readonly WorkloadInstance[]>,
    readonly workloadEntries: ReadonlyMap<string, readonly WorkloadInstance[]>,
    readonly selectors: ReadonlyMap<string, readonly Selector[]>,
    readonly registered: ReadonlyMap<string, RegisteredInstance>,
  ) {}

  static fromConfig(serviceEntries: readonly MeshResource<'ServiceEntry'>[], workloadEntries: readonly MeshResource<'WorkloadEntry'>[], registered: ReadonlyMap<string, RegisteredInstance> = new Map()): EndpointSources {
    const inline = new Map<string, WorkloadInstance[]>();
    const selectors = new Map<string, Selector[]>();
    for (const se of serviceEntries) {
      const ns = se.metadata.namespace;
      const keys = se.spec.hosts.map((hostname) => serviceKey({ namespace: ns, hostname }));
      const ports = Object.freeze((se.spec.ports ?? []).map((p) => p.number));
      const insts = (se.spec.endpoints ?? []).map((e, i) => Object.freeze({ ...instanceOfEntry(`ServiceEntry ${ns}/${se.metadata.name}#${i}`, ns, e), onlyPorts: ports }));
      for (const k of keys) if (insts.length > 0) inline.set(k, [...(inline.get(k) ?? []), ...insts]);
      // Istio: a workloadSelector makes the entry's endpoints the selected workloads (inline endpoints are not
      // allowed with it; validation rejects both).
      if (se.spec.workloadSelector) {
        const list = selectors.get(ns) ?? [];
        list.push({ namespace: ns, labels: Object.freeze({ ...(se.spec.workloadSelector.labels ?? {}) }), serviceKeys: keys, ports });
        selectors.set(ns, list);
      }
    }
    const wes = new Map<string, WorkloadInstance[]>();
    for (const we of workloadEntries) {
      const ns = we.metadata.namespace;
      wes.set(ns, [...(wes.get(ns) ?? []), instanceOfEntry(`WorkloadEntry ${ns}/${we.metadata.name}`, ns, we.spec)]);
    }
    return new EndpointSources(inline, wes, selectors, registered);
  }

  withRegistered(registered: ReadonlyMap<string, RegisteredInstance>): EndpointSources {
    return new EndpointSources(this.inline, this.workloadEntries, this.selectors, registered);
  }

  /** The keys of the services an instance belongs to (selectors of its namespace, its explicit service). */
  serviceKeysOf(inst: WorkloadInstance | RegisteredInstance, services: ServiceIndex): Set<string> {
    const out = new Set<string>();
    for (const sel of this.selectors.get(inst.namespace) ?? []) if (selects(sel.labels, inst.labels)) for (const k of sel.serviceKeys) out.add(k);
    const explicit = (inst as RegisteredInstance).service;
    if (explicit) {
      const s = services.get(resolveHost(explicit, inst.namespace), inst.namespace);
      if (s) out.add(serviceKey(s));
    }
    return out;
  }

  /** Every instance of a service. */
  instancesOf(service: Service, services: ServiceIndex): WorkloadInstance[] {
    const key = serviceKey(service);
    const out: WorkloadInstance[] = [...(this.inline.get(key) ?? [])];
    const sels = (this.selectors.get(service.namespace) ?? []).filter((s) => s.serviceKeys.includes(key));
    // a workload selected by several entries of the host serves the ports of all of them
    const selected = new Map<WorkloadInstance, Set<number>>();
    for (const sel of sels) {
      for (const we of this.workloadEntries.get(service.namespace) ?? []) {
        if (selects(sel.labels, we.labels)) for (const p of sel.ports) (selected.get(we) ?? selected.set(we, new Set()).get(we)!).add(p);
      }
    }
    for (const [we, ports] of selected) out.push(sels.length === 1 ? we : Object.freeze({ ...we, onlyPorts: Object.freeze([...ports]) }));
    const { byNamespace, byHost } = this.grouped();
    const seen = new Set<RegisteredInstance>();
    if (sels.length > 0) {
      for (const r of byNamespace.get(service.namespace) ?? []) if (sels.some((sel) => selects(sel.labels, r.labels))) seen.add(r);
    }
    for (const r of byHost.get(service.hostname) ?? []) if (services.get(service.hostname, r.namespace) === service) seen.add(r);
    out.push(...seen);
    return out;
  }

  private groups?: { byNamespace: Map<string, RegisteredInstance[]>; byHost: Map<string, RegisteredInstance[]> };

  /** registered instances by namespace and by the host they name, built once per sources object */
  private grouped() {
    if (!this.groups) {
      const byNamespace = new Map<string, RegisteredInstance[]>();
      const byHost = new Map<string, RegisteredInstance[]>();
      const add = (m: Map<string, RegisteredInstance[]>, k: string, r: RegisteredInstance) => (m.get(k) ?? m.set(k, []).get(k)!).push(r);
      for (const r of this.registered.values()) {
        add(byNamespace, r.namespace, r);
        if (r.service) add(byHost, resolveHost(r.service, r.namespace), r);
      }
      this.groups = { byNamespace, byHost };
    }
    return this.groups;
  }
}

function endpointSet(service: Service, instances: readonly WorkloadInstance[]): EndpointSet {
  if (instances.length === 0) return EMPTY_SET;
  const byPort = new Map<number, readonly Endpoint[]>();
  for (const p of service.ports) {
    const eps = instances
      .filter((i) => i.address && (!i.onlyPorts || i.onlyPorts.includes(p.number)))
      .map((i) =>
        Object.freeze({
          address: i.address,
          port: endpointPort(i, p),
          labels: i.labels ?? NO_LABELS,
          ...(i.locality ? { locality: i.locality } : {}),
          weight: i.weight,
          health: i.health,
          instanceId: i.id,
          ...(i.serviceAccount ? { serviceAccount: i.serviceAccount } : {}),
        }),
      )
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port || (a.instanceId < b.instanceId ? -1 : 1)));
    byPort.set(p.number, Object.freeze(eps));
  }
  const version = createHash('sha256').update(JSON.stringify([...byPort])).digest('hex').slice(0, 16);
  return Object.freeze({ version, byPort });
}

/** Endpoint sets by service key. Immutable; update() shares the sets it does not recompute. */
export class EndpointIndex {
  private constructor(
    private readonly sets: ReadonlyMap<string, EndpointSet>,
    readonly version: string,
  ) {}

  static build(services: ServiceIndex, sources: EndpointSources): EndpointIndex {
    const sets = new Map<string, EndpointSet>();
    for (const s of services.all) sets.set(serviceKey(s), endpointSet(s, sources.instancesOf(s, services)));
    return new EndpointIndex(sets, indexVersion(sets));
  }

  /** A copy with the sets of `keys` recomputed (a key whose service no longer exists is dropped). */
  update(keys: Iterable<string>, services: ServiceIndex, sources: EndpointSources): EndpointIndex {
    const sets = new Map(this.sets);
    for (const k of keys) {
      const slash = k.indexOf('/');
      const s = services.declarations(k.slice(slash + 1)).find((x) => x.namespace === k.slice(0, slash));
      if (s) sets.set(k, endpointSet(s, sources.instancesOf(s, services)));
      else sets.delete(k);
    }
    return new EndpointIndex(sets, indexVersion(sets));
  }

  of(service: Service): EndpointSet {
    return this.sets.get(serviceKey(service)) ?? EMPTY_SET;
  }

  endpoints(service: Service, port: number): readonly Endpoint[] {
    return this.of(service).byPort.get(port) ?? NONE;
  }
}

function indexVersion(sets: ReadonlyMap<string, EndpointSet>): string {
  const h = createHash('sha256');
  for (const [k, s] of [...sets].sort((a, b) => (a[0] < b[0] ? -1 : 1))) h.update(`${k}=${s.version};`);
  return h.digest('hex').slice(0, 16);
}
