import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHosts, runLoadBalancerConformance, seededRandom } from '../conformance.js';
import { create, lbPolicy } from './index.js';

// Envoy's RANDOM picks hosts_to_use[random % size]: weights play no part, and the suite checks that.
runLoadBalancerConformance({ name: 'random', create, sticky: false, weighted: false, config: { lb_policy: lbPolicy } });

test('picks are independent of one another (not a rotation)', () => {
  const hosts = makeHosts([1, 1]);
  const lb = create({}, { random: seededRandom(1) });
  lb.update(hosts);
  let repeats = 0;
  let prev = lb.chooseHost(undefined);
  for (let i = 0; i < 4000; i++) {
    const h = lb.chooseHost(undefined);
    if (h === prev) repeats++;
    prev = h;
  }
  // a rotation never repeats; independent picks repeat half the time
  assert.ok(Math.abs(repeats - 2000) <= 200, `${repeats} repeats`);
});
