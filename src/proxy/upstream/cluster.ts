// Cluster: one upstream service as the router sees it — hosts per priority, the load balancer, the
// connection pools, the protocol and TLS options, and its stats. How hosts are found (static list, DNS, EDS)
// is a cluster-type extension (src/proxy/extensions/clusters/<kind>/) that calls `setHosts`.
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import type { Counter, Gauge, Histogram, StatsStore } from '../observability/stats.js';
import { CircuitBreakers, type RoutingPriority } from './circuit-breakers.js';
import { Host } from './host.js';
import type { LbContext, LoadBalancerFactory } from './load-balancer.js';
import { compileHealthChecks, HealthCheckManager } from './health-check-manager.js';
import { PrioritySet, priorityOptions } from './priority.js';
import { Http1Pool } from './pool-http1.js';
import { Http2Pool } from './pool-http2.js';
import { compileOutlierConfig, OutlierDetector, type OutlierResult } from './outlier-detection.js';
import type { ConnPool, UpstreamTransport } from './pool.js';
import { compileConnectionOptions, type ConnectionOptions } from './connection-options.js';
import { buildUpstreamTls } from './tls-upstream.js';
import { secretBackedUpstreamTls, secretRefs, type SecretSource } from '../xds/secrets.js';

const log = logger('upstream');

export type UpstreamProtocol = 'http1' | 'http2' | 'downstream';

export interface ClusterStats {
  upstream_rq_total: Counter;
  upstream_rq_completed: Counter;
  upstream_rq_1xx: Counter;
  upstream_rq_2xx: Counter;
  upstream_rq_3xx: Counter;
  upstream_rq_4xx: Counter;
  upstream_rq_5xx: Counter;
  upstream_rq_active: Gauge;
  upstream_rq_timeout: Counter;
  upstream_rq_time: Histogram;
  upstream_rq_rx_reset: Counter;
  upstream_rq_tx_reset: Counter;
  upstream_cx_total: Counter;
  upstream_cx_active: Gauge;
  upstream_cx_http1_total: Counter;
  upstream_cx_http2_total: Counter;
  upstream_cx_connect_fail: Counter;
  upstream_cx_connect_timeout: Counter;
  upstream_cx_destroy: Counter;
  upstream_cx_rx_bytes_total: Counter;
  upstream_cx_tx_bytes_total: Counter;
  upstream_cx_none_healthy: Counter;
  upstream_cx_protocol_error: Counter;
  /** connections drained because they reached max_requests_per_connection */
  upstream_cx_max_requests: Counter;
  membership_total: Gauge;
  membership_healthy: Gauge;
  membership_change: Counter;
  update_success: Counter;
  update_failure: Counter;
  /** per status code counters (upstream_rq_200 ...) made on first use; bounded by the status space */
  byCode: Map<number, Counter>;
  scope: StatsStore;
}

function makeStats(store: StatsStore, name: string): ClusterStats {
  const s = store.scope(`cluster.${name}.`);
  return {
    upstream_rq_total: s.counter('upstream_rq_total'),
    upstream_rq_completed: s.counter('upstream_rq_completed'),
    upstream_rq_1xx: s.counter('upstream_rq_1xx'),
    upstream_rq_2xx: s.counter('upstream_rq_2xx'),
    upstream_rq_3xx: s.counter('upstream_rq_3xx'),
    upstream_rq_4xx: s.counter('upstream_rq_4xx'),
    upstream_rq_5xx: s.counter('upstream_rq_5xx'),
    upstream_rq_active: s.gauge('upstream_rq_active'),
    upstream_rq_timeout: s.counter('upstream_rq_timeout'),
    upstream_rq_time: s.histogram('upstream_rq_time'),
    upstream_rq_rx_reset: s.counter('upstream_rq_rx_reset'),
    upstream_rq_tx_reset: s.counter('upstream_rq_tx_reset'),
    upstream_cx_total: s.counter('upstream_cx_total'),
    upstream_cx_active: s.gauge('upstream_cx_active'),
    upstream_cx_http1_total: s.counter('upstream_cx_http1_total'),
    upstream_cx_http2_total: s.counter('upstream_cx_http2_total'),
    upstream_cx_connect_fail: s.counter('upstream_cx_connect_fail'),
    upstream_cx_connect_timeout: s.counter('upstream_cx_connect_timeout'),
    upstream_cx_destroy: s.counter('upstream_cx_destroy'),
    upstream_cx_rx_bytes_total: s.counter('upstream_cx_rx_bytes_total'),
    upstream_cx_tx_bytes_total: s.counter('upstream_cx_tx_bytes_total'),
    upstream_cx_none_healthy: s.counter('upstream_cx_none_healthy'),
    upstream_cx_protocol_error: s.counter('upstream_cx_protocol_error'),
    upstream_cx_max_requests: s.counter('upstream_cx_max_requests'),
    membership_total: s.gauge('membership_total'),
    membership_healthy: s.gauge('membership_healthy'),
    membership_change: s.counter('membership_change'),
    update_success: s.counter('update_success'),
    update_failure: s.counter('update_failure'),
    byCode: new Map(),
    scope: s,
  };
}

