// envoy.filters.http.jwt_authn (JwtAuthentication): verifies JSON Web Tokens against the configured providers
// and rejects what fails, as Envoy does:
//  - which requirement applies: the route's typed_per_filter_config (PerRouteConfig: `disabled`, or a
//    `requirement_name` of requirement_map), else the first of `rules` whose RouteMatch matches the request,
//    else nothing is required. bypass_cors_preflight lets CORS preflights through untouched.
//  - failures are answered 401 (403 for "Audiences in Jwt are not allowed") with the reason as the body and
//    `www-authenticate: Bearer realm="<original URI>"`, plus `, error="invalid_token"` unless the token was
//    missing; strip_failure_response leaves only the status. %RESPONSE_CODE_DETAILS% is
//    `jwt_authn_access_denied{<reason with spaces as _>}`.
//  - verified tokens leave their payload (payload_in_metadata) and header (header_in_metadata) in the
//    stream's dynamic metadata under "envoy.filters.http.jwt_authn", where RBAC and access logs read them.
//
// Providers (keys, caches, matchers) and requirement trees are compiled once per config; per request the
// filter finds the requirement and runs it. Signature checks are asynchronous (WebCrypto), so the filter holds
// the request headers until the answer, and the stream buffers the body meanwhile.
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Counter } from '../../../observability/stats.js';
import { compileRouteMatch, RouteMatchInput, type CompiledRouteMatch } from '../../../router/matchers.js';
import { Status } from './jwt.js';
import { compileProvider, type Provider } from './provider.js';
import { compileRequirement, type RequirementScope, type Verifier, type VerifyContext } from './verifier.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
/** the dynamic metadata namespace (Envoy uses the filter's canonical name whatever the http_filters entry is called) */
export const METADATA_NAMESPACE = 'envoy.filters.http.jwt_authn';
/** Envoy's buildOriginalUri limit for the realm */
const MAX_REALM_PATH = 256;

interface Rule {
  readonly match: CompiledRouteMatch;
  /** undefined: the rule requires nothing */
  readonly verifier: Verifier | undefined;
}

export interface JwtAuthnStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly cors_preflight_bypassed: Counter;
  readonly jwks_fetch_success: Counter;
  readonly jwks_fetch_failed: Counter;
}

export interface JwtAuthnConfig {
  readonly providers: ReadonlyMap<string, Provider>;
  readonly rules: readonly Rule[];
  /** requirement_map, for PerRouteConfig.requirement_name; undefined values: empty requirements */
  readonly requirementMap: ReadonlyMap<string, Verifier | undefined>;
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
  readonly stats: JwtAuthnStats;
}

/** PerRouteConfig, compiled: `disabled`, or the name of a requirement_map entry (looked up per request). */
export type JwtAuthnPerRoute = { readonly disabled: true } | { readonly disabled: false; readonly requirementName: string };

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

export function compileJwtAuthn(cfg: any, ctx: Pick<FilterFactoryContext, 'stats' | 'statPrefix' | 'path' | 'clusterManager'>): JwtAuthnConfig {
  const path = ctx.path;
  if (cfg.filter_state_rules) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.filter_state_rules`, 'choosing requirements from filter state is not supported');
  }
  const scope = ctx.stats.scope(`${ctx.statPrefix}jwt_authn.`);
  const stats: JwtAuthnStats = {
    allowed: scope.counter('allowed'),
    denied: scope.counter('denied'),
    cors_preflight_bypassed: scope.counter('cors_preflight_bypassed'),
    jwks_fetch_success: scope.counter('jwks_fetch_success'),
    jwks_fetch_failed: scope.counter('jwks_fetch_failed'),
  };
  const providers = new Map<string, Provider>();
  for (const [name, p] of Object.entries<any>(cfg.providers ?? {})) {
    providers.set(name, compileProvider(name, p, `${path}.providers.${name}`, { clusterManager: ctx.clusterManager, stats }));
  }
  const all = [...providers.values()];
  // for allow_missing(_or_failed): the first provider (config order) with the token's issuer, else the first
  // provider without one (Envoy's findByIssuer)
  const byIssuerMap = new Map<string, Provider>();
  for (const p of all) if (!byIssuerMap.has(p.issuer)) byIssuerMap.set(p.issuer, p);
  const reqScope: RequirementScope = {
    providers,
    all,
    byIssuer: (iss) => byIssuerMap.get(iss) ?? (iss !== '' ? byIssuerMap.get('') : undefined),
  };

  const requirementMap = new Map<string, Verifier | undefined>();
  for (const [name, r] of Object.entries<any>(cfg.requirement_map ?? {})) {
    requirementMap.set(name, compileRequirement(r, reqScope, `${path}.requirement_map.${name}`));
  }
  const rules: Rule[] = (cfg.rules ?? []).map((r: any, i: number) => {
    const p = `${path}.rules[${i}]`;
    if (!r.match) throw invalid(`${p}.match`, 'a route match is required');
    if (r.requires !== undefined && r.requirement_name !== undefined) throw invalid(p, 'set either requires or requirement_name, not both');
    let verifier: Verifier | undefined;
    if (r.requirement_name !== undefined) {
      if (!requirementMap.has(r.requirement_name)) {
        throw new ConfigError('MW_CONFIG_REFERENCE', `${p}.requirement_name`, `Wrong requirement_name: ${r.requirement_name}. It should be one of [${[...requirementMap.keys()].join(',')}]`);
      }
      verifier = requirementMap.get(r.requirement_name);
    } else verifier = compileRequirement(r.requires, reqScope, `${p}.requires`);
    return { match: compileRouteMatch(r.match, `${p}.match`), verifier };
  });

  return Object.freeze({
    providers,
    rules,
    requirementMap,
    bypassCorsPreflight: cfg.bypass_cors_preflight === true,
    stripFailureResponse: cfg.strip_failure_response === true,
    stats,
  });
}

export function compileJwtAuthnPerRoute(cfg: any, path: string): JwtAuthnPerRoute {
  if (cfg.disabled === true) return Object.freeze({ disabled: true });
  if (cfg.requirement_name) return Object.freeze({ disabled: false, requirementName: cfg.requirement_name as string });
  throw invalid(path, 'a PerRouteConfig needs disabled: true or a requirement_name');
}

function isCorsPreflight(h: HeaderMap): boolean {
  return h.get(':method') === 'OPTIONS' && !!h.get('origin') && !!h.get('access-control-request-method');
}

/** Envoy's buildOriginalUri: scheme (x-forwarded-proto), host and the original path, cut at 256 characters. */
function originalUri(h: HeaderMap): string {
  let p = h.get('x-envoy-original-path') ?? h.get(':path') ?? '';
  if (p.length > MAX_REALM_PATH) p = p.slice(0, MAX_REALM_PATH);
  return `${h.get('x-forwarded-proto') ?? h.get(':scheme') ?? 'http'}://${h.get(':authority') ?? ''}${p}`;
}

