// PeerAuthentication: which mutual TLS mode a workload's inbound side runs, per port (Istio's
// pilot/pkg/model/authentication.go and pilot/pkg/security/authn ComposePeerAuthentication).
//
// Three levels, the narrowest winning: the mesh (a policy without selector in the root namespace, istio-system),
// the namespace (a policy without selector in the workload's namespace), the workload (a policy with a selector
// in the workload's namespace whose labels the workload has). A level whose mode is UNSET (or absent) inherits
// from the level above; with nothing set the mode is PERMISSIVE. Where several policies compete for one level
// Istio takes the oldest; Meshwork keeps no creation time and takes the first by name — which also decides which
// of several namespace-wide (or mesh-wide) policies counts: the others are ignored, and `meshwork analyze` says
// so. A policy with a selector in the root namespace is ignored too, as Istio's ComposePeerAuthentication
// ignores it (workload policies live in the workload's namespace).
//
// portLevelMtls is keyed by the workload's port — in Istio the container port, the port the application listens
// on, not the service port. For a Meshwork sidecar that is an inbound port's `targetPort` (`--port 9080:8080`:
// 8080). effectiveMtls maps those to the inbound listeners (`listenPort`), which is what the listener
// translation builds, and keeps Istio's own map (by application port) as `byTargetPort`.
import type { MeshResource, MutualTLSMode, PeerAuthenticationMutualTLS } from '../../api/mesh/types.js';
import { ROOT_NAMESPACE } from './hosts.js';
import type { Labels } from './labels.js';
import { byNamespace, policiesForWorkload, policySelects, scopedFields, type ScopedPolicy } from './policy-scope.js';
import type { InboundPort, Proxy } from './proxy.js';
import { inboundPortsOf } from './scope.js';
import type { MeshSnapshot } from './snapshot.js';

/** A resolved mode: UNSET never survives composition. */
export type MtlsMode = Exclude<MutualTLSMode, 'UNSET'>;

export interface PeerAuthentication extends ScopedPolicy {
  /** "namespace/name" */
  readonly key: string;
  /** as written: UNSET when absent */
  readonly mode: MutualTLSMode;
  /** workload (application) port → mode as written */
  readonly portLevelMtls: ReadonlyMap<number, MutualTLSMode>;
}

/** A PeerAuthentication the model leaves out, and why (what `meshwork analyze` reports). */
export interface IgnoredPeerAuthentication {
  readonly policy: PeerAuthentication;
  /** "duplicate": another policy without selector already decides its namespace; "root-selector": a selector in the root namespace */
  readonly why: 'duplicate' | 'root-selector';
  /** for "duplicate": the policy that counts */
  readonly kept?: PeerAuthentication;
}

export interface EffectiveMtls {
  /** the workload's mode (mesh < namespace < workload, UNSET inheriting; PERMISSIVE by default) */
  readonly mode: MtlsMode;
  /**
   * inbound listener port (InboundPort.listenPort) → mode, for each inbound port whose application port the
   * workload policy's portLevelMtls names; every other inbound port runs `mode`
   */
  readonly ports: ReadonlyMap<number, MtlsMode>;
  /** Istio's per-port map as written (application/container port → resolved mode), whether or not a port of this proxy matches */
  readonly byTargetPort: ReadonlyMap<number, MtlsMode>;
  /** the policies that decided, "namespace/name" (absent: no policy at that level) */
  readonly from: { readonly mesh?: string; readonly namespace?: string; readonly workload?: string };
}

const resolve = (m: PeerAuthenticationMutualTLS | undefined): MutualTLSMode => m?.mode ?? 'UNSET';

export class PeerAuthenticationIndex {
  /** every policy by namespace, each namespace's by name */
  private readonly byNamespace: Map<string, readonly PeerAuthentication[]>;
  /** the policy without selector that decides each namespace (the root namespace's decides the mesh) */
  private readonly namespaceWide = new Map<string, PeerAuthentication>();
  readonly ignored: readonly IgnoredPeerAuthentication[];

