// AuthorizationPolicy: which policies apply to a proxy, grouped by action, for the RBAC translation
// (envoy.filters.http.rbac / envoy.filters.network.rbac) to build from (Istio's pilot/pkg/model/authorization.go
// ListAuthorizationPolicies).
//
// Scope: a policy in the root namespace (istio-system) applies mesh-wide — to every workload without a
// selector, to those whose labels include its selector with one; a policy in a workload's namespace applies to
// all of the namespace's workloads without a selector, to the selected ones with one. Sidecars and gateways
// alike (a gateway's labels are its workload labels). Order: the root namespace's policies first, then the
// workload namespace's, each namespace's by name (Istio: by creation time; Meshwork keeps none).
//
// Evaluation, as the RBAC translation must implement it (Istio's, and the order of its filters): CUSTOM first
// (the external authorizer may deny), then DENY (any matching policy denies), then ALLOW (when any ALLOW policy
// applies, a request must match one of them, else it is denied; with none, the request is allowed). AUDIT
// policies only mark matching requests for logging. A policy's `rules` match when any rule matches; a rule
// matches when one of its `from`, one of its `to` and all of its `when` match; an absent list matches
// anything, so a rule `{}` matches every request and a policy with no rules matches none (an ALLOW policy
// without rules is "allow nothing").
//
// Policies carrying the annotation `istio.io/dry-run: "true"` are returned with `dryRun` set: Istio builds them
// as shadow rules (logged and counted, never enforced).
import type { AuthorizationAction, AuthorizationRule, MeshResource } from '../../api/mesh/types.js';
import type { Labels } from './labels.js';
import { byNamespace, policiesForWorkload, scopedFields, type ScopedPolicy } from './policy-scope.js';
import type { Proxy } from './proxy.js';
import type { MeshSnapshot } from './snapshot.js';

export interface AuthorizationPolicy extends ScopedPolicy {
  /** "namespace/name": the name Istio gives the RBAC policy is `ns[<namespace>]-policy[<name>]-rule[<i>]` */
  readonly key: string;
  /** default ALLOW */
  readonly action: AuthorizationAction;
  /** CUSTOM only: the extension provider's name */
  readonly provider?: string;
  /** the rules as written (validated; empty when absent: the policy matches nothing) */
  readonly rules: readonly AuthorizationRule[];
  /** `istio.io/dry-run: "true"`: evaluate and log, never enforce */
  readonly dryRun: boolean;
}

/** The policies that apply to one proxy, by action, each list in evaluation-independent stable order. */
export interface AuthorizationPolicies {
  readonly custom: readonly AuthorizationPolicy[];
  readonly deny: readonly AuthorizationPolicy[];
  readonly allow: readonly AuthorizationPolicy[];
  readonly audit: readonly AuthorizationPolicy[];
}

const NONE: AuthorizationPolicies = Object.freeze({ custom: Object.freeze([]), deny: Object.freeze([]), allow: Object.freeze([]), audit: Object.freeze([]) });

export class AuthorizationPolicyIndex {
  private readonly byNamespace: Map<string, readonly AuthorizationPolicy[]>;
  /** results by (namespace, labels): proxies alike share one */
  private readonly cache = new Map<string, AuthorizationPolicies>();

  constructor(resources: readonly MeshResource<'AuthorizationPolicy'>[]) {
    this.byNamespace = byNamespace(
      resources.map((r): AuthorizationPolicy => {
        return Object.freeze({
          ...scopedFields(r),
          action: r.spec.action ?? 'ALLOW',
          ...(r.spec.provider?.name ? { provider: r.spec.provider.name } : {}),
          rules: r.spec.rules ?? Object.freeze([]),
          dryRun: r.metadata.annotations?.['istio.io/dry-run'] === 'true',
        });
      }),
    );
  }

  /** Whether any AuthorizationPolicy exists (a translation can skip the RBAC filters when none does). */
  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** The policies that apply to a workload of `namespace` with `labels`, by action. */
  forWorkload(namespace: string, labels: Labels): AuthorizationPolicies {
    if (this.byNamespace.size === 0) return NONE;
    const key = `${namespace}|${JSON.stringify(Object.entries(labels).sort())}`;
    let out = this.cache.get(key);
    if (!out) {
      const all = policiesForWorkload(this.byNamespace, namespace, labels, 'root-first');
      const of = (a: AuthorizationAction) => Object.freeze(all.filter((p) => p.action === a));
      out = Object.freeze({ custom: of('CUSTOM'), deny: of('DENY'), allow: of('ALLOW'), audit: of('AUDIT') });
      this.cache.set(key, out);
    }
    return out;
  }
}

/** The AuthorizationPolicies that apply to a proxy (sidecar or gateway), by action. */
export function authorizationPoliciesFor(snapshot: MeshSnapshot, proxy: Proxy): AuthorizationPolicies {
  return snapshot.authorizationPolicies.forWorkload(proxy.namespace, proxy.labels);
}
