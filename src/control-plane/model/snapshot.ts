// Stage 1's output: an immutable snapshot of the mesh, split into one index per kind (services, endpoints,
// destination rules, virtual services, gateways, sidecars, and the security policies) so that each builder of
// stage 2 reads only what it needs. Nothing here knows about Envoy.
//
// Config changes build a new snapshot (buildSnapshot). Workloads that register at run time go through
// withInstance()/withoutInstance(): the new snapshot shares every index with the old one except the endpoint
// sets of the services that instance belongs to (and the service index, only when an implicit service appears
// or goes away), so a sidecar joining a large mesh costs in proportion to its services, not to the mesh.
import { createHash } from 'node:crypto';
import type { MeshKind, MeshResource } from '../../api/mesh/types.js';
import { DestinationRuleIndex } from './destination-rules.js';
import { GatewayIndex } from './gateways.js';
import { resolveHost } from './hosts.js';
import { EndpointIndex, EndpointSources, type RegisteredInstance } from './instances.js';
import { portProtocol } from './protocol.js';
import { serviceKey, ServiceIndex, servicesOfEntry, type Service } from './services.js';
import { SidecarIndex } from './sidecars.js';
import { AuthorizationPolicyIndex } from './authorization.js';
import { PeerAuthenticationIndex } from './peer-authentication.js';
import { RequestAuthenticationIndex } from './request-authentication.js';
import { VirtualServiceIndex } from './virtual-services.js';

export interface MeshSnapshot {
  /** content version: equal config and equal endpoints give an equal version */
  readonly version: string;
  /** version of the config resources alone (what CDS/LDS/RDS depend on, with the service index) */
  readonly configVersion: string;
  readonly services: ServiceIndex;
  readonly endpoints: EndpointIndex;
  readonly destinationRules: DestinationRuleIndex;
  readonly virtualServices: VirtualServiceIndex;
  readonly gateways: GatewayIndex;
  readonly sidecars: SidecarIndex;
  /** security.istio.io policies (peer-authentication.ts, authorization.ts, request-authentication.ts) */
  readonly peerAuthentications: PeerAuthenticationIndex;
  readonly authorizationPolicies: AuthorizationPolicyIndex;
  readonly requestAuthentications: RequestAuthenticationIndex;
  /** a new snapshot with `inst` registered (replacing one with the same id) */
  withInstance(inst: RegisteredInstance): MeshSnapshot;
  /** a new snapshot without the instance registered under `id` (this one when there is none) */
  withoutInstance(id: string): MeshSnapshot;
  readonly registered: ReadonlyMap<string, RegisteredInstance>;
}

type ByKind = { [K in MeshKind]: MeshResource<K>[] };

function byKind(resources: Iterable<MeshResource>): ByKind {
  const out: ByKind = { Gateway: [], VirtualService: [], DestinationRule: [], ServiceEntry: [], WorkloadEntry: [], Sidecar: [], PeerAuthentication: [], AuthorizationPolicy: [], RequestAuthentication: [] };
  for (const r of resources) (out[r.kind] as MeshResource[]).push(r);
  return out;
}

function configHash(resources: Iterable<MeshResource>): string {
  const h = createHash('sha256');
  for (const r of resources) h.update(JSON.stringify([r.kind, r.metadata.namespace, r.metadata.name, r.spec])).update('\n');
  return h.digest('hex').slice(0, 16);
}

/** Implicit services for registered instances whose host no ServiceEntry declares in their namespace. */
function implicitServices(declared: ServiceIndex, registered: Iterable<RegisteredInstance>): Service[] {
  const byKey = new Map<string, Service>();
  for (const r of registered) {
    if (!r.service) continue;
    const hostname = resolveHost(r.service, r.namespace);
    if (declared.declarations(hostname).some((s) => s.namespace === r.namespace)) continue;
    const key = serviceKey({ namespace: r.namespace, hostname });
    if (byKey.has(key)) continue;
    byKey.set(
      key,
      Object.freeze({
        hostname,
        namespace: r.namespace,
        ports: Object.freeze((r.servicePorts ?? []).map((p) => Object.freeze({ name: p.name, number: p.number, protocol: portProtocol(p.name, p.protocol), ...(p.targetPort ? { targetPort: p.targetPort } : {}) }))),
        addresses: Object.freeze([]),
        resolution: 'STATIC' as const,
        location: 'MESH_INTERNAL' as const,
        source: 'registered',
      }),
    );
  }
  return [...byKey.values()];
}

