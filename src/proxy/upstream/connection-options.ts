// Per-connection options of a cluster's upstream connections, compiled once from the Cluster and read by the
// pools when they open or reuse a connection:
//  - common_http_protocol_options.max_requests_per_connection (in the cluster's HttpProtocolOptions): a
//    connection that has carried this many requests is drained — HTTP/1 closes it after the response, HTTP/2
//    opens no new stream on it and closes it once its streams finish — as Envoy's pools do
//    (upstream_cx_max_requests counts them);
//  - upstream_connection_options.tcp_keepalive: SO_KEEPALIVE on every upstream socket. Node can only set the
//    idle time before the first probe (socket.setKeepAlive(true, delay) → TCP_KEEPIDLE); it has no way to set
//    TCP_KEEPINTVL or TCP_KEEPCNT without a native addon, so keepalive_interval and keepalive_probes are
//    accepted and the kernel's defaults (net.ipv4.tcp_keepalive_intvl / tcp_keepalive_probes) apply.
import type net from 'node:net';

export interface ConnectionOptions {
  /** 0: unlimited (Envoy's default) */
  readonly maxRequestsPerConnection: number;
  /** set SO_KEEPALIVE; `delayMs` 0 leaves the kernel's idle time (net.ipv4.tcp_keepalive_time) */
  readonly keepalive?: { readonly delayMs: number };
}

export const NO_CONNECTION_OPTIONS: ConnectionOptions = Object.freeze({ maxRequestsPerConnection: 0 });

/** From the decoded Cluster (wrappers are plain numbers); the decoder has already checked the types. */
export function compileConnectionOptions(config: any): ConnectionOptions {
  const common = config.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.common_http_protocol_options;
  // the Cluster's own (deprecated) field counts only when the protocol options do not set one, as in Envoy
  const max: number = common?.max_requests_per_connection ?? config.max_requests_per_connection ?? 0;
  const ka = config.upstream_connection_options?.tcp_keepalive;
  if (max === 0 && !ka) return NO_CONNECTION_OPTIONS;
  // keepalive_time is in seconds; absent (an empty TcpKeepalive), the OS default applies, as in Envoy
  return Object.freeze({ maxRequestsPerConnection: max, ...(ka ? { keepalive: Object.freeze({ delayMs: (ka.keepalive_time ?? 0) * 1000 }) } : {}) });
}

/** Apply the socket options to a new upstream socket (before or after it connects: Node queues them). */
export function applySocketOptions(socket: net.Socket, o: ConnectionOptions | undefined): void {
  if (o?.keepalive) socket.setKeepAlive(true, o.keepalive.delayMs);
}
