// A DestinationRule's merged traffic policy (see model/destination-rules.ts) applied to an Envoy Cluster, as
// Istio's cluster builder does: load balancer (with slow start for warmupDurationSecs), connection pool
// (circuit breakers, connect timeout, TCP keepalive, HTTP protocol options), outlier detection,
// locality-weighted balancing and client TLS.
import type { ClientTLSSettings, ConnectionPoolSettings, LoadBalancerSettings, OutlierDetection } from '../../../api/mesh/types.js';
import type { EffectivePolicy } from '../../model/destination-rules.js';
import { parseDuration, toProtoDuration } from '../../model/duration.js';
import { isHttp, isHttp2, type Protocol } from '../../model/protocol.js';
import { caSecretName, credentialSecretName } from '../../credentials/names.js';
import { adsSource, FILTER, TYPE, type Json } from '../common.js';
import { needsLocalityWeights } from '../endpoints/locality.js';

const MAX_UINT32 = 4294967295;

/** Istio's default thresholds: no limits, remaining capacity tracked. */
export function defaultThresholds(): Json {
  return { max_connections: MAX_UINT32, max_pending_requests: MAX_UINT32, max_requests: MAX_UINT32, max_retries: MAX_UINT32, track_remaining: true };
}

function applyLoadBalancer(c: Json, lb: LoadBalancerSettings | undefined): void {
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) {
      c.lb_policy = 'MAGLEV';
      if (ch.maglev.tableSize) c.maglev_lb_config = { table_size: ch.maglev.tableSize };
    } else {
      c.lb_policy = 'RING_HASH';
      c.ring_hash_lb_config = { minimum_ring_size: ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024 };
    }
    return;
  }
  // warmupDurationSecs: Envoy's slow start with only its window set (aggression 1.0, min weight 10 %), on the
  // two policies that have it, as Istio's applyRoundRobinLoadBalancer / applyLeastRequestLoadBalancer do
  const warmup = toProtoDuration(lb?.warmupDurationSecs);
  const slowStart = warmup ? { slow_start_config: { slow_start_window: warmup } } : undefined;
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      c.lb_policy = 'ROUND_ROBIN';
      if (slowStart) c.round_robin_lb_config = slowStart;
      break;
    case 'RANDOM':
      c.lb_policy = 'RANDOM';
      break;
    default:
      // UNSPECIFIED, LEAST_REQUEST, LEAST_CONN: Istio's default since 1.14. PASSTHROUGH (ORIGINAL_DST) is not
      // implemented by the Meshwork proxy and falls back to the default too.
      c.lb_policy = 'LEAST_REQUEST';
      if (slowStart) c.least_request_lb_config = slowStart;
  }
}

/** Istio's setKeepAliveSettings: an empty tcp_keepalive (SO_KEEPALIVE, the OS's timings) with the values set. */
function tcpKeepalive(ka: NonNullable<NonNullable<ConnectionPoolSettings['tcp']>['tcpKeepalive']>): Json {
  const out: Json = {};
  if (ka.probes && ka.probes > 0) out.keepalive_probes = ka.probes;
  // whole seconds, truncated, as Istio writes them
  const time = parseDuration(ka.time);
  if (time !== undefined) out.keepalive_time = Math.floor(time / 1000);
  const interval = parseDuration(ka.interval);
  if (interval !== undefined) out.keepalive_interval = Math.floor(interval / 1000);
  return out;
}

function applyConnectionPool(c: Json, pool: ConnectionPoolSettings | undefined, common: Json): void {
  const t = defaultThresholds();
  if (pool?.http) {
    const h = pool.http;
    if (h.http2MaxRequests) t.max_requests = h.http2MaxRequests;
    if (h.http1MaxPendingRequests) t.max_pending_requests = h.http1MaxPendingRequests;
    if (h.maxRetries) t.max_retries = h.maxRetries;
    const idle = toProtoDuration(h.idleTimeout);
    if (idle) common.idle_timeout = idle;
    if (h.maxRequestsPerConnection && h.maxRequestsPerConnection > 0) common.max_requests_per_connection = h.maxRequestsPerConnection;
  }
  if (pool?.tcp) {
    const tcp = pool.tcp;
    const ct = toProtoDuration(tcp.connectTimeout);
    if (ct) c.connect_timeout = ct;
    if (tcp.maxConnections) t.max_connections = tcp.maxConnections;
    const mcd = toProtoDuration(tcp.maxConnectionDuration);
    if (mcd) common.max_connection_duration = mcd;
    if (tcp.tcpKeepalive) c.upstream_connection_options = { tcp_keepalive: tcpKeepalive(tcp.tcpKeepalive) };
  }
  c.circuit_breakers = { thresholds: [t] };
}