/** The security indexes, built with the config and kept as they are when instances register. */
type SecurityIndexes = Pick<MeshSnapshot, 'peerAuthentications' | 'authorizationPolicies' | 'requestAuthentications'>;

class Snapshot implements MeshSnapshot {
  readonly version: string;

  constructor(
    readonly configVersion: string,
    /** services declared by ServiceEntries only */
    private readonly declared: ServiceIndex,
    readonly services: ServiceIndex,
    readonly endpoints: EndpointIndex,
    private readonly sources: EndpointSources,
    readonly destinationRules: DestinationRuleIndex,
    readonly virtualServices: VirtualServiceIndex,
    readonly gateways: GatewayIndex,
    readonly sidecars: SidecarIndex,
    private readonly security: SecurityIndexes,
  ) {
    this.version = `${configVersion}-${endpoints.version}`;
    Object.freeze(this);
  }

  get peerAuthentications(): PeerAuthenticationIndex {
    return this.security.peerAuthentications;
  }

  get authorizationPolicies(): AuthorizationPolicyIndex {
    return this.security.authorizationPolicies;
  }

  get requestAuthentications(): RequestAuthenticationIndex {
    return this.security.requestAuthentications;
  }

  get registered(): ReadonlyMap<string, RegisteredInstance> {
    return this.sources.registered;
  }

  withInstance(inst: RegisteredInstance): MeshSnapshot {
    const registered = new Map(this.sources.registered);
    const old = registered.get(inst.id);
    registered.set(inst.id, inst);
    return this.reregister(registered, [old, inst]);
  }

  withoutInstance(id: string): MeshSnapshot {
    const old = this.sources.registered.get(id);
    if (!old) return this;
    const registered = new Map(this.sources.registered);
    registered.delete(id);
    return this.reregister(registered, [old]);
  }

  private reregister(registered: Map<string, RegisteredInstance>, changed: (RegisteredInstance | undefined)[]): MeshSnapshot {
    const sources = this.sources.withRegistered(registered);
    // the service index changes only when an implicit service appears or disappears
    const implicit = implicitServices(this.declared, registered.values());
    const before = new Set(this.services.all.filter((s) => s.source === 'registered').map(serviceKey));
    const after = new Set(implicit.map(serviceKey));
    const same = before.size === after.size && [...after].every((k) => before.has(k));
    const services = same ? this.services : this.declared.with(implicit);
    const affected = new Set<string>();
    for (const inst of changed) {
      if (!inst) continue;
      for (const k of sources.serviceKeysOf(inst, services)) affected.add(k);
      for (const k of this.sources.serviceKeysOf(inst, this.services)) affected.add(k);
    }
    for (const k of before) if (!after.has(k)) affected.add(k);
    const endpoints = this.endpoints.update(affected, services, sources);
    return new Snapshot(this.configVersion, this.declared, services, endpoints, sources, this.destinationRules, this.virtualServices, this.gateways, this.sidecars, this.security);
  }
}

/**
 * Stage 1: validated resources (and the instances registered so far) → a snapshot. Resources are assumed
 * valid (the loader rejected the others); their order is kept where Istio would use creation time.
 */
export function buildSnapshot(resources: Iterable<MeshResource>, registered: Iterable<RegisteredInstance> = []): MeshSnapshot {
  const list = [...resources];
  const k = byKind(list);
  const declared = new ServiceIndex(k.ServiceEntry.flatMap(servicesOfEntry));
  const reg = new Map<string, RegisteredInstance>();
  for (const r of registered) reg.set(r.id, r);
  const implicit = implicitServices(declared, reg.values());
  const services = implicit.length ? declared.with(implicit) : declared;
  const sources = EndpointSources.fromConfig(k.ServiceEntry, k.WorkloadEntry, reg);
  return new Snapshot(
    configHash(list),
    declared,
    services,
    EndpointIndex.build(services, sources),
    sources,
    new DestinationRuleIndex(k.DestinationRule),
    new VirtualServiceIndex(k.VirtualService),
    new GatewayIndex(k.Gateway),
    new SidecarIndex(k.Sidecar),
    {
      peerAuthentications: new PeerAuthenticationIndex(k.PeerAuthentication),
      authorizationPolicies: new AuthorizationPolicyIndex(k.AuthorizationPolicy),
      requestAuthentications: new RequestAuthenticationIndex(k.RequestAuthentication),
    },
  );
}
