// Slow start in both balancers that support it (ROUND_ROBIN, LEAST_REQUEST), with an injected clock: a host
// that joins later ramps from min_weight_percent of its weight to all of it over the window, following
// Envoy's max(min_weight_percent, (elapsed / window) ^ (1 / aggression)); without slow_start_config the
// balancers never read the clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import { assertShare, countPicks, makeHosts, seededRandom } from '../conformance.js';
import * as leastRequest from '../least-request/index.js';
import * as roundRobin from '../round-robin/index.js';
import type { LbFactory } from './lb.js';
import { compileSlowStart } from './slow-start.js';

const WINDOW = 10_000;

function clock() {
  let t = 1_000_000;
  let reads = 0;
  return {
    now: () => (reads++, t),
    set: (ms: number) => (t = ms),
    advance: (ms: number) => (t += ms),
    get reads() {
      return reads;
    },
  };
}

const balancers: { name: string; create: LbFactory; config: (ss: object) => Record<string, unknown> }[] = [
  { name: 'ROUND_ROBIN', create: roundRobin.create, config: (ss) => ({ lb_policy: 'ROUND_ROBIN', round_robin_lb_config: { slow_start_config: ss } }) },
  { name: 'LEAST_REQUEST', create: leastRequest.create, config: (ss) => ({ lb_policy: 'LEAST_REQUEST', least_request_lb_config: { slow_start_config: ss } }) },
];

for (const b of balancers) {
  describe(`slow start: ${b.name}`, () => {
    test('a host that joins later ramps from 10 % of its weight to all of it over the window', () => {
      const c = clock();
      const [a, nb] = makeHosts([1, 1]) as [ReturnType<typeof makeHosts>[0], ReturnType<typeof makeHosts>[0]];
      const lb = b.create(b.config({ slow_start_window: WINDOW }), { random: seededRandom(1), now: c.now });
      lb.update([a]);
      c.advance(2 * WINDOW); // a is past its window
      lb.update([a, nb]);
      // just joined: weight 1 × max(0.1, 1 ms / 10 s) → share 0.1 / 1.1
      let counts = countPicks(lb, 11_000);
      assertShare(counts.get(nb) ?? 0, 1000, 0.06, 'new host at the start of its window');
      // half way: 0.5 / 1.5
      c.advance(WINDOW / 2);
      counts = countPicks(lb, 12_000);
      assertShare(counts.get(nb) ?? 0, 4000, 0.04, 'new host half way');
      // after the window: an equal share, and (round robin) the plain rotation again
      c.advance(WINDOW / 2);
      counts = countPicks(lb, 10_000);
      assertShare(counts.get(nb) ?? 0, 5000, 0.02, 'new host after its window');
    });

    test('aggression bends the ramp, min_weight_percent sets its floor', () => {
      const c = clock();
      const [a, nb] = makeHosts([1, 1]) as [ReturnType<typeof makeHosts>[0], ReturnType<typeof makeHosts>[0]];
      const lb = b.create(b.config({ slow_start_window: WINDOW, aggression: { default_value: 2 }, min_weight_percent: { value: 50 } }), { random: seededRandom(2), now: c.now });
      lb.update([a]);
      c.advance(2 * WINDOW);
      lb.update([a, nb]);
      // the floor: max(0.5, tiny) → 0.5 / 1.5
      let counts = countPicks(lb, 12_000);
      assertShare(counts.get(nb) ?? 0, 4000, 0.04, 'floor');
      // at 81 % of the window: 0.81 ^ (1/2) = 0.9 → 0.9 / 1.9
      c.advance(WINDOW * 0.81);
      counts = countPicks(lb, 19_000);
      assertShare(counts.get(nb) ?? 0, 9000, 0.03, 'aggression 2');
    });

    test('hosts that join together ramp together: equal shares from the start', () => {
      const c = clock();
      const hosts = makeHosts([1, 1, 1]);
      const lb = b.create(b.config({ slow_start_window: WINDOW }), { random: seededRandom(3), now: c.now });
      lb.update(hosts);
      const counts = countPicks(lb, 9000);
      for (const h of hosts) assertShare(counts.get(h) ?? 0, 3000, 0.03, h.id);
    });

    test('weights are scaled, not replaced: a weight-3 newcomer half way counts 1.5', () => {
      const c = clock();
      const [a, nb] = makeHosts([1, 3]) as [ReturnType<typeof makeHosts>[0], ReturnType<typeof makeHosts>[0]];
      const lb = b.create(b.config({ slow_start_window: WINDOW }), { random: seededRandom(4), now: c.now });
      lb.update([a]);
      c.advance(2 * WINDOW);
      lb.update([a, nb]);
      c.advance(WINDOW / 2);
      const counts = countPicks(lb, 10_000);
      assertShare(counts.get(nb) ?? 0, 6000, 0.03, 'weight 3 at half window');
    });

    test('the clock is read only while a host is in its window; never without slow_start_config', () => {
      const c = clock();
      const hosts = makeHosts([1, 1]);
      const plain = b.create({ lb_policy: b.name }, { random: seededRandom(5), now: c.now });
      plain.update(hosts);
      countPicks(plain, 1000);
      assert.equal(c.reads, 0, 'a balancer without slow start read the clock');

      const lb = b.create(b.config({ slow_start_window: WINDOW }), { random: seededRandom(5), now: c.now });
      lb.update(makeHosts([1, 1], 11));
      countPicks(lb, 100);
      assert.ok(c.reads >= 100, `in the window the clock is read per pick (${c.reads} reads)`);
      c.advance(WINDOW + 1);
      lb.chooseHost(undefined); // finds every window over and drops slow start
      const before = c.reads;
      countPicks(lb, 1000);
      assert.equal(c.reads, before, 'the clock was read after every window had passed');
    });
  });
}

test('slow_start_config: no window means no slow start; bad values are rejected or corrected as in Envoy', () => {
  assert.equal(compileSlowStart(undefined, 'p'), undefined);
  assert.equal(compileSlowStart({}, 'p'), undefined);
  assert.equal(compileSlowStart({ slow_start_window: 0 }, 'p'), undefined);
  const ss = compileSlowStart({ slow_start_window: 1000, aggression: { default_value: -1 } }, 'p')!;
  assert.equal(ss.aggression, 1, 'a non-positive aggression falls back to 1.0');
  assert.equal(ss.minWeight, 0.1, 'min_weight_percent defaults to 10');
  assert.throws(
    () => compileSlowStart({ slow_start_window: 1000, min_weight_percent: { value: 150 } }, 'round_robin_lb_config.slow_start_config'),
    (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_INVALID' && e.message.includes('min_weight_percent'),
  );
});
