// STRICT_DNS: every endpoint name is resolved every dns_refresh_rate; each returned address becomes a host
// (Envoy's semantics: the cluster's hosts are exactly the union of the current answers).
import type { ClusterTypeFactory } from '../../../upstream/cluster.js';
import type { Host } from '../../../upstream/host.js';
import { endpointSpecs, hostFromSpec } from '../../../upstream/endpoints.js';
import { lookupFamily, refreshRate, resolveName } from '../dns.js';

export const strictDnsCluster: ClusterTypeFactory = {
  types: ['STRICT_DNS'],
  create(config, ctx) {
    const specs = endpointSpecs(config, '');
    const family = lookupFamily(config);
    const rate = refreshRate(config);
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    // last good answer per endpoint, so one failing name does not drop the others' hosts
    const last: Host[][] = specs.map(() => []);
    const resolveAll = async (): Promise<void> => {
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
      if (!stopped) ctx.setHosts(last.flat());
    };
    const loop = (): void => {
      timer = setTimeout(() => void resolveAll().then(() => !stopped && loop()), rate);
      timer.unref();
    };
    const initialized = resolveAll().then(loop);
    return {
      initialized,
      stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  },
};
