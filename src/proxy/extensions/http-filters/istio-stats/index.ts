// istio.stats: Istio's standard HTTP metrics, with Istio's names and labels, so that existing Grafana dashboards
// and alerts read a Meshwork mesh unchanged:
//   istio_requests_total (counter), istio_request_duration_milliseconds, istio_request_bytes and
//   istio_response_bytes (histograms, Istio's buckets),
// labelled reporter, source_* / destination_* (workload, namespace, principal, app, version, canonical service
// and revision, cluster), destination_service(_name, _namespace), request_protocol, response_code,
// grpc_response_status, response_flags, connection_security_policy. They are rendered by /stats/prometheus.
//
// Peer metadata travels as Istio's HTTP metadata exchange does: the side that sends a request adds
// x-envoy-peer-metadata (base64 of a serialized google.protobuf.Struct: NAME, NAMESPACE, WORKLOAD_NAME,
// CLUSTER_ID, LABELS) and x-envoy-peer-metadata-id; the server side reads and removes them from the request and
// answers with its own on the response, which the client side reads and removes. So a request is labelled with
// both workloads by both sidecars (reporter "source" on the client's, "destination" on the server's), and the
// headers never reach an application. Istio splits this into two filters (istio.metadata_exchange, istio.stats)
// configured from the node metadata; here one filter does both, and its config (written as a TypedStruct of
// type stats.PluginConfig, since Envoy's API has no such message) carries the local workload:
//   reporter: SOURCE | DESTINATION
//   workload, namespace, cluster, labels: this workload (labels give app, version and the canonical ones)
//   service: the destination service: on DESTINATION, the service FQDN this workload serves; on a SOURCE TCP
//   chain, the service the chain carries (HTTP on SOURCE takes it from the upstream cluster)
//   exchange: false to neither send nor read the headers (default true)
// Per request the filter does a header lookup, at most one decode of a peer's header per distinct header value
// (cached), and at the end one map lookup for the series; label text is built once per distinct series.
import { compile, decodePeer, PLUGIN_CONFIG_TYPE, seriesLabels, UNKNOWN, type Compiled, type Workload } from '../../common/istio-metrics.js';
import type { FilterCallbacks, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { LabelledHistogram } from '../../../observability/stats.js';
import { formatResponseFlags } from '../../../stream-info.js';

const MD = 'x-envoy-peer-metadata';
const MD_ID = 'x-envoy-peer-metadata-id';

/** Istio's default buckets */
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** outbound|<port>|<subset>|<host> → host; any other cluster name stands for itself */
function serviceOfCluster(cluster: string | undefined): string {
  if (!cluster) return 'unknown';
  if (cluster.startsWith('outbound|') || cluster.startsWith('inbound|')) {
    const host = cluster.slice(cluster.lastIndexOf('|') + 1);
    return host || 'unknown';
  }
  return cluster;
}

/** The counters of one series, by the key onDestroy builds */
type Series = Map<string, { requests: { value: number }; duration: LabelledHistogram; reqBytes: LabelledHistogram; resBytes: LabelledHistogram }>;

class IstioStatsFilter implements HttpFilter {
  private peer: Workload = UNKNOWN;
  private grpc = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: Compiled,
    private readonly series: Series,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const ct = headers.get('content-type');
    this.grpc = ct !== undefined && ct.startsWith('application/grpc');
    // the server side learns its peer from the request; the client side tells it who it is
    this.exchange(headers, this.c.reporter === 'destination');
    return 'continue';
  }

  encodeHeaders(headers: HeaderMap): FilterStatus {
    this.exchange(headers, this.c.reporter === 'source');
    return 'continue';
  }

  /** Read the peer's metadata from `headers` (and take it off them), or add ours. */
  private exchange(headers: HeaderMap, read: boolean): void {
    const c = this.c;
    if (read) {
      const h = headers.get(MD);
      if (h !== undefined) this.peer = decodePeer(h);
      headers.remove(MD);
      headers.remove(MD_ID);
    } else if (c.header !== undefined) {
      headers.set(MD, c.header);
      headers.set(MD_ID, c.headerId);
    }
  }

  onDestroy(): void {
    const c = this.c;
    const info = this.cb.streamInfo;
    const code = info.responseCode ?? 0;
    const flags = formatResponseFlags(info.responseFlags);
    let grpcStatus = '';
    if (this.grpc) grpcStatus = info.responseTrailers?.get('grpc-status') ?? info.responseHeaders?.get('grpc-status') ?? '';
    const tls = c.reporter === 'destination' ? info.downstreamTls : info.upstreamTls;
    const peerPrincipal = tls?.peerUriSan?.[0] ?? 'unknown';
    const localPrincipal = tls?.localUriSan?.[0] ?? 'unknown';
    const mtls = c.reporter === 'destination' ? (tls?.peerCertificateValidated ? 'mutual_tls' : 'none') : 'unknown';
    const service = c.reporter === 'destination' ? (c.service ?? 'unknown') : serviceOfCluster(info.upstreamCluster);
    const key = `${this.peer === UNKNOWN ? '' : `${this.peer.workload}.${this.peer.namespace}.${this.peer.version}`}|${peerPrincipal}|${localPrincipal}|${mtls}|${service}|${code}|${flags}|${grpcStatus}|${this.grpc ? 1 : 0}`;
    let s = this.series.get(key);
    if (!s) {
      const labels = this.labels(service, code, flags, grpcStatus, peerPrincipal, localPrincipal, mtls);
      s = {
        requests: c.stats.labelledCounter('istio_requests_total', labels),
        duration: c.stats.labelledHistogram('istio_request_duration_milliseconds', DURATION_BUCKETS, labels),
        reqBytes: c.stats.labelledHistogram('istio_request_bytes', BYTES_BUCKETS, labels),
        resBytes: c.stats.labelledHistogram('istio_response_bytes', BYTES_BUCKETS, labels),
      };
      this.series.set(key, s);
    }
    s.requests.value++;
    s.duration.record(info.elapsed());
    s.reqBytes.record(info.bytesReceived);
    s.resBytes.record(info.bytesSent);
  }

  private labels(service: string, code: number, flags: string, grpcStatus: string, peerPrincipal: string, localPrincipal: string, mtls: string): string {
    return seriesLabels(this.c, this.peer, { service, protocol: this.grpc ? 'grpc' : 'http', code: String(code), flags, grpcStatus, peerPrincipal, localPrincipal, mtls });
  }
}

export const istioStatsFilter: HttpFilterFactory = {
  typeUrls: [PLUGIN_CONFIG_TYPE],
  create(config, ctx) {
    const c = compile(config ?? {}, ctx.path, ctx.stats);
    const series: Series = new Map();
    return (cb) => new IstioStatsFilter(cb, c, series);
  },
};
