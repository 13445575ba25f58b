// What every builder of stage 2 shares: Istio's resource names, type URLs, and small proto3-JSON helpers.
// Every builder returns plain proto3 JSON objects (snake_case, '@type' inside typed_config), as the xDS server
// packs them (packAny) and as Envoy's config_dump shows them.
import { protoDuration } from '../model/duration.js';

export type Json = Record<string, any>;

export const TYPE = {
  HCM: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  TCP_PROXY: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  ROUTER: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  FAULT: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  UPSTREAM_TLS: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  RAW_BUFFER: 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer',
  DOWNSTREAM_TLS: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  TLS_INSPECTOR: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  HTTP_PROTOCOL_OPTIONS: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  PREVIOUS_HOSTS: 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
} as const;

/** Envoy's well-known filter names (what Istio writes). */
export const FILTER = {
  HCM: 'envoy.filters.network.http_connection_manager',
  TCP_PROXY: 'envoy.filters.network.tcp_proxy',
  ROUTER: 'envoy.filters.http.router',
  FAULT: 'envoy.filters.http.fault',
  TLS_INSPECTOR: 'envoy.filters.listener.tls_inspector',
  TLS: 'envoy.transport_sockets.tls',
} as const;

/** Istio's cluster names: "outbound|9080|v1|reviews.default.svc.cluster.local", "inbound|9080||". */
export function outboundClusterName(port: number, subset: string | undefined, hostname: string): string {
  return `outbound|${port}|${subset ?? ''}|${hostname}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** Listener names: "0.0.0.0_9080" (outbound and gateway ports, as Istio), "<ip>_<port>" (a sidecar's inbound). */
export function listenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** ADS with no initial fetch timeout: Istio's config source for everything it serves. */
export const adsSource = (): Json => ({ ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' });

export function socketAddress(address: string, port: number): Json {
  return { socket_address: { address, port_value: port } };
}

/** Istio's default connect timeout (meshConfig.connectTimeout). */
export const DEFAULT_CONNECT_TIMEOUT = '10s';

export const duration = protoDuration;

/** An Istio Percent (0-100, fractional) → FractionalPercent per million, as Istio translates it. */
export function percentToFractional(value: number): Json {
  return { numerator: Math.round(value * 10_000), denominator: 'MILLION' };
}

/** An integer percent (deprecated Istio fields) → FractionalPercent per hundred. */
export function intPercentToFractional(value: number): Json {
  return { numerator: value, denominator: 'HUNDRED' };
}

export const byName = (a: Json, b: Json): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