function applyOutlierDetection(c: Json, od: OutlierDetection | undefined): void {
  if (!od) return;
  const out: Json = {};
  const base = toProtoDuration(od.baseEjectionTime);
  if (base) out.base_ejection_time = base;
  // consecutiveErrors (deprecated) counts gateway errors only (istio/api#617)
  if (od.consecutiveErrors && od.consecutiveErrors > 0) {
    out.enforcing_consecutive_gateway_failure = 100;
    out.enforcing_consecutive_5xx = 0;
    out.consecutive_gateway_failure = od.consecutiveErrors;
  }
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = od.consecutive5xxErrors;
    out.enforcing_consecutive_5xx = od.consecutive5xxErrors > 0 ? 100 : 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = od.consecutiveGatewayErrors > 0 ? 100 : 0;
  }
  const interval = toProtoDuration(od.interval);
  if (interval) out.interval = interval;
  if (od.maxEjectionPercent && od.maxEjectionPercent > 0) out.max_ejection_percent = od.maxEjectionPercent;
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (od.consecutiveLocalOriginFailures && od.consecutiveLocalOriginFailures > 0) {
      out.consecutive_local_origin_failure = od.consecutiveLocalOriginFailures;
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  c.outlier_detection = out;
  // Istio turns the panic threshold off unless minHealthPercent says otherwise: with few endpoints per
  // service, Envoy's default (50 %) would send traffic to ejected hosts.
  c.common_lb_config = { ...(c.common_lb_config ?? {}), healthy_panic_threshold: { value: od.minHealthPercent ?? 0 } };
}

/** SIMPLE / MUTUAL → an UpstreamTlsContext: certificate files, or on a gateway a `credentialName` (Istio's
 *  applyTLS: the client certificate from SDS `kubernetes://<name>` for MUTUAL, the CA from
 *  `kubernetes://<name>-cacert`, both served by the control plane's credential store; sidecars ignore it, as Istio's
 *  did before 1.20, and use the file fields). ISTIO_MUTUAL belongs to the security work (the mesh CA) and DISABLE
 *  means plaintext: both give no transport socket here. */
export function upstreamTls(tls: ClientTLSSettings | undefined, hostname: string, gateway = false): Json | undefined {
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return undefined;
  const common: Json = {};
  const credential = gateway ? tls.credentialName : undefined;
  if (credential) {
    if (tls.mode === 'MUTUAL') common.tls_certificate_sds_secret_configs = [{ name: credentialSecretName(credential), sds_config: adsSource() }];
  } else if (tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (!tls.insecureSkipVerify) {
    const sans = tls.subjectAltNames?.length ? { match_subject_alt_names: tls.subjectAltNames.map((exact) => ({ exact })) } : {};
    if (credential) {
      common.combined_validation_context = { default_validation_context: sans, validation_context_sds_secret_config: { name: caSecretName(credential), sds_config: adsSource() } };
    } else {
      common.validation_context = { ...(tls.caCertificates ? { trusted_ca: { filename: tls.caCertificates } } : { system_root_certs: {} }), ...sans };
    }
  }
  const sni = tls.sni ?? (hostname.startsWith('*') ? undefined : hostname);
  return {
    name: FILTER.TLS,
    typed_config: { '@type': TYPE.UPSTREAM_TLS, common_tls_context: common, ...(sni ? { sni } : {}) },
  };
}

/** HTTP protocol options by port protocol and connection pool (HTTP/2 upstream for HTTP2/GRPC, or on request). */
function protocolOptions(protocol: Protocol, pool: ConnectionPoolSettings | undefined, common: Json): Json | undefined {
  if (!isHttp(protocol)) return undefined;
  const h2 = isHttp2(protocol) || pool?.http?.h2UpgradePolicy === 'UPGRADE';
  const hasCommon = Object.keys(common).length > 0;
  let upstream: Json | undefined;
  if (pool?.http?.useClientProtocol) upstream = { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } };
  else if (h2) upstream = { explicit_http_config: { http2_protocol_options: {} } };
  else if (hasCommon) upstream = { explicit_http_config: { http_protocol_options: {} } };
  if (!upstream) return undefined;
  return { '@type': TYPE.HTTP_PROTOCOL_OPTIONS, ...(hasCommon ? { common_http_protocol_options: common } : {}), ...upstream };
}

/** Apply `policy` to cluster `c` of a port with `protocol`. */
export function applyTrafficPolicy(c: Json, policy: EffectivePolicy, protocol: Protocol, hostname: string, gateway = false): void {
  applyLoadBalancer(c, policy.loadBalancer);
  const common: Json = {};
  applyConnectionPool(c, policy.connectionPool, common);
  applyOutlierDetection(c, policy.outlierDetection);
  // Istio's cluster-side applyLocalityLoadBalancer: the per-locality weights EDS sends only count with
  // locality_weighted_lb_config (without it Envoy balances over all hosts of a priority alike)
  if (needsLocalityWeights(policy)) c.common_lb_config = { ...(c.common_lb_config ?? {}), locality_weighted_lb_config: {} };
  const ts = upstreamTls(policy.tls, hostname, gateway);
  if (ts) c.transport_socket = ts;
  const po = protocolOptions(protocol, policy.connectionPool, common);
  if (po) c.typed_extension_protocol_options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': po };
}
