// Sidecar resources: which one applies to a proxy (Istio: one in the proxy's namespace whose workloadSelector
// matches its labels, else that namespace's Sidecar without selector, else the root namespace's), and what its
// egress hosts let the proxy see. This is the scoping that keeps a proxy's config proportional to what it
// calls rather than to the size of the mesh.
import type { MeshResource, SidecarSpec } from '../../api/mesh/types.js';
import { covers, ROOT_NAMESPACE } from './hosts.js';
import { hasSelector, selects, type Labels } from './labels.js';

export interface EgressHost {
  /** "*" any namespace, "~" none, or a namespace ("." resolved to the Sidecar's) */
  readonly namespace: string;
  /** "*", "*.suffix" or a FQDN */
  readonly host: string;
}

export interface Sidecar {
  readonly name: string;
  readonly namespace: string;
  readonly spec: SidecarSpec;
  readonly egressHosts: readonly EgressHost[];
}

export function parseEgressHost(text: string, sidecarNamespace: string): EgressHost {
  const slash = text.indexOf('/');
  const ns = slash < 0 ? '*' : text.slice(0, slash);
  const host = slash < 0 ? text : text.slice(slash + 1);
  return { namespace: ns === '.' ? sidecarNamespace : ns, host };
}

/** The egress hosts admit a name declared in `namespace` (a service, or a VirtualService's namespace). */
export function egressAdmits(egress: readonly EgressHost[], hostname: string, namespace: string): boolean {
  return egress.some((e) => e.namespace !== '~' && (e.namespace === '*' || e.namespace === namespace) && covers(e.host, hostname));
}

export class SidecarIndex {
  private readonly byNamespace = new Map<string, Sidecar[]>();

  constructor(resources: readonly MeshResource<'Sidecar'>[]) {
    for (const r of resources) {
      const ns = r.metadata.namespace;
      const sc: Sidecar = Object.freeze({
        name: r.metadata.name,
        namespace: ns,
        spec: r.spec,
        egressHosts: Object.freeze((r.spec.egress ?? []).flatMap((e) => e.hosts.map((h) => parseEgressHost(h, ns)))),
      });
      (this.byNamespace.get(ns) ?? this.byNamespace.set(ns, []).get(ns)!).push(sc);
    }
  }

  /** The Sidecar that applies to a proxy, or undefined (then the proxy sees every service exported to it). */
  forProxy(namespace: string, labels: Labels): Sidecar | undefined {
    const own = this.byNamespace.get(namespace) ?? [];
    return (
      own.find((s) => hasSelector(s.spec.workloadSelector?.labels) && selects(s.spec.workloadSelector!.labels, labels)) ??
      own.find((s) => !hasSelector(s.spec.workloadSelector?.labels)) ??
      (this.byNamespace.get(ROOT_NAMESPACE) ?? []).find((s) => !hasSelector(s.spec.workloadSelector?.labels))
    );
  }
}
