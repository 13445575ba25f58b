// DestinationRules indexed for Istio's lookup (PushContext.destinationRule, then SidecarScope.DestinationRule):
//  1. the rules of the proxy's own namespace: the most specific host among all of them, with or without a
//     workloadSelector (for a proxy in the root namespace, only its rules local to it, as Istio's "hack" for
//     gateways there);
//  2. else the rules the service's namespace exports to the proxy's, most specific host;
//  3. else those of the root namespace.
// Among the rules of the host found (one namespace), a rule with a workloadSelector wins when it is in the
// proxy's namespace and its matchLabels are a subset of the proxy's labels (an empty one selects every
// proxy); else the rule without selector; else none: as in Istio, the namespace step does not go on looking
// when its host only has selector rules that do not select the proxy. A selector rule therefore never applies
// outside its namespace, and its host still shadows the next steps' rules for the proxies it does not select.
// Istio merges several rules of one host and namespace; Meshwork takes the first (selector rules: the first
// that selects the proxy).
//
// trafficPolicyFor() merges a rule's policies as Istio's MergeTrafficPolicy does: top-level settings, overridden
// field by field by the port-level settings of the port, then by the subset's policy and its port-level
// settings.
import type { DestinationRuleSpec, MeshResource, PortTrafficPolicy, Subset, TrafficPolicy } from '../../api/mesh/types.js';
import { covers, isExportedTo, mostSpecific, resolveHost, ROOT_NAMESPACE } from './hosts.js';
import { selects, type Labels } from './labels.js';

export interface DestinationRule {
  readonly name: string;
  readonly namespace: string;
  /** resolved (FQDN or wildcard) */
  readonly host: string;
  readonly spec: DestinationRuleSpec;
}

/** The merged policy for one port (and subset): no portLevelSettings left. */
export type EffectivePolicy = Omit<TrafficPolicy, 'portLevelSettings'>;

/** Istio's isPrivateOnly: exportTo names only the rule's own namespace ("." or itself). */
function isPrivate(d: DestinationRule): boolean {
  const e = d.spec.exportTo;
  return e !== undefined && e.length > 0 && e.every((x) => x === '.' || x === d.namespace);
}

export class DestinationRuleIndex {
  private readonly byNamespace = new Map<string, DestinationRule[]>();
  /** the rules each namespace exports (not private to it) */
  private readonly exportedBy = new Map<string, DestinationRule[]>();
  /** the root namespace's rules private to it: what a proxy in the root namespace looks at first */
  private readonly rootLocal: DestinationRule[] = [];

  constructor(resources: readonly MeshResource<'DestinationRule'>[]) {
    for (const r of resources) {
      const ns = r.metadata.namespace;
      const dr: DestinationRule = Object.freeze({ name: r.metadata.name, namespace: ns, host: resolveHost(r.spec.host, ns), spec: r.spec });
      push(this.byNamespace, ns, dr);
      if (!isPrivate(dr)) push(this.exportedBy, ns, dr);
      else if (ns === ROOT_NAMESPACE) this.rootLocal.push(dr);
    }
  }

  /** Every rule, in no particular order. */
  *all(): IterableIterator<DestinationRule> {
    for (const list of this.byNamespace.values()) yield* list;
  }

  /** The rule for `hostname` (a service of `serviceNamespace`) as seen by a proxy of `proxyNamespace` with `labels`. */
  lookup(hostname: string, serviceNamespace: string, proxyNamespace: string, labels: Labels): DestinationRule | undefined {
    const found = this.sameHost(hostname, serviceNamespace, proxyNamespace);
    if (!found) return undefined;
    let catchAll: DestinationRule | undefined;
    for (const d of found) {
      const selector = d.spec.workloadSelector;
      if (!selector) catchAll ??= d;
      // selector rules apply to the outbound traffic of proxies in their own namespace only
      else if (d.namespace === proxyNamespace && selects(selector.matchLabels, labels)) return d;
    }
    return catchAll;
  }

  /** Steps 1-3: the rules of the most specific host in the first namespace that has one, in resource order. */
  private sameHost(hostname: string, serviceNamespace: string, proxyNamespace: string): DestinationRule[] | undefined {
    const own = proxyNamespace === ROOT_NAMESPACE ? this.rootLocal : this.byNamespace.get(proxyNamespace);
    const local = ofHost(hostname, own);
    if (local) return local;
    for (const ns of [serviceNamespace, ROOT_NAMESPACE]) {
      // exported rules are visible to every namespace: validation accepts no other exportTo for them
      const found = ofHost(hostname, this.exportedBy.get(ns));
      if (found && found.some((d) => isExportedTo(d.spec.exportTo, ns, proxyNamespace))) return found;
    }
    return undefined;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** The rules whose host is the most specific match of `hostname` (Istio's MostSpecificHostMatch). */
function ofHost(hostname: string, rules: readonly DestinationRule[] | undefined): DestinationRule[] | undefined {
  if (!rules || rules.length === 0) return undefined;
  const best = mostSpecific(hostname, rules, (d) => d.host);
  if (!best) return undefined;
  return rules.filter((d) => d.host === best.host && covers(d.host, hostname));
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
