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
//   service: DESTINATION only: the service FQDN this workload serves (destination_service)
//   exchange: false to neither send nor read the headers (default true)
// Per request the filter does a header lookup, at most one decode of a peer's header per distinct header value
// (cached), and at the end one map lookup for the series; label text is built once per distinct series.
import { jsonToBinary, binaryToJson } from '../../../../api/xds/index.js';
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterStatus, HttpFilter, HttpFilterFactory } from '../../../http/filter.js';
import type { HeaderMap } from '../../../http/headers.js';
import type { StatsStore } from '../../../observability/stats.js';
import { formatResponseFlags } from '../../../stream-info.js';

const TYPE = 'type.googleapis.com/stats.PluginConfig';
const MD = 'x-envoy-peer-metadata';
const MD_ID = 'x-envoy-peer-metadata-id';

/** Istio's default buckets */
const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000];

/** A workload as the labels describe it. */
export interface Workload {
  workload: string;
  namespace: string;
  app: string;
  version: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
}

export const UNKNOWN: Workload = Object.freeze({ workload: 'unknown', namespace: 'unknown', app: 'unknown', version: 'unknown', canonicalService: 'unknown', canonicalRevision: 'latest', cluster: 'unknown' });

function workloadOf(name: string, namespace: string, cluster: string, labels: Record<string, unknown>): Workload {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const app = str(labels.app) ?? str(labels['app.kubernetes.io/name']);
  const version = str(labels.version) ?? str(labels['app.kubernetes.io/version']);
  return {
    workload: name || 'unknown',
    namespace: namespace || 'unknown',
    app: app ?? 'unknown',
    version: version ?? 'unknown',
    canonicalService: str(labels['service.istio.io/canonical-name']) ?? app ?? (name || 'unknown'),
    canonicalRevision: str(labels['service.istio.io/canonical-revision']) ?? version ?? 'latest',
    cluster: cluster || 'unknown',
  };
}

/** The peer metadata header a workload sends (Istio's wire format). */
function encodePeer(name: string, namespace: string, cluster: string, labels: Record<string, string>): string {
  const struct = { NAME: name, NAMESPACE: namespace, WORKLOAD_NAME: name, CLUSTER_ID: cluster, LABELS: labels };
  return jsonToBinary('google.protobuf.Struct', struct).toString('base64');
}

/** Decoded peers by header value: a proxy talks to few peers, so a small map (emptied when it grows) suffices. */
const peers = new Map<string, Workload>();
function decodePeer(header: string): Workload {
  let w = peers.get(header);
  if (w) return w;
  try {
    const s = binaryToJson<Record<string, unknown>>('google.protobuf.Struct', Buffer.from(header, 'base64'));
    const labels = s.LABELS && typeof s.LABELS === 'object' ? (s.LABELS as Record<string, unknown>) : {};
    w = workloadOf(String(s.WORKLOAD_NAME ?? s.NAME ?? ''), String(s.NAMESPACE ?? ''), String(s.CLUSTER_ID ?? ''), labels);
  } catch {
    w = UNKNOWN; // a header that does not decode labels nothing
  }
  if (peers.size >= 1024) peers.clear();
  peers.set(header, w);
  return w;
}

const esc = (v: string) => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

export interface Compiled {
  readonly reporter: 'source' | 'destination';
  readonly local: Workload;
  readonly header: string | undefined;
  readonly headerId: string;
  readonly service: string | undefined;
  readonly stats: StatsStore;
  /** label text by series key */
  readonly series: Map<string, { requests: { value: number }; duration: ReturnType<StatsStore['labelledHistogram']>; reqBytes: ReturnType<StatsStore['labelledHistogram']>; resBytes: ReturnType<StatsStore['labelledHistogram']> }>;
}

