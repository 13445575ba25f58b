// MAGLEV (Envoy's MaglevLoadBalancer; Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4). A lookup table of a prime size M is filled by letting hosts take turns
// claiming their next free slot along a host-specific permutation of 0..M-1, so each host ends up with a share
// of the slots proportional to its weight, and a host-set change reassigns few slots besides the removed or
// added host's. A request goes to table[hash % M]: O(1) per pick, O(M) to build (in update()).
import { ConfigError } from '../../../../common/errors.js';
import { xxh64 } from '../../../../common/hash.js';
import type { Host } from '../../../upstream/host.js';
import type { LoadBalancer } from '../../../upstream/load-balancer.js';
import { chooseWithRetries, random64, type LbOptions } from '../common/lb.js';
import { normalizeWeights, rejectUnsupportedHashingConfig } from '../common/hashing.js';

export const lbPolicy = 'MAGLEV';

const DEFAULT_TABLE_SIZE = 65537;
/** the proto's upper bound for table_size */
const MAX_TABLE_SIZE = 5_000_011;
const MASK64 = 0xffff_ffff_ffff_ffffn;

/** Envoy's maglev_lb.* gauges */
export interface MaglevStats {
  minEntriesPerHost: number;
  maxEntriesPerHost: number;
}

export interface MaglevLoadBalancer extends LoadBalancer {
  readonly tableSize: number;
  readonly stats: MaglevStats;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

export function create(cluster: Record<string, any>, opts?: LbOptions): MaglevLoadBalancer {
  const size: number = cluster.maglev_lb_config?.table_size ?? DEFAULT_TABLE_SIZE;
  const path = 'maglev_lb_config.table_size';
  if (!Number.isInteger(size) || size > MAX_TABLE_SIZE) {
    throw new ConfigError('MW_CONFIG_INVALID', path, `must be an integer no larger than ${MAX_TABLE_SIZE}, got ${size}`);
  }
  if (!isPrime(size)) throw new ConfigError('MW_CONFIG_INVALID', path, `The table size of maglev must be prime number, got ${size}`);
  rejectUnsupportedHashingConfig(cluster);
  const random = opts?.random ?? Math.random;
  const bigSize = BigInt(size);

  let table: Int32Array | undefined; // slot → index into `hosts`
  let hosts: Host[] = [];
  const stats: MaglevStats = { minEntriesPerHost: 0, maxEntriesPerHost: 0 };

  function build(next: readonly Host[]): void {
    if (next.length === 0) {
      table = undefined;
      hosts = [];
      return;
    }
    // The fill order decides the table, so fix it: sort by the hashed key, as Envoy does, which makes the
    // table independent of the order the cluster lists its hosts in.
    hosts = [...next].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const { weights, max } = normalizeWeights(hosts);
    const entries = hosts.map((h, i) => ({
      // the host's permutation is offset, offset + skip, offset + 2·skip, ... (mod M); M prime makes it complete
      pos: Number(xxh64(h.id) % bigSize),
      skip: Number(xxh64(h.id, 1n) % (bigSize - 1n)) + 1,
      weight: weights[i]!,
      // A host of the largest weight claims a slot every round; one of a third of it every third round.
      target: 0,
      count: 0,
    }));
    const t = new Int32Array(size).fill(-1);
    let filled = 0;
    for (let round = 1; filled < size; round++) {
      for (let i = 0; i < entries.length && filled < size; i++) {
        const e = entries[i]!;
        if (round * e.weight < e.target) continue;
        e.target += max;
        while (t[e.pos] !== -1) e.pos = (e.pos + e.skip) % size;
        t[e.pos] = i;
        e.pos = (e.pos + e.skip) % size;
        e.count++;
        filled++;
      }
    }
    table = t;
    stats.minEntriesPerHost = Math.min(...entries.map((e) => e.count));
    stats.maxEntriesPerHost = Math.max(...entries.map((e) => e.count));
  }

  return {
    tableSize: size,
    stats,
    update(next) {
      build(next);
    },
    chooseHost(ctx) {
      const t = table;
      if (!t) return null;
      const hash = ctx?.hash ?? random64(random); // Envoy uses a random value when there is no hash
      // For a host the caller rejects, Envoy retries with the hash xor'ed with ~0 - attempt + 1, a value with
      // most bits set, so that successive attempts land far apart in the table.
      return chooseWithRetries(ctx, hosts.length, (attempt) => {
        const h = attempt === 0 ? hash : hash ^ ((MASK64 - BigInt(attempt) + 1n) & MASK64);
        return hosts[t[Number(h % bigSize)]!]!;
      });
    },
  };
}