/**
 * Where EDS clusters get their endpoints (src/proxy/xds/endpoints.ts): `onAssignment` is called with every
 * ClusterLoadAssignment delivered for the cluster (decoded and validated), and now if one is known; `ready`
 * settles on the first one or when the initial fetch times out. Throws ConfigError for a bad eds_cluster_config.
 */
export interface EndpointSource {
  watch(cluster: any, path: string, onAssignment: (cla: any) => void): { ready: Promise<void>; stop(): void };
}

/** What clusters need from the proxy besides their config: discovered endpoints and secrets. */
export interface ClusterDeps {
  readonly endpoints?: EndpointSource;
  readonly secrets?: SecretSource;
}

/** What a cluster-type extension gets: a way to publish hosts, and the cluster's config. */
export interface ClusterDiscoveryContext {
  readonly cluster: Cluster;
  /** EDS assignments, when the proxy has a discovery server */
  readonly endpoints?: EndpointSource;
  /** Replace the host list. Hosts that keep their id keep their object (and so their pools and counters). */
  setHosts(hosts: Host[]): void;
  /** Record a discovery failure (DNS error etc.) */
  updateFailed(reason: string): void;
}

export interface ClusterDiscovery {
  /** resolves once the first host list is known (Envoy's cluster warming); never rejects */
  readonly initialized: Promise<void>;
  stop(): void;
}

export interface ClusterTypeFactory {
  /** Cluster.DiscoveryType names handled, e.g. ['STATIC'] */
  readonly types: readonly string[];
  create(config: any, ctx: ClusterDiscoveryContext, path: string): ClusterDiscovery;
  /** the balancer of a cluster type that provides its own (lb_policy CLUSTER_PROVIDED) */
  readonly loadBalancer?: LoadBalancerFactory;
}

/** Options resolved once from the cluster config and shared by its pools. */
export interface ClusterTransport extends UpstreamTransport {
  protocol: UpstreamProtocol;
  /** max_requests_per_connection and socket options (TCP keepalive) of every upstream connection */
  conn: ConnectionOptions;
  /** transport_socket_matches, compiled (each entry's transport is this one with its own TLS) */
  matches?: TransportMatch[];
}

interface TransportMatch {
  name: string;
  match: [string, unknown][];
  transport: ClusterTransport;
}

/** A host takes traffic unless EDS, active health checking or outlier detection took it out. */
const isAvailable = (h: Host): boolean => h.healthy && !h.failedActiveHc && !h.ejected;

