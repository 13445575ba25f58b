// Which security.istio.io policies (PeerAuthentication, AuthorizationPolicy, RequestAuthentication) apply to a
// workload, as Istio scopes them (pilot/pkg/model authentication.go getConfigsForWorkload, authorization.go
// ListAuthorizationPolicies): a policy in the workload's namespace applies when its selector is absent or
// empty, or when the workload's labels include it; a policy in the root namespace (istio-system) does the same
// for workloads of every namespace. Sidecars and gateways are both workloads here.
//
// Istio orders policies of one namespace by creation time (the oldest first, and the oldest wins where only one
// may). Meshwork keeps no creation time: it orders them by name, as it does for ServiceEntries, and says so in
// docs/mesh.md.
import { ROOT_NAMESPACE } from './hosts.js';
import { hasSelector, selects, type Labels } from './labels.js';

export interface ScopedPolicy {
  readonly name: string;
  readonly namespace: string;
  /** the selector's matchLabels; undefined when absent or empty (every workload of the scope) */
  readonly selector?: Labels;
}

/** Policies by namespace, each namespace's in Meshwork's stand-in for creation order: by name. */
export function byNamespace<P extends ScopedPolicy>(policies: readonly P[]): Map<string, readonly P[]> {
  const out = new Map<string, P[]>();
  for (const p of policies) (out.get(p.namespace) ?? out.set(p.namespace, []).get(p.namespace)!).push(p);
  for (const list of out.values()) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out as Map<string, readonly P[]>;
}

/** The selector as the model keeps it: undefined for "no selector" (absent, or `matchLabels: {}`). */
export function selectorOf(matchLabels: Readonly<Record<string, string>> | undefined): Labels | undefined {
  return hasSelector(matchLabels) ? Object.freeze({ ...matchLabels }) : undefined;
}

/** The fields every scoped policy has, from its resource: name, namespace, "namespace/name" and the selector. */
export function scopedFields(r: { metadata: { name: string; namespace: string }; spec: { selector?: { matchLabels?: Readonly<Record<string, string>> } } }): ScopedPolicy & { key: string } {
  const selector = selectorOf(r.spec.selector?.matchLabels);
  return { name: r.metadata.name, namespace: r.metadata.namespace, key: `${r.metadata.namespace}/${r.metadata.name}`, ...(selector ? { selector } : {}) };
}

/** Whether a policy selects a workload of `namespace` with `labels` (not checking the policy's namespace). */
export function policySelects(p: ScopedPolicy, labels: Labels): boolean {
  return p.selector === undefined || selects(p.selector, labels);
}

/**
 * The namespaces whose policies may apply to a workload, in `order`: Istio's authentication lookups go
 * [namespace, root], its authorization lookups [root, namespace]; the root namespace is looked up once.
 */
export function lookupNamespaces(namespace: string, order: 'namespace-first' | 'root-first'): string[] {
  if (namespace === ROOT_NAMESPACE) return [namespace];
  return order === 'namespace-first' ? [namespace, ROOT_NAMESPACE] : [ROOT_NAMESPACE, namespace];
}

/** The policies that apply to a workload, namespace by namespace in `order`, each namespace's by name. */
export function policiesForWorkload<P extends ScopedPolicy>(index: ReadonlyMap<string, readonly P[]>, namespace: string, labels: Labels, order: 'namespace-first' | 'root-first'): P[] {
  const out: P[] = [];
  for (const ns of lookupNamespaces(namespace, order)) for (const p of index.get(ns) ?? []) if (policySelects(p, labels)) out.push(p);
  return out;
}