class JwtAuthnFilter implements HttpFilter {
  private destroyed = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: JwtAuthnConfig,
    private readonly name: string,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const c = this.c;
    if (c.bypassCorsPreflight && isCorsPreflight(headers)) {
      // a preflight carries no credentials (CORS spec), whatever the requirements say
      c.stats.cors_preflight_bypassed.inc();
      c.stats.allowed.inc();
      return 'continue';
    }
    let verifier: Verifier | undefined;
    const perRoute = this.cb.perFilterConfig<JwtAuthnPerRoute>(this.name);
    if (perRoute) {
      if (!perRoute.disabled) {
        if (!c.requirementMap.has(perRoute.requirementName)) {
          const msg = `Wrong requirement_name: ${perRoute.requirementName}. It should be one of [${[...c.requirementMap.keys()].join(',')}]`;
          c.stats.denied.inc();
          this.cb.sendLocalReply(403, c.stripFailureResponse ? '' : `Failed JWT authentication: ${msg}`, { details: rcDetails(msg) });
          return 'stop';
        }
        verifier = c.requirementMap.get(perRoute.requirementName);
      }
    } else {
      const input = new RouteMatchInput(headers.get(':path') ?? '', headers, Math.random, false);
      for (const r of c.rules) {
        if (r.match.matches(input)) {
          verifier = r.verifier;
          break;
        }
      }
    }
    if (!verifier) {
      c.stats.allowed.inc();
      return 'continue';
    }
    const realm = originalUri(headers);
    verifier.sanitize(headers);
    const ctx: VerifyContext = { headers, extracted: {}, clearRouteCache: false, nowSec: Math.floor(Date.now() / 1000) };
    verifier.verify(ctx).then(
      (status) => this.onComplete(status, ctx, realm),
      // a bug, not a token problem: fail closed
      () => this.onComplete(Status.JwtVerificationFail, ctx, realm),
    );
    return 'stop';
  }

  private onComplete(status: Status, ctx: VerifyContext, realm: string): void {
    if (this.destroyed) return;
    const cb = this.cb;
    // Envoy records what verified even when the request fails (allow_missing_or_failed relies on it)
    if (Object.keys(ctx.extracted).length) cb.streamInfo.setDynamicMetadata(METADATA_NAMESPACE, ctx.extracted);
    if (ctx.clearRouteCache) cb.clearRouteCache();
    if (status !== Status.Ok) {
      this.c.stats.denied.inc();
      const code = status === Status.JwtAudienceNotAllowed ? 403 : 401;
      if (this.c.stripFailureResponse) {
        cb.sendLocalReply(code, '', { details: rcDetails(status) });
        return;
      }
      const challenge = `Bearer realm="${realm}"${status === Status.JwtMissed ? '' : ', error="invalid_token"'}`;
      cb.sendLocalReply(code, status, { details: rcDetails(status), headers: [['www-authenticate', challenge]] });
      return;
    }
    this.c.stats.allowed.inc();
    cb.continueDecoding();
  }

  onDestroy(): void {
    this.destroyed = true;
  }
}

/** "jwt_authn_access_denied{Jwt_is_missing}": no spaces, since access logs split on them */
function rcDetails(msg: string): string {
  return `jwt_authn_access_denied{${msg.replace(/\s/g, '_')}}`;
}

export const jwtAuthnFilter: HttpFilterFactory = {
  typeUrls: [TYPE_URL, PER_ROUTE_TYPE_URL],
  create(config: any, ctx: FilterFactoryContext) {
    // PerRouteConfig is registered only so that typed_per_filter_config finds this factory by its @type
    if (config?.['@type'] === PER_ROUTE_TYPE_URL) throw invalid(`${ctx.path}.typed_config`, `a PerRouteConfig is a per-route config: the filter's typed_config is ${TYPE_URL}`);
    const compiled = compileJwtAuthn(config, ctx);
    const name = ctx.name;
    return (cb) => new JwtAuthnFilter(cb, compiled, name);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext) {
    if (config?.['@type'] !== PER_ROUTE_TYPE_URL) throw invalid(ctx.path, `the per-route config of jwt_authn is a ${PER_ROUTE_TYPE_URL}`);
    return compileJwtAuthnPerRoute(config, ctx.path);
  },
};