export class Cluster {
  readonly name: string;
  readonly config: any;
  readonly stats: ClusterStats;
  readonly transport: ClusterTransport;
  /** all hosts in config order; `byPriority[p]` holds the hosts of priority p */
  hosts: Host[] = [];
  /** priority levels, panic mode and locality weights over the available hosts (priority.ts) */
  private readonly priorities: PrioritySet;
  /** active health checking (health_checks), when configured */
  readonly healthChecker: HealthCheckManager | undefined;
  private readonly lbFactory: LoadBalancerFactory;
  private readonly pools = new Map<string, ConnPool>();
  private discovery: ClusterDiscovery | undefined;
  /** RING_HASH and MAGLEV balance on the route's hash policy; other balancers never need it computed */
  readonly usesHash: boolean;
  /** a cluster-provided balancer picks by the request (LbContext.downstreamHeaders); others never need it */
  readonly usesRequest: boolean;
  /** Envoy: this resource's version/update time for /config_dump */
  lastUpdated = new Date();
  /** circuit breakers per routing priority; the retry logic claims retries with breakers.tryRetry() */
  readonly breakers: CircuitBreakers;
  /** outlier_detection, when configured */
  readonly outlier: OutlierDetector | undefined;
  private readonly deps: ClusterDeps;
  /** the SDS secrets of the transport socket arrived (or timed out): part of warming */
  private readonly secretsReady: Promise<void> | undefined;

  constructor(config: any, lbFactory: LoadBalancerFactory, stats: StatsStore, path: string, deps: ClusterDeps = {}) {
    this.name = config.name;
    this.config = config;
    this.lbFactory = lbFactory;
    this.usesHash = config.lb_policy === 'RING_HASH' || config.lb_policy === 'MAGLEV';
    this.usesRequest = config.lb_policy === 'CLUSTER_PROVIDED';
    // build one balancer now so a bad balancer config is rejected with the config, not at the first update
    lbFactory(config);
    this.stats = makeStats(stats, this.name);
    this.deps = deps;
    const { transport, secretsReady } = resolveTransport(config, path, this.stats, deps.secrets);
    this.transport = transport;
    this.secretsReady = secretsReady;
    this.priorities = new PrioritySet(priorityOptions(config, path), lbFactory, config);
    const hc = compileHealthChecks({ name: this.name, transport: this.transport }, config.health_checks, `${path}.health_checks`);
    if (hc) {
      this.healthChecker = new HealthCheckManager({
        name: this.name,
        transport: this.transport,
        statsScope: this.stats.scope,
        hadTraffic: () => this.stats.upstream_cx_total.value > 0,
        onHealthChanged: () => this.rebuild(),
        // successful_active_health_check_uneject_host
        onCheckPassed: (h) => this.outlier?.healthCheckSucceeded(h),
      }, hc);
    }
    this.breakers = new CircuitBreakers(config.circuit_breakers, this.stats.scope);
    if (config.outlier_detection) {
      this.outlier = new OutlierDetector(compileOutlierConfig(config.outlier_detection, `${path}.outlier_detection`), this.stats.scope, () => this.rebuild());
    }
  }

  startDiscovery(factory: ClusterTypeFactory, path: string): Promise<void> {
    this.outlier?.start();
    this.discovery = factory.create(this.config, {
      cluster: this,
      endpoints: this.deps.endpoints,
      setHosts: (hosts) => this.setHosts(hosts),
      updateFailed: (reason) => {
        this.stats.update_failure.inc();
        log.warn({ cluster: this.name, reason }, 'cluster update failed');
      },
    }, path);
    // Envoy's warming: with health checks, the cluster is ready once every host had its first check
    const hc = this.healthChecker;
    const initialized = this.secretsReady ? Promise.all([this.discovery.initialized, this.secretsReady]).then(() => {}) : this.discovery.initialized;
    return hc ? initialized.then(() => hc.firstRound()) : initialized;
  }