export function compile(config: any, path: string, stats: StatsStore): Compiled {
  const reporter = config.reporter ?? 'SOURCE';
  if (reporter !== 'SOURCE' && reporter !== 'DESTINATION') throw new ConfigError('MW_CONFIG_INVALID', `${path}.reporter`, 'SOURCE (a client-side proxy: outbound, gateways) or DESTINATION (a sidecar\'s inbound)');
  for (const k of ['workload', 'namespace', 'cluster', 'service']) {
    if (config[k] !== undefined && typeof config[k] !== 'string') throw new ConfigError('MW_CONFIG_INVALID', `${path}.${k}`, 'a string');
  }
  const labels = config.labels ?? {};
  if (typeof labels !== 'object' || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string')) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.labels`, 'a map of strings');
  }
  const known = new Set(['reporter', 'workload', 'namespace', 'cluster', 'labels', 'service', 'exchange', '@type']);
  for (const k of Object.keys(config)) if (!known.has(k)) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.${k}`, `unknown field ${k}`);
  const local = workloadOf(config.workload ?? '', config.namespace ?? '', config.cluster ?? '', labels);
  const exchange = config.exchange !== false;
  return {
    reporter: reporter === 'SOURCE' ? 'source' : 'destination',
    local,
    header: exchange ? encodePeer(local.workload, local.namespace, local.cluster, labels) : undefined,
    headerId: `${local.workload}.${local.namespace}`,
    service: config.service,
    stats,
    series: new Map(),
  };
}

/** outbound|<port>|<subset>|<host> → host; any other cluster name stands for itself */
function serviceOfCluster(cluster: string | undefined): string {
  if (!cluster) return 'unknown';
  if (cluster.startsWith('outbound|') || cluster.startsWith('inbound|')) {
    const host = cluster.slice(cluster.lastIndexOf('|') + 1);
    return host || 'unknown';
  }
  return cluster;
}

class IstioStatsFilter implements HttpFilter {
  private peer: Workload = UNKNOWN;
  private grpc = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly c: Compiled,
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
    let s = c.series.get(key);
    if (!s) {
      const labels = this.labels(service, code, flags, grpcStatus, peerPrincipal, localPrincipal, mtls);
      s = {
        requests: c.stats.labelledCounter('istio_requests_total', labels),
        duration: c.stats.labelledHistogram('istio_request_duration_milliseconds', DURATION_BUCKETS, labels),
        reqBytes: c.stats.labelledHistogram('istio_request_bytes', BYTES_BUCKETS, labels),
        resBytes: c.stats.labelledHistogram('istio_response_bytes', BYTES_BUCKETS, labels),
      };
      c.series.set(key, s);
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

/** The label text of one series, Istio's labels in Istio's order (the HTTP and TCP filters share it). */
export function seriesLabels(
  c: Compiled,
  peer: Workload,
  f: { service: string; protocol: string; code: string; flags: string; grpcStatus: string; peerPrincipal: string; localPrincipal: string; mtls: string },
): string {
  const [src, dst] = c.reporter === 'destination' ? [peer, c.local] : [c.local, peer];
  const [srcPrincipal, dstPrincipal] = c.reporter === 'destination' ? [f.peerPrincipal, f.localPrincipal] : [f.localPrincipal, f.peerPrincipal];
  const service = f.service;
  const dot = service.indexOf('.');
  const svcName = dot < 0 ? service : service.slice(0, dot);
  const rest = dot < 0 ? '' : service.slice(dot + 1);
  const svcNamespace = rest.includes('.svc.') || rest.endsWith('.svc') ? rest.slice(0, rest.indexOf('.')) : dst.namespace;
  const pairs: [string, string][] = [
    ['reporter', c.reporter],
    ['source_workload', src.workload],
    ['source_workload_namespace', src.namespace],
    ['source_principal', srcPrincipal],
    ['source_app', src.app],
    ['source_version', src.version],
    ['source_canonical_service', src.canonicalService],
    ['source_canonical_revision', src.canonicalRevision],
    ['source_cluster', src.cluster],
    ['destination_workload', dst.workload],
    ['destination_workload_namespace', dst.namespace],
    ['destination_principal', dstPrincipal],
    ['destination_app', dst.app],
    ['destination_version', dst.version],
    ['destination_service', service],
    ['destination_service_name', svcName],
    ['destination_service_namespace', svcNamespace],
    ['destination_canonical_service', dst.canonicalService],
    ['destination_canonical_revision', dst.canonicalRevision],
    ['destination_cluster', dst.cluster],
    ['request_protocol', f.protocol],
    ['response_code', f.code],
    ['grpc_response_status', f.grpcStatus],
    ['response_flags', f.flags],
    ['connection_security_policy', f.mtls],
  ];
  return pairs.map(([k, v]) => `${k}="${esc(v)}"`).join(',');
}

export const istioStatsFilter: HttpFilterFactory = {
  typeUrls: [TYPE],
  create(config, ctx) {
    const c = compile(config ?? {}, ctx.path, ctx.stats);
    return (cb) => new IstioStatsFilter(cb, c);
  },
};
