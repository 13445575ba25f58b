// AuthorizationPolicy → Envoy RBAC filters, as Istio's pilot/pkg/security/authz builds them (builder/builder.go,
// model/model.go, model/generator.go), for the inbound listeners of sidecars and the listeners of gateways.
//
// Filters, per action, in Istio's order: CUSTOM (customAuthzHttpFilters: the ext_authz hook), then AUDIT (an
// RBAC engine with action LOG: it never denies, it marks requests for the access log), then DENY, then ALLOW —
// so CUSTOM may deny, then any matching DENY policy denies, then, when ALLOW policies apply, a request must
// match one of them (no ALLOW policy: no ALLOW filter, everything left is allowed). HTTP ports get
// envoy.filters.http.rbac in the connection manager (after jwt_authn, whose verified payload they read);
// TCP ports get envoy.filters.network.rbac before tcp_proxy. Nothing is generated when no policy applies.
//
// One RBAC policy per AuthorizationPolicy rule, named `ns[<namespace>]-policy[<name>]-rule[<index>]`; a policy
// without rules gets one that never matches (`allow-nothing` is then an ALLOW engine no request matches). A rule
// becomes permissions (one per `to`, or one when `to` is absent) and principals (one per `from`), each the AND of
// the rule's conditions; a field's values are ORed, its not-values a NOT of their OR. `when` conditions join
// every permission (destination.ip / destination.port / connection.sni / experimental.envoy.filters.*) or
// every principal (the rest). Policies with `istio.io/dry-run: "true"` go to shadow_rules (counted and logged
// with the istio_dry_run_allow_ / istio_dry_run_deny_ prefixes, never enforced).
//
// TCP ports cannot see HTTP attributes (hosts, methods, paths, request principals, headers, JWT claims). As
// Istio does ("authorization for TCP traffic"): a value of such a field is an error; for ALLOW the whole rule is
// left out (a smaller allow), for DENY and AUDIT the field is left out of the rule (a wider deny: a DENY rule
// with only HTTP fields denies every connection). ALLOW policies whose every rule is left out still make an
// ALLOW engine, which then allows nothing.
//
// Values: "*" is "present / non-empty", "prefix*" and "*suffix" are prefix and suffix matches, anything else is
// literal. Literals are never turned into regular expressions: where Istio writes a regex around a value
// (namespaces, service accounts, "*suffix" principals) the value's characters are escaped.
//
// Identities: peers present certificates from the mesh CA with the URI SAN spiffe://<td>/ns/<ns>/sa/<sa>, so
// `principals` ("<td>/ns/<ns>/sa/<sa>") match `authenticated.principal_name` "spiffe://" + value, and
// `namespaces` a regex on ".*/ns/<ns>/.*". Without mTLS (plaintext, or a sidecar without a certificate) no
// identity matches.
//
// Request principals and JWT claims: the jwt_authn translation has one provider per RequestAuthentication
// jwtRule whose `payload_in_metadata` is the rule's issuer, so a verified token's payload is the dynamic
// metadata envoy.filters.http.jwt_authn → <issuer> → {claims}. A requestPrincipals value "<iss>/<sub>" is
// decomposed against the issuers the proxy's RequestAuthentications declare: for each declared issuer its iss
// part accepts, a metadata match on [<issuer>, "iss"] and [<issuer>, "sub"]. A token of an issuer no rule
// declares never verifies, so no principal is lost; when no declared issuer fits, the value matches nothing.
//
// Ports: AuthorizationPolicy ports are workload (application) ports, as in Istio (and as PeerAuthentication's
// portLevelMtls). A sidecar's inbound listener listens on its own port (`--port 9080:8080` listens on 9080 in
// front of the app's 8080), so its port conditions are decided here, per listener, against the application
// port it serves (as Istio does for waypoints): a rule that names it keeps no port condition, one that does not
// never matches. On gateways, which listen on the Gateway server ports themselves, they stay destination_port.
import type { AuthorizationRule } from '../../../api/mesh/types.js';
import { authorizationPoliciesFor, type AuthorizationPolicy } from '../../model/authorization.js';
import type { Proxy } from '../../model/proxy.js';
import { requestAuthenticationsFor } from '../../model/request-authentication.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { Json } from '../common.js';
import { extAuthzFilters } from './ext-authz.js';

