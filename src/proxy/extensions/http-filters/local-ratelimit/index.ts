// envoy.filters.http.local_ratelimit (LocalRateLimit): token buckets in this process, no rate limit service.
// A request takes a token from each bucket its descriptors match (descriptors come from the route's and
// virtual host's rate_limits actions) and, unless always_consume_default_token_bucket is false and one
// matched, from the default bucket; with no token left it is answered 429 "local_rate_limited" (flag RL) when
// enforced, or passed on with request_headers_to_add_when_not_enforced otherwise. A route's
// typed_per_filter_config replaces the filter config whole, with its own buckets and stats.
//
// Everything — buckets, header mutations, percentages, stats — is built once per config; the request path
// draws two percentages, builds the descriptors and takes tokens.
import { ConfigError } from '../../../../common/errors.js';
import { compileFractionalPercent, percentHit, PERCENT_0, type FractionalPercent } from '../../../../common/fractional-percent.js';
import { compileTokenBucket, TokenBucket, type TokenBucketConfig } from '../../../../common/token-bucket.js';
import { lookupType } from '../../../../api/envoy/protos.js';
import type { FilterCallbacks, FilterFactoryContext, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { Counter } from '../../../observability/stats.js';
import { chainHeaderMutations, compileHeaderMutationBlock, type HeaderMutator } from '../../../router/header-mutation.js';
import type { Descriptor } from '../../../router/rate-limit-policy.js';
import { ResponseFlag } from '../../../stream-info.js';

const TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const GRPC_RESOURCE_EXHAUSTED = 8;
const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);

const descriptorKey = (d: Descriptor): string => d.map((e) => `${e.key}\u0000${e.value}`).join('\u0001');

interface DescriptorLimit {
  readonly key: string;
  readonly bucket: TokenBucketConfig;
  /** tokens per ms: matched descriptors are charged most restrictive first */
  readonly rate: number;
}

/** One set of buckets: the process-wide one, or one per downstream connection. */
class Buckets {
  readonly default: TokenBucket | undefined;
  private readonly byDescriptor = new Map<string, TokenBucket>();

  constructor(private readonly limits: Limits) {
    this.default = limits.defaultBucket ? new TokenBucket(limits.defaultBucket) : undefined;
    for (const d of limits.descriptors.values()) this.byDescriptor.set(d.key, new TokenBucket(d.bucket));
  }

  /** Take the tokens; returns whether the request is allowed and the bucket its x-ratelimit-* headers describe. */
  take(descriptors: readonly Descriptor[]): { allowed: boolean; bucket: TokenBucket | undefined } {
    let matched: { bucket: TokenBucket; rate: number }[] | undefined;
    for (const d of descriptors) {
      const limit = this.limits.descriptors.get(descriptorKey(d));
      if (limit) (matched ??= []).push({ bucket: this.byDescriptor.get(limit.key)!, rate: limit.rate });
    }
    if (matched) {
      matched.sort((a, b) => a.rate - b.rate);
      for (const m of matched) if (!m.bucket.consume()) return { allowed: false, bucket: m.bucket };
      if (!this.limits.alwaysConsumeDefault || !this.default) return { allowed: true, bucket: matched[0]!.bucket };
      return { allowed: this.default.consume(), bucket: matched[0]!.bucket };
    }
    if (!this.default) return { allowed: true, bucket: undefined };
    return { allowed: this.default.consume(), bucket: this.default };
  }

  idle(): boolean {
    if (this.default && !this.default.isFull()) return false;
    for (const b of this.byDescriptor.values()) if (!b.isFull()) return false;
    return true;
  }
}

interface Limits {
  readonly defaultBucket: TokenBucketConfig | undefined;
  readonly descriptors: ReadonlyMap<string, DescriptorLimit>;
  readonly alwaysConsumeDefault: boolean;
}

export interface LocalRateLimitConfig {
  readonly stats: { readonly enabled: Counter; readonly enforced: Counter; readonly rate_limited: Counter; readonly ok: Counter };
  readonly enabled: FractionalPercent;
  readonly enforced: FractionalPercent;
  readonly status: number;
  readonly responseHeaders: HeaderMutator;
  readonly requestHeadersWhenNotEnforced: HeaderMutator;
  readonly xRateLimitHeaders: boolean;
  readonly hasDescriptors: boolean;
  readonly stage: number;
  readonly vhRateLimits: 'OVERRIDE' | 'INCLUDE' | 'IGNORE';
  readonly grpcStatus: number | undefined;
  /** the buckets for a stream on connection `connectionId` */
  buckets(connectionId: number): Buckets;
}

