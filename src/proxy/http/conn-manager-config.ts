// Compiling an HttpConnectionManager config once per listener update: options resolved to plain numbers and
// flags, the route table compiled, filter factories built, stats created. The per-request path reads only
// this frozen object.
import type { ServerHealth } from '../server/server-health.js';
import { ConfigError } from '../../common/errors.js';
import { httpFilters, accessLoggers } from '../extensions/registry.js';
import { compileAccessLogFilter } from '../observability/access-log-filter.js';
import type { AccessLogger } from '../observability/access-log.js';
import type { Counter, Gauge, Histogram, StatsStore } from '../observability/stats.js';
import { compileRouteConfiguration, type RouteTable } from '../router/route-table.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { FilterCallbacks, HttpFilter } from './filter.js';
import { compileInternalAddressConfig } from './standard-headers.js';
import type { EscapedSlashesAction } from './path-normalization.js';

export interface HcmStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_http1_total: Counter;
  downstream_cx_http2_total: Counter;
  downstream_cx_http1_active: Gauge;
  downstream_cx_http2_active: Gauge;
  downstream_cx_ssl_total: Counter;
  downstream_cx_protocol_error: Counter;
  downstream_cx_idle_timeout: Counter;
  downstream_cx_destroy: Counter;
  downstream_cx_rx_bytes_total: Counter;
  downstream_cx_tx_bytes_total: Counter;
  downstream_cx_upgrades_total: Counter;
  downstream_cx_upgrades_active: Gauge;
  downstream_rq_total: Counter;
  downstream_rq_http1_total: Counter;
  downstream_rq_http2_total: Counter;
  downstream_rq_active: Gauge;
  downstream_rq_completed: Counter;
  downstream_rq_1xx: Counter;
  downstream_rq_2xx: Counter;
  downstream_rq_3xx: Counter;
  downstream_rq_4xx: Counter;
  downstream_rq_5xx: Counter;
  downstream_rq_time: Histogram;
  downstream_rq_rx_reset: Counter;
  downstream_rq_tx_reset: Counter;
  downstream_rq_timeout: Counter;
  downstream_rq_idle_timeout: Counter;
  downstream_rq_header_timeout: Counter;
  downstream_rq_too_large: Counter;
  downstream_rq_ws_on_non_ws_route: Counter;
  rs_too_large: Counter;
  no_route: Counter;
  no_cluster: Counter;
  rq_total: Counter;
  rq_direct_response: Counter;
  rq_redirect: Counter;
  downstream_rq_failed_path_normalization: Counter;
  downstream_rq_redirected_with_normalized_path: Counter;
}

function makeStats(store: StatsStore, prefix: string): HcmStats {
  const s = store.scope(`http.${prefix}.`);
  const names = [
    'downstream_cx_total', 'downstream_cx_http1_total', 'downstream_cx_http2_total', 'downstream_cx_ssl_total',
    'downstream_cx_protocol_error', 'downstream_cx_idle_timeout', 'downstream_cx_destroy', 'downstream_cx_rx_bytes_total',
    'downstream_cx_tx_bytes_total', 'downstream_cx_upgrades_total', 'downstream_rq_total', 'downstream_rq_http1_total',
    'downstream_rq_http2_total', 'downstream_rq_completed', 'downstream_rq_1xx', 'downstream_rq_2xx', 'downstream_rq_3xx',
    'downstream_rq_4xx', 'downstream_rq_5xx', 'downstream_rq_rx_reset', 'downstream_rq_tx_reset', 'downstream_rq_timeout',
    'downstream_rq_idle_timeout', 'downstream_rq_header_timeout', 'downstream_rq_too_large', 'downstream_rq_ws_on_non_ws_route',
    'rs_too_large', 'no_route', 'no_cluster', 'rq_total', 'rq_direct_response', 'rq_redirect',
    'downstream_rq_failed_path_normalization', 'downstream_rq_redirected_with_normalized_path',
  ] as const;
  const gauges = ['downstream_cx_active', 'downstream_cx_http1_active', 'downstream_cx_http2_active', 'downstream_cx_upgrades_active', 'downstream_rq_active'] as const;
  // Object.fromEntries, not assignments in a loop: an object given this many properties by keyed stores turns
  // into a dictionary, and every `cfg.stats.x` on the request path (about fifteen per request) was a hash lookup.
  const entries: [string, unknown][] = names.map((n) => [n, s.counter(n)]);
  for (const n of gauges) entries.push([n, s.gauge(n)]);
  entries.push(['downstream_rq_time', s.histogram('downstream_rq_time')]);
  return Object.fromEntries(entries) as unknown as HcmStats;
}