export const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
export const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';
const TYPE_HTTP_RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const TYPE_NETWORK_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
/** the jwt_authn filter's dynamic metadata namespace (where payload_in_metadata lands) */
export const JWT_METADATA = 'envoy.filters.http.jwt_authn';
/** Istio's statistics prefixes (model/model.go) */
const TCP_STAT_PREFIX = 'tcp.';
const DRY_RUN_PREFIX: Record<RbacAction, string> = { ALLOW: 'istio_dry_run_allow_', DENY: 'istio_dry_run_deny_', LOG: '' };
/** Istio's suffix for the DENY policies generated when a CUSTOM policy cannot be served */
const BAD_CUSTOM_SUFFIX = '-deny-due-to-bad-CUSTOM-action';

type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

/**
 * The connection manager options of a listener whose RBAC filters decide on paths: Istio's mesh-config path
 * normalization DECODE_AND_MERGE_SLASHES (its recommended setting for authorization; normalize_path is always
 * on). `//admin` is `/admin`; `%2F` / `%5C` redirect (307) to the unescaped path, which the policies then see.
 * Without it `//admin` or `/%2Fadmin` would slip past a DENY on `/admin*`, as in Istio's default (BASE) mode.
 */
export const AUTHZ_PATH_NORMALIZATION: Json = Object.freeze({ merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT' });

/** What a translation for one listener (or filter chain) needs besides the policies. */
export interface AuthzContext {
  /** building the network filter: HTTP attributes cannot be evaluated */
  readonly forTcp: boolean;
  /** the issuers the proxy's RequestAuthentications declare (payload_in_metadata keys of jwt_authn) */
  readonly issuers: readonly string[];
  /** a sidecar inbound listener: the application port it serves (port conditions are decided statically);
   *  absent on gateways (destination_port is read at run time) */
  readonly workloadPort?: number;
}

// ---------------------------------------------------------------- Envoy config shapes

const ANY = Object.freeze({ any: true });
/** A permission / principal that never matches (Istio's rbacPolicyMatchNever parts). */
export const NEVER_PERMISSION: Json = Object.freeze({ not_rule: ANY });
export const NEVER_PRINCIPAL: Json = Object.freeze({ not_id: ANY });
const permAnd = (rules: Json[]): Json => ({ and_rules: { rules } });
const permOr = (rules: Json[]): Json => ({ or_rules: { rules } });
const principalAnd = (ids: Json[]): Json => ({ and_ids: { ids } });
const principalOr = (ids: Json[]): Json => ({ or_ids: { ids } });

/** Go's regexp.QuoteMeta: the value's characters, literally, in RE2 (and in the proxy's RE2 translation). */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

const regex = (re: string): Json => ({ safe_regex: { regex: re } });
/** Istio's "*": any non-empty value. */
const MATCH_ANY: Json = Object.freeze(regex('.+'));

/**
 * Istio's StringMatcherWithPrefix: "*" → non-empty, "*x" → suffix (with a prefix: a regex on the escaped
 * value), "x*" → prefix, else exact. `prefix` is prepended (e.g. "spiffe://").
 */
export function stringMatcher(v: string, prefix = '', ignoreCase = false): Json {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return MATCH_ANY;
  if (v.startsWith('*')) return prefix === '' ? { suffix: v.slice(1), ...ic } : regex(`${quoteMeta(prefix)}.*${quoteMeta(v.slice(1))}`);
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1), ...ic };
  return { exact: prefix + v, ...ic };
}

/** Istio's HeaderMatcher: "*" is present_match, anything else a string match. */
function headerMatcher(name: string, v: string, ignoreCase = false): Json {
  if (v === '*') return { name, present_match: true };
  return { name, string_match: stringMatcher(v, '', ignoreCase) };
}

/** "10.0.0.1" → /32 (/128), "10.0.0.0/8" as written (Istio's AddrStrToCidrRange). */
export function cidrRange(v: string): Json {
  const slash = v.indexOf('/');
  if (slash < 0) return { address_prefix: v, prefix_len: v.includes(':') ? 128 : 32 };
  return { address_prefix: v.slice(0, slash), prefix_len: Number(v.slice(slash + 1)) };
}

