// Cluster: one upstream service as the router sees it — hosts per priority, the load balancer, the
// connection pools, the protocol and TLS options, and its stats. How hosts are found (static list, DNS, EDS)
// is a cluster-type extension (src/proxy/extensions/clusters/<kind>/) that calls `setHosts`.
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import type { Counter, Gauge, Histogram, StatsStore } from '../observability/stats.js';
import { Host } from './host.js';
import type { LbContext, LoadBalancer, LoadBalancerFactory } from './load-balancer.js';
import { Http1Pool } from './pool-http1.js';
import { Http2Pool } from './pool-http2.js';
import type { ConnPool, UpstreamTransport } from './pool.js';
import { buildUpstreamTls } from './tls-upstream.js';

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
    membership_total: s.gauge('membership_total'),
    membership_healthy: s.gauge('membership_healthy'),
    membership_change: s.counter('membership_change'),
    update_success: s.counter('update_success'),
    update_failure: s.counter('update_failure'),
    byCode: new Map(),
    scope: s,
  };
}

/** What a cluster-type extension gets: a way to publish hosts, and the cluster's config. */
export interface ClusterDiscoveryContext {
  readonly cluster: Cluster;
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
}

/** Options resolved once from the cluster config and shared by its pools. */
export interface ClusterTransport extends UpstreamTransport {
  protocol: UpstreamProtocol;
}

export class Cluster {
  readonly name: string;
  readonly config: any;
  readonly stats: ClusterStats;
  readonly transport: ClusterTransport;
  /** all hosts in config order; `byPriority[p]` holds the hosts of priority p */
  hosts: Host[] = [];
  private byPriority: Host[][] = [];
  private lbs: LoadBalancer[] = [];
  private readonly lbFactory: LoadBalancerFactory;
  private readonly pools = new Map<string, ConnPool>();
  private discovery: ClusterDiscovery | undefined;
  /** RING_HASH and MAGLEV balance on the route's hash policy; other balancers never need it computed */
  readonly usesHash: boolean;
  /** Envoy: this resource's version/update time for /config_dump */
  lastUpdated = new Date();

  constructor(config: any, lbFactory: LoadBalancerFactory, stats: StatsStore, path: string) {
    this.name = config.name;
    this.config = config;
    this.lbFactory = lbFactory;
    this.usesHash = config.lb_policy === 'RING_HASH' || config.lb_policy === 'MAGLEV';
    // build one balancer now so a bad balancer config is rejected with the config, not at the first update
    this.lbs = [lbFactory(config)];
    this.stats = makeStats(stats, this.name);
    this.transport = resolveTransport(config, path, this.stats);
  }

  startDiscovery(factory: ClusterTypeFactory, path: string): Promise<void> {
    this.discovery = factory.create(this.config, {
      cluster: this,
      setHosts: (hosts) => this.setHosts(hosts),
      updateFailed: (reason) => {
        this.stats.update_failure.inc();
        log.warn({ cluster: this.name, reason }, 'cluster update failed');
      },
    }, path);
    return this.discovery.initialized;
  }

  private setHosts(next: Host[]): void {
    const old = new Map(this.hosts.map((h) => [h.id, h]));
    const hosts: Host[] = [];
    for (const h of next) {
      const prev = old.get(h.id);
      if (prev) {
        prev.weight = h.weight;
        prev.priority = h.priority;
        prev.locality = h.locality;
        prev.metadata = h.metadata;
        prev.hostname = h.hostname;
        prev.healthy = h.healthy;
        hosts.push(prev);
        old.delete(h.id);
      } else hosts.push(h);
    }
    // Removed hosts: close their idle connections; in-flight requests finish on their connections.
    for (const gone of old.values()) {
      const pool = this.pools.get(gone.id);
      if (pool) {
        this.pools.delete(gone.id);
        pool.drain();
      }
    }
    const changed = old.size > 0 || hosts.length !== this.hosts.length || hosts.some((h, i) => this.hosts[i] !== h);
    this.hosts = hosts;
    this.rebuild();
    this.stats.update_success.inc();
    if (changed) this.stats.membership_change.inc();
    this.lastUpdated = new Date();
  }