export interface CompiledFilter {
  name: string;
  create: (cb: FilterCallbacks) => HttpFilter;
}

/** forward_client_cert_details: what happens to x-forwarded-client-cert (Envoy's names) */
export type XfccMode = 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';

export interface HcmConfig {
  readonly statPrefix: string;
  readonly xfcc: XfccMode;
  /** set_current_client_cert_details: which fields of the client certificate the new XFCC element carries */
  readonly xfccDetails: { readonly subject: boolean; readonly uri: boolean; readonly dns: boolean; readonly cert: boolean; readonly chain: boolean };
  readonly stats: HcmStats;
  readonly codecType: 'AUTO' | 'HTTP1' | 'HTTP2';
  readonly routeTable: RouteTable;
  readonly filters: readonly CompiledFilter[];
  readonly accessLoggers: readonly AccessLogger[];
  readonly useRemoteAddress: boolean;
  /** internal_address_config, compiled: whether a client address counts as internal (see standard-headers.ts) */
  readonly isInternalAddress: (ip: string) => boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly via: string | undefined;
  readonly serverName: string;
  readonly serverHeaderTransformation: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly alwaysSetRequestIdInResponse: boolean;
  readonly maxRequestHeadersKb: number;
  readonly maxHeadersCount: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnectionDurationMs: number;
  readonly maxStreamDurationMs: number;
  readonly drainTimeoutMs: number;
  readonly delayedCloseTimeoutMs: number;
  readonly upgrades: ReadonlyMap<string, boolean>; // upgrade type (lowercase) -> enabled
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashesAction: EscapedSlashesAction;
  /** normalize_path, merge_slashes or an escaped-slashes action is on: the path goes through path-normalization.ts */
  readonly transformsPath: boolean;
  readonly headersWithUnderscores: 'ALLOW' | 'REJECT_REQUEST' | 'DROP_HEADER';
  readonly http2: { maxConcurrentStreams: number; initialStreamWindowSize: number; initialConnectionWindowSize: number };
  readonly acceptHttp10: boolean;
  /** http_protocol_options.allow_absolute_url (Envoy's default: true): absolute-form requests are proxy requests */
  readonly allowAbsoluteUrl: boolean;
  readonly defaultHostForHttp10: string | undefined;
  readonly perConnectionBufferLimit: number;
}

/**
 * Where an HCM with `rds` gets its routes (src/proxy/xds/route-configs.ts): one shared, already compiled table
 * per route_config_name, replaced as a whole by each RDS update. The HCM keeps the handle and reads `current`
 * per request, so an update reaches new requests without touching connections.
 */
export interface RouteConfigProvider {
  /** Follow `rds.route_config_name` from `rds.config_source`; throws ConfigError when the source cannot be used. */
  subscribe(rds: { config_source?: any; route_config_name?: string }, path: string, statPrefix: string): { readonly current: RouteTable };
}

/** Compile a RouteConfiguration as the HCM uses it, typed_per_filter_config values compiled by the filter factory
 * their @type names; shared by inline route_config and RDS. */
export function compileRoutes(rc: any, path: string, ctx: { stats: StatsStore; clusterManager: ClusterManager }, statPrefix: string): RouteTable {
  const perFilterConfig = (name: string, value: any, p: string): unknown => {
    const factory = httpFilters.get(value?.['@type']);
    if (!factory?.createPerRoute) return value;
    return factory.createPerRoute(value, { clusterManager: ctx.clusterManager, stats: ctx.stats, statPrefix: `http.${statPrefix}.`, path: p, name });
  };
  return compileRouteConfiguration(rc, { path, perFilterConfig });
}