// Envoy's uri_template characters (RFC 3986 pchar without '*'), as its template library turns `*` and `**` into
// RE2: one path segment, and zero or more segments.
const PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@=";

/**
 * An Istio path template ("/api/{*}/items", "/static/{**}") as a full-match regex on the normalized path, the
 * regex Envoy's uri_template matcher compiles it into: `{*}` one segment, `{**}` the rest (any segments).
 */
export function pathTemplateRegex(path: string): string {
  let out = '';
  let i = 0;
  while (i < path.length) {
    if (path.startsWith('{**}', i)) {
      out += `[${PCHAR}/]*`;
      i += 4;
    } else if (path.startsWith('{*}', i)) {
      out += `[${PCHAR}]+`;
      i += 3;
    } else {
      const next = [path.indexOf('{*}', i), path.indexOf('{**}', i)].filter((n) => n >= 0);
      const end = next.length ? Math.min(...next) : path.length;
      out += quoteMeta(path.slice(i, end));
      i = end;
    }
  }
  return out;
}

const isPathTemplate = (v: string) => v.includes('{*}') || v.includes('{**}');

/** "[a]" → "a" (Istio's extractNameInBrackets). */
function nameInBrackets(s: string): string {
  if (!s.startsWith('[') || !s.endsWith(']') || s.length < 3) throw new Error(`bad key ${s}: should have format [name]`);
  return s.slice(1, -1);
}

/** "[a][b]" → ["a", "b"], "[a.b]" → ["a.b"] (Istio's extractNameInNestedBrackets). */
export function namesInNestedBrackets(s: string): string[] {
  const parts = /^(\[[^[\]]+\])+$/.test(s) ? s.match(/\[([^[\]]+)\]/g)! : undefined;
  if (!parts) return [nameInBrackets(s)];
  return parts.map((p) => p.slice(1, -1));
}

// ---------------------------------------------------------------- request principals and claims

/** A static test of Istio's issuer patterns (exact, "x*", "*x", any non-empty) against a declared issuer. */
type IssuerTest = (iss: string) => boolean;
const anyIssuer: IssuerTest = (iss) => iss.length > 0;

/**
 * A requestPrincipals value "<iss>/<sub>" split as Istio's requestPrincipalGenerator splits it (at the last
 * "/", since issuers are URLs), into an issuer test and the sub's StringMatcher.
 */
export function splitRequestPrincipal(value: string): { iss: IssuerTest; sub: Json } {
  const idx = value.lastIndexOf('/');
  const found = idx >= 0;
  const iss = found ? value.slice(0, idx) : value;
  const sub = found ? value.slice(idx + 1) : '';
  if (value === '*') return { iss: anyIssuer, sub: MATCH_ANY };
  if (value.startsWith('*')) {
    if (!found) return { iss: anyIssuer, sub: { suffix: value.slice(1) } };
    const tail = iss.slice(1);
    return { iss: iss === '*' ? anyIssuer : (i) => i.endsWith(tail), sub: { exact: sub } };
  }
  if (value.endsWith('*')) {
    if (!found) {
      const head = value.slice(0, -1);
      return { iss: (i) => i.startsWith(head), sub: MATCH_ANY };
    }
    return { iss: (i) => i === iss, sub: sub === '*' ? MATCH_ANY : { prefix: sub.slice(0, -1) } };
  }
  return { iss: (i) => i === iss, sub: { exact: sub } };
}

const jwtMetadata = (issuer: string, path: readonly string[], value: Json): Json => ({
  metadata: { filter: JWT_METADATA, path: [issuer, ...path].map((key) => ({ key })), value },
});

/** The principal of one requestPrincipals (or request.auth.principal) value. */
export function requestPrincipal(value: string, issuers: readonly string[]): Json {
  const { iss, sub } = splitRequestPrincipal(value);
  const ids = issuers
    .filter(iss)
    .map((issuer) => principalAnd([jwtMetadata(issuer, ['iss'], { string_match: { exact: issuer } }), jwtMetadata(issuer, ['sub'], { string_match: sub })]));
  if (ids.length === 0) return NEVER_PRINCIPAL;
  return ids.length === 1 ? ids[0]! : principalOr(ids);
}

