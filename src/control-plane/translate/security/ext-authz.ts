// AuthorizationPolicy CUSTOM → an RBAC shadow engine + envoy.filters.http.ext_authz, as Istio's
// pilot/pkg/security/authz/builder (builder.go Builder.buildHTTP for the custom builder, extauthz.go) makes them:
//  - The CUSTOM policies that apply to a workload must all name one provider (Istio: "only 1 provider can be used
//    per workload"), declared in the mesh config's extensionProviders (src/api/mesh/mesh-config.ts).
//  - Their rules (dry-run ones left out, as Istio does) become the shadow_rules, action DENY, of an RBAC filter
//    with shadow_rules_stat_prefix `istio_ext_authz_`, each policy named `istio-ext-authz-ns[<ns>]-policy[<name>]-
//    rule[<i>]`. That engine enforces nothing: it writes the name of the policy a request matched to the dynamic
//    metadata envoy.filters.http.rbac → istio_ext_authz_shadow_effective_policy_id.
//  - The ext_authz filter that follows has filter_enabled_metadata on that key (prefix `istio-ext-authz`): only
//    requests a CUSTOM rule matched are sent to the authorizer; the others pass untouched.
//  - envoyExtAuthzHttp → http_service (server_uri cluster `outbound|<port>||<host>`, path_prefix, allowed_headers
//    from includeRequestHeadersInCheck, headers_to_add from includeAdditionalHeadersInCheck, allowed upstream /
//    client headers), envoyExtAuthzGrpc → grpc_service (envoy_grpc, authority = cluster name with "|" → "_.");
//    timeout default 600 s (Istio's), failOpen → failure_mode_allow, statusOnError, includeRequestBodyInCheck →
//    with_request_body; "*"-prefixed / suffixed header names become suffix / prefix matches, all ignore_case.
//  - On a TCP port (Istio's buildTCP): the same shadow engine as an envoy.filters.network.rbac filter (it writes the
//    matched policy to the connection metadata envoy.filters.network.rbac), then envoy.filters.network.ext_authz
//    with the gRPC provider, enabled by that metadata; a connection no CUSTOM rule matches is not checked. Rules
//    with HTTP-only fields do not apply to TCP. An HTTP provider on a TCP port is ignored, as in Istio.
//  - A CUSTOM action that cannot be served (no such provider, several providers, a broken provider) fails
//    closed: the caller's deny fallback (Istio: an RBAC deny-all).
//
// The providers are the control plane's mesh config, read once at start (configureExtensionProviders); Istio's
// equivalent is the push context's global mesh config. The model snapshot does not carry them (yet): they do not
// change while the control plane runs, so the snapshot's versions stay right.
import type { ExtensionProvider, EnvoyExtAuthzHttp, ExtAuthzRequestBody } from '../../../api/mesh/mesh-config.js';
import type { AuthorizationPolicy } from '../../model/authorization.js';
import { parseDuration, protoDuration } from '../../model/duration.js';
import { outboundClusterName, type Json } from '../common.js';

export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
const TYPE_EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const TYPE_HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const TYPE_NETWORK_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const TYPE_NETWORK_EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
/** the stat prefix of Istio's TCP authorization filters */
const TCP_STAT_PREFIX = 'tcp.';
/** Istio's names (authz/model/model.go, builder/extauthz.go) */
export const EXT_AUTHZ_POLICY_PREFIX = 'istio-ext-authz';
export const EXT_AUTHZ_SHADOW_PREFIX = 'istio_ext_authz_';
const DEFAULT_TIMEOUT_MS = 600_000;

let providers: ReadonlyMap<string, ExtensionProvider> = new Map();

/** Sets the mesh config's extension providers (at start; tests set and reset it). */
export function configureExtensionProviders(list: readonly ExtensionProvider[]): void {
  providers = new Map(list.map((p) => [p.name, p]));
}

/** The RBAC translation of one action, as security/authz.ts builds it (passed in: it owns rule translation). */
export type BuildRbac = (policies: readonly AuthorizationPolicy[], action: 'DENY') => { rules?: Json; shadow_rules?: Json } | undefined;

/**
 * The CUSTOM filters for one connection manager (or TCP filter chain), or undefined when the CUSTOM action
 * cannot be served and the caller must fail closed. [] when nothing is to be added.
 */
