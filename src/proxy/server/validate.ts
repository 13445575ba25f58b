// `--mode validate` and the cross-resource checks shared with a live apply: everything a real start would
// reject, without binding sockets or resolving names.
import { ConfigError } from '../../common/errors.js';
import { ListenerManager, type ListenerRuntime } from '../listener/listener-manager.js';
import { compileStatsTags, StatsStore } from '../observability/stats.js';
import { Cluster } from '../upstream/cluster.js';
import { ClusterManager, lbFactoryOf } from '../upstream/cluster-manager.js';
import { needsDiscovery, planDynamicResources } from '../xds/config-sources.js';
import { EndpointRegistry } from '../xds/endpoints.js';
import { RouteConfigRegistry } from '../xds/route-configs.js';
import { SecretRegistry } from '../xds/secrets.js';

export async function validateBootstrap(bootstrap: any): Promise<void> {
  const stats = new StatsStore();
  // the registries a live proxy has, resolving config sources against dynamic_resources (nothing connects)
  const secrets = new SecretRegistry(stats);
  const endpoints = new EndpointRegistry(stats);
  const cm = new ClusterManager(stats, { endpoints, secrets });
  const routeConfigs = new RouteConfigRegistry({ stats, clusterManager: cm });
  if (needsDiscovery(bootstrap)) {
    const plan = planDynamicResources(bootstrap);
    secrets.resolver = endpoints.resolver = routeConfigs.resolver = plan.resolve;
  }
  if (bootstrap.stats_config) compileStatsTags(bootstrap.stats_config, 'stats_config');
  const lm = new ListenerManager(stats, cm, undefined, { routeConfigs, secrets });
  const sr = bootstrap.static_resources ?? {};
  secrets.setStatic(sr.secrets ?? [], 'static_resources.secrets');
  const prepared = ClusterManager.prepare(sr.clusters ?? [], 'static_resources.clusters');
  // constructing a Cluster resolves its transport (TLS files, protocol options) without connecting
  for (const p of prepared) {
    new Cluster(p.config, lbFactoryOf(p.config)!, stats, p.path, { endpoints, secrets });
    if (p.config.type === 'EDS') endpoints.check(p.config, p.path);
  }
  const names = new Set(prepared.map((p) => p.config.name));
  const compiled = (sr.listeners ?? []).map((l: any, i: number) => lm.compile(l, `static_resources.listeners[${i}]`));
  for (const rt of compiled) checkClusterRefs(rt, names);
  for (const rt of compiled) for (const c of rt.chains) for (const f of c.filters) await f.close?.();
}

/** Every cluster a static route names must exist (Envoy's validate_clusters default for inline routes). */
export function checkClusterRefs(rt: ListenerRuntime, clusters: Set<string>): void {
  const chains: any[] = [...(rt.config.filter_chains ?? []), ...(rt.config.default_filter_chain ? [rt.config.default_filter_chain] : [])];
  chains.forEach((fc, i) => {
    (fc.filters ?? []).forEach((f: any, j: number) => {
      const tc = f.typed_config;
      const base = `listener "${rt.config.name}" filter_chains[${i}].filters[${j}]`;
      if (tc?.route_config) {
        if (tc.route_config.validate_clusters === false) return;
        for (const vh of tc.route_config.virtual_hosts ?? []) {
          for (const r of vh.routes ?? []) {
            const names = r.route?.cluster ? [r.route.cluster] : (r.route?.weighted_clusters?.clusters ?? []).map((c: any) => c.name);
            for (const n of names) {
              if (!clusters.has(n)) throw new ConfigError('MW_CONFIG_REFERENCE', `${base}.route_config`, `route "${r.name ?? ''}" in virtual host "${vh.name}" names unknown cluster "${n}"`);
            }
          }
        }
      }
      // tcp_proxy clusters are not checked: Envoy looks them up per connection (the cluster may arrive later
      // by CDS) and closes a connection whose cluster is missing (downstream_cx_no_route, NC).
    });
  });
}