/** A claim (nested path) holding `value`, or a list holding it, in the payload of any declared issuer (Istio's
 *  MetadataListMatcher with its string-or-list value). */
export function requestClaim(claims: readonly string[], value: string, issuers: readonly string[]): Json {
  const sm = stringMatcher(value);
  const vm = { or_match: { value_matchers: [{ list_match: { one_of: { string_match: sm } } }, { string_match: sm }] } };
  const ids = issuers.map((issuer) => jwtMetadata(issuer, claims, vm));
  if (ids.length === 0) return NEVER_PRINCIPAL;
  return ids.length === 1 ? ids[0]! : principalOr(ids);
}

// ---------------------------------------------------------------- generators (Istio's generator.go)

class HttpOnly extends Error {}

interface Generator {
  permission?(key: string, value: string, ctx: AuthzContext): Json;
  principal?(key: string, value: string, ctx: AuthzContext): Json;
}

const httpOnly = (ctx: AuthzContext, key: string) => {
  if (ctx.forTcp) throw new HttpOnly(`"${key}" is HTTP only`);
};

const authenticated = (m: Json): Json => ({ authenticated: { principal_name: m } });

const GEN = {
  destIp: { permission: (_k, v) => ({ destination_ip: cidrRange(v) }) },
  destPort: { permission: (_k, v) => ({ destination_port: Number(v) }) },
  sni: { permission: (_k, v) => ({ requested_server_name: stringMatcher(v) }) },
  envoyFilter: {
    // "experimental.envoy.filters.a.b[c]" → metadata envoy.filters.a.b / [c]; a value "[v]" matches a list
    permission: (k, v) => {
      const open = k.indexOf('[');
      const filter = k.slice('experimental.'.length, open);
      const key = nameInBrackets(k.slice(open));
      const list = v.startsWith('[') && v.endsWith(']');
      const sm = stringMatcher(list ? v.slice(1, -1) : v);
      return { metadata: { filter, path: [{ key }], value: list ? { list_match: { one_of: { string_match: sm } } } : { string_match: sm } } };
    },
  },
  srcIp: { principal: (_k, v) => ({ direct_remote_ip: cidrRange(v) }) },
  remoteIp: { principal: (_k, v) => ({ remote_ip: cidrRange(v) }) },
  srcNamespace: {
    principal: (_k, v) => authenticated(regex(`.*/ns/${v.split('*').map(quoteMeta).join('.*')}/.*`)),
  },
  srcServiceAccount: {
    principal: (_k, v) => {
      const [ns, sa] = v.split('/') as [string, string];
      return authenticated(regex(`spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?`));
    },
  },
  srcPrincipal: { principal: (_k, v) => authenticated(stringMatcher(v, 'spiffe://')) },
  requestPrincipal: {
    principal: (k, v, ctx) => {
      httpOnly(ctx, k);
      return requestPrincipal(v, ctx.issuers);
    },
  },
  requestClaim: (claims: (key: string) => string[]): Generator => ({
    principal: (k, v, ctx) => {
      httpOnly(ctx, k);
      return requestClaim(claims(k), v, ctx.issuers);
    },
  }),
  requestHeader: {
    principal: (k, v, ctx) => {
      httpOnly(ctx, k);
      return { header: headerMatcher(nameInBrackets(k.slice('request.headers'.length)), v) };
    },
  },
  host: {
    // case-insensitive, as hosts are; matched against :authority as sent (a port in it is part of the value)
    permission: (k, v, ctx) => {
      httpOnly(ctx, k);
      return { header: headerMatcher(':authority', v, true) };
    },
  },
  method: {
    permission: (k, v, ctx) => {
      httpOnly(ctx, k);
      return { header: headerMatcher(':method', v) };
    },
  },
  path: {
    permission: (k, v, ctx) => {
      httpOnly(ctx, k);
      return { url_path: { path: isPathTemplate(v) ? regex(pathTemplateRegex(v)) : stringMatcher(v) } };
    },
  },
} satisfies Record<string, Generator | ((...a: any[]) => Generator)>;