export function compileHcm(cfg: any, path: string, ctx: { stats: StatsStore; clusterManager: ClusterManager; perConnectionBufferLimit: number; server?: ServerHealth; routeConfigs?: RouteConfigProvider }): HcmConfig {
  if (!cfg.stat_prefix) throw new ConfigError('MW_CONFIG_INVALID', `${path}.stat_prefix`, 'stat_prefix is required');
  if (cfg.rds && cfg.route_config) throw new ConfigError('MW_CONFIG_INVALID', `${path}.rds`, 'set either rds or route_config, not both');
  if (!cfg.route_config && !cfg.rds) throw new ConfigError('MW_CONFIG_INVALID', `${path}.route_config`, 'a route_config (or rds) is required');
  const statPrefix: string = cfg.stat_prefix;
  let rds: { readonly current: RouteTable } | undefined;
  if (cfg.rds) {
    if (!ctx.routeConfigs) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.rds`, 'rds needs a discovery server: set dynamic_resources.ads_config in the bootstrap');
    rds = ctx.routeConfigs.subscribe(cfg.rds, `${path}.rds`, statPrefix);
  }
  const routeTable = rds ? rds.current : compileRoutes(cfg.route_config, `${path}.route_config`, ctx, statPrefix);

  const filtersCfg: any[] = cfg.http_filters ?? [];
  if (filtersCfg.length === 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.http_filters`, 'the filter chain must end with envoy.filters.http.router');
  const filters: CompiledFilter[] = [];
  filtersCfg.forEach((f, i) => {
    const fp = `${path}.http_filters[${i}]`;
    const typeUrl = f.typed_config?.['@type'];
    if (!typeUrl) throw new ConfigError('MW_CONFIG_INVALID', `${fp}.typed_config`, `filter "${f.name}" needs a typed_config with an @type`);
    const factory = httpFilters.get(typeUrl);
    if (!factory) {
      if (f.is_optional) return;
      throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', `${fp}.typed_config`, `${typeUrl} is not a supported HTTP filter`);
    }
    if (factory.terminal && i !== filtersCfg.length - 1) throw new ConfigError('MW_CONFIG_INVALID', fp, `terminal filter ${f.name} must be the last in the chain`);
    if (!factory.terminal && i === filtersCfg.length - 1) throw new ConfigError('MW_CONFIG_INVALID', fp, `the last filter must be terminal (envoy.filters.http.router), not ${f.name}`);
    filters.push({ name: f.name, create: factory.create(f.typed_config, { clusterManager: ctx.clusterManager, stats: ctx.stats, statPrefix: `http.${statPrefix}.`, path: `${fp}.typed_config`, name: f.name, server: ctx.server, perConnectionBufferLimit: ctx.perConnectionBufferLimit }) });
  });

  const loggers = (cfg.access_log ?? []).map((al: any, i: number) => buildAccessLogger(al, `${path}.access_log[${i}]`));

  const upgrades = new Map<string, boolean>();
  (cfg.upgrade_configs ?? []).forEach((u: any, i: number) => {
    if (u.filters) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.upgrade_configs[${i}].filters`, 'per-upgrade filter chains are not supported');
    upgrades.set(String(u.upgrade_type).toLowerCase(), u.enabled ?? true);
  });

  const common = cfg.common_http_protocol_options ?? {};
  // the shared HttpProtocolOptions message: the upstream pools enforce this field, downstream connections do not
  if (common.max_requests_per_connection !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.common_http_protocol_options.max_requests_per_connection`, 'max_requests_per_connection is enforced on upstream connections (a cluster\'s HttpProtocolOptions), not yet on a connection manager\'s downstream connections');
  }
  const h1 = cfg.http_protocol_options ?? {};
  const h2 = cfg.http2_protocol_options ?? {};
  const maxKb = cfg.max_request_headers_kb ?? 60;
  // IMPLEMENTATION_SPECIFIC_DEFAULT is Envoy's KEEP_UNCHANGED (no runtime override here)
  const escapedSlashesAction: EscapedSlashesAction =
    cfg.path_with_escaped_slashes_action === undefined || cfg.path_with_escaped_slashes_action === 'IMPLEMENTATION_SPECIFIC_DEFAULT' ? 'KEEP_UNCHANGED' : cfg.path_with_escaped_slashes_action;
  if (maxKb < 1 || maxKb > 8192) throw new ConfigError('MW_CONFIG_INVALID', `${path}.max_request_headers_kb`, 'must be between 1 and 8192');
  const config: HcmConfig = {
    statPrefix,
    stats: makeStats(ctx.stats, statPrefix),
    codecType: cfg.codec_type ?? 'AUTO',
    routeTable,
    filters,
    accessLoggers: loggers,
    useRemoteAddress: cfg.use_remote_address ?? false,
    isInternalAddress: compileInternalAddressConfig(cfg.internal_address_config, `${path}.internal_address_config`),
    xffNumTrustedHops: cfg.xff_num_trusted_hops ?? 0,
    skipXffAppend: cfg.skip_xff_append ?? false,
    ...compileXfcc(cfg, path),
    via: cfg.via || undefined,
    serverName: cfg.server_name || 'meshwork',
    serverHeaderTransformation: cfg.server_header_transformation ?? 'OVERWRITE',
    generateRequestId: cfg.generate_request_id ?? true,
    preserveExternalRequestId: cfg.preserve_external_request_id ?? false,
    alwaysSetRequestIdInResponse: cfg.always_set_request_id_in_response ?? false,
    maxRequestHeadersKb: maxKb,
    maxHeadersCount: common.max_headers_count ?? 100,
    requestTimeoutMs: cfg.request_timeout ?? 0,
    requestHeadersTimeoutMs: cfg.request_headers_timeout ?? 0,
    streamIdleTimeoutMs: cfg.stream_idle_timeout ?? 300_000,
    idleTimeoutMs: common.idle_timeout ?? 3_600_000,
    maxConnectionDurationMs: common.max_connection_duration ?? 0,
    maxStreamDurationMs: common.max_stream_duration ?? 0,
    drainTimeoutMs: cfg.drain_timeout ?? 5000,
    delayedCloseTimeoutMs: cfg.delayed_close_timeout ?? 1000,
    upgrades,
    normalizePath: cfg.normalize_path ?? false,
    mergeSlashes: cfg.merge_slashes ?? false,
    escapedSlashesAction,
    transformsPath: (cfg.normalize_path ?? false) || (cfg.merge_slashes ?? false) || escapedSlashesAction !== 'KEEP_UNCHANGED',
    headersWithUnderscores: common.headers_with_underscores_action ?? 'ALLOW',
    http2: {
      maxConcurrentStreams: h2.max_concurrent_streams ?? 2147483647,
      initialStreamWindowSize: h2.initial_stream_window_size ?? 268435456,
      initialConnectionWindowSize: h2.initial_connection_window_size ?? 268435456,
    },
    acceptHttp10: h1.accept_http_10 ?? false,
    allowAbsoluteUrl: h1.allow_absolute_url ?? true,
    defaultHostForHttp10: h1.default_host_for_http_10 || undefined,
    perConnectionBufferLimit: ctx.perConnectionBufferLimit,
  };
  // RDS: the table is looked up through the shared handle on every request (one property read)
  if (rds) Object.defineProperty(config, 'routeTable', { get: () => rds.current, enumerable: true });
  return Object.freeze(config);
}