  /** Rebuild the per-priority balancers; called on membership or health changes, never per request. */
  rebuild(): void {
    const byPriority: Host[][] = [];
    for (const h of this.hosts) (byPriority[h.priority] ??= []).push(h);
    this.byPriority = byPriority;
    const lbs: LoadBalancer[] = [];
    let healthyCount = 0;
    for (let p = 0; p < byPriority.length; p++) {
      const set = byPriority[p] ?? [];
      const healthy = set.filter((h) => h.healthy);
      healthyCount += healthy.length;
      const lb = this.lbs[p] ?? this.lbFactory(this.config);
      lb.update(healthy);
      lbs[p] = lb;
    }
    this.lbs = lbs;
    this.stats.membership_total.set(this.hosts.length);
    this.stats.membership_healthy.set(healthyCount);
  }

  /**
   * Pick a host: the first priority level that has a healthy host wins (full priority spill-over with
   * overprovisioning is the resilience issue's work). With no healthy host anywhere, Envoy's panic mode
   * balances over all hosts of priority 0.
   */
  chooseHost(ctx: LbContext | undefined): Host | null {
    const lbs = this.lbs;
    for (let p = 0; p < lbs.length; p++) {
      const h = lbs[p]!.chooseHost(ctx);
      if (h) return h;
    }
    const all = this.byPriority[0];
    if (all && all.length > 0) {
      // panic: every host unhealthy — spread over all of them
      return all[Math.floor(Math.random() * all.length)]!;
    }
    return null;
  }

  pool(host: Host): ConnPool {
    let p = this.pools.get(host.id);
    if (!p) {
      p = this.transport.protocol === 'http2' ? new Http2Pool(host, this.transport, this.stats) : new Http1Pool(host, this.transport, this.stats);
      this.pools.set(host.id, p);
    }
    return p;
  }

  /** A pool for a specific protocol (for `downstream` protocol clusters, picked per request). */
  poolFor(host: Host, protocol: 'http1' | 'http2'): ConnPool {
    if (this.transport.protocol !== 'downstream') return this.pool(host);
    const key = `${protocol}|${host.id}`;
    let p = this.pools.get(key);
    if (!p) {
      p = protocol === 'http2' ? new Http2Pool(host, this.transport, this.stats) : new Http1Pool(host, this.transport, this.stats);
      this.pools.set(key, p);
    }
    return p;
  }

  /** Stop discovery and close idle connections; in-flight requests finish (used when config replaces us). */
  drain(): void {
    this.discovery?.stop();
    for (const p of this.pools.values()) p.drain();
    this.pools.clear();
  }

  destroy(): void {
    this.discovery?.stop();
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}

function resolveTransport(config: any, path: string, stats: ClusterStats): ClusterTransport {
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
  let tls: ClusterTransport['tls'];
  const ts = config.transport_socket;
  if (ts) {
    const tc = ts.typed_config;
    if (!tc || tc['@type'] !== 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext') {
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.transport_socket`, `transport socket ${tc?.['@type'] ?? ts.name} is not supported; use envoy.transport_sockets.tls with an UpstreamTlsContext`);
    }
    tls = buildUpstreamTls(tc, { source: `${path}.transport_socket.typed_config` });
  }
  return {
    protocol,
    connectTimeoutMs: config.connect_timeout ?? 5000,
    idleTimeoutMs,
    perConnectionBufferLimit: config.per_connection_buffer_limit_bytes ?? 1024 * 1024,
    h2MaxConcurrentStreams: h2Options?.max_concurrent_streams ?? 2147483647,
    tls,
    onConnectFail: () => stats.upstream_cx_connect_fail.inc(),
  };
}
