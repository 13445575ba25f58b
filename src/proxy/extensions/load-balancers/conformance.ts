// The load-balancer family's shared conformance suite (as Hono's routers all run common.case.test.ts): every
// balancer's index.test.ts calls runLoadBalancerConformance, so the contract in upstream/load-balancer.ts is
// checked the same way for each. Randomness is seeded so that a run is reproducible, and the tolerances are
// tight enough that a wrong algorithm (weights ignored, non-consistent hashing, a host that is never picked)
// fails.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../common/prng.js';
import { Host } from '../../upstream/host.js';
import type { LbContext, LoadBalancer } from '../../upstream/load-balancer.js';
import { random64, type LbFactory } from './common/lb.js';

export interface ConformanceOptions {
  name: string;
  create: LbFactory;
  /** a hash balancer: the same ctx.hash must give the same host, and host-set changes must move few keys */
  sticky: boolean;
  /** the cluster config handed to create */
  config: Record<string, any>;
  /** false for a policy that ignores weights on purpose (Envoy's RANDOM): the suite then checks they are ignored */
  weighted?: boolean;
  /** allowed relative deviation of a host's share from its expected share (default 0.1) */
  tolerance?: number;
}

export { seededRandom };

export function makeHosts(weights: readonly number[], firstOctet = 10): Host[] {
  return weights.map((weight, i) => new Host(`${firstOctet}.0.${i >> 8}.${i & 255}`, 8080, { weight }));
}

/** Pick `n` times and count per host. Sticky balancers get a fresh random hash per pick. */
export function countPicks(lb: LoadBalancer, n: number, hashRandom?: () => number, extra?: Omit<LbContext, 'hash'>): Map<Host, number> {
  const counts = new Map<Host, number>();
  for (let i = 0; i < n; i++) {
    const ctx: LbContext | undefined = hashRandom ? { ...extra, hash: random64(hashRandom) } : extra;
    const h = lb.chooseHost(ctx);
    assert.ok(h, 'chooseHost returned null with hosts present');
    counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  return counts;
}

export function assertShare(count: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(count - expected) <= tolerance * expected, `${what}: ${count} picks, expected ${expected} ±${Math.round(tolerance * 100)}%`);
}

