// An RBAC engine (envoy.config.rbac.v3.RBAC), as Envoy's RoleBasedAccessControlEngineImpl:
//  - a policy matches when one of its permissions and one of its principals match;
//  - policies are tried in the order of their names (Envoy keeps them in a std::map, i.e. byte order), and the
//    first that matches is the effective policy — the name the deny details and shadow metadata report;
//  - ALLOW: allowed iff a policy matched (no policies at all: nothing is allowed — Istio's allow-nothing);
//    DENY: allowed iff none matched; LOG: always allowed, and an enforced LOG engine records whether a policy
//    matched as the access_log_hint in the envoy.common dynamic metadata namespace.
// Everything is compiled when the config is loaded; a check only calls the closures.
import { ConfigError } from '../../../../common/errors.js';
import type { HeaderMap } from '../../../http/headers.js';
import { anyOf, compilePermission, compilePrincipal, type RbacConnection, type RbacMatcher } from './matchers.js';

export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export interface RbacEngine {
  readonly action: RbacAction;
  /** policy names in evaluation order */
  readonly policyNames: readonly string[];
  /** The effective policy: the first (by name) whose permissions and principals match, or undefined. */
  matchedPolicy(headers: HeaderMap, conn: RbacConnection): string | undefined;
}

/** What a check decided: whether the request goes on, and the effective policy (undefined: none matched). */
export interface RbacDecision {
  readonly allowed: boolean;
  readonly policy: string | undefined;
  /** whether a policy matched (for LOG engines, the access log hint) */
  readonly matched: boolean;
}

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** Byte order of the UTF-8 encodings, as std::map<std::string> sorts (differs from UTF-16 order only past U+FFFF). */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Compile an envoy.config.rbac.v3.RBAC message (the `rules` or `shadow_rules` of a filter). */
export function compileRbacEngine(rules: any, path: string): RbacEngine {
  const action: RbacAction = rules.action ?? 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') throw invalid(`${path}.action`, `unknown action ${String(action)}`);
  if (rules.audit_logging_options !== undefined) throw unsupported(`${path}.audit_logging_options`, 'RBAC audit loggers are not supported; use the access log with %RESPONSE_CODE_DETAILS%');
  const policies = rules.policies ?? {};
  const names = Object.keys(policies).sort(byteOrder);
  const compiled: { name: string; test: RbacMatcher }[] = names.map((name) => {
    const p = policies[name] ?? {};
    const pp = `${path}.policies["${name}"]`;
    if (p.condition !== undefined || p.checked_condition !== undefined) {
      throw unsupported(`${pp}.${p.condition !== undefined ? 'condition' : 'checked_condition'}`, 'CEL conditions are not supported');
    }
    if (!Array.isArray(p.permissions) || p.permissions.length === 0) throw invalid(`${pp}.permissions`, 'at least one permission is required');
    if (!Array.isArray(p.principals) || p.principals.length === 0) throw invalid(`${pp}.principals`, 'at least one principal is required');
    const perm = anyOf(p.permissions.map((x: unknown, i: number) => compilePermission(x, `${pp}.permissions[${i}]`)));
    const princ = anyOf(p.principals.map((x: unknown, i: number) => compilePrincipal(x, `${pp}.principals[${i}]`)));
    return { name, test: (h, c) => perm(h, c) && princ(h, c) };
  });
  const matchedPolicy =
    compiled.length === 1
      ? (h: HeaderMap, c: RbacConnection) => (compiled[0]!.test(h, c) ? compiled[0]!.name : undefined)
      : (h: HeaderMap, c: RbacConnection) => {
          for (let i = 0; i < compiled.length; i++) if (compiled[i]!.test(h, c)) return compiled[i]!.name;
          return undefined;
        };
  return Object.freeze({ action, policyNames: Object.freeze(names), matchedPolicy });
}

/** Run `engine` and apply its action (Envoy's handleAction, without the LOG metadata: see logHint). */
export function decide(engine: RbacEngine, headers: HeaderMap, conn: RbacConnection): RbacDecision {
  const policy = engine.matchedPolicy(headers, conn);
  const matched = policy !== undefined;
  switch (engine.action) {
    case 'ALLOW':
      return { allowed: matched, policy, matched };
    case 'DENY':
      return { allowed: !matched, policy, matched };
    case 'LOG':
      return { allowed: true, policy, matched };
  }
}

/** The deny details Envoy reports (%RESPONSE_CODE_DETAILS% / %CONNECTION_TERMINATION_DETAILS%); whitespace in
 *  the policy name becomes '_' so that access log fields stay one token. */
export function denyDetails(policy: string | undefined): string {
  return `rbac_access_denied_matched_policy[${policy === undefined ? 'none' : policy.replace(/\s/g, '_')}]`;
}

/** The dynamic metadata keys Envoy uses (DynamicMetadataKeys in engine_impl.h). */
export const METADATA = Object.freeze({
  shadowEffectivePolicyId: 'shadow_effective_policy_id',
  shadowEngineResult: 'shadow_engine_result',
  allowed: 'allowed',
  denied: 'denied',
  accessLogHint: 'access_log_hint',
  commonNamespace: 'envoy.common',
});

/** Merge `fields` into the `ns` namespace of dynamic metadata, as StreamInfo::setDynamicMetadata does. */
export function setDynamicMetadata(info: { dynamicMetadata: Record<string, Record<string, unknown>> | undefined }, ns: string, fields: Record<string, unknown>): void {
  const all = (info.dynamicMetadata ??= {});
  const cur = all[ns];
  if (cur) Object.assign(cur, fields);
  else all[ns] = fields;
}

/** The shadow engine's decision as Envoy records it: <prefix>shadow_engine_result and, when a policy matched,
 *  <prefix>shadow_effective_policy_id, in `namespace` of the stream's or connection's dynamic metadata. */
export function recordShadowResult(
  target: { dynamicMetadata: Record<string, Record<string, unknown>> | undefined },
  namespace: string,
  d: { allowed: boolean; policy?: string },
  fields: { policy: string; result: string },
): void {
  const out: Record<string, unknown> = {};
  if (d.policy !== undefined) out[fields.policy] = d.policy;
  out[fields.result] = d.allowed ? METADATA.allowed : METADATA.denied;
  setDynamicMetadata(target, namespace, out);
}

/** The enforced and shadow engines of one filter config (or RBACPerRoute); an absent one checks nothing. */
export interface RbacEngines {
  readonly enforced: RbacEngine | undefined;
  readonly shadow: RbacEngine | undefined;
}

/**
 * `rules` / `shadow_rules` of an HTTP or network RBAC filter (or of RBACPerRoute.rbac). The unified matcher API
 * (`matcher`, `shadow_matcher`) is refused with a clear error rather than ignored: Meshwork implements policies.
 */
export function compileRbacEngines(cfg: any, path: string): RbacEngines {
  for (const f of ['matcher', 'shadow_matcher'] as const) {
    if (cfg?.[f] !== undefined) throw unsupported(`${path}.${f}`, `the matcher API is not supported; write the rules as ${f === 'matcher' ? 'rules' : 'shadow_rules'} policies`);
  }
  return Object.freeze({
    enforced: cfg?.rules !== undefined ? compileRbacEngine(cfg.rules, `${path}.rules`) : undefined,
    shadow: cfg?.shadow_rules !== undefined ? compileRbacEngine(cfg.shadow_rules, `${path}.shadow_rules`) : undefined,
  });
}
