// RouteAction.retry_policy / VirtualHost.retry_policy compiled once: the retry_on tokens become a bit set,
// header matchers are compiled, defaults are filled in (Envoy's: one retry, 25 ms back-off base, 10× base
// cap, one host-selection reattempt). Per request, `withRequestHeaders` folds in the x-envoy-retry-* headers
// an internal client may send (the connection manager already strips them from external ones).
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';
import { compileHeaderMatchers, type HeaderMatcher, type HeaderMatcherConfig } from './matchers.js';
import { retryPriorities, type RetryPriority } from './retry-priority.js';

// HTTP conditions (x-envoy-retry-on) and gRPC ones (x-envoy-retry-grpc-on) share one bit set; the route's
// retry_on may name both kinds.
export const RetryOn = {
  '5xx': 1 << 0,
  'gateway-error': 1 << 1,
  reset: 1 << 2,
  'reset-before-request': 1 << 3,
  'connect-failure': 1 << 4,
  'envoy-ratelimited': 1 << 5,
  'retriable-4xx': 1 << 6,
  'refused-stream': 1 << 7,
  'retriable-status-codes': 1 << 8,
  'retriable-headers': 1 << 9,
  // gRPC status codes of a trailers-only response
  cancelled: 1 << 10,
  'deadline-exceeded': 1 << 11,
  internal: 1 << 12,
  'resource-exhausted': 1 << 13,
  unavailable: 1 << 14,
} as const;

const GRPC_TOKENS = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/** gRPC status code → its retry_on bit */
export const GRPC_STATUS_BITS: ReadonlyMap<number, number> = new Map([
  [1, RetryOn.cancelled],
  [4, RetryOn['deadline-exceeded']],
  [13, RetryOn.internal],
  [8, RetryOn['resource-exhausted']],
  [14, RetryOn.unavailable],
]);

/** Parse a comma-separated retry_on list; `kind` limits which tokens are valid. Unknown tokens are returned. */
export function parseRetryOn(value: string, kind: 'any' | 'http' | 'grpc'): { bits: number; unknown: string[] } {
  let bits = 0;
  const unknown: string[] = [];
  for (const raw of value.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    const bit = (RetryOn as Record<string, number>)[t];
    const allowed = bit !== undefined && (kind === 'any' || (kind === 'grpc') === GRPC_TOKENS.has(t));
    if (allowed) bits |= bit;
    else unknown.push(t);
  }
  return { bits, unknown };
}

export interface RetryPolicyConfig {
  retry_on?: string;
  num_retries?: number;
  per_try_timeout?: number;
  per_try_idle_timeout?: number;
  retry_priority?: { name?: string; typed_config?: { '@type'?: string; [k: string]: unknown } };
  retry_host_predicate?: { name?: string; typed_config?: { '@type'?: string } }[];
  retry_options_predicates?: unknown[];
  host_selection_retry_max_attempts?: number;
  retriable_status_codes?: number[];
  retry_back_off?: { base_interval?: number; max_interval?: number };
  rate_limited_retry_back_off?: unknown;
  retriable_headers?: HeaderMatcherConfig[];
  retriable_request_headers?: HeaderMatcherConfig[];
}

export interface RetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  /** ms; 0 = none */
  readonly perTryTimeoutMs: number;
  /** ms; 0 = none */
  readonly perTryIdleTimeoutMs: number;
  readonly backOffBaseMs: number;
  readonly backOffMaxMs: number;
  /** retry_host_predicate previous_hosts: retries avoid hosts already tried */
  readonly previousHosts: boolean;
  /** retry_priority: makes each request's retry priority (Envoy's RetryPriority), compiled once */
  readonly retryPriority?: () => RetryPriority;
  /** how many times host selection is reattempted when the predicate rejects the pick */
  readonly hostSelectionMaxAttempts: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  /** response headers that make a response retriable (retriable-headers); any one matching is enough */
  readonly retriableHeaders: readonly HeaderMatcher[];
  /** when non-empty, only requests matching one of these are retried */
  readonly retriableRequestHeaders: readonly HeaderMatcher[];
}

