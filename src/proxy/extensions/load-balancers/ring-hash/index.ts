// RING_HASH (Envoy's RingHashLoadBalancer, a ketama-style consistent hash ring).
// Each host is placed on a 64-bit ring at the hashes of "<address:port>_0", "<address:port>_1", ... (xxHash64,
// or MURMUR_HASH_2 on request), with a number of points proportional to its weight: the ring is scaled so that
// the lightest host gets ceil(its share × minimum_ring_size) points, capped at maximum_ring_size points in all.
// A request goes to the first point at or after its hash, wrapping past the end. Removing a host takes away
// only its own points, so only the keys that were on it move.
//
// The ring is built in update(); a pick is one binary search over a sorted BigUint64Array.
import { ConfigError } from '../../../../common/errors.js';
import { murmur2_64, xxh64 } from '../../../../common/hash.js';
import type { Host } from '../../../upstream/host.js';
import type { LoadBalancer } from '../../../upstream/load-balancer.js';
import { chooseWithRetries, random64, type LbOptions } from '../common/lb.js';
import { normalizeWeights, rejectUnsupportedHashingConfig } from '../common/hashing.js';

export const lbPolicy = 'RING_HASH';

const DEFAULT_MIN_RING_SIZE = 1024;
const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/** the proto's upper bound for both sizes */
const RING_SIZE_LIMIT = 8_388_608;

/** Envoy's ring_hash_lb.* gauges */
export interface RingHashStats {
  size: number;
  minHashesPerHost: number;
  maxHashesPerHost: number;
}

export interface RingHashLoadBalancer extends LoadBalancer {
  readonly stats: RingHashStats;
}

interface Ring {
  /** point hashes, ascending */
  hashes: BigUint64Array;
  /** owner of each point, as an index into `hosts` */
  owners: Uint32Array;
  hosts: readonly Host[];
}

function ringSize(cfg: Record<string, any>, field: string, dflt: number): number {
  const v = cfg[field] ?? dflt;
  if (!Number.isInteger(v) || v < 0 || v > RING_SIZE_LIMIT) {
    throw new ConfigError('MW_CONFIG_INVALID', `ring_hash_lb_config.${field}`, `must be an integer from 0 to ${RING_SIZE_LIMIT}, got ${v}`);
  }
  return v;
}

export function create(cluster: Record<string, any>, opts?: LbOptions): RingHashLoadBalancer {
  const cfg = cluster.ring_hash_lb_config ?? {};
  const minSize = ringSize(cfg, 'minimum_ring_size', DEFAULT_MIN_RING_SIZE);
  const maxSize = ringSize(cfg, 'maximum_ring_size', DEFAULT_MAX_RING_SIZE);
  if (minSize > maxSize) {
    throw new ConfigError('MW_CONFIG_INVALID', 'ring_hash_lb_config', `minimum_ring_size (${minSize}) > maximum_ring_size (${maxSize})`);
  }
  const fn = cfg.hash_function ?? 'XX_HASH';
  if (fn !== 'XX_HASH' && fn !== 'MURMUR_HASH_2') {
    throw new ConfigError('MW_CONFIG_INVALID', 'ring_hash_lb_config.hash_function', `must be XX_HASH or MURMUR_HASH_2, got ${fn}`);
  }
  const hashKey: (key: string) => bigint = fn === 'XX_HASH' ? (k) => xxh64(k) : (k) => murmur2_64(k);
  rejectUnsupportedHashingConfig(cluster);
  const random = opts?.random ?? Math.random;

  let ring: Ring | undefined;
  const stats: RingHashStats = { size: 0, minHashesPerHost: 0, maxHashesPerHost: 0 };

  function build(hosts: readonly Host[]): Ring | undefined {
    if (hosts.length === 0) return undefined;
    const norm = normalizeWeights(hosts);
    // Scale so that the lightest host gets a whole number of points (at least minimum_ring_size / its share
    // in total), then cap at maximum_ring_size. Heavier hosts may get fractional targets: the running sums
    // below hand out the fractions so the total stays close to `scale`.
    const scale = Math.min(Math.ceil(norm.min * minSize) / norm.min, maxSize);
    const points: bigint[] = [];
    const owners: number[] = [];
    let current = 0;
    let target = 0;
    stats.size = Math.ceil(scale);
    stats.minHashesPerHost = stats.size;
    stats.maxHashesPerHost = 0;
    hosts.forEach((host, i) => {
      target += scale * norm.weights[i]!;
      let k = 0;
      for (; current < target; k++, current++) {
        points.push(hashKey(`${host.id}_${k}`));
        owners.push(i);
      }
      stats.minHashesPerHost = Math.min(stats.minHashesPerHost, k);
      stats.maxHashesPerHost = Math.max(stats.maxHashesPerHost, k);
    });
    if (points.length === 0) return undefined;
    const order = Array.from(points.keys()).sort((a, b) => (points[a]! < points[b]! ? -1 : points[a]! > points[b]! ? 1 : 0));
    return {
      hashes: BigUint64Array.from(order, (i) => points[i]!),
      owners: Uint32Array.from(order, (i) => owners[i]!),
      hosts,
    };
  }

  /** index of the first point whose hash is >= h, wrapping to 0 past the last point */
  function locate(r: Ring, h: bigint): number {
    let lo = 0;
    let hi = r.hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r.hashes[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === r.hashes.length ? 0 : lo;
  }

  return {
    stats,
    update(next) {
      ring = build(next.slice());
    },
    chooseHost(ctx) {
      const r = ring;
      if (!r) return null;
      // Envoy uses a random point when the route computed no hash.
      const start = locate(r, ctx?.hash ?? random64(random));
      // A host the caller rejects is treated as absent: walk on to the following points (Envoy's
      // retry-attempt offset), up to one step per host.
      return chooseWithRetries(ctx, r.hosts.length, (attempt) => r.hosts[r.owners[(start + attempt) % r.owners.length]!]!);
    },
  };
}