export function runLoadBalancerConformance(opts: ConformanceOptions): void {
  const { name, create, sticky, config } = opts;
  const weighted = opts.weighted ?? true;
  const tol = opts.tolerance ?? 0.1;
  const make = (seed: number) => create(config, { random: seededRandom(seed) });
  // sticky balancers are driven by request hashes; the others get no context
  const hashes = (seed: number) => (sticky ? seededRandom(seed) : undefined);

  describe(`${name}: load balancer conformance`, () => {
    test('no hosts → null, before and after update', () => {
      const lb = make(1);
      assert.equal(lb.chooseHost(undefined), null);
      assert.equal(lb.chooseHost({ hash: 42n }), null);
      lb.update(makeHosts([1, 1]));
      lb.update([]);
      assert.equal(lb.chooseHost(undefined), null);
      assert.equal(lb.chooseHost({ hash: 42n, shouldSkip: () => true }), null);
    });

    test('a single host is always chosen', () => {
      const lb = make(2);
      const [only] = makeHosts([3]);
      lb.update([only!]);
      const r = seededRandom(2);
      for (let i = 0; i < 200; i++) {
        assert.equal(lb.chooseHost(undefined), only);
        assert.equal(lb.chooseHost({ hash: random64(r) }), only);
        assert.equal(lb.chooseHost({ hash: random64(r), shouldSkip: () => true }), only);
      }
    });

    test('equal weights: every host gets an even share', () => {
      const lb = make(3);
      const hosts = makeHosts([1, 1, 1, 1, 1]);
      lb.update(hosts);
      const counts = countPicks(lb, 10_000, hashes(3));
      for (const h of hosts) assertShare(counts.get(h) ?? 0, 2000, tol, h.id);
    });

    test(weighted ? 'weights 1:3 and 1:2:4 are honoured' : 'weights are ignored, as Envoy does for this policy', () => {
      const lb = make(4);
      const two = makeHosts([1, 3]);
      lb.update(two);
      let counts = countPicks(lb, 20_000, hashes(4));
      const share = weighted ? [5000, 15000] : [10000, 10000];
      two.forEach((h, i) => assertShare(counts.get(h) ?? 0, share[i]!, tol, `${h.id} weight ${h.weight}`));

      const three = makeHosts([1, 2, 4], 11);
      lb.update(three);
      counts = countPicks(lb, 14_000, hashes(5));
      const share3 = weighted ? [2000, 4000, 8000] : [14000 / 3, 14000 / 3, 14000 / 3];
      three.forEach((h, i) => assertShare(counts.get(h) ?? 0, share3[i]!, tol, `${h.id} weight ${h.weight}`));
    });

    if (weighted) {
      test('a weight changed in place takes effect at the next update()', () => {
        // The cluster keeps Host objects across EDS updates and rewrites their weight, then calls update().
        const lb = make(6);
        const hosts = makeHosts([1, 1]);
        lb.update(hosts);
        hosts[1]!.weight = 3;
        lb.update(hosts);
        const counts = countPicks(lb, 20_000, hashes(6));
        assertShare(counts.get(hosts[0]!) ?? 0, 5000, tol, 'weight 1');
        assertShare(counts.get(hosts[1]!) ?? 0, 15000, tol, 'weight 3');
      });
    }

    test('update(): a removed host is never picked, an added host gets its share', () => {
      const lb = make(7);
      const hosts = makeHosts([1, 1, 1, 1]);
      lb.update(hosts);
      const removed = hosts[2]!;
      const kept = hosts.filter((h) => h !== removed);
      lb.update(kept);
      let counts = countPicks(lb, 6000, hashes(7));
      assert.equal(counts.get(removed), undefined, 'removed host was picked');
      for (const h of kept) assertShare(counts.get(h) ?? 0, 2000, tol, h.id);

      const added = makeHosts([1], 12)[0]!;
      lb.update([...kept, added]);
      counts = countPicks(lb, 8000, hashes(8));
      assert.equal(counts.get(removed), undefined, 'removed host was picked');
      for (const h of [...kept, added]) assertShare(counts.get(h) ?? 0, 2000, tol, h.id);
    });

    test('shouldSkip steers away from the hosts it rejects', () => {
      const lb = make(9);
      const hosts = makeHosts([1, 1, 1, 1, 1]);
      lb.update(hosts);
      const rejected = new Set([hosts[0], hosts[3]]);
      const r = seededRandom(9);
      let landedOnRejected = 0;
      const trials = 1000;
      for (let i = 0; i < trials; i++) {
        const h = lb.chooseHost({ hash: sticky ? random64(r) : undefined, shouldSkip: (x) => rejected.has(x) });
        assert.ok(h);
        if (rejected.has(h)) landedOnRejected++;
      }
      // Ignoring the predicate lands on a rejected host 40% of the time; retrying about once per host leaves
      // at most (2/5)^5 ≈ 1% for the balancers that retry at random.
      assert.ok(landedOnRejected <= trials * 0.03, `rejected hosts returned ${landedOnRejected}/${trials} times`);
      // Rejecting every host still yields a host.
      assert.ok(lb.chooseHost({ hash: sticky ? 7n : undefined, shouldSkip: () => true }));
    });

    if (!sticky) return;

    test('sticky: the same hash always gives the same host', () => {
      const lb = make(10);
      lb.update(makeHosts([1, 2, 1, 3, 1, 1]));
      const r = seededRandom(10);
      const keys = Array.from({ length: 300 }, () => random64(r));
      const first = keys.map((hash) => lb.chooseHost({ hash }));
      countPicks(lb, 1000, seededRandom(11)); // unrelated traffic in between must not matter
      keys.forEach((hash, i) => assert.equal(lb.chooseHost({ hash }), first[i]));
      // and a skip predicate that rejects nothing changes nothing
      keys.forEach((hash, i) => assert.equal(lb.chooseHost({ hash, shouldSkip: () => false }), first[i]));
    });

    test('sticky: the host order given to update() does not matter', () => {
      const a = make(12);
      const b = make(13);
      const hosts = makeHosts([1, 1, 1, 1, 1, 1, 1]);
      a.update(hosts);
      b.update([...hosts].reverse());
      const r = seededRandom(12);
      for (let i = 0; i < 2000; i++) {
        const hash = random64(r);
        assert.equal(a.chooseHost({ hash }), b.chooseHost({ hash }));
      }
    });

    test('sticky: removing or adding one host of n moves about 1/n of the keys', () => {
      // Envoy's hash balancers are not perfectly minimal: RING_HASH gives every host ceil(min_ring_size / n)
      // points, so when n changes the remaining hosts gain or lose points too; MAGLEV refills its table. Both
      // still move far fewer keys than rehashing (which moves (n-1)/n of them), and the bounds say so.
      const n = 10;
      const lb = make(14);
      const hosts = makeHosts(new Array(n).fill(1));
      lb.update(hosts);
      const r = seededRandom(14);
      const keys = Array.from({ length: 10_000 }, () => random64(r));
      const before = keys.map((hash) => lb.chooseHost({ hash })!);

      const gone = hosts[3]!;
      lb.update(hosts.filter((h) => h !== gone));
      const after = keys.map((hash) => lb.chooseHost({ hash })!);
      let moved = 0;
      let movedNeedlessly = 0; // keys whose host is still there but that moved anyway
      keys.forEach((_, i) => {
        if (after[i] === gone) assert.fail('a key still maps to the removed host');
        if (after[i] !== before[i]) {
          moved++;
          if (before[i] !== gone) movedNeedlessly++;
        }
      });
      const share = keys.length / n;
      assert.ok(moved <= share * 2 && movedNeedlessly <= share, `removing 1 of ${n} hosts moved ${moved} of ${keys.length} keys (${movedNeedlessly} off hosts that stayed)`);

      // adding it back: about 1/n of the keys move, nearly all of them to the returning host
      lb.update(hosts);
      const back = keys.map((hash) => lb.chooseHost({ hash })!);
      let toNew = 0;
      let elsewhere = 0;
      keys.forEach((_, i) => {
        if (back[i] === after[i]) return;
        if (back[i] === gone) toNew++;
        else elsewhere++;
      });
      assertShare(toNew, share, 0.5, 'keys taken by the re-added host');
      assert.ok(elsewhere <= share, `${elsewhere} keys moved between hosts that stayed`);
      // and the layout is a function of the host set: the original mapping is back
      keys.forEach((_, i) => assert.equal(back[i], before[i]));
    });

    test('sticky: with no hash a random point is used, spreading requests', () => {
      const lb = make(15);
      const hosts = makeHosts([1, 1, 1, 1]);
      lb.update(hosts);
      const counts = countPicks(lb, 8000);
      for (const h of hosts) assertShare(counts.get(h) ?? 0, 2000, tol, h.id);
    });
  });
}
