// envoy.filters.http.cors: Cross-Origin Resource Sharing for browsers, with Envoy's semantics. The filter has no
// settings of its own (the Cors message is empty): each route says what it allows through typed_per_filter_config
// (envoy.extensions.filters.http.cors.v3.CorsPolicy), which is compiled once, when the route table is compiled.
//
// Per request (Envoy's CorsFilter::decodeHeaders / encodeHeaders):
//  - no Origin, no route, or a route that does not forward (redirect, direct response): nothing to do;
//  - the policies of the route's levels, most specific first (weighted cluster, route, virtual host, then the
//    route configuration when no other level sets one); each field is taken from the most specific policy that
//    sets it, and filter_enabled / shadow_enabled from the most specific policy alone;
//  - origin_valid / origin_invalid are counted whenever the filter is enabled or shadow-enabled;
//  - a preflight (OPTIONS + Origin + Access-Control-Request-Method) is answered here with 200 and the
//    Access-Control-* headers, unless the origin does not match and forward_not_matching_preflights (default
//    true) sends it upstream;
//  - any other request with a matching origin gets Access-Control-Allow-Origin (and -Credentials,
//    -Expose-Headers) added to its response.
//
// The legacy RouteAction.cors / VirtualHost.cors fields are not read (deprecated in Envoy; the support table keeps
// rejecting them), so a policy always comes from typed_per_filter_config.
import { ConfigError } from '../../../../common/errors.js';
import { compileFractionalPercent, percentHit, PERCENT_100, type FractionalPercent } from '../../../../common/fractional-percent.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Counter } from '../../../observability/stats.js';
import { compileStringMatcher, type StringMatcher, type StringMatcherConfig } from '../../../router/matchers.js';
import type { RouteResult } from '../../../router/route-table.js';

const FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

export interface CorsPolicyConfig {
  allow_origin_string_match?: StringMatcherConfig[];
  allow_methods?: string;
  allow_headers?: string;
  expose_headers?: string;
  max_age?: string;
  allow_credentials?: boolean;
  allow_private_network_access?: boolean;
  forward_not_matching_preflights?: boolean;
  filter_enabled?: { default_value?: { numerator?: number; denominator?: string }; runtime_key?: string };
  shadow_enabled?: { default_value?: { numerator?: number; denominator?: string }; runtime_key?: string };
}

/** One level's CorsPolicy, compiled. Unset fields are undefined (or empty), so a less specific level can fill them. */
export class CorsPolicy {
  constructor(
    readonly allowOrigins: readonly StringMatcher[],
    /** some origin matcher matches the literal "*": every origin is allowed (Envoy's check) */
    readonly allowsAnyOrigin: boolean,
    readonly allowMethods: string,
    readonly allowHeaders: string,
    readonly exposeHeaders: string,
    readonly maxAge: string,
    readonly allowCredentials: boolean | undefined,
    readonly allowPrivateNetworkAccess: boolean | undefined,
    readonly forwardNotMatchingPreflights: boolean | undefined,
    /** undefined: always enabled */
    readonly filterEnabled: FractionalPercent | undefined,
    /** undefined: never shadow-enabled */
    readonly shadowEnabled: FractionalPercent | undefined,
  ) {
    Object.freeze(this);
  }
}

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const CTL = /[\0\r\n]/;

function headerValue(v: string | undefined, path: string): string {
  if (v === undefined) return '';
  // these strings become response header values: a CR or LF would split the response
  if (CTL.test(v)) throw invalid(path, 'value contains NUL, CR or LF');
  return v;
}

// Every compiled policy by the decoded object it came from, so the filter can find the policy of each level of
// a route (the route table hands filters only the most specific one). A WeakMap: it goes when the config goes.
const compiledByConfig = new WeakMap<object, CorsPolicy>();

