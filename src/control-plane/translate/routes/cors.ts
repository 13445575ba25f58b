// VirtualService corsPolicy → the cors filter's per-route CorsPolicy, as Istio's TranslateCORSPolicy writes it:
// origins as string matchers (allowOrigins; else the deprecated allowOrigin list as exact matches), methods and
// headers comma-joined, maxAge in whole seconds, the filter enabled for every request, and unmatched preflights
// forwarded upstream unless unmatchedPreflights is IGNORE (Istio always sets the field, so the proxy's default
// never decides). The connection manager carries the filter itself (corsHttpFilter) in every HTTP listener, as
// Istio puts it in every HCM, so any route can switch it on.
import type { CorsPolicy } from '../../../api/mesh/types.js';
import { parseDuration } from '../../model/duration.js';
import type { Json } from '../common.js';
import { stringMatcher } from './match.js';

export const CORS_FILTER_NAME = 'envoy.filters.http.cors';
const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

/** The http_filters entry of the CORS filter (it has no settings: routes carry the policies). */
export function corsHttpFilter(): Json {
  return { name: CORS_FILTER_NAME, typed_config: { '@type': CORS_TYPE } };
}

export function corsPolicyConfig(c: CorsPolicy): Json {
  const out: Json = { '@type': CORS_POLICY_TYPE };
  const origins = c.allowOrigins !== undefined ? c.allowOrigins.map(stringMatcher).filter((m) => m !== undefined) : (c.allowOrigin ?? []).map((exact) => ({ exact }));
  if (origins.length) out.allow_origin_string_match = origins;
  if (c.allowMethods?.length) out.allow_methods = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out.allow_headers = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out.expose_headers = c.exposeHeaders.join(',');
  const maxAgeMs = parseDuration(c.maxAge);
  if (maxAgeMs !== undefined) out.max_age = String(Math.floor(maxAgeMs / 1000));
  if (c.allowCredentials !== undefined) out.allow_credentials = c.allowCredentials;
  out.filter_enabled = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  out.forward_not_matching_preflights = c.unmatchedPreflights !== 'IGNORE';
  return out;
}
