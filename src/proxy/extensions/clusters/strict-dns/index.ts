// STRICT_DNS: every endpoint name is resolved every dns_refresh_rate; each returned address becomes a host
// (Envoy's semantics: the cluster's hosts are exactly the union of the current answers).
import type { ClusterTypeFactory } from '../../../upstream/cluster.js';
import type { Host } from '../../../upstream/host.js';
import { endpointSpecs, hostFromSpec, refusePipes } from '../../../upstream/endpoints.js';
import { lookupFamily, refreshLoop, refreshRate, resolveName } from '../dns.js';

export const strictDnsCluster: ClusterTypeFactory = {
  types: ['STRICT_DNS'],
  create(config, ctx, path) {
    const specs = endpointSpecs(config, path);
    refusePipes(specs, 'STRICT_DNS');
    const family = lookupFamily(config);
    const rate = refreshRate(config);
    // last good answer per endpoint, so one failing name does not drop the others' hosts
    const last: Host[][] = specs.map(() => []);
    // (loop is read only after the first await, when refreshLoop has returned)
    const loop = refreshLoop(rate, async () => {
      await Promise.all(
        specs.map(async (s, i) => {
          try {
            const addrs = await resolveName(s.address, family);
            last[i] = addrs.map((a) => hostFromSpec(s, a, s.hostname ?? s.address));
          } catch (err) {
            ctx.updateFailed(`cannot resolve "${s.address}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
        }),
      );
      if (!loop.stopped()) ctx.setHosts(last.flat());
    });
    return loop;
  },
};
