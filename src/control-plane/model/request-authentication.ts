// RequestAuthentication: which JWT rules a proxy validates, for the jwt_authn translation
// (envoy.filters.http.jwt_authn) to build from (Istio's GetJwtPoliciesForWorkload and its authn builder).
//
// Scope as PeerAuthentication's lookup (Istio's getConfigsForWorkload): the policies of the workload's namespace,
// then those of the root namespace (istio-system), each applying when it has no selector or the workload's
// labels include its selector; each namespace's in name order (Istio: creation time; Meshwork keeps none).
// Unlike PeerAuthentication nothing is composed: every applying policy's rules count, and Istio merges them
// into one jwt_authn filter with one provider per rule (a token must satisfy the rule of its issuer).
//
// Semantics the translation must keep (Istio's): a request with no token passes (authentication only refuses
// invalid tokens: 401); a request with a token for an issuer no rule names is refused; requiring a token is an
// AuthorizationPolicy's job (`requestPrincipals: ["*"]`). The validated identity is `<iss>/<sub>`
// (`request.auth.principal`), which AuthorizationPolicy rules match.
import type { JWTRule, MeshResource } from '../../api/mesh/types.js';
import type { Labels } from './labels.js';
import { byNamespace, policiesForWorkload, scopedFields, type ScopedPolicy } from './policy-scope.js';
import type { Proxy } from './proxy.js';
import type { MeshSnapshot } from './snapshot.js';

export interface RequestAuthentication extends ScopedPolicy {
  /** "namespace/name" */
  readonly key: string;
  readonly jwtRules: readonly JWTRule[];
}

/** One JWT rule and the policy it came from: what the jwt_authn translation turns into one provider. */
export interface AppliedJwtRule {
  readonly policy: RequestAuthentication;
  /** its index in the policy's jwtRules (for stable provider names: `origins-<key>-<index>`) */
  readonly index: number;
  readonly rule: JWTRule;
}

export class RequestAuthenticationIndex {
  private readonly byNamespace: Map<string, readonly RequestAuthentication[]>;

  constructor(resources: readonly MeshResource<'RequestAuthentication'>[]) {
    this.byNamespace = byNamespace(
      resources.map((r): RequestAuthentication => {
        return Object.freeze({
          ...scopedFields(r),
          jwtRules: r.spec.jwtRules ?? Object.freeze([]),
        });
      }),
    );
  }

  /** Whether any RequestAuthentication exists. */
  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** The policies that apply to a workload of `namespace` with `labels`: its namespace's, then the root's. */
  forWorkload(namespace: string, labels: Labels): RequestAuthentication[] {
    return policiesForWorkload(this.byNamespace, namespace, labels, 'namespace-first');
  }
}

/** The RequestAuthentications that apply to a proxy (sidecar or gateway), in Istio's lookup order. */
export function requestAuthenticationsFor(snapshot: MeshSnapshot, proxy: Proxy): RequestAuthentication[] {
  return snapshot.requestAuthentications.forWorkload(proxy.namespace, proxy.labels);
}

/** Every JWT rule of the RequestAuthentications that apply to a proxy, policy by policy, in rule order. */
export function jwtRulesFor(snapshot: MeshSnapshot, proxy: Proxy): AppliedJwtRule[] {
  return requestAuthenticationsFor(snapshot, proxy).flatMap((policy) => policy.jwtRules.map((rule, index) => Object.freeze({ policy, index, rule })));
}
