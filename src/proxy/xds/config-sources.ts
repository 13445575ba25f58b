// The bootstrap's dynamic_resources, read once: which discovery streams the proxy opens (ads_config, and any
// api_config_source a ConfigSource names) and how every ConfigSource (lds_config, cds_config, rds.config_source,
// eds_config, sds_config) maps onto one of them. Pure validation, shared by a live start and `--mode validate`.
//
// Every stream speaks ADS: an api_config_source is served over an ADS stream to the server it names (Meshwork's
// control plane, Istio and go-control-plane all serve ADS). A ConfigSource naming the same server as
// ads_config shares its stream.
import { ConfigError } from '../../common/errors.js';
import { VERSION } from '../server/version.js';
import type { SourceRef, SourceResolver } from './watched.js';

/** One discovery stream to open. */
export interface StreamSpec {
  /** 'ads' for ads_config; otherwise the api_config_source's target and flavour */
  readonly key: string;
  /** host:port (or a gRPC target URI) */
  readonly target: string;
  readonly delta: boolean;
  readonly setNodeOnFirstMessageOnly: boolean;
  /** envoy_grpc.retry_policy.retry_back_off: the reconnect back-off (Envoy's default when absent: 500 ms, 30 s) */
  readonly backoff?: { baseMs: number; maxMs: number };
}

export interface DynamicResourcesPlan {
  /** the ads_config stream, if any */
  readonly ads: StreamSpec | undefined;
  readonly lds: SourceRef | undefined;
  readonly cds: SourceRef | undefined;
  /** every stream a ConfigSource resolved to so far, by key (a resolver call may add one) */
  readonly streams: Map<string, StreamSpec>;
  readonly resolve: SourceResolver;
}

/** Envoy's default ConfigSource.initial_fetch_timeout */
const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** Whether the proxy discovers anything: dynamic_resources, or static resources naming an api_config_source
 *  (Istio's bootstrap: static listeners and clusters whose certificates come from the agent's SDS socket). */
export function needsDiscovery(bootstrap: any): boolean {
  return bootstrap.dynamic_resources !== undefined || JSON.stringify(bootstrap.static_resources ?? {}).includes('"api_config_source"');
}

/** Reads bootstrap.dynamic_resources; throws ConfigError naming the field. */
export function planDynamicResources(bootstrap: any): DynamicResourcesPlan {
  const dr = bootstrap.dynamic_resources ?? {};
  const staticClusters: any[] = bootstrap.static_resources?.clusters ?? [];
  const streams = new Map<string, StreamSpec>();
  const ads = dr.ads_config ? streamSpec(dr.ads_config, 'dynamic_resources.ads_config', staticClusters, 'ads') : undefined;
  if (ads) streams.set('ads', ads);

  const resolve: SourceResolver = (cs, path) => {
    const timeout = cs?.initial_fetch_timeout ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    if (cs?.ads !== undefined || cs?.self !== undefined) {
      if (!ads) throw new ConfigError('MW_CONFIG_INVALID', `${path}.${cs.ads !== undefined ? 'ads' : 'self'}`, 'this config source uses the ADS stream, but the bootstrap has no dynamic_resources.ads_config');
      return { key: 'ads', initialFetchTimeoutMs: timeout };
    }
    if (cs?.api_config_source) {
      const spec = streamSpec(cs.api_config_source, `${path}.api_config_source`, staticClusters);
      // the same server and flavour as ads_config: one stream serves both
      const key = ads && ads.target === spec.target && ads.delta === spec.delta ? 'ads' : spec.key;
      if (!streams.has(key)) streams.set(key, spec);
      return { key, initialFetchTimeoutMs: timeout };
    }
    throw new ConfigError('MW_CONFIG_INVALID', path, 'a config source needs ads, self or api_config_source');
  };
  return {
    ads,
    lds: dr.lds_config ? resolve(dr.lds_config, 'dynamic_resources.lds_config') : undefined,
    cds: dr.cds_config ? resolve(dr.cds_config, 'dynamic_resources.cds_config') : undefined,
    streams,
    resolve,
  };
}

