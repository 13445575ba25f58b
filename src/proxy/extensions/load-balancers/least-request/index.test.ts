import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import { assertShare, countPicks, makeHosts, runLoadBalancerConformance, seededRandom } from '../conformance.js';
import { create, lbPolicy } from './index.js';

runLoadBalancerConformance({ name: 'least-request', create, sticky: false, config: { lb_policy: lbPolicy } });
runLoadBalancerConformance({ name: 'least-request (choice_count 5)', create, sticky: false, config: { least_request_lb_config: { choice_count: 5 } } });

// With equal weights a busy host is chosen only when every sample lands on it: (1/n)^choice_count.
test('P2C: a busy host is picked only when both samples hit it', () => {
  const hosts = makeHosts([1, 1, 1]);
  hosts[0]!.activeRequests = 5;
  const lb = create({}, { random: seededRandom(1) });
  lb.update(hosts);
  const counts = countPicks(lb, 18_000);
  assertShare(counts.get(hosts[0]!) ?? 0, 18_000 / 9, 0.1, 'busy host');
  assertShare(counts.get(hosts[1]!) ?? 0, (18_000 * 4) / 9, 0.1, 'idle host');
});

test('choice_count 3: a busy host gets (1/3)^3 of the picks', () => {
  const hosts = makeHosts([1, 1, 1]);
  hosts[2]!.activeRequests = 1;
  const lb = create({ least_request_lb_config: { choice_count: 3 } }, { random: seededRandom(2) });
  lb.update(hosts);
  const counts = countPicks(lb, 27_000);
  assertShare(counts.get(hosts[2]!) ?? 0, 1000, 0.15, 'busy host');
});

test('P2C follows active requests as they change, without an update()', () => {
  const hosts = makeHosts([1, 1]);
  const lb = create({}, { random: seededRandom(3) });
  lb.update(hosts);
  hosts[0]!.activeRequests = 3;
  let counts = countPicks(lb, 8000);
  assertShare(counts.get(hosts[0]!) ?? 0, 2000, 0.1, 'busy host');
  hosts[0]!.activeRequests = 0;
  hosts[1]!.activeRequests = 3;
  counts = countPicks(lb, 8000);
  assertShare(counts.get(hosts[1]!) ?? 0, 2000, 0.1, 'newly busy host');
});

test('P2C drains load: simulated requests end up evenly spread over equal hosts', () => {
  const hosts = makeHosts([1, 1, 1, 1]);
  const lb = create({}, { random: seededRandom(4) });
  lb.update(hosts);
  // 200 long-lived requests arrive; each pick increments the chosen host's active count (as the router does).
  for (let i = 0; i < 200; i++) lb.chooseHost(undefined)!.activeRequests++;
  const active = hosts.map((h) => h.activeRequests);
  assert.ok(Math.max(...active) - Math.min(...active) <= 4, active.join(','));
});

test('weighted: weight / (active + 1) scales the EDF schedule', () => {
  const hosts = makeHosts([1, 2]);
  hosts[1]!.activeRequests = 3; // effective weights 1/1 and 2/4
  const lb = create({}, { random: seededRandom(5) });
  lb.update(hosts);
  const counts = countPicks(lb, 9000);
  assertShare(counts.get(hosts[0]!) ?? 0, 6000, 0.02, 'idle host, weight 1');
});

test('active_request_bias set explicitly forces the weighted schedule even with equal weights', () => {
  const hosts = makeHosts([1, 1]);
  hosts[0]!.activeRequests = 3;
  // bias 1: effective weights 1/4 and 1 → 20% / 80% (P2C would give 25% / 75%)
  let lb = create({ least_request_lb_config: { active_request_bias: { default_value: 1, runtime_key: 'k' } } }, { random: seededRandom(6) });
  lb.update(hosts);
  let counts = countPicks(lb, 10_000);
  assertShare(counts.get(hosts[0]!) ?? 0, 2000, 0.02, 'busy host, bias 1');
  // bias 2: 1/16 and 1 → 1/17
  lb = create({ least_request_lb_config: { active_request_bias: { default_value: 2 } } }, { random: seededRandom(7) });
  lb.update(hosts);
  counts = countPicks(lb, 17_000);
  assertShare(counts.get(hosts[0]!) ?? 0, 1000, 0.02, 'busy host, bias 2');
  // bias 0: plain weighted round robin, active requests ignored
  lb = create({ least_request_lb_config: { active_request_bias: { default_value: 0 } } }, { random: seededRandom(8) });
  lb.update(hosts);
  counts = countPicks(lb, 10_000);
  assertShare(counts.get(hosts[0]!) ?? 0, 5000, 0.02, 'busy host, bias 0');
});

test('an invalid (negative) bias falls back to 1.0 as in Envoy', () => {
  const hosts = makeHosts([1, 3]);
  hosts[1]!.activeRequests = 2; // 1/1 vs 3/3
  const lb = create({ least_request_lb_config: { active_request_bias: { default_value: -1 } } }, { random: seededRandom(9) });
  lb.update(hosts);
  const counts = countPicks(lb, 10_000);
  assertShare(counts.get(hosts[0]!) ?? 0, 5000, 0.02, 'host 0');
});

test('config validation', () => {
  const code = (c: string) => (e: unknown) => e instanceof ConfigError && e.code === c;
  assert.throws(() => create({ least_request_lb_config: { choice_count: 1 } }), code('MW_CONFIG_INVALID'));
  assert.throws(() => create({ least_request_lb_config: { slow_start_config: { slow_start_window: 1000, min_weight_percent: { value: -1 } } } }), code('MW_CONFIG_INVALID'));
});