interface Condition {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
  readonly gen: Generator;
}

const cond = (gen: Generator, key: string, values: readonly string[] | undefined, notValues: readonly string[] | undefined): Condition[] =>
  values?.length || notValues?.length ? [{ key, values: values ?? [], notValues: notValues ?? [], gen }] : [];

const PORT_KEYS = new Set(['destination.port']);

/** The permissions and principals of one rule as condition lists (Istio's model.New), ANDed within a list. */
export function ruleModel(rule: AuthorizationRule): { permissions: Condition[][]; principals: Condition[][] } {
  const basePermission: Condition[] = [];
  const basePrincipal: Condition[] = [];
  for (const w of rule.when ?? []) {
    const k = w.key;
    const add = (list: Condition[], gen: Generator) => list.push(...cond(gen, k, w.values, w.notValues));
    if (k === 'destination.ip') add(basePermission, GEN.destIp);
    else if (k === 'destination.port') add(basePermission, GEN.destPort);
    else if (k === 'connection.sni') add(basePermission, GEN.sni);
    else if (k.startsWith('experimental.envoy.filters.')) add(basePermission, GEN.envoyFilter);
    else if (k === 'source.ip') add(basePrincipal, GEN.srcIp);
    else if (k === 'remote.ip') add(basePrincipal, GEN.remoteIp);
    else if (k === 'source.namespace') add(basePrincipal, GEN.srcNamespace);
    else if (k === 'source.principal') add(basePrincipal, GEN.srcPrincipal);
    else if (k === 'request.auth.principal') add(basePrincipal, GEN.requestPrincipal);
    else if (k === 'request.auth.audiences') add(basePrincipal, GEN.requestClaim(() => ['aud']));
    else if (k === 'request.auth.presenter') add(basePrincipal, GEN.requestClaim(() => ['azp']));
    else if (k.startsWith('request.headers')) add(basePrincipal, GEN.requestHeader);
    else if (k.startsWith('request.auth.claims')) add(basePrincipal, GEN.requestClaim((key) => namesInNestedBrackets(key.slice('request.auth.claims'.length))));
    // validation (validate-security.ts) refuses any other key before a policy gets here
    else throw new Error(`unknown attribute ${k}`);
  }
  const principals = (rule.from ?? []).map((f) => {
    const s = f.source ?? {};
    return [
      ...cond(GEN.srcPrincipal, 'source.principal', s.principals, s.notPrincipals),
      ...cond(GEN.srcServiceAccount, 'source.serviceAccount', s.serviceAccounts, s.notServiceAccounts),
      ...cond(GEN.requestPrincipal, 'request.auth.principal', s.requestPrincipals, s.notRequestPrincipals),
      ...cond(GEN.srcNamespace, 'source.namespace', s.namespaces, s.notNamespaces),
      ...cond(GEN.remoteIp, 'remote.ip', s.remoteIpBlocks, s.notRemoteIpBlocks),
      ...cond(GEN.srcIp, 'source.ip', s.ipBlocks, s.notIpBlocks),
      ...basePrincipal,
    ];
  });
  const permissions = (rule.to ?? []).map((t) => {
    const o = t.operation ?? {};
    return [
      ...cond(GEN.host, 'request.host', o.hosts, o.notHosts),
      ...cond(GEN.method, 'request.method', o.methods, o.notMethods),
      ...cond(GEN.path, 'request.path', o.paths, o.notPaths),
      ...cond(GEN.destPort, 'destination.port', o.ports, o.notPorts),
      ...basePermission,
    ];
  });
  return { permissions: permissions.length ? permissions : [basePermission], principals: principals.length ? principals : [basePrincipal] };
}

/**
 * One condition → the entries it adds to its AND list: the OR of its values, and NOT the OR of its not-values.
 * An HTTP-only condition on TCP throws for ALLOW (the rule is dropped) and adds nothing otherwise.
 */
