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
