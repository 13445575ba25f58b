// LOGICAL_DNS: one logical host whose address is the first DNS answer, re-resolved every dns_refresh_rate;
// existing connections stay on the address they were opened to (Envoy's semantics for large web services).
import { ConfigError } from '../../../../common/errors.js';
import type { ClusterTypeFactory } from '../../../upstream/cluster.js';
import { endpointSpecs, hostFromSpec, refusePipes } from '../../../upstream/endpoints.js';
import { lookupFamily, refreshLoop, refreshRate, resolveName } from '../dns.js';

export const logicalDnsCluster: ClusterTypeFactory = {
  types: ['LOGICAL_DNS'],
  create(config, ctx, path) {
    const specs = endpointSpecs(config, path);
    refusePipes(specs, 'LOGICAL_DNS');
    if (specs.length !== 1) {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}.load_assignment`, 'LOGICAL_DNS clusters must have exactly one endpoint');
    }
    const s = specs[0]!;
    const family = lookupFamily(config);
    const rate = refreshRate(config);
    // (loop is read only after the first await, when refreshLoop has returned)
    const loop = refreshLoop(rate, async () => {
      try {
        const addrs = await resolveName(s.address, family);
        if (addrs.length > 0 && !loop.stopped()) ctx.setHosts([hostFromSpec(s, addrs[0]!, s.hostname ?? s.address)]);
      } catch (err) {
        ctx.updateFailed(`cannot resolve "${s.address}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    });
    return loop;
  },
};