export function extAuthzFilters(policies: readonly AuthorizationPolicy[], forTcp: boolean, buildRbac: BuildRbac): Json[] | undefined {
  if (policies.length === 0) return [];
  const names = new Set(policies.map((p) => p.provider ?? ''));
  if (names.size !== 1) return undefined;
  const provider = providers.get([...names][0]!);
  if (!provider) return undefined;
  const built = buildExtAuthz(provider);
  if (!built) return undefined;
  if (forTcp && provider.envoyExtAuthzHttp) return [];
  const enforced = policies.filter((p) => !p.dryRun);
  if (enforced.length === 0) return [];
  const rules = buildRbac(enforced, 'DENY')?.rules as { action: string; policies: Record<string, Json> } | undefined;
  const shadow = { action: 'DENY', policies: Object.fromEntries(Object.entries(rules?.policies ?? {}).map(([k, v]) => [`${EXT_AUTHZ_POLICY_PREFIX}-${k}`, v])) };
  if (!forTcp) {
    return [
      { name: 'envoy.filters.http.rbac', typed_config: { '@type': TYPE_HTTP_RBAC, shadow_rules: shadow, shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_PREFIX } },
      { name: EXT_AUTHZ_FILTER, typed_config: built },
    ];
  }
  // the network filter takes the gRPC service, the failure mode and the gate; it has no HTTP settings
  return [
    { name: 'envoy.filters.network.rbac', typed_config: { '@type': TYPE_NETWORK_RBAC, stat_prefix: TCP_STAT_PREFIX, shadow_rules: shadow, shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_PREFIX } },
    {
      name: 'envoy.filters.network.ext_authz',
      typed_config: {
        '@type': TYPE_NETWORK_EXT_AUTHZ,
        stat_prefix: TCP_STAT_PREFIX,
        transport_api_version: 'V3',
        grpc_service: built.grpc_service,
        ...(built.failure_mode_allow ? { failure_mode_allow: true } : {}),
        filter_enabled_metadata: enabledBy('envoy.filters.network.rbac'),
      },
    },
  ];
}

/** The gate of Istio's ext_authz filters: the RBAC shadow engine (of `filter`) matched a CUSTOM policy. */
function enabledBy(filter: string): Json {
  return { filter, path: [{ key: `${EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id` }], value: { string_match: { prefix: EXT_AUTHZ_POLICY_PREFIX } } };
}

/** "<ns>/<host>" or "<host>" → the host (Istio's LookupCluster accepts both). */
function providerHost(service: string): string {
  const i = service.indexOf('/');
  return i < 0 ? service : service.slice(i + 1);
}

function headerPatterns(headers: readonly string[] | undefined): Json | undefined {
  if (!headers?.length) return undefined;
  return {
    patterns: headers.map((h) => (h.startsWith('*') ? { suffix: h.slice(1), ignore_case: true } : h.endsWith('*') ? { prefix: h.slice(0, -1), ignore_case: true } : { exact: h, ignore_case: true })),
  };
}

function withBody(b: ExtAuthzRequestBody | undefined): Json | undefined {
  if (!b) return undefined;
  return { max_request_bytes: b.maxRequestBytes ?? 0, allow_partial_message: b.allowPartialMessage === true, pack_as_bytes: b.packAsBytes === true };
}

/** The ExtAuthz typed_config of a provider (Istio's generateHTTPConfig / generateGRPCConfig). */
export function buildExtAuthz(p: ExtensionProvider): Json | undefined {
  const c = p.envoyExtAuthzHttp ?? p.envoyExtAuthzGrpc;
  if (!c) return undefined;
  const host = providerHost(c.service);
  const cluster = outboundClusterName(c.port, undefined, host);
  const timeout = protoDuration(parseDuration(c.timeout) ?? DEFAULT_TIMEOUT_MS);
  const common: Json = {
    '@type': TYPE_EXT_AUTHZ,
    transport_api_version: 'V3',
    ...(c.statusOnError ? { status_on_error: { code: Number(c.statusOnError) } } : {}),
    ...(c.failOpen ? { failure_mode_allow: true } : {}),
    ...(c.clearRouteCache ? { clear_route_cache: true } : {}),
    filter_enabled_metadata: enabledBy('envoy.filters.http.rbac'),
  };
  const body = withBody(c.includeRequestBodyInCheck);
  if (body) common.with_request_body = body;
  if (p.envoyExtAuthzGrpc) {
    return { ...common, grpc_service: { envoy_grpc: { cluster_name: cluster, authority: cluster.replaceAll('|', '_.') }, timeout } };
  }
  const h = p.envoyExtAuthzHttp as EnvoyExtAuthzHttp;
  const allowed = headerPatterns(h.includeRequestHeadersInCheck?.length ? h.includeRequestHeadersInCheck : h.includeHeadersInCheck);
  const add = Object.keys(h.includeAdditionalHeadersInCheck ?? {})
    .sort()
    .map((k) => ({ key: k, value: h.includeAdditionalHeadersInCheck![k]! }));
  const response: Json = {};
  const up = headerPatterns(h.headersToUpstreamOnAllow);
  const deny = headerPatterns(h.headersToDownstreamOnDeny);
  const allow = headerPatterns(h.headersToDownstreamOnAllow);
  if (up) response.allowed_upstream_headers = up;
  if (deny) response.allowed_client_headers = deny;
  if (allow) response.allowed_client_headers_on_success = allow;
  return {
    ...common,
    ...(allowed ? { allowed_headers: allowed } : {}),
    http_service: {
      server_uri: { uri: `http://${host}`, cluster, timeout },
      ...(h.pathPrefix ? { path_prefix: h.pathPrefix } : {}),
      ...(add.length ? { authorization_request: { headers_to_add: add } } : {}),
      ...(Object.keys(response).length ? { authorization_response: response } : {}),
    },
  };
}
