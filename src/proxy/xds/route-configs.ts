// RDS on the proxy side: route configurations by name, each compiled once per update (with the same
// compileRoutes the inline route_config uses) and shared by every connection manager that names it. An HCM holds
// a handle and reads `current` per request; until the first RouteConfiguration arrives (or after its initial
// fetch timed out with nothing), `current` routes nothing, so requests get 404 NR as in Envoy.
import { ConfigError } from '../../common/errors.js';
import { compileRoutes, type RouteConfigProvider } from '../http/conn-manager-config.js';
import type { StatsStore } from '../observability/stats.js';
import { compileRouteConfiguration, type RouteTable } from '../router/route-table.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import { NO_DISCOVERY, ResourceSet, subscriptionStats, type SourceResolver, type SubscriptionStats, type Watched } from './watched.js';

export interface RouteConfigValue {
  /** the decoded RouteConfiguration, for /config_dump */
  readonly config: any;
  readonly table: RouteTable;
}

/** routes nothing: Envoy's answer while a listener's RDS config is missing is 404 with NR */
const NO_ROUTES = compileRouteConfiguration({});

export class RouteConfigRegistry implements RouteConfigProvider {
  readonly entries = new ResourceSet<RouteConfigValue>((w) => this.statsOf(w.name).init_fetch_timeout.inc());
  resolver: SourceResolver = NO_DISCOVERY;
  /** stat_prefix of the first connection manager that named each route configuration (Envoy's RDS stats scope) */
  private readonly statPrefixes = new Map<string, string>();
  private readonly stats = new Map<string, SubscriptionStats>();

  constructor(private readonly ctx: { stats: StatsStore; clusterManager: ClusterManager }) {}

  subscribe(rds: { config_source?: any; route_config_name?: string }, path: string, statPrefix: string): { readonly current: RouteTable } {
    const name = rds.route_config_name;
    if (!name) throw new ConfigError('MW_CONFIG_INVALID', `${path}.route_config_name`, 'route_config_name is required');
    if (!rds.config_source) throw new ConfigError('MW_CONFIG_INVALID', `${path}.config_source`, 'config_source is required');
    const entry = this.entries.want(name, this.resolver(rds.config_source, `${path}.config_source`));
    if (!this.statPrefixes.has(name)) this.statPrefixes.set(name, statPrefix);
    return handle(entry);
  }

  /** Validate and compile one delivered RouteConfiguration (decoded); throws ConfigError naming the field. */
  compile(config: any, path: string): RouteConfigValue {
    const table = compileRoutes(config, path, this.ctx, this.statPrefixes.get(config.name) ?? 'rds');
    return { config, table };
  }

  /** http.<stat_prefix>.rds.<route_config_name>.* */
  statsOf(name: string): SubscriptionStats {
    let s = this.stats.get(name);
    if (!s) {
      s = subscriptionStats(this.ctx.stats.scope(`http.${this.statPrefixes.get(name) ?? 'rds'}.rds.${name}.`));
      this.stats.set(name, s);
    }
    return s;
  }
}

function handle(entry: Watched<RouteConfigValue>): { readonly current: RouteTable } {
  return {
    get current() {
      return entry.value?.table ?? NO_ROUTES;
    },
  };
}
