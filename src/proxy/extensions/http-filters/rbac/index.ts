// envoy.filters.http.rbac (envoy.extensions.filters.http.rbac.v3.RBAC): role-based access control on each request,
// as Envoy's RoleBasedAccessControlFilter::decodeHeaders.
//  - The shadow engine (shadow_rules) runs first: it only counts shadow_allowed / shadow_denied and writes
//    <shadow_rules_stat_prefix>shadow_engine_result ("allowed" / "denied") and, when a policy matched,
//    <shadow_rules_stat_prefix>shadow_effective_policy_id into the envoy.filters.http.rbac dynamic metadata,
//    which the access log reads with %DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)%.
//  - The enforced engine (rules) then allows (counted as allowed) or answers 403 "RBAC: access denied" with
//    %RESPONSE_CODE_DETAILS% rbac_access_denied_matched_policy[<policy>|none] (counted as denied). Envoy sets no
//    response flag for it, and neither do we. A gRPC request gets grpc-status 7 (PERMISSION_DENIED).
//  - A route's typed_per_filter_config RBACPerRoute (most specific level) replaces both engines; an RBACPerRoute
//    without `rbac`, or whose rbac has no rules, turns the filter off for that route.
// Statistics: http.<hcm stat_prefix>.rbac.<rules_stat_prefix>{allowed,denied} and
// http.<hcm stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.
//
// The filter reads the request as the connection manager normalized it (normalize_path, merge_slashes,
// path_with_escaped_slashes_action run before any filter), and that normalized path is what is forwarded.
// Engines are compiled once per config (and per route table for overrides); a request only runs closures and
// passes its StreamInfo as the connection view, so the check allocates nothing unless it writes metadata.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Counter } from '../../../observability/stats.js';
import { compileRbacEngines, decide, denyDetails, METADATA, recordShadowResult, setDynamicMetadata, type RbacEngines } from '../../common/rbac/engine.js';

const FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
/** the dynamic metadata namespace Envoy writes the shadow result to, whatever the filter's name */
const METADATA_NAMESPACE = 'envoy.filters.http.rbac';

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

interface RbacFilterConfig {
  readonly engines: RbacEngines;
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
  readonly shadowFields: { readonly policy: string; readonly result: string };
}

class RbacFilter implements HttpFilter {
  constructor(
    private readonly cb: FilterCallbacks,
    private readonly cfg: RbacFilterConfig,
    private readonly name: string,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const cfg = this.cfg;
    const engines = this.cb.perFilterConfig<RbacEngines>(this.name) ?? cfg.engines;
    const info = this.cb.streamInfo;
    const shadow = engines.shadow;
    if (shadow !== undefined) {
      const d = decide(shadow, headers, info);
      (d.allowed ? cfg.shadowAllowed : cfg.shadowDenied).inc();
      recordShadowResult(info, METADATA_NAMESPACE, d, cfg.shadowFields);
    }
    const engine = engines.enforced;
    if (engine === undefined) return 'continue';
    const d = decide(engine, headers, info);
    if (engine.action === 'LOG') setDynamicMetadata(info, METADATA.commonNamespace, { [METADATA.accessLogHint]: d.matched });
    if (d.allowed) {
      cfg.allowed.inc();
      return 'continue';
    }
    this.cb.sendLocalReply(403, 'RBAC: access denied', { details: denyDetails(d.policy) });
    cfg.denied.inc();
    return 'stop';
  }
}

export const rbacFilter: HttpFilterFactory = {
  typeUrls: [FILTER_TYPE, PER_ROUTE_TYPE],
  create(config: any, ctx: FilterFactoryContext) {
    // RBACPerRoute is registered only so that typed_per_filter_config finds this factory by its @type
    if (config?.['@type'] === PER_ROUTE_TYPE) throw invalid(ctx.path, `RBACPerRoute is a per-route config: the filter's typed_config is ${FILTER_TYPE}`);
    if (config?.track_per_rule_stats === true) {
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ctx.path}.track_per_rule_stats`, 'per-policy statistics are not supported');
    }
    const rulesPrefix: string = config?.rules_stat_prefix ?? '';
    const shadowPrefix: string = config?.shadow_rules_stat_prefix ?? '';
    const base = `${ctx.statPrefix}rbac.`;
    const compiled: RbacFilterConfig = Object.freeze({
      engines: compileRbacEngines(config, ctx.path),
      allowed: ctx.stats.counter(`${base}${rulesPrefix}allowed`),
      denied: ctx.stats.counter(`${base}${rulesPrefix}denied`),
      shadowAllowed: ctx.stats.counter(`${base}${shadowPrefix}shadow_allowed`),
      shadowDenied: ctx.stats.counter(`${base}${shadowPrefix}shadow_denied`),
      shadowFields: { policy: `${shadowPrefix}${METADATA.shadowEffectivePolicyId}`, result: `${shadowPrefix}${METADATA.shadowEngineResult}` },
    });
    const name = ctx.name;
    return (cb) => new RbacFilter(cb, compiled, name);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext): RbacEngines {
    if (config?.['@type'] !== undefined && config['@type'] !== PER_ROUTE_TYPE) {
      throw invalid(ctx.path, `a route's RBAC override is an ${PER_ROUTE_TYPE}, not ${config['@type']}`);
    }
    // no rbac (or an rbac without rules): both engines absent, i.e. the filter is off for this route
    return compileRbacEngines(config?.rbac, `${ctx.path}.rbac`);
  },
};
