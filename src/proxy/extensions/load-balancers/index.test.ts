import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LoadBalancerFactory } from '../../upstream/load-balancer.js';
import { makeHosts } from './conformance.js';
import { allLoadBalancers } from './index.js';

test('every Envoy LbPolicy we implement is listed once, and each factory works with defaults', () => {
  assert.deepEqual(allLoadBalancers.map((l) => l.lbPolicy).sort(), ['LEAST_REQUEST', 'MAGLEV', 'RANDOM', 'RING_HASH', 'ROUND_ROBIN']);
  const hosts = makeHosts([1, 2, 3]);
  for (const { lbPolicy, create } of allLoadBalancers) {
    const factory: LoadBalancerFactory = create; // usable where the cluster expects the plain factory type
    const lb = factory({ name: 'c', lb_policy: lbPolicy });
    lb.update(hosts);
    assert.ok(hosts.includes(lb.chooseHost(undefined)!), lbPolicy);
    assert.ok(hosts.includes(lb.chooseHost({ hash: 123n })!), lbPolicy);
  }
});

test("host-selection retries: the retry policy's maxPicks bounds the re-picks, not the host count (Envoy's hostSelectionRetryCount)", () => {
  const lb = allLoadBalancers.find((l) => l.lbPolicy === 'LEAST_REQUEST')!.create({ name: 'c', lb_policy: 'LEAST_REQUEST' });
  const [dead, live] = makeHosts([1, 1]);
  lb.update([dead!, live!]);
  // a retry's previous_hosts predicate: the dead host is rejected at most `rejections` times (retry-state.ts)
  const landsOnDead = (maxPicks: number | undefined, rejections: number) => {
    let n = 0;
    for (let i = 0; i < 4000; i++) {
      let left = rejections;
      const h = lb.chooseHost({ shouldSkip: (x: unknown) => x === dead && left-- > 0, maxPicks });
      if (h === dead) n++;
    }
    return n;
  };
  // two random candidates, the less loaded wins (both idle: either): a pick is the dead host 1 time in 2..4
  const bounded = landsOnDead(undefined, 5);
  assert.ok(bounded > 400, `without maxPicks a pick per host (2): ${bounded} of 4000 on the dead host`);
  // Istio's host_selection_retry_max_attempts 5: six picks, all on the dead host with probability (1/2)^6 or less
  const istio = landsOnDead(6, 5);
  assert.ok(istio < 150, `with maxPicks 6: ${istio} of 4000 on the dead host`);
});