  constructor(resources: readonly MeshResource<'PeerAuthentication'>[]) {
    const all = resources.map((r): PeerAuthentication => {
      const ports = new Map<number, MutualTLSMode>();
      for (const [k, v] of Object.entries(r.spec.portLevelMtls ?? {})) ports.set(Number(k), resolve(v));
      return Object.freeze({
        ...scopedFields(r),
        mode: resolve(r.spec.mtls),
        portLevelMtls: ports,
      });
    });
    this.byNamespace = byNamespace(all);
    const ignored: IgnoredPeerAuthentication[] = [];
    for (const [ns, list] of this.byNamespace) {
      for (const p of list) {
        if (p.selector) {
          if (ns === ROOT_NAMESPACE) ignored.push(Object.freeze({ policy: p, why: 'root-selector' as const }));
          continue;
        }
        const kept = this.namespaceWide.get(ns);
        if (kept) ignored.push(Object.freeze({ policy: p, why: 'duplicate' as const, kept }));
        else this.namespaceWide.set(ns, p);
      }
    }
    this.ignored = Object.freeze(ignored);
  }

  /** The mesh-wide policy (the root namespace's without selector), if any. */
  get mesh(): PeerAuthentication | undefined {
    return this.namespaceWide.get(ROOT_NAMESPACE);
  }

  /** The namespace-wide policy of `namespace` (the mesh's for the root namespace), if any. */
  namespacePolicy(namespace: string): PeerAuthentication | undefined {
    return this.namespaceWide.get(namespace);
  }

  /**
   * Every policy that applies to a workload (Istio's GetPeerAuthenticationsForWorkload: its namespace, then the
   * root namespace), before composition.
   */
  forWorkload(namespace: string, labels: Labels): PeerAuthentication[] {
    return policiesForWorkload(this.byNamespace, namespace, labels, 'namespace-first');
  }

  /**
   * The mode of a namespace's workloads without a workload policy: the namespace policy, else the mesh's, else
   * PERMISSIVE (what a client can expect of a service's workloads when it knows nothing of their labels).
   */
  namespaceMode(namespace: string): MtlsMode {
    return compose(this.namespaceWide.get(ROOT_NAMESPACE), namespace === ROOT_NAMESPACE ? undefined : this.namespaceWide.get(namespace), undefined, []).mode;
  }

  /** Istio's ComposePeerAuthentication for one workload, its per-port modes mapped onto `inbound`. */
  effective(namespace: string, labels: Labels, inbound: readonly InboundPort[]): EffectiveMtls {
    const mesh = this.namespaceWide.get(ROOT_NAMESPACE);
    const ns = namespace === ROOT_NAMESPACE ? undefined : this.namespaceWide.get(namespace);
    // the workload level: the first by name (Istio: the oldest) of the selecting policies in its own namespace;
    // root-namespace policies with a selector never reach here (Istio ignores them)
    const workload = namespace === ROOT_NAMESPACE ? undefined : (this.byNamespace.get(namespace) ?? []).find((p) => p.selector !== undefined && policySelects(p, labels));
    return compose(mesh, ns, workload, inbound);
  }
}

function compose(mesh: PeerAuthentication | undefined, ns: PeerAuthentication | undefined, workload: PeerAuthentication | undefined, inbound: readonly InboundPort[]): EffectiveMtls {
  let mode: MtlsMode = 'PERMISSIVE';
  for (const level of [mesh, ns, workload]) if (level && level.mode !== 'UNSET') mode = level.mode;
  const byTargetPort = new Map<number, MtlsMode>();
  for (const [port, m] of workload?.portLevelMtls ?? []) byTargetPort.set(port, m === 'UNSET' ? mode : m);
  const ports = new Map<number, MtlsMode>();
  for (const p of inbound) {
    const m = byTargetPort.get(p.targetPort);
    if (m !== undefined) ports.set(p.listenPort, m);
  }
  return Object.freeze({
    mode,
    ports,
    byTargetPort,
    from: Object.freeze({ ...(mesh ? { mesh: mesh.key } : {}), ...(ns ? { namespace: ns.key } : {}), ...(workload ? { workload: workload.key } : {}) }),
  });
}

/**
 * The mutual TLS mode of a proxy's inbound side, and per inbound listener port where portLevelMtls says
 * otherwise (read `ports.get(listenPort) ?? mode`). `inbound` defaults to the proxy's inbound listeners (its
 * --port flags or its Sidecar's ingress); gateways have none, so only `mode` means anything for them.
 */
export function effectiveMtls(snapshot: MeshSnapshot, proxy: Proxy, inbound: readonly InboundPort[] = inboundPortsOf(snapshot, proxy)): EffectiveMtls {
  return snapshot.peerAuthentications.effective(proxy.namespace, proxy.labels, inbound);
}
