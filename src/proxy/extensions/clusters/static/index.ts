// STATIC clusters: the hosts are the IP literals (or pipe paths) listed in load_assignment.
import net from 'node:net';
import { ConfigError } from '../../../../common/errors.js';
import type { ClusterTypeFactory } from '../../../upstream/cluster.js';
import { endpointSpecs, hostFromSpec } from '../../../upstream/endpoints.js';

export const staticCluster: ClusterTypeFactory = {
  types: ['STATIC'],
  create(config, ctx, path) {
    const specs = endpointSpecs(config, path);
    for (const s of specs) {
      if (!s.pipe && net.isIP(s.address) === 0) {
        throw new ConfigError('MW_CONFIG_INVALID', `${s.path}.endpoint.address.socket_address.address`, `"${s.address}" is not an IP address; a STATIC cluster needs IP literals (use STRICT_DNS for names)`);
      }
    }
    ctx.setHosts(specs.map((s) => hostFromSpec(s)));
    return { initialized: Promise.resolve(), stop() {} };
  },
};
