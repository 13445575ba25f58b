// EDS clusters: the hosts are the endpoints of the ClusterLoadAssignment a discovery server delivers for
// eds_cluster_config.service_name (default: the cluster's name). The cluster warms until the first assignment
// arrives or the eds_config's initial_fetch_timeout expires (then it runs with no hosts: 503 UH). Each update
// goes through Cluster.setHosts, so hosts that stay keep their connections and removed hosts drain.
import { ConfigError } from '../../../../common/errors.js';
import type { ClusterTypeFactory } from '../../../upstream/cluster.js';
import { endpointSpecs, hostFromSpec } from '../../../upstream/endpoints.js';

export const edsCluster: ClusterTypeFactory = {
  types: ['EDS'],
  create(config, ctx, path) {
    if (!ctx.endpoints) throw new ConfigError('MW_CONFIG_INVALID', `${path}.type`, 'an EDS cluster needs a discovery server: set dynamic_resources.ads_config in the bootstrap');
    // assignments were validated when they were accepted (src/proxy/xds/endpoints.ts)
    const watch = ctx.endpoints.watch(config, path, (cla) => ctx.setHosts(endpointSpecs({ load_assignment: cla }, path).map((s) => hostFromSpec(s))));
    return { initialized: watch.ready, stop: watch.stop };
  },
};
