// RequestAuthentication → Envoy's envoy.filters.http.jwt_authn, as Istio builds it (pilot/pkg/security/authn
// policy_applier.go, convertToEnvoyJwtConfig): every JWT rule that applies to the proxy (model/
// request-authentication.ts: its namespace's policies, then the root namespace's) becomes one provider of one
// filter, placed first in the proxy's inbound (sidecar) and gateway HTTP connection managers, before RBAC and
// the router. Outbound connection managers authenticate nothing, as in Istio.
//
// Semantics (Istio's): a request without a token passes; a request with a token must satisfy the provider of
// its issuer, otherwise 401 (a token whose issuer no rule names fails too). Requiring a token is an
// AuthorizationPolicy's job (`requestPrincipals`), which reads what this filter records:
//
//   CONVENTION shared with the AuthorizationPolicy (RBAC) translation: each provider writes the verified
//   token's payload to the dynamic metadata namespace `envoy.filters.http.jwt_authn` under the key
//   `payload_in_metadata` = the rule's issuer (Istio ≤ 1.8 did the same; later Istio uses one key "payload").
//   `request.auth.principal` is then `<payload.iss>/<payload.sub>`, and claims are read under that key.
//   A rule without an issuer writes no payload (its tokens verify, but carry no request principal).
//
// Keys: inline `jwks`, or the set the control plane fetched for `jwksUri` (or by OpenID discovery from the
// issuer): jwks/resolver.ts, Istio's default mode. Both are inlined as `local_jwks`; a set that is not there (not
// fetched yet, fetch failed) or has no usable key becomes UNAVAILABLE_JWKS, which fails every token of that
// provider: an issuer whose keys cannot be had is refused, never waved through.
import type { JWTRule } from '../../../api/mesh/types.js';
import { checkJwksCached, UNAVAILABLE_JWKS } from '../../jwks/keys.js';
import { jwtRulesFor } from '../../model/request-authentication.js';
import type { Proxy } from '../../model/proxy.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { Json } from '../common.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** The dynamic metadata namespace the providers write payloads to (Envoy's: the filter's name). */
export const JWT_METADATA_NAMESPACE = JWT_AUTHN_FILTER;

/** Istio always normalizes these space-delimited claims to lists (buildSpaceDelimitedClaims' defaults). */
const SPACE_DELIMITED_CLAIMS = ['permission', 'scope'];

/** Key sets fetched by the control plane (jwks/resolver.ts): the checked set of a rule, or undefined. */
export interface JwksSource {
  keys(issuer: string | undefined, jwksUri: string | undefined): string | undefined;
}

/** The key set a provider inlines: the rule's own `jwks`, else the fetched one, else UNAVAILABLE_JWKS. */
function localJwks(rule: JWTRule, jwks: JwksSource | undefined): string {
  if (rule.jwks) {
    const c = checkJwksCached(rule.jwks);
    return c.ok ? c.text : UNAVAILABLE_JWKS;
  }
  return jwks?.keys(rule.issuer, rule.jwksUri) ?? UNAVAILABLE_JWKS;
}

/** One JWT rule → one JwtProvider (Istio's field by field mapping). */
export function jwtProvider(rule: JWTRule, jwks?: JwksSource): Json {
  return {
    ...(rule.issuer ? { issuer: rule.issuer } : {}),
    ...(rule.audiences?.length ? { audiences: rule.audiences } : {}),
    local_jwks: { inline_string: localJwks(rule, jwks) },
    ...(rule.forwardOriginalToken ? { forward: true } : {}),
    // no from_* at all: Envoy's default, `Authorization: Bearer` then `?access_token=`, which is Istio's default
    ...(rule.fromHeaders?.length ? { from_headers: rule.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { value_prefix: h.prefix } : {}) })) } : {}),
    ...(rule.fromParams?.length ? { from_params: rule.fromParams } : {}),
    ...(rule.fromCookies?.length ? { from_cookies: rule.fromCookies } : {}),
    ...(rule.outputPayloadToHeader ? { forward_payload_header: rule.outputPayloadToHeader } : {}),
    ...(rule.issuer ? { payload_in_metadata: rule.issuer } : {}),
    normalize_payload_in_metadata: { space_delimited_claims: SPACE_DELIMITED_CLAIMS },
    ...(rule.outputClaimToHeaders?.length ? { claim_to_headers: rule.outputClaimToHeaders.map((c) => ({ header_name: c.header, claim_name: c.claim })) } : {}),
  };
}

const provider = (name: string): Json => ({ provider_name: name });
const ALLOW_MISSING: Json = Object.freeze({ allow_missing: {} });

/**
 * JWT rules → the JwtAuthentication config, or undefined without rules. Providers `origins-<i>` in the order of
 * the rules sorted by issuer (stable), as Istio names them. The requirement, for every path, is Istio's:
 *  - one provider P: requires_any [P, allow_missing] (a token must verify with P; none is fine);
 *  - several: requires_any [P0, P1, ..., requires_all [any(P0, allow_missing), any(P1, allow_missing), ...]]:
 *    the inner AND makes every token present valid for its provider, and the leading ORs let a request through
 *    when providers read the same location (the AND alone would fail there, since a token of P0 in the
 *    location P1 also reads is a bad token for P1).
 * CORS preflights pass untouched (bypass_cors_preflight), as Istio sets.
 */
export function jwtAuthentication(rules: readonly JWTRule[], jwks?: JwksSource): Json | undefined {
  if (rules.length === 0) return undefined;
  const sorted = [...rules].sort((a, b) => ((a.issuer ?? '') < (b.issuer ?? '') ? -1 : (a.issuer ?? '') > (b.issuer ?? '') ? 1 : 0));
  const providers: Json = {};
  const names: string[] = [];
  sorted.forEach((rule, i) => {
    const name = `origins-${i}`;
    providers[name] = jwtProvider(rule, jwks);
    names.push(name);
  });
  const optional = (name: string): Json => ({ requires_any: { requirements: [provider(name), ALLOW_MISSING] } });
  const requires =
    names.length === 1
      ? optional(names[0]!)
      : { requires_any: { requirements: [...names.map(provider), { requires_all: { requirements: names.map(optional) } }] } };
  return { providers, rules: [{ match: { prefix: '/' }, requires }], bypass_cors_preflight: true };
}

/** The jwt_authn filter of a proxy's inbound or gateway HTTP connection managers: [] when no rule applies. */
export function jwtAuthnFilters(snapshot: MeshSnapshot, proxy: Proxy, jwks?: JwksSource): Json[] {
  const config = jwtAuthentication(
    jwtRulesFor(snapshot, proxy).map((r) => r.rule),
    jwks,
  );
  return config ? [{ name: JWT_AUTHN_FILTER, typed_config: { '@type': JWT_AUTHN_TYPE, ...config } }] : [];
}
