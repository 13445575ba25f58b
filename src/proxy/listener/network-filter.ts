// Network (L4) filters, after Envoy's ReadFilter chain: each filter of a filter chain sees a new connection
// in order; a non-terminal filter calls `next()` to pass it on (or closes it), and the terminal filter (the
// HTTP connection manager, tcp_proxy) takes the connection over.
import type net from 'node:net';
import type { StatsStore } from '../observability/stats.js';
import type { TlsInfo } from '../stream-info.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';

export interface DownstreamConnectionContext {
  readonly socket: net.Socket; // a TLSSocket after termination
  readonly id: number;
  readonly peer: string; // "ip:port"
  readonly local: string;
  readonly tls: TlsInfo | undefined;
  readonly sni: string | undefined;
  /** ALPN chosen during TLS termination ('h2', 'http/1.1'), or undefined */
  readonly alpn: string | undefined;
  /** Register what to do when the listener drains this connection (config change, shutdown). `listenerAccepting`
   * is true for an in-place listener update, where clients keep connecting and an idle connection may wait. */
  setDrainHandler(h: { drain(listenerAccepting?: boolean): void; activeStreams(): number }): void;
  /** Called by the terminal filter when it is done with the connection. */
  closed(): void;
  /** the connection's dynamic metadata, by filter namespace: what one network filter tells the next (network RBAC's
   *  shadow result, which gates ext_authz); created by the first writer */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined;
}

export interface NetworkFilterContext {
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  readonly path: string;
  /** the listener's per_connection_buffer_limit_bytes (default 1 MiB) */
  readonly perConnectionBufferLimit: number;
  /** the server's health (/healthcheck/fail), passed on to HTTP filters */
  readonly server?: import('../server/server-health.js').ServerHealth;
  /** route tables delivered by RDS, for an HTTP connection manager with `rds` */
  readonly routeConfigs?: import('../http/conn-manager-config.js').RouteConfigProvider;
}

export interface NetworkFilter {
  readonly terminal: boolean;
  /** an HTTP connection manager's compiled config, for the admin /why explanation */
  readonly http?: import('../http/conn-manager-config.js').HcmConfig;
  onConnection(conn: DownstreamConnectionContext, next: () => void): void;
  /** release compiled resources when the config that built it is replaced (e.g. access log files) */
  close?(): Promise<void>;
}

export interface NetworkFilterFactory {
  readonly typeUrls: readonly string[];
  create(config: any, ctx: NetworkFilterContext): NetworkFilter;
}