  private setHosts(next: Host[]): void {
    const old = new Map(this.hosts.map((h) => [h.id, h]));
    const hosts: Host[] = [];
    for (const h of next) {
      const prev = old.get(h.id);
      h.transport = transportOf(this.transport, h);
      if (prev && prev.transport !== h.transport) {
        // its endpoint metadata now asks for another transport socket: new connections take it
        for (const [key, pool] of this.pools) if (pool.host === prev) (this.pools.delete(key), pool.drain());
        prev.transport = h.transport;
      }
      if (prev) {
        prev.weight = h.weight;
        prev.priority = h.priority;
        prev.locality = h.locality;
        prev.localityWeight = h.localityWeight;
        prev.metadata = h.metadata;
        prev.hostname = h.hostname;
        prev.healthy = h.healthy;
        hosts.push(prev);
        old.delete(h.id);
      } else hosts.push(h);
    }
    // Removed hosts: close their idle connections; in-flight requests finish on their connections.
    // (a host has one pool per priority and, for `downstream` clusters, per protocol: all are its)
    for (const [key, pool] of this.pools) {
      if (old.has(pool.host.id) && old.get(pool.host.id) === pool.host) {
        this.pools.delete(key);
        pool.drain();
      }
    }
    const changed = old.size > 0 || hosts.length !== this.hosts.length || hosts.some((h, i) => this.hosts[i] !== h);
    this.hosts = hosts;
    this.outlier?.setHosts(hosts);
    this.healthChecker?.updateHosts(hosts);
    this.rebuild();
    this.stats.update_success.inc();
    if (changed) this.stats.membership_change.inc();
    this.lastUpdated = new Date();
  }

  /** Rebuild the priority set; called on membership or health changes, never per request. */
  rebuild(): void {
    const byPriority: Host[][] = [];
    for (const h of this.hosts) (byPriority[h.priority] ??= []).push(h);
    this.priorities.update(byPriority, isAvailable);
    this.stats.membership_total.set(this.hosts.length);
    this.stats.membership_healthy.set(this.hosts.filter(isAvailable).length);
  }

  /**
   * Pick a host as Envoy does under failure: a priority level by the overprovisioned health of each level
   * (spilling over to the next), panic mode (all hosts of a level) below healthy_panic_threshold, locality
   * weights when configured, then the balancer. Null when no host may take the request.
   */
  chooseHost(ctx: LbContext | undefined): Host | null {
    return this.priorities.chooseHost(ctx);
  }

  /** The host's pool for a routing priority: as in Envoy, priorities never share connections, so that each
   * has its own circuit breakers. */
  pool(host: Host, priority: RoutingPriority = 'DEFAULT'): ConnPool {
    const key = priority === 'HIGH' ? `high|${host.id}` : host.id;
    let p = this.pools.get(key);
    if (!p) {
      const res = this.breakers.forPriority(priority);
      const t = host.transport ?? this.transport;
      p = t.protocol === 'http2' ? new Http2Pool(host, t, this.stats, res) : new Http1Pool(host, t, this.stats, res);
      this.pools.set(key, p);
    }
    return p;
  }

  /** A pool for a specific protocol (for `downstream` protocol clusters, picked per request). */
  poolFor(host: Host, protocol: 'http1' | 'http2', priority: RoutingPriority = 'DEFAULT'): ConnPool {
    if (this.transport.protocol !== 'downstream') return this.pool(host, priority);
    const key = `${protocol}|${priority === 'HIGH' ? 'high|' : ''}${host.id}`;
    let p = this.pools.get(key);
    if (!p) {
      const res = this.breakers.forPriority(priority);
      const t = host.transport ?? this.transport;
      p = protocol === 'http2' ? new Http2Pool(host, t, this.stats, res) : new Http1Pool(host, t, this.stats, res);
      this.pools.set(key, p);
    }
    return p;
  }

  /** The router reports each request's outcome on a host here (outlier detection's input). */
  reportResult(host: Host, result: OutlierResult): void {
    this.outlier?.putResult(host, result);
  }

  /** Stop discovery and close idle connections; in-flight requests finish (used when config replaces us). */
  drain(): void {
    this.discovery?.stop();
    this.healthChecker?.stop();
    this.outlier?.stop();
    for (const p of this.pools.values()) p.drain();
    this.pools.clear();
  }