function conditionEntries(c: Condition, which: 'permission' | 'principal', ctx: AuthzContext, action: RbacAction): Json[] {
  if (PORT_KEYS.has(c.key) && ctx.workloadPort !== undefined) {
    // decided per listener: the port this listener serves is the workload port
    const p = String(ctx.workloadPort);
    const never = which === 'permission' ? NEVER_PERMISSION : NEVER_PRINCIPAL;
    if (c.values.length && !c.values.includes(p)) return [never];
    if (c.notValues.includes(p)) return [never];
    return [];
  }
  const gen = (v: string): Json | undefined => {
    try {
      return c.gen[which]!(c.key, v, ctx);
    } catch (err) {
      if (err instanceof HttpOnly && action !== 'ALLOW') return undefined;
      throw err;
    }
  };
  const out: Json[] = [];
  const or = (list: Json[]) => (which === 'permission' ? permOr(list) : principalOr(list));
  const values = c.values.map(gen).filter((x): x is Json => x !== undefined);
  if (values.length) out.push(or(values));
  const notValues = c.notValues.map(gen).filter((x): x is Json => x !== undefined);
  if (notValues.length) out.push(which === 'permission' ? { not_rule: or(notValues) } : { not_id: or(notValues) });
  return out;
}

/** One rule → an RBAC policy, or undefined when the rule is left out (an HTTP-only ALLOW rule on TCP). */
export function rulePolicy(rule: AuthorizationRule, ctx: AuthzContext, action: RbacAction): Json | undefined {
  const m = ruleModel(rule);
  try {
    const permissions = m.permissions.map((list) => {
      const and = list.flatMap((c) => conditionEntries(c, 'permission', ctx, action));
      return permAnd(and.length ? and : [ANY]);
    });
    const principals = m.principals.map((list) => {
      const and = list.flatMap((c) => conditionEntries(c, 'principal', ctx, action));
      return principalAnd(and.length ? and : [ANY]);
    });
    return { permissions, principals };
  } catch (err) {
    if (err instanceof HttpOnly) return undefined;
    throw err;
  }
}

export const policyName = (p: AuthorizationPolicy, rule: number): string => `ns[${p.namespace}]-policy[${p.name}]-rule[${rule}]`;

const MATCH_NEVER: Json = Object.freeze({ permissions: [NEVER_PERMISSION], principals: [NEVER_PRINCIPAL] });

/** The enforced and shadow (dry-run) RBAC of one action (Istio's Builder.build); undefined without policies. */
export function buildRbac(policies: readonly AuthorizationPolicy[], action: RbacAction, ctx: AuthzContext): { rules?: Json; shadow_rules?: Json } | undefined {
  if (policies.length === 0) return undefined;
  const enforced: Record<string, Json> = {};
  const shadow: Record<string, Json> = {};
  let hasEnforced = false;
  let hasShadow = false;
  for (const p of policies) {
    const into = p.dryRun ? shadow : enforced;
    if (p.dryRun) hasShadow = true;
    else hasEnforced = true;
    p.rules.forEach((rule, i) => {
      const policy = rulePolicy(rule, ctx, action);
      if (policy) into[policyName(p, i)] = policy;
    });
    if (p.rules.length === 0) into[policyName(p, 0)] = MATCH_NEVER;
  }
  return {
    ...(hasEnforced ? { rules: { action, policies: enforced } } : {}),
    ...(hasShadow ? { shadow_rules: { action, policies: shadow } } : {}),
  };
}

function httpRbacFilter(built: { rules?: Json; shadow_rules?: Json }): Json {
  const prefix = built.shadow_rules ? DRY_RUN_PREFIX[built.shadow_rules.action as RbacAction] : '';
  return { name: RBAC_HTTP_FILTER, typed_config: { '@type': TYPE_HTTP_RBAC, ...built, ...(prefix ? { shadow_rules_stat_prefix: prefix } : {}) } };
}

function networkRbacFilter(built: { rules?: Json; shadow_rules?: Json }): Json {
  const prefix = built.shadow_rules ? DRY_RUN_PREFIX[built.shadow_rules.action as RbacAction] : '';
  return { name: RBAC_NETWORK_FILTER, typed_config: { '@type': TYPE_NETWORK_RBAC, stat_prefix: TCP_STAT_PREFIX, ...built, ...(prefix ? { shadow_rules_stat_prefix: prefix } : {}) } };
}

