// DestinationRules indexed for Istio's lookup: for a proxy in namespace P calling a service of namespace S,
// the rule comes from P's own rules first, then S's rules exported to P, then the root namespace's rules
// exported to P; within a namespace the most specific host wins (exact, then the longest wildcard). A rule with
// a workloadSelector applies only to the proxies it selects, in its own namespace, before the others.
//
// trafficPolicyFor() merges a rule's policies as Istio's MergeTrafficPolicy does: top-level settings, overridden
// field by field by the port-level settings of the port, then by the subset's policy and its port-level
// settings.
import type { DestinationRuleSpec, MeshResource, PortTrafficPolicy, Subset, TrafficPolicy } from '../../api/mesh/types.js';
import { isExportedTo, mostSpecific, resolveHost, ROOT_NAMESPACE } from './hosts.js';
import { hasSelector, selects, type Labels } from './labels.js';

export interface DestinationRule {
  readonly name: string;
  readonly namespace: string;
  /** resolved (FQDN or wildcard) */
  readonly host: string;
  readonly spec: DestinationRuleSpec;
}

/** The merged policy for one port (and subset): no portLevelSettings left. */
export type EffectivePolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

export class DestinationRuleIndex {
  private readonly byNamespace = new Map<string, DestinationRule[]>();

  constructor(resources: readonly MeshResource<'DestinationRule'>[]) {
    for (const r of resources) {
      const ns = r.metadata.namespace;
      const dr: DestinationRule = Object.freeze({ name: r.metadata.name, namespace: ns, host: resolveHost(r.spec.host, ns), spec: r.spec });
      (this.byNamespace.get(ns) ?? this.byNamespace.set(ns, []).get(ns)!).push(dr);
    }
  }

  /** The rule for `hostname` (a service of `serviceNamespace`) as seen by a proxy of `proxyNamespace` with `labels`. */
  lookup(hostname: string, serviceNamespace: string, proxyNamespace: string, labels: Labels): DestinationRule | undefined {
    const own = this.byNamespace.get(proxyNamespace) ?? [];
    const selected = own.filter((d) => hasSelector(d.spec.workloadSelector?.labels) && selects(d.spec.workloadSelector!.labels, labels));
    const found =
      mostSpecific(hostname, selected, (d) => d.host) ??
      mostSpecific(hostname, own.filter((d) => !hasSelector(d.spec.workloadSelector?.labels)), (d) => d.host) ??
      this.exported(serviceNamespace, proxyNamespace, hostname) ??
      this.exported(ROOT_NAMESPACE, proxyNamespace, hostname);
    return found;
  }

  private exported(ns: string, to: string, hostname: string): DestinationRule | undefined {
    const list = (this.byNamespace.get(ns) ?? []).filter((d) => !hasSelector(d.spec.workloadSelector?.labels) && isExportedTo(d.spec.exportTo, ns, to));
    return mostSpecific(hostname, list, (d) => d.host);
  }
}

export function subsetOf(dr: DestinationRule | undefined, name: string): Subset | undefined {
  return dr?.spec.subsets?.find((s) => s.name === name);
}

const FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const;

function overlay(base: EffectivePolicy, over: PortTrafficPolicy | TrafficPolicy | undefined): EffectivePolicy {
  if (!over) return base;
  const out: Record<string, unknown> = { ...base };
  for (const f of FIELDS) if (over[f] !== undefined) out[f] = over[f];
  return out as EffectivePolicy;
}

function withPortLevel(policy: TrafficPolicy | undefined, port: number): EffectivePolicy {
  if (!policy) return {};
  const { portLevelSettings, ...top } = policy;
  return overlay(top, portLevelSettings?.find((p) => p.port?.number === port));
}

/** The policy of `dr` for service port `port` and optionally one subset. */
export function trafficPolicyFor(dr: DestinationRule | undefined, port: number, subset?: Subset): EffectivePolicy {
  const base = withPortLevel(dr?.spec.trafficPolicy, port);
  if (!subset?.trafficPolicy) return base;
  return overlay(base, withPortLevel(subset.trafficPolicy, port));
}