  destroy(): void {
    this.discovery?.stop();
    this.healthChecker?.stop();
    this.outlier?.stop();
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}

function resolveTransport(config: any, path: string, stats: ClusterStats, secrets: SecretSource | undefined): { transport: ClusterTransport; secretsReady?: Promise<void> } {
  let protocol: UpstreamProtocol = 'http1';
  let idleTimeoutMs = 3_600_000; // Envoy's common_http_protocol_options.idle_timeout default: 1 h
  let h2Options: any;
  const opts = config.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  if (opts) {
    if (opts.explicit_http_config) {
      if (opts.explicit_http_config.http2_protocol_options) {
        protocol = 'http2';
        h2Options = opts.explicit_http_config.http2_protocol_options;
      }
    } else if (opts.use_downstream_protocol_config) {
      protocol = 'downstream';
      h2Options = opts.use_downstream_protocol_config.http2_protocol_options;
    } else if (opts.auto_config) {
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.typed_extension_protocol_options.auto_config`, 'auto_config (ALPN-negotiated upstream protocol) is not supported; use explicit_http_config');
    }
    if (opts.common_http_protocol_options?.idle_timeout !== undefined) idleTimeoutMs = opts.common_http_protocol_options.idle_timeout;
  } else if (config.http2_protocol_options) {
    protocol = 'http2';
    h2Options = config.http2_protocol_options;
  }
  const { tls, ready } = transportSocket(config.transport_socket, `${path}.transport_socket`, secrets);
  const waits: Promise<void>[] = ready ? [ready] : [];
  const transport: ClusterTransport = {
    protocol,
    connectTimeoutMs: config.connect_timeout ?? 5000,
    idleTimeoutMs,
    perConnectionBufferLimit: config.per_connection_buffer_limit_bytes ?? 1024 * 1024,
    h2MaxConcurrentStreams: h2Options?.max_concurrent_streams ?? 2147483647,
    conn: compileConnectionOptions(config),
    tls,
    onConnectFail: () => stats.upstream_cx_connect_fail.inc(),
  };
  // transport_socket_matches: per endpoint, the first entry whose `match` the endpoint's
  // envoy.transport_socket_match metadata satisfies (every field equal); none: transport_socket. Istio's
  // auto-mTLS is this: mTLS to endpoints labelled tlsMode=istio, plaintext to the rest.
  const matches: TransportMatch[] = (config.transport_socket_matches ?? []).map((m: any, i: number) => {
    const mpath = `${path}.transport_socket_matches[${i}]`;
    if (!m.name) throw new ConfigError('MW_CONFIG_INVALID', `${mpath}.name`, 'a transport socket match needs a name');
    const t = transportSocket(m.transport_socket, `${mpath}.transport_socket`, secrets);
    if (t.ready) waits.push(t.ready);
    return { name: m.name, match: Object.entries(m.match ?? {}), transport: { ...transport, tls: t.tls } };
  });
  if (matches.length) transport.matches = matches;
  return { transport, secretsReady: waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits).then(() => {}) };
}

/** One transport_socket: TLS (an UpstreamTlsContext) or plaintext (absent, or envoy.transport_sockets.raw_buffer). */
function transportSocket(ts: any, path: string, secrets: SecretSource | undefined): { tls?: ClusterTransport['tls']; ready?: Promise<void> } {
  if (!ts) return {};
  const tc = ts.typed_config;
  if (ts.name === 'envoy.transport_sockets.raw_buffer' && (!tc || tc['@type'] === 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer')) return {};
  if (!tc || tc['@type'] !== 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext') {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', path, `transport socket ${tc?.['@type'] ?? ts.name} is not supported; use envoy.transport_sockets.tls with an UpstreamTlsContext (or raw_buffer)`);
  }
  const opts = { source: `${path}.typed_config` };
  // a context naming secrets follows them (SDS rotation); the others are compiled once here
  if (secrets && secretRefs(tc.common_tls_context, '').length > 0) return secretBackedUpstreamTls(tc, opts, secrets);
  return { tls: buildUpstreamTls(tc, opts) };
}

/** The transport of `host`: its transport_socket_matches entry, else the cluster's. Worked out when the host
 *  arrives (setHosts), not per request. */
function transportOf(base: ClusterTransport, host: Host): ClusterTransport {
  const matches = base.matches;
  if (!matches) return base;
  const md = host.metadata?.['envoy.transport_socket_match'] as Record<string, unknown> | undefined;
  for (const m of matches) if (m.match.every(([k, v]) => md !== undefined && sameValue(md[k], v))) return m.transport;
  return base;
}

const sameValue = (a: unknown, b: unknown): boolean => a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));