/** Validate and compile a CorsPolicy message (a route's, virtual host's or route configuration's). */
export function compileCorsPolicy(cfg: CorsPolicyConfig, path: string): CorsPolicy {
  const origins = (cfg.allow_origin_string_match ?? []).map((m, i) => compileStringMatcher(m, `${path}.allow_origin_string_match[${i}]`));
  const fraction = (f: CorsPolicyConfig['filter_enabled'], p: string) => (f === undefined ? undefined : compileFractionalPercent(f.default_value, `${p}.default_value`, PERCENT_100));
  const policy = new CorsPolicy(
    Object.freeze(origins),
    origins.some((m) => m.match('*')),
    headerValue(cfg.allow_methods, `${path}.allow_methods`),
    headerValue(cfg.allow_headers, `${path}.allow_headers`),
    headerValue(cfg.expose_headers, `${path}.expose_headers`),
    headerValue(cfg.max_age, `${path}.max_age`),
    cfg.allow_credentials,
    cfg.allow_private_network_access,
    cfg.forward_not_matching_preflights,
    fraction(cfg.filter_enabled, `${path}.filter_enabled`),
    fraction(cfg.shadow_enabled, `${path}.shadow_enabled`),
  );
  if (cfg && typeof cfg === 'object') compiledByConfig.set(cfg, policy);
  return policy;
}

/**
 * The effective policy of a route: Envoy's per-field walk over the levels (most specific first), done once per
 * route result and kept, since results are built when the table is compiled.
 */
export interface EffectiveCors {
  readonly allowOrigins: readonly StringMatcher[];
  readonly allowsAnyOrigin: boolean;
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean;
  readonly allowPrivateNetworkAccess: boolean;
  readonly forwardNotMatchingPreflights: boolean;
  readonly filterEnabled: FractionalPercent | undefined;
  readonly shadowEnabled: FractionalPercent | undefined;
}

/** Merge the levels' policies, most specific first, field by field as Envoy's CorsFilter accessors do. */
export function effectiveCors(levels: readonly CorsPolicy[]): EffectiveCors | undefined {
  if (levels.length === 0) return undefined;
  const str = (pick: (p: CorsPolicy) => string) => levels.map(pick).find((v) => v !== '') ?? '';
  const bool = (pick: (p: CorsPolicy) => boolean | undefined, dflt: boolean) => levels.map(pick).find((v) => v !== undefined) ?? dflt;
  const origins = levels.find((p) => p.allowOrigins.length > 0);
  return Object.freeze({
    allowOrigins: origins?.allowOrigins ?? [],
    allowsAnyOrigin: origins?.allowsAnyOrigin ?? false,
    allowMethods: str((p) => p.allowMethods),
    allowHeaders: str((p) => p.allowHeaders),
    exposeHeaders: str((p) => p.exposeHeaders),
    maxAge: str((p) => p.maxAge),
    allowCredentials: bool((p) => p.allowCredentials, false),
    allowPrivateNetworkAccess: bool((p) => p.allowPrivateNetworkAccess, false),
    forwardNotMatchingPreflights: bool((p) => p.forwardNotMatchingPreflights, true),
    // the most specific policy alone decides whether the filter runs
    filterEnabled: levels[0]!.filterEnabled,
    shadowEnabled: levels[0]!.shadowEnabled,
  });
}

const policyOf = (raw: unknown): CorsPolicy | undefined => (raw && typeof raw === 'object' ? compiledByConfig.get(raw) : undefined);

/** The compiled policies of a route's levels for filter `name`, most specific first. */
export function corsLevels(route: RouteResult, name: string): CorsPolicy[] {
  const out: CorsPolicy[] = [];
  const add = (p: CorsPolicy | undefined) => {
    if (p && !out.includes(p)) out.push(p);
  };
  add(policyOf(route.weightedCluster?.raw.typed_per_filter_config?.[name]));
  add(policyOf(route.entry.raw.typed_per_filter_config?.[name]));
  add(policyOf(route.virtualHost.raw.typed_per_filter_config?.[name]));
  // the route configuration's level is what the table answers when no other level sets one
  const top = route.perFilterConfig(name);
  if (top instanceof CorsPolicy) add(top);
  return out;
}

interface CorsStats {
  readonly origin_valid: Counter;
  readonly origin_invalid: Counter;
}

// Route results are shared objects built at compile time, so the merged policy is worked out once per result.
// `null`: the route has no policy.
type Cache = WeakMap<RouteResult, EffectiveCors | null>;