let statusCodes: Readonly<Record<string, number>> | undefined;
/** envoy.type.v3.HttpStatus.code arrives as its enum name (TooManyRequests); the proto gives the number. */
function httpStatus(status: any, path: string): number {
  if (status?.code === undefined) return 429;
  statusCodes ??= lookupType('envoy.type.v3.HttpStatus').fields.find((f) => f.name === 'code')!.enum!.values;
  const n = typeof status.code === 'number' ? status.code : statusCodes[status.code];
  if (n === undefined) throw invalid(`${path}.code`, `unknown status ${status.code}`);
  // as Envoy's toErrorCode: only error statuses are used; anything below 400 means the default 429
  return n >= 400 ? n : 429;
}

/** Validate and compile a LocalRateLimit message (filter config or per-route override). */
export function compileLocalRateLimit(cfg: any, ctx: Pick<FilterFactoryContext, 'stats' | 'path'>): LocalRateLimitConfig {
  const path = ctx.path;
  if (!cfg.stat_prefix) throw invalid(`${path}.stat_prefix`, 'a stat prefix is required');
  if (cfg.local_cluster_rate_limit !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.local_cluster_rate_limit`, 'sharing a limit across a local cluster is not supported');
  }
  const defaultBucket = cfg.token_bucket ? compileTokenBucket(cfg.token_bucket, `${path}.token_bucket`) : undefined;
  const descriptors = new Map<string, DescriptorLimit>();
  (cfg.descriptors ?? []).forEach((d: any, i: number) => {
    const p = `${path}.descriptors[${i}]`;
    if (!d.entries?.length) throw invalid(`${p}.entries`, 'at least one entry is required');
    d.entries.forEach((e: any, j: number) => {
      if (!e.key) throw invalid(`${p}.entries[${j}].key`, 'a key is required');
      if (!e.value) throw invalid(`${p}.entries[${j}].value`, 'a value is required');
    });
    if (!d.token_bucket) throw invalid(`${p}.token_bucket`, 'a token bucket is required');
    const bucket = compileTokenBucket(d.token_bucket, `${p}.token_bucket`);
    const key = descriptorKey(d.entries);
    if (descriptors.has(key)) throw invalid(p, 'duplicate descriptor');
    descriptors.set(key, { key, bucket, rate: bucket.tokensPerFill / bucket.fillIntervalMs });
  });
  const stage = cfg.stage ?? 0;
  if (!(Number.isInteger(stage) && stage >= 0 && stage <= 10)) throw invalid(`${path}.stage`, `must be in [0, 10], got ${stage}`);
  const limits: Limits = { defaultBucket, descriptors, alwaysConsumeDefault: cfg.always_consume_default_token_bucket ?? true };
  const compileHeaders = (list: any[] | undefined, field: string): HeaderMutator => {
    if ((list?.length ?? 0) > 10) throw invalid(`${path}.${field}`, 'at most 10 headers');
    return chainHeaderMutations([compileHeaderMutationBlock(list, undefined, `${path}.${field}`, `${path}.${field}`)]);
  };

  const scope = ctx.stats.scope(`${cfg.stat_prefix}.http_local_rate_limit.`);
  const shared = new Buckets(limits);
  let perConnection: Map<number, Buckets> | undefined;
  let sweepAt = 64;
  const buckets = cfg.local_rate_limit_per_downstream_connection
    ? (id: number): Buckets => {
        perConnection ??= new Map();
        let b = perConnection.get(id);
        if (!b) {
          // A full bucket set behaves exactly like a new one, so idle sets can go: this keeps the map bounded
          // by the connections actually using tokens without a hook on connection close.
          if (perConnection.size >= sweepAt) {
            for (const [k, v] of perConnection) if (v.idle()) perConnection.delete(k);
            sweepAt = Math.max(64, perConnection.size * 2);
          }
          b = new Buckets(limits);
          perConnection.set(id, b);
        }
        return b;
      }
    : () => shared;

  // filter_enabled / filter_enforced left unset: 0 %, i.e. the filter does nothing (Envoy's defaults)
  const fraction = (f: any, field: string) => compileFractionalPercent(f?.default_value, `${path}.${field}.default_value`, PERCENT_0);
  return Object.freeze({
    stats: { enabled: scope.counter('enabled'), enforced: scope.counter('enforced'), rate_limited: scope.counter('rate_limited'), ok: scope.counter('ok') },
    enabled: fraction(cfg.filter_enabled, 'filter_enabled'),
    enforced: fraction(cfg.filter_enforced, 'filter_enforced'),
    status: httpStatus(cfg.status, `${path}.status`),
    responseHeaders: compileHeaders(cfg.response_headers_to_add, 'response_headers_to_add'),
    requestHeadersWhenNotEnforced: compileHeaders(cfg.request_headers_to_add_when_not_enforced, 'request_headers_to_add_when_not_enforced'),
    xRateLimitHeaders: cfg.enable_x_ratelimit_headers === 'DRAFT_VERSION_03',
    hasDescriptors: descriptors.size > 0,
    stage,
    vhRateLimits: cfg.vh_rate_limits ?? 'OVERRIDE',
    grpcStatus: cfg.rate_limited_as_resource_exhausted ? GRPC_RESOURCE_EXHAUSTED : undefined,
    buckets,
  });
}

class LocalRateLimitFilter implements HttpFilter {
  /** the bucket reported in x-ratelimit-* headers, once a request was checked */
  private reported: TokenBucket | undefined;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly base: LocalRateLimitConfig,
    private readonly name: string,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const c = this.cb.perFilterConfig<LocalRateLimitConfig>(this.name) ?? this.base;
    if (!percentHit(c.enabled)) return 'continue';
    c.stats.enabled.inc();
    const descriptors = c.hasDescriptors ? this.descriptors(c, headers) : [];
    const { allowed, bucket } = c.buckets(this.cb.streamInfo.connectionId).take(descriptors);
    if (c.xRateLimitHeaders) this.reported = bucket;
    if (allowed) {
      c.stats.ok.inc();
      return 'continue';
    }
    c.stats.rate_limited.inc();
    if (!percentHit(c.enforced)) {
      c.requestHeadersWhenNotEnforced.apply(headers, this.cb.streamInfo);
      return 'continue';
    }
    c.stats.enforced.inc();
    const info = this.cb.streamInfo;
    this.cb.sendLocalReply(c.status, 'local_rate_limited', {
      flag: ResponseFlag.RateLimited,
      details: 'local_rate_limited',
      headers: [['x-envoy-ratelimited', 'true']],
      grpcStatus: c.grpcStatus,
      mutateHeaders: c.responseHeaders.empty ? undefined : (h) => c.responseHeaders.apply(h, info),
    });
    return 'stop';
  }

  encodeHeaders(headers: HeaderMap): FilterStatus {
    const b = this.reported;
    if (b) {
      headers.set('x-ratelimit-limit', String(b.config.maxTokens));
      headers.set('x-ratelimit-remaining', String(b.remaining()));
      headers.set('x-ratelimit-reset', String(b.resetSeconds()));
    }
    return 'continue';
  }

  /** Envoy's populateDescriptors: the route's rate limits, and the virtual host's per vh_rate_limits. */
  private descriptors(c: LocalRateLimitConfig, headers: HeaderMap): Descriptor[] {
    const route = this.cb.route();
    const out: Descriptor[] = [];
    if (!route || route.entry.kind !== 'route') return out;
    const input = { headers, remoteAddress: this.cb.streamInfo.downstreamRemoteAddress, clusterName: route.clusterName };
    const entry = route.entry;
    entry.rateLimits.populate(c.stage, input, out);
    const vh = c.vhRateLimits;
    // the deprecated include_vh_rate_limits on the route means INCLUDE whatever the filter says
    if (entry.includeVhRateLimits || vh === 'INCLUDE' || (vh === 'OVERRIDE' && entry.rateLimits.empty)) {
      route.virtualHost.rateLimits.populate(c.stage, input, out);
    }
    return out;
  }
}

export const localRateLimitFilter: HttpFilterFactory = {
  typeUrls: [TYPE_URL],
  create(config: any, ctx: FilterFactoryContext) {
    const compiled = compileLocalRateLimit(config, ctx);
    const name = ctx.name;
    return (cb) => new LocalRateLimitFilter(cb, compiled, name);
  },
  createPerRoute(config: any, ctx: FilterFactoryContext) {
    return compileLocalRateLimit(config, ctx);
  },
};
