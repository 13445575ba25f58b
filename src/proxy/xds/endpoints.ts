// EDS on the proxy side: ClusterLoadAssignments by service name, as delivered. EDS clusters
// (extensions/clusters/eds) watch their entry and turn each assignment into hosts. The last assignment stays
// cached while some cluster wants the name, so a cluster replaced by CDS (same service name) starts with the
// hosts it had instead of warming again.
import net from 'node:net';
import { ConfigError } from '../../common/errors.js';
import type { StatsStore } from '../observability/stats.js';
import type { EndpointSource } from '../upstream/cluster.js';
import { endpointSpecs, type EndpointSpec } from '../upstream/endpoints.js';
import { NO_DISCOVERY, ResourceSet, subscriptionStats, type SourceResolver, type SubscriptionStats } from './watched.js';

/** The name an EDS cluster asks for: eds_cluster_config.service_name, else the cluster's name. */
export function edsServiceName(cluster: any): string {
  return cluster.eds_cluster_config?.service_name || cluster.name;
}

export class EndpointRegistry implements EndpointSource {
  /** decoded ClusterLoadAssignments by cluster_name */
  readonly entries = new ResourceSet<any>((w) => this.statsOf(w.name).init_fetch_timeout.inc());
  resolver: SourceResolver = NO_DISCOVERY;
  private readonly stats = new Map<string, SubscriptionStats>();
  /** service name → the cluster whose stats scope counts its updates (Envoy: cluster.<name>.update_*) */
  private readonly statNames = new Map<string, string>();

  constructor(private readonly store: StatsStore) {}

  /** Check an EDS cluster's eds_cluster_config; throws ConfigError (used before a CDS update is accepted). */
  check(cluster: any, path: string): string {
    const eds = cluster.eds_cluster_config;
    if (!eds?.eds_config) throw new ConfigError('MW_CONFIG_INVALID', `${path}.eds_cluster_config.eds_config`, 'an EDS cluster needs eds_cluster_config.eds_config');
    this.resolver(eds.eds_config, `${path}.eds_cluster_config.eds_config`);
    return edsServiceName(cluster);
  }

  watch(cluster: any, path: string, onAssignment: (cla: any) => void): { ready: Promise<void>; stop(): void } {
    const name = this.check(cluster, path);
    this.statNames.set(name, cluster.alt_stat_name || cluster.name);
    const entry = this.entries.want(name, this.resolver(cluster.eds_cluster_config.eds_config, `${path}.eds_cluster_config.eds_config`));
    const stop = entry.watch(onAssignment);
    return { ready: entry.ready, stop };
  }

  /** cluster.<name>.update_attempt / update_success / update_rejected / update_empty for EDS updates */
  statsOf(name: string): SubscriptionStats {
    let s = this.stats.get(name);
    if (!s) {
      s = subscriptionStats(this.store.scope(`cluster.${this.statNames.get(name) ?? name}.`));
      this.stats.set(name, s);
    }
    return s;
  }
}

/**
 * A delivered assignment's endpoints, validated: each needs an IP address and a port (EDS never resolves
 * names). Errors name the field inside the ClusterLoadAssignment (`path`.endpoints[i].lb_endpoints[j]...).
 */
export function assignmentSpecs(cla: any, path: string): EndpointSpec[] {
  const base = '\u0000';
  const local = (p: string) => path + p.slice(base.length + '.load_assignment'.length);
  let specs: EndpointSpec[];
  try {
    specs = endpointSpecs({ load_assignment: cla }, base);
  } catch (err) {
    if (err instanceof ConfigError && err.path.startsWith(base)) throw new ConfigError(err.code, local(err.path), err.message.slice(err.path.length + 2));
    throw err;
  }
  for (const s of specs) {
    s.path = local(s.path);
    if (net.isIP(s.address) === 0) throw new ConfigError('MW_CONFIG_INVALID', `${s.path}.endpoint.address.socket_address.address`, `"${s.address}" is not an IP address (EDS endpoints are not resolved)`);
  }
  return specs;
}