class CorsFilter implements HttpFilter {
  /** the request's Origin when it matched and the request is not shadow-only: the response gets CORS headers */
  private latchedOrigin: string | undefined;
  private cors: EffectiveCors | undefined;
  private answered = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly name: string,
    private readonly stats: CorsStats,
    private readonly cache: Cache,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    // most requests are not cross-origin: check the cheapest condition first
    const origin = headers.get('origin');
    if (!origin) return 'continue';
    const route = this.cb.route();
    if (!route || route.entry.kind !== 'route') return 'continue';
    let cors = this.cache.get(route);
    if (cors === undefined) {
      cors = effectiveCors(corsLevels(route, this.name)) ?? null;
      this.cache.set(route, cors);
    }
    if (cors === null) return 'continue';
    const enabled = cors.filterEnabled === undefined || percentHit(cors.filterEnabled);
    const shadow = cors.shadowEnabled !== undefined && percentHit(cors.shadowEnabled);
    if (!enabled && !shadow) return 'continue';

    const allowed = cors.allowsAnyOrigin || cors.allowOrigins.some((m) => m.match(origin));
    (allowed ? this.stats.origin_valid : this.stats.origin_invalid).inc();
    // shadow mode: count, never act
    if (!enabled) return 'continue';
    this.cors = cors;
    if (allowed) this.latchedOrigin = origin;

    if (headers.get(':method') !== 'OPTIONS') return 'continue';
    const requestMethod = headers.get('access-control-request-method');
    if (!requestMethod) return 'continue';
    // a preflight
    if (!allowed && cors.forwardNotMatchingPreflights) return 'continue';

    const out: [string, string][] = [];
    if (allowed) out.push(['access-control-allow-origin', origin]);
    if (cors.allowCredentials) out.push(['access-control-allow-credentials', 'true']);
    if (cors.allowMethods) out.push(['access-control-allow-methods', cors.allowMethods === '*' ? requestMethod : cors.allowMethods]);
    if (cors.allowHeaders) {
      // "*" echoes what the browser asked for
      const v = cors.allowHeaders === '*' ? headers.get('access-control-request-headers') : cors.allowHeaders;
      if (v !== undefined) out.push(['access-control-allow-headers', v]);
    }
    if (cors.maxAge) out.push(['access-control-max-age', cors.maxAge]);
    if (cors.allowPrivateNetworkAccess && headers.get('access-control-request-private-network') === 'true') {
      out.push(['access-control-allow-private-network', 'true']);
    }
    // our own reply passes this filter's encodeHeaders too; it already carries what it needs
    this.answered = true;
    this.cb.sendLocalReply(200, '', { details: 'cors_response', headers: out, plainHttp: true });
    return 'stop';
  }

  encodeHeaders(headers: HeaderMap): FilterStatus {
    const origin = this.latchedOrigin;
    if (origin === undefined || this.answered) return 'continue';
    const cors = this.cors!;
    headers.set('access-control-allow-origin', origin);
    if (cors.allowCredentials) headers.set('access-control-allow-credentials', 'true');
    if (cors.exposeHeaders) headers.set('access-control-expose-headers', cors.exposeHeaders);
    return 'continue';
  }
}

export const corsFilter: HttpFilterFactory = {
  typeUrls: [FILTER_TYPE, POLICY_TYPE],
  create(config: { '@type'?: string } | undefined, ctx: FilterFactoryContext) {
    // CorsPolicy is registered only so that typed_per_filter_config finds this factory by its @type
    if (config?.['@type'] === POLICY_TYPE) throw invalid(`${ctx.path}.typed_config`, `a CorsPolicy is a per-route config: the filter's typed_config is ${FILTER_TYPE}`);
    const scope = ctx.stats.scope(`${ctx.statPrefix}cors.`);
    const stats: CorsStats = { origin_valid: scope.counter('origin_valid'), origin_invalid: scope.counter('origin_invalid') };
    const cache: Cache = new WeakMap();
    const name = ctx.name;
    return (cb) => new CorsFilter(cb, name, stats, cache);
  },
  createPerRoute(config: CorsPolicyConfig, ctx: FilterFactoryContext) {
    return compileCorsPolicy(config, ctx.path);
  },
};