function streamSpec(acs: any, path: string, staticClusters: any[], key?: string): StreamSpec {
  const type = acs.api_type;
  if (type !== 'GRPC' && type !== 'DELTA_GRPC' && type !== 'AGGREGATED_GRPC' && type !== 'AGGREGATED_DELTA_GRPC') {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.api_type`, `${type ?? 'an unset api_type'} is not supported; use GRPC or DELTA_GRPC`);
  }
  const delta = type === 'DELTA_GRPC' || type === 'AGGREGATED_DELTA_GRPC';
  const services: any[] = acs.grpc_services ?? [];
  if (services.length === 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.grpc_services`, 'a gRPC config source needs grpc_services');
  const target = grpcTarget(services[0], `${path}.grpc_services[0]`, staticClusters);
  const backoff = retryBackoff(services[0], `${path}.grpc_services[0]`);
  return { key: key ?? `${delta ? 'delta' : 'sotw'}|${target}`, target, delta, setNodeOnFirstMessageOnly: acs.set_node_on_first_message_only === true, ...(backoff && { backoff }) };
}

/** EnvoyGrpc.retry_policy.retry_back_off, as Envoy reads it for xDS streams: max_interval defaults to ten times
 *  base_interval and may not be below it. Durations are decoded to ms. */
function retryBackoff(gs: any, path: string): { baseMs: number; maxMs: number } | undefined {
  const b = gs.envoy_grpc?.retry_policy?.retry_back_off;
  if (!b) return undefined;
  const baseMs: number = b.base_interval;
  const maxMs: number = b.max_interval ?? baseMs * 10;
  if (maxMs < baseMs) throw new ConfigError('MW_CONFIG_INVALID', `${path}.envoy_grpc.retry_policy.retry_back_off.max_interval`, 'max_interval must be at least base_interval');
  return { baseMs, maxMs };
}

/** envoy_grpc: the first endpoint of a static cluster (it must be known before any discovery); google_grpc: its target_uri. */
function grpcTarget(gs: any, path: string, staticClusters: any[]): string {
  if (gs.google_grpc) return gs.google_grpc.target_uri;
  const name = gs.envoy_grpc?.cluster_name;
  if (!name) throw new ConfigError('MW_CONFIG_INVALID', path, 'a gRPC service needs envoy_grpc or google_grpc');
  const p = `${path}.envoy_grpc.cluster_name`;
  const c = staticClusters.find((x) => x.name === name);
  if (!c) throw new ConfigError('MW_CONFIG_REFERENCE', p, `"${name}" is not a cluster of static_resources.clusters (the discovery server's cluster must be static)`);
  if (c.transport_socket) throw new ConfigError('MW_CONFIG_UNSUPPORTED', p, `cluster "${name}" uses a transport socket; TLS to the discovery server is not supported`);
  const address = c.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address;
  // a pipe: Istio's sds-grpc cluster (the agent's SDS socket) is one
  if (address?.pipe?.path) return `unix:${address.pipe.path}`;
  const sa = address?.socket_address;
  if (!sa?.address || sa.port_value === undefined) throw new ConfigError('MW_CONFIG_INVALID', p, `static cluster "${name}" has no endpoint with an address and port_value, or a pipe`);
  return sa.address.includes(':') ? `[${sa.address}]:${sa.port_value}` : `${sa.address}:${sa.port_value}`;
}

/** The node identity the proxy sends, in proto3 JSON (metadata as plain JSON), with Meshwork as the user agent. */
export function nodeJson(node: any): Record<string, unknown> {
  return {
    ...(node?.id ? { id: node.id } : {}),
    ...(node?.cluster ? { cluster: node.cluster } : {}),
    ...(node?.metadata ? { metadata: node.metadata } : {}),
    ...(node?.locality ? { locality: node.locality } : {}),
    user_agent_name: 'meshwork',
    user_agent_version: VERSION,
  };
}
