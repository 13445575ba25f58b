// ClusterManager: owns the clusters of the current config. Applying a new config keeps unchanged clusters
// (same JSON) with their pools and hosts, adds new ones and drains removed ones, so a reload never drops
// in-flight requests or warm connections.
import { ConfigError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { clusterTypes, loadBalancers } from '../extensions/registry.js';
import type { StatsStore } from '../observability/stats.js';
import { Cluster, type ClusterDeps } from './cluster.js';
import type { LoadBalancerFactory } from './load-balancer.js';

const log = logger('upstream');

/** The cluster-type registry key of a config: a custom cluster_type by its typed_config's @type (else its
 *  name, as older Envoys look it up), otherwise the DiscoveryType enum name. */
export function clusterKind(config: any): string {
  const ct = config.cluster_type;
  if (ct) return clusterTypes.get(ct.typed_config?.['@type']) ? ct.typed_config['@type'] : ct.name;
  return config.type ?? 'STATIC';
}

/** The balancer factory of a config: lb_policy from the registry, or CLUSTER_PROVIDED from the cluster type. */
export function lbFactoryOf(config: any): LoadBalancerFactory | undefined {
  const lb = config.lb_policy ?? 'ROUND_ROBIN';
  return lb === 'CLUSTER_PROVIDED' ? clusterTypes.get(clusterKind(config))?.loadBalancer : loadBalancers.get(lb);
}

export interface PreparedCluster {
  config: any;
  path: string;
  /** canonical JSON, to tell whether an update changed this cluster */
  key: string;
}

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private keys = new Map<string, string>();
  private readonly stats: StatsStore;
  /** EDS endpoints and SDS secrets for the clusters this manager builds */
  private readonly deps: ClusterDeps;

  constructor(stats: StatsStore, deps: ClusterDeps = {}) {
    this.stats = stats;
    this.deps = deps;
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** Validate cluster configs without touching the live set (phase 1 of an update). */
  static prepare(configs: any[], basePath: string): PreparedCluster[] {
    const seen = new Set<string>();
    return configs.map((config, i) => {
      const path = `${basePath}[${i}]`;
      if (!config.name) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, 'a cluster needs a name');
      if (seen.has(config.name)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, `duplicate cluster name "${config.name}"`);
      seen.add(config.name);
      const type = clusterKind(config);
      if (!clusterTypes.get(type)) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.${config.cluster_type ? 'cluster_type' : 'type'}`, `${type} is not supported`);
      const lb = config.lb_policy ?? 'ROUND_ROBIN';
      if (!lbFactoryOf(config)) {
        throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.lb_policy`, lb === 'CLUSTER_PROVIDED' ? `${type} clusters do not provide a load balancer` : `${lb} is not supported`);
      }
      return { config, path, key: JSON.stringify(config) };
    });
  }

  /**
   * Build every new or changed cluster first (so that a bad one throws before anything changes), then swap.
   * Resolves when the new clusters have their first hosts (Envoy's warming).
   */
  async apply(prepared: PreparedCluster[]): Promise<void> {
    const next = new Map<string, Cluster>();
    const started: { cluster: Cluster; path: string; type: string }[] = [];
    try {
      for (const p of prepared) {
        const existing = this.clusters.get(p.config.name);
        if (existing && this.keys.get(p.config.name) === p.key) {
          next.set(p.config.name, existing);
          continue;
        }
        const c = new Cluster(p.config, lbFactoryOf(p.config)!, this.stats, p.path, this.deps);
        next.set(p.config.name, c);
        started.push({ cluster: c, path: p.path, type: clusterKind(p.config) });
      }
      const warm = started.map((s) => s.cluster.startDiscovery(clusterTypes.get(s.type)!, s.path));
      await Promise.all(warm);
    } catch (err) {
      for (const s of started) s.cluster.destroy();
      throw err;
    }
    const old = this.clusters;
    this.clusters = next;
    this.keys = new Map(prepared.map((p) => [p.config.name, p.key]));
    for (const [name, c] of old) {
      if (next.get(name) !== c) {
        log.info({ cluster: name }, 'cluster removed or replaced; draining');
        c.drain();
      }
    }
  }

  destroy(): void {
    for (const c of this.clusters.values()) c.destroy();
    this.clusters.clear();
  }
}