const PREVIOUS_HOSTS_NAME = 'envoy.retry_host_predicates.previous_hosts';
const PREVIOUS_HOSTS_TYPE = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';
const DEFAULT_BASE_MS = 25;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** What a route without retry_policy gets: nothing to retry on (x-envoy-retry-on may still add conditions). */
export const NO_RETRY_POLICY: RetryPolicy = Object.freeze({
  retryOn: 0,
  numRetries: 1,
  perTryTimeoutMs: 0,
  perTryIdleTimeoutMs: 0,
  backOffBaseMs: DEFAULT_BASE_MS,
  backOffMaxMs: DEFAULT_BASE_MS * 10,
  previousHosts: false,
  hostSelectionMaxAttempts: 1,
  retriableStatusCodes: new Set<number>(),
  retriableHeaders: Object.freeze([]),
  retriableRequestHeaders: Object.freeze([]),
});

function duration(v: number | undefined, path: string): number {
  if (v === undefined) return 0;
  if (!(v >= 0) || !Number.isFinite(v)) throw invalid(path, `${v} is not a valid duration`);
  return v;
}

/** Compile a decoded RetryPolicy; `path` names it in errors (e.g. "...routes[0].route.retry_policy"). */
export function compileRetryPolicy(cfg: RetryPolicyConfig | undefined, path: string): RetryPolicy {
  if (!cfg) return NO_RETRY_POLICY;
  for (const f of ['retry_options_predicates', 'rate_limited_retry_back_off'] as const) {
    const v = cfg[f];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) throw unsupported(`${path}.${f}`, `${f} is not supported`);
  }
  const { bits, unknown } = parseRetryOn(cfg.retry_on ?? '', 'any');
  if (unknown.length) throw invalid(`${path}.retry_on`, `unknown retry condition${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t}"`).join(', ')}`);
  const numRetries = cfg.num_retries ?? 1;
  if (!Number.isInteger(numRetries) || numRetries < 0) throw invalid(`${path}.num_retries`, `${numRetries} is not a uint32`);
  const perTryTimeoutMs = duration(cfg.per_try_timeout, `${path}.per_try_timeout`);
  const perTryIdleTimeoutMs = duration(cfg.per_try_idle_timeout, `${path}.per_try_idle_timeout`);

  let backOffBaseMs = DEFAULT_BASE_MS;
  let backOffMaxMs = DEFAULT_BASE_MS * 10;
  const bo = cfg.retry_back_off;
  if (bo) {
    const bp = `${path}.retry_back_off`;
    if (bo.base_interval === undefined) throw invalid(`${bp}.base_interval`, 'base_interval is required');
    if (!(bo.base_interval > 0)) throw invalid(`${bp}.base_interval`, 'must be greater than 0');
    if (bo.max_interval !== undefined && !(bo.max_interval > 0)) throw invalid(`${bp}.max_interval`, 'must be greater than 0');
    // Envoy rounds intervals below 1 ms up to 1 ms
    backOffBaseMs = Math.max(1, bo.base_interval);
    backOffMaxMs = bo.max_interval !== undefined ? Math.max(1, bo.max_interval) : backOffBaseMs * 10;
    if (backOffMaxMs < backOffBaseMs) throw invalid(`${bp}.max_interval`, 'max_interval must be greater than or equal to base_interval');
  }

  let previousHosts = false;
  (cfg.retry_host_predicate ?? []).forEach((p, i) => {
    const type = p.typed_config?.['@type'];
    if (type === PREVIOUS_HOSTS_TYPE || (type === undefined && p.name === PREVIOUS_HOSTS_NAME)) previousHosts = true;
    else throw unsupported(`${path}.retry_host_predicate[${i}]`, `retry host predicate ${type ?? p.name} is not supported; only ${PREVIOUS_HOSTS_NAME}`);
  });
  let retryPriority: (() => RetryPriority) | undefined;
  const rp = cfg.retry_priority;
  if (rp) {
    const name = rp.typed_config?.['@type'] ?? rp.name ?? '';
    const factory = retryPriorities.get(name);
    if (!factory) throw unsupported(`${path}.retry_priority`, `retry priority ${name || '(unnamed)'} is not supported; only envoy.retry_priorities.previous_priorities`);
    const { '@type': _t, ...fields } = rp.typed_config ?? {};
    retryPriority = factory.compile(fields, `${path}.retry_priority.typed_config`);
  }
  const attempts = cfg.host_selection_retry_max_attempts ?? 1;
  if (!Number.isInteger(attempts)) throw invalid(`${path}.host_selection_retry_max_attempts`, `${attempts} is not an integer`);

  const codes = new Set<number>();
  (cfg.retriable_status_codes ?? []).forEach((c, i) => {
    if (!Number.isInteger(c) || c < 100 || c > 999) throw invalid(`${path}.retriable_status_codes[${i}]`, `${c} is not an HTTP status code`);
    codes.add(c);
  });
  return Object.freeze({
    retryOn: bits,
    numRetries,
    perTryTimeoutMs,
    perTryIdleTimeoutMs,
    backOffBaseMs,
    backOffMaxMs,
    previousHosts,
    ...(retryPriority ? { retryPriority } : {}),
    // a negative count reattempts nothing, as in Envoy
    hostSelectionMaxAttempts: Math.max(0, attempts),
    retriableStatusCodes: codes,
    retriableHeaders: compileHeaderMatchers(cfg.retriable_headers, `${path}.retriable_headers`),
    retriableRequestHeaders: compileHeaderMatchers(cfg.retriable_request_headers, `${path}.retriable_request_headers`),
  });
}

/** A header that is only present (`x-envoy-retriable-header-names` entries). */
function presenceMatcher(name: string): HeaderMatcher {
  return { name, matches: (h) => h.has(name) };
}

/**
 * The policy for one request: the route's, plus what x-envoy-retry-on, x-envoy-retry-grpc-on,
 * x-envoy-max-retries, x-envoy-retriable-status-codes and x-envoy-retriable-header-names add. Like Envoy, the
 * headers are consumed (removed) so they never reach the upstream; malformed values are ignored. Returns null
 * when nothing can be retried, so the router skips all retry bookkeeping.
 */
export function withRequestHeaders(
  policy: RetryPolicy,
  headers: HeaderMap,
  // one scan instead of five for the usual request, which carries none of them (the caller's, if it made it already)
  envoyHeaders = headers.hasPrefix('x-envoy-'),
): RetryPolicy | null {
  if (!envoyHeaders) return policyFor(policy, headers);
  const on = headers.get('x-envoy-retry-on');
  const grpcOn = headers.get('x-envoy-retry-grpc-on');
  const max = headers.get('x-envoy-max-retries');
  const codesH = headers.get('x-envoy-retriable-status-codes');
  const namesH = headers.get('x-envoy-retriable-header-names');
  let p = policy;
  if (on !== undefined || grpcOn !== undefined || max !== undefined || codesH !== undefined || namesH !== undefined) {
    for (const n of ['x-envoy-retry-on', 'x-envoy-retry-grpc-on', 'x-envoy-max-retries', 'x-envoy-retriable-status-codes', 'x-envoy-retriable-header-names']) headers.remove(n);
    let retryOn = p.retryOn;
    if (on !== undefined) retryOn |= parseRetryOn(on, 'http').bits;
    if (grpcOn !== undefined) retryOn |= parseRetryOn(grpcOn, 'grpc').bits;
    let numRetries = p.numRetries;
    if (max !== undefined && /^\d+$/.test(max.trim())) numRetries = Number(max.trim());
    let codes = p.retriableStatusCodes;
    if (codesH !== undefined) {
      const extra = codesH.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n >= 100 && n <= 999);
      if (extra.length) codes = new Set([...codes, ...extra]);
    }
    let retriableHeaders = p.retriableHeaders;
    if (namesH !== undefined) {
      const names = namesH.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
      if (names.length) retriableHeaders = [...retriableHeaders, ...names.map(presenceMatcher)];
    }
    p = { ...p, retryOn, numRetries, retriableStatusCodes: codes, retriableHeaders };
  }
  return policyFor(p, headers);
}

/** `p`, or null when it retries nothing or the request does not match its retriable_request_headers. */
function policyFor(p: RetryPolicy, headers: HeaderMap): RetryPolicy | null {
  if (p.retryOn === 0) return null;
  if (p.retriableRequestHeaders.length > 0 && !p.retriableRequestHeaders.some((m) => m.matches(headers))) return null;
  return p;
}