/**
 * THE CUSTOM HOOK (ext_authz). CUSTOM policies delegate the decision to an external authorizer: Istio builds, per
 * provider, an RBAC filter whose shadow_rules (stat prefix `istio_ext_authz_`) hold the CUSTOM policies' rules
 * (names prefixed `istio-ext-authz-<provider>-`), followed by an ext_authz filter enabled only when that shadow
 * engine matched (filter_enabled_metadata on envoy.filters.http.rbac / istio_ext_authz_shadow_effective_policy_id).
 * In Istio's connection manager these come before jwt_authn; here they come first among the authorization
 * filters. Until the ext_authz translation replaces this body, a CUSTOM policy fails closed, as Istio does for a
 * provider it cannot serve: its rules become DENY policies named `<policy>-deny-due-to-bad-CUSTOM-action`.
 */
export function customAuthzFilters(policies: readonly AuthorizationPolicy[], ctx: AuthzContext): Json[] {
  // served by the mesh config's extension provider (security/ext-authz.ts) when it can be; else fail closed below
  const served = extAuthzFilters(policies, ctx.forTcp, (list, action) => buildRbac(list, action, ctx));
  if (served) return served;
  const built = buildRbac(policies, 'DENY', ctx);
  if (!built) return [];
  // dry-run CUSTOM policies deny too: without the authorizer there is nothing to dry-run against
  const policiesOf = (r: Json | undefined) => Object.entries(r?.policies ?? {}).map(([k, v]) => [`${k}${BAD_CUSTOM_SUFFIX}`, v]);
  const rules = { action: 'DENY', policies: Object.fromEntries([...policiesOf(built.rules), ...policiesOf(built.shadow_rules)]) };
  return [ctx.forTcp ? networkRbacFilter({ rules }) : httpRbacFilter({ rules })];
}

/** The authorization filters for `ctx` in Istio's order (CUSTOM, AUDIT, DENY, ALLOW). */
function authzFilters(snapshot: MeshSnapshot, proxy: Proxy, ctx: Omit<AuthzContext, 'issuers'>): Json[] {
  const policies = authorizationPoliciesFor(snapshot, proxy);
  if (!policies.custom.length && !policies.audit.length && !policies.deny.length && !policies.allow.length) return [];
  const full: AuthzContext = { ...ctx, issuers: declaredIssuers(snapshot, proxy) };
  const wrap = ctx.forTcp ? networkRbacFilter : httpRbacFilter;
  const out = customAuthzFilters(policies.custom, full);
  for (const [list, action] of [[policies.audit, 'LOG'], [policies.deny, 'DENY'], [policies.allow, 'ALLOW']] as const) {
    const built = buildRbac(list, action, full);
    if (built) out.push(wrap(built));
  }
  return out;
}

/** The issuers of the JWT rules that apply to the proxy: the payload_in_metadata keys jwt_authn writes. */
export function declaredIssuers(snapshot: MeshSnapshot, proxy: Proxy): string[] {
  const out = new Set<string>();
  for (const ra of requestAuthenticationsFor(snapshot, proxy)) for (const r of ra.jwtRules) if (r.issuer) out.add(r.issuer);
  return [...out];
}

/** HTTP RBAC filters for an HTTP connection manager of `proxy` (sidecar inbound: `workloadPort`; gateway: none),
 *  to go after jwt_authn and before the other HTTP filters. */
export function authzHttpFilters(snapshot: MeshSnapshot, proxy: Proxy, workloadPort?: number): Json[] {
  return authzFilters(snapshot, proxy, { forTcp: false, ...(workloadPort !== undefined ? { workloadPort } : {}) });
}

/** Network RBAC filters for a TCP filter chain of `proxy`, to go before tcp_proxy. */
export function authzNetworkFilters(snapshot: MeshSnapshot, proxy: Proxy, workloadPort?: number): Json[] {
  return authzFilters(snapshot, proxy, { forTcp: true, ...(workloadPort !== undefined ? { workloadPort } : {}) });
}
