import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../common/errors.js';
import * as roundRobin from '../extensions/load-balancers/round-robin/index.js';
import { Host } from './host.js';
import { computePriorityLoad, PrioritySet, priorityOptions, type PriorityOptions } from './priority.js';

const DEF: PriorityOptions = { overprovisioningFactor: 140, panicThreshold: 50, localityWeighted: false };

test('priority load follows Envoy: health × 1.4 per level, spill-over in order', () => {
  // one of two P0 hosts healthy: 70% stays on P0, 30% spills to P1
  assert.deepEqual(computePriorityLoad([{ total: 2, healthy: 1 }, { total: 2, healthy: 2 }], DEF).load, [70, 30]);
  assert.deepEqual(computePriorityLoad([{ total: 2, healthy: 2 }, { total: 2, healthy: 2 }], DEF).load, [100, 0]);
  assert.deepEqual(computePriorityLoad([{ total: 2, healthy: 0 }, { total: 2, healthy: 2 }], DEF).load, [0, 100]);
  // 4 of 5 healthy: 112% → capped at 100, nothing spills
  assert.deepEqual(computePriorityLoad([{ total: 5, healthy: 4 }, { total: 1, healthy: 1 }], DEF).load, [100, 0]);
  // total health below 100: loads are normalized (P0 28, P1 70 → 28/98 and 70/98 of the traffic)
  const r = computePriorityLoad([{ total: 5, healthy: 1 }, { total: 2, healthy: 1 }], DEF);
  assert.deepEqual(r.load, [29, 71]);
  assert.deepEqual(r.panic, [true, false]);
  // a factor of 100 spills as soon as any host fails
  assert.deepEqual(computePriorityLoad([{ total: 4, healthy: 3 }, { total: 1, healthy: 1 }], { ...DEF, overprovisioningFactor: 100 }).load, [75, 25]);
});

test('panic: a level below healthy_panic_threshold balances over all its hosts; all levels in panic split by host count', () => {
  assert.deepEqual(computePriorityLoad([{ total: 3, healthy: 1 }], DEF), { load: [100], panic: [true] });
  assert.deepEqual(computePriorityLoad([{ total: 3, healthy: 2 }], DEF), { load: [100], panic: [false] });
  assert.deepEqual(computePriorityLoad([{ total: 2, healthy: 0 }, { total: 6, healthy: 0 }], DEF), { load: [25, 75], panic: [true, true] });
  // threshold 0 disables panic: nothing healthy means no host
  const none = computePriorityLoad([{ total: 2, healthy: 0 }], { ...DEF, panicThreshold: 0 });
  assert.deepEqual(none, { load: [100], panic: [false] });
});

function hosts(n: number, prio: number, base: number, zone?: string, lw?: number): Host[] {
  return Array.from({ length: n }, (_, i) => new Host('10.0.0.1', base + i, { priority: prio, locality: zone ? { zone } : undefined, localityWeight: lw }));
}

function spread(ps: PrioritySet, n: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const h = ps.chooseHost(undefined)!;
    m.set(h.port, (m.get(h.port) ?? 0) + 1);
  }
  return m;
}

test('PrioritySet picks by the computed load, panics over unhealthy hosts and returns null with nothing to pick', () => {
  const p0 = hosts(2, 0, 1000);
  const p1 = hosts(2, 1, 2000);
  const down = new Set([p0[0]!]);
  const ps = new PrioritySet(DEF, roundRobin.create, {});
  ps.update([p0, p1], (h) => !down.has(h));
  const m = spread(ps, 4000);
  assert.equal(m.get(1000), undefined, 'the unhealthy P0 host gets nothing');
  const toP0 = (m.get(1001) ?? 0) / 4000;
  assert.ok(toP0 > 0.64 && toP0 < 0.76, `P0 share ${toP0} should be ~0.70`);

  // panic: 2 of 3 unhealthy → all three take traffic
  const three = hosts(3, 0, 3000);
  ps.update([three], (h) => h === three[0]);
  assert.equal(spread(ps, 300).size, 3);

  const strict = new PrioritySet({ ...DEF, panicThreshold: 0 }, roundRobin.create, {});
  strict.update([three], () => false);
  assert.equal(strict.chooseHost(undefined), null);
  strict.update([], () => true);
  assert.equal(strict.chooseHost(undefined), null);
});

test('locality-weighted balancing: weights × availability; unweighted localities get nothing', () => {
  const a = hosts(2, 0, 1000, 'a', 1);
  const b = hosts(2, 0, 2000, 'b', 3);
  const c = hosts(1, 0, 3000, 'c', undefined);
  const ps = new PrioritySet({ ...DEF, localityWeighted: true }, roundRobin.create, {});
  ps.update([[...a, ...b, ...c]], () => true);
  const m = spread(ps, 4000);
  const share = (base: number) => ((m.get(base) ?? 0) + (m.get(base + 1) ?? 0)) / 4000;
  assert.ok(share(1000) > 0.2 && share(1000) < 0.3, `locality a ${share(1000)} should be ~0.25`);
  assert.equal(m.get(3000), undefined);
  // one of b's two hosts down: b's effective weight is 3 × min(1, 1.4 × 0.5) = 2.1 → a gets 1/3.1
  ps.update([[...a, ...b, ...c]], (h) => h !== b[0]);
  const m2 = spread(ps, 4000);
  const a2 = ((m2.get(1000) ?? 0) + (m2.get(1001) ?? 0)) / 4000;
  assert.ok(a2 > 0.27 && a2 < 0.38, `locality a ${a2} should be ~0.32`);
  // without locality_weighted_lb_config, weights are ignored: 5 hosts share evenly
  const plain = new PrioritySet(DEF, roundRobin.create, {});
  plain.update([[...a, ...b, ...c]], () => true);
  assert.equal(spread(plain, 500).size, 5);
});

test('options are validated at load time with field paths', () => {
  assert.deepEqual(priorityOptions({}, 'c'), DEF);
  assert.deepEqual(priorityOptions({ load_assignment: { policy: { overprovisioning_factor: 100 } }, common_lb_config: { healthy_panic_threshold: { value: 0 }, locality_weighted_lb_config: {} } }, 'c'), {
    overprovisioningFactor: 100,
    panicThreshold: 0,
    localityWeighted: true,
  });
  assert.throws(() => priorityOptions({ common_lb_config: { healthy_panic_threshold: { value: 150 } } }, 'c'), (e: ConfigError) => e.path === 'c.common_lb_config.healthy_panic_threshold.value');
  assert.throws(() => priorityOptions({ load_assignment: { policy: { overprovisioning_factor: 0 } } }, 'c'), (e: ConfigError) => e.path === 'c.load_assignment.policy.overprovisioning_factor');
});