export function buildAccessLogger(al: any, path: string): AccessLogger {
  const keep = al.filter ? compileAccessLogFilter(al.filter, `${path}.filter`) : undefined;
  const typeUrl = al.typed_config?.['@type'];
  const factory = typeUrl ? accessLoggers.get(typeUrl) : undefined;
  if (!factory) throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', `${path}.typed_config`, `${typeUrl ?? al.name} is not a supported access logger`);
  const inner = factory(al.typed_config, { path: `${path}.typed_config` });
  if (!keep) return inner;
  return {
    log(info) {
      if (keep(info)) inner.log(info);
    },
    close: () => inner.close(),
  };
}

const XFCC_MODES: readonly XfccMode[] = ['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'];

/** forward_client_cert_details and set_current_client_cert_details. */
function compileXfcc(cfg: any, path: string): Pick<HcmConfig, 'xfcc' | 'xfccDetails'> {
  const mode: XfccMode = cfg.forward_client_cert_details ?? 'SANITIZE';
  if (!XFCC_MODES.includes(mode)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.forward_client_cert_details`, `must be one of ${XFCC_MODES.join(', ')}`);
  const d = cfg.set_current_client_cert_details ?? {};
  return { xfcc: mode, xfccDetails: { subject: d.subject === true, uri: d.uri === true, dns: d.dns === true, cert: d.cert === true, chain: d.chain === true } };
}
