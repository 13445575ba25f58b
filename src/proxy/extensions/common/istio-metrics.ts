// What Istio's metrics filters share (the HTTP one, http-filters/istio-stats, and the TCP one,
// network-filters/istio-stats): their config (a TypedStruct of stats.PluginConfig: reporter, this workload,
// service), the workloads Istio's peer metadata describes and its wire form (x-envoy-peer-metadata: base64 of a
// serialized google.protobuf.Struct), and the label text of a series in Istio's label order.
import { binaryToJson, jsonToBinary } from '../../../api/xds/index.js';
import { ConfigError } from '../../../common/errors.js';
import type { StatsStore } from '../../observability/stats.js';

/** A workload as the labels describe it. */
/** The type both filters are registered under (Istio's name; written as a TypedStruct) */
export const PLUGIN_CONFIG_TYPE = 'type.googleapis.com/stats.PluginConfig';

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
export function decodePeer(header: string): Workload {
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
  };
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
