// istio.stats on a TCP filter chain (before tcp_proxy): Istio's TCP metrics with Istio's names and labels,
//   istio_tcp_connections_opened_total, istio_tcp_connections_closed_total,
//   istio_tcp_received_bytes_total (from the downstream), istio_tcp_sent_bytes_total (to the downstream),
// request_protocol "tcp", response_code "0". The same config as the HTTP filter (TypedStruct stats.PluginConfig);
// `service` names the destination service on both sides (the control plane writes the one the chain carries).
// Bytes are counted when the connection closes (Istio also reports long connections periodically).
//
// Not yet: the peer workload. Istio learns it on TCP through its in-band exchange (ALPN istio-peer-exchange);
// without it the peer's workload labels are "unknown", while principals come from the mTLS certificates on the
// server side.
import type { NetworkFilter, NetworkFilterFactory } from '../../../listener/network-filter.js';
import { compile, PLUGIN_CONFIG_TYPE, seriesLabels, UNKNOWN } from '../../common/istio-metrics.js';

export const istioTcpStatsFilter: NetworkFilterFactory = {
  typeUrls: [PLUGIN_CONFIG_TYPE],
  create(config, ctx): NetworkFilter {
    const c = compile(config ?? {}, ctx.path, ctx.stats);
    const service = c.service ?? 'unknown';
    const series = new Map<string, { opened: { value: number }; closed: { value: number }; received: { value: number }; sent: { value: number } }>();
    return {
      terminal: false,
      onConnection(conn, next) {
        // the server side knows the client's identity from its certificate; the client side learns nothing here
        const tls = c.reporter === 'destination' ? conn.tls : undefined;
        const peerPrincipal = tls?.peerUriSan?.[0] ?? 'unknown';
        const localPrincipal = tls?.localUriSan?.[0] ?? 'unknown';
        const mtls = c.reporter === 'destination' ? (tls?.peerCertificateValidated ? 'mutual_tls' : 'none') : 'unknown';
        const key = `${peerPrincipal}|${localPrincipal}|${mtls}`;
        let s = series.get(key);
        if (!s) {
          const labels = seriesLabels(c, UNKNOWN, { service, protocol: 'tcp', code: '0', flags: '-', grpcStatus: '', peerPrincipal, localPrincipal, mtls });
          s = {
            opened: c.stats.labelledCounter('istio_tcp_connections_opened_total', labels),
            closed: c.stats.labelledCounter('istio_tcp_connections_closed_total', labels),
            received: c.stats.labelledCounter('istio_tcp_received_bytes_total', labels),
            sent: c.stats.labelledCounter('istio_tcp_sent_bytes_total', labels),
          };
          series.set(key, s);
        }
        const counted = s;
        counted.opened.value++;
        const socket = conn.socket;
        socket.once('close', () => {
          counted.closed.value++;
          counted.received.value += socket.bytesRead;
          counted.sent.value += socket.bytesWritten;
        });
        next();
      },
    };
  },
};
