import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../observability/stats.js';
import { Host } from './host.js';
import { compileOutlierConfig, OutlierDetector } from './outlier-detection.js';

// A detector on a manual clock: tests advance `t` and call sweep() where Envoy's interval timer would fire.
function setup(config: any, nHosts: number, random = () => 0.5) {
  let t = 0;
  const changes: string[] = [];
  const store = new StatsStore();
  const hosts = Array.from({ length: nHosts }, (_, i) => new Host('10.0.0.1', 8000 + i));
  const det = new OutlierDetector(compileOutlierConfig(config, 'outlier_detection'), store.scope('cluster.c.'), (h) => changes.push(`${h.ejected ? 'eject' : 'return'} ${h.port}`), {
    now: () => t,
    random,
  });
  det.setHosts(hosts);
  const stat = (n: string) => (store.counters().find((c) => c.name === `cluster.c.outlier_detection.${n}`) ?? store.gauge(`cluster.c.outlier_detection.${n}`)).value;
  return { det, hosts, changes, stat, advance: (ms: number) => (t += ms) };
}

test('defaults are Envoy\'s', () => {
  const c = compileOutlierConfig({}, 'od');
  assert.equal(c.consecutive5xx, 5);
  assert.equal(c.consecutiveGatewayFailure, 5);
  assert.equal(c.enforcing.consecutive_gateway_failure, 0);
  assert.equal(c.enforcing.consecutive_5xx, 100);
  assert.equal(c.intervalMs, 10_000);
  assert.equal(c.baseEjectionTimeMs, 30_000);
  assert.equal(c.maxEjectionTimeMs, 300_000);
  assert.equal(c.maxEjectionPercent, 10);
  assert.equal(c.successRateStdevFactor, 1900);
  assert.equal(c.failurePercentageThreshold, 85);
  assert.equal(c.enforcing.failure_percentage, 0);
  assert.equal(c.successfulActiveHealthCheckUnejectHost, true);
  // max_ejection_time follows a larger base_ejection_time
  assert.equal(compileOutlierConfig({ base_ejection_time: 400_000 }, 'od').maxEjectionTimeMs, 400_000);
});

test('config errors name the field', () => {
  assert.throws(() => compileOutlierConfig({ base_ejection_time: 10_000, max_ejection_time: 5_000 }, 'clusters[0].outlier_detection'), /clusters\[0\]\.outlier_detection\.max_ejection_time: .*cannot be smaller/);
  assert.throws(() => compileOutlierConfig({ max_ejection_time_jitter: -1 }, 'od'), /od\.max_ejection_time_jitter: must not be negative/);
});

test('5 consecutive 5xx eject a host; a success in between resets the run', () => {
  const { det, hosts, changes, stat } = setup({ max_ejection_percent: 100 }, 2);
  const [a] = hosts as [Host, Host];
  for (let i = 0; i < 4; i++) det.putResult(a, 500);
  det.putResult(a, 200);
  for (let i = 0; i < 4; i++) det.putResult(a, 503);
  assert.equal(a.ejected, false);
  det.putResult(a, 503);
  assert.equal(a.ejected, true);
  assert.deepEqual(changes, ['eject 8000']);
  assert.equal(stat('ejections_active'), 1);
  assert.equal(stat('ejections_enforced_total'), 1);
  assert.equal(stat('ejections_enforced_consecutive_5xx'), 1);
  assert.equal(stat('ejections_detected_consecutive_5xx'), 1);
  assert.equal(stat('ejections_total'), 1);
  // the 503 run was a gateway-failure run too, checked first: detected, but enforcing defaults to 0%
  assert.equal(stat('ejections_detected_consecutive_gateway_failure'), 1);
  assert.equal(stat('ejections_enforced_consecutive_gateway_failure'), 0);
});

test('consecutive gateway failures are detected but not enforced by default', () => {
  const { det, hosts, stat } = setup({ max_ejection_percent: 100, consecutive_5xx: 10 }, 2);
  for (let i = 0; i < 5; i++) det.putResult(hosts[0]!, 502);
  assert.equal(hosts[0]!.ejected, false);
  assert.equal(stat('ejections_detected_consecutive_gateway_failure'), 1);
  assert.equal(stat('ejections_enforced_consecutive_gateway_failure'), 0);
  // a 500 breaks a gateway-failure run but continues a 5xx run
  const b = setup({ max_ejection_percent: 100, consecutive_5xx: 10, enforcing_consecutive_gateway_failure: 100 }, 2);
  for (const s of [502, 502, 500, 502, 502, 502, 502]) b.det.putResult(b.hosts[0]!, s);
  assert.equal(b.hosts[0]!.ejected, false);
  b.det.putResult(b.hosts[0]!, 504);
  assert.equal(b.hosts[0]!.ejected, true);
  assert.equal(b.stat('ejections_enforced_consecutive_gateway_failure'), 1);
});

test('local-origin failures count as 503/504 unless split, then as their own run', () => {
  const a = setup({ max_ejection_percent: 100 }, 2);
  for (let i = 0; i < 3; i++) a.det.putResult(a.hosts[0]!, 'connect-failed');
  a.det.putResult(a.hosts[0]!, 'timeout');
  a.det.putResult(a.hosts[0]!, 'connect-failed');
  assert.equal(a.hosts[0]!.ejected, true);
  assert.equal(a.stat('ejections_enforced_consecutive_5xx'), 1);

  const b = setup({ max_ejection_percent: 100, split_external_local_origin_errors: true, consecutive_local_origin_failure: 3 }, 2);
  b.det.putResult(b.hosts[0]!, 'connect-failed');
  b.det.putResult(b.hosts[0]!, 'connect-failed');
  b.det.putResult(b.hosts[0]!, 200); // a response means the connection worked: the local run restarts
  b.det.putResult(b.hosts[0]!, 'connect-failed');
  b.det.putResult(b.hosts[0]!, 'connect-failed');
  assert.equal(b.hosts[0]!.ejected, false);
  b.det.putResult(b.hosts[0]!, 'timeout');
  assert.equal(b.hosts[0]!.ejected, true);
  assert.equal(b.stat('ejections_enforced_consecutive_local_origin_failure'), 1);
  assert.equal(b.stat('ejections_enforced_consecutive_5xx'), 0);
});

test('ejection lasts base_ejection_time × ejections, checked at interval sweeps, capped by max_ejection_time', () => {
  const { det, hosts, changes, advance } = setup({ max_ejection_percent: 100, interval: 1000, base_ejection_time: 3000, max_ejection_time: 5000 }, 2);
  const a = hosts[0]!;
  const eject = () => {
    for (let i = 0; i < 5; i++) det.putResult(a, 500);
    assert.equal(a.ejected, true);
  };
  eject();
  advance(2000);
  det.sweep();
  assert.equal(a.ejected, true);
  advance(1000);
  det.sweep();
  assert.equal(a.ejected, false, 'back after 3 s');
  eject(); // second ejection: 2 × 3 s = 6 s, capped to max_ejection_time 5 s
  advance(4000);
  det.sweep();
  assert.equal(a.ejected, true);
  advance(1000);
  det.sweep();
  assert.equal(a.ejected, false, 'back after 5 s');
  assert.deepEqual(changes, ['eject 8000', 'return 8000', 'eject 8000', 'return 8000']);
});

test('ejection time: second ejection doubles, capped by max_ejection_time', () => {
  const { det, hosts, advance } = setup({ max_ejection_percent: 100, interval: 1000, base_ejection_time: 3000 }, 2);
  const a = hosts[0]!;
  const eject = () => {
    for (let i = 0; i < 5; i++) det.putResult(a, 500);
    assert.equal(a.ejected, true);
  };
  eject();
  advance(3000);
  det.sweep();
  assert.equal(a.ejected, false);
  eject();
  advance(5000);
  det.sweep();
  assert.equal(a.ejected, true, '2nd ejection lasts 6 s');
  advance(1000);
  det.sweep();
  assert.equal(a.ejected, false);

  const capped = setup({ max_ejection_percent: 100, interval: 1000, base_ejection_time: 3000, max_ejection_time: 4000 }, 2);
  const b = capped.hosts[0]!;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 5; i++) capped.det.putResult(b, 500);
    capped.advance(4000);
    capped.det.sweep();
    assert.equal(b.ejected, false, `round ${round}: max_ejection_time caps the ejection at 4 s`);
  }
});

test('the backoff shrinks by one per sweep once the host stayed healthy an interval', () => {
  const { det, hosts, advance } = setup({ max_ejection_percent: 100, interval: 1000, base_ejection_time: 3000 }, 2);
  const a = hosts[0]!;
  for (let i = 0; i < 5; i++) det.putResult(a, 500);
  advance(3000);
  det.sweep(); // back; backoff 1
  advance(1000);
  det.sweep(); // healthy for an interval: backoff 0
  for (let i = 0; i < 5; i++) det.putResult(a, 500);
  advance(3000);
  det.sweep();
  assert.equal(a.ejected, false, 'the next ejection is base × 1 again');
});

test('max_ejection_percent: 100·(ejected+1)/hosts must stay within it; always_eject_one_host allows the first', () => {
  const five = (d: ReturnType<typeof setup>, h: Host) => {
    for (let i = 0; i < 5; i++) d.det.putResult(h, 500);
  };
  const d = setup({}, 3); // default 10%: 33% > 10% so nothing is ejected
  five(d, d.hosts[0]!);
  assert.equal(d.hosts[0]!.ejected, false);
  assert.equal(d.stat('ejections_overflow'), 1);

  const one = setup({ always_eject_one_host: true }, 3);
  five(one, one.hosts[0]!);
  five(one, one.hosts[1]!);
  assert.deepEqual(one.hosts.map((h) => h.ejected), [true, false, false]);
  assert.equal(one.stat('ejections_overflow'), 1);

  const half = setup({ max_ejection_percent: 50 }, 4);
  for (const h of half.hosts) five(half, h);
  assert.deepEqual(half.hosts.map((h) => h.ejected), [true, true, false, false]);
  assert.equal(half.stat('ejections_active'), 2);
});

test('enforcing percentage: detected always, enforced by chance', () => {
  const d = setup({ max_ejection_percent: 100, enforcing_consecutive_5xx: 30 }, 2, () => 0.5); // 50 ≥ 30: not enforced
  for (let i = 0; i < 5; i++) d.det.putResult(d.hosts[0]!, 500);
  assert.equal(d.hosts[0]!.ejected, false);
  assert.equal(d.stat('ejections_detected_consecutive_5xx'), 1);
  assert.equal(d.stat('ejections_enforced_consecutive_5xx'), 0);
  const e = setup({ max_ejection_percent: 100, enforcing_consecutive_5xx: 30 }, 2, () => 0.1);
  for (let i = 0; i < 5; i++) e.det.putResult(e.hosts[0]!, 500);
  assert.equal(e.hosts[0]!.ejected, true);
});

test('success rate: hosts below mean − stdev_factor·stdev of the last interval are ejected', () => {
  const d = setup({ max_ejection_percent: 100, consecutive_5xx: 1000, success_rate_request_volume: 10, success_rate_stdev_factor: 1000 }, 5);
  // Envoy's own example: {50, 100, 100, 100, 100} → mean 90, stdev 20, threshold (factor 1) 70
  d.hosts.forEach((h, i) => {
    for (let r = 0; r < 20; r++) d.det.putResult(h, i === 0 && r % 2 === 0 ? 500 : 200);
  });
  d.det.sweep(); // closes the interval the requests were in and judges it
  assert.equal(d.hosts[0]!.ejected, true);
  assert.deepEqual(d.det.successRate, [90, 70]);
  assert.equal(d.stat('ejections_enforced_success_rate'), 1);
  assert.equal(d.hosts.filter((h) => h.ejected).length, 1);
  assert.deepEqual(d.det.hostSuccessRate(d.hosts[1]!), [100, -1]);
});

test('success rate needs minimum_hosts hosts with request_volume requests', () => {
  const d = setup({ max_ejection_percent: 100, consecutive_5xx: 1000 }, 5); // volume 100 by default
  d.hosts.forEach((h, i) => {
    for (let r = 0; r < 99; r++) d.det.putResult(h, i === 0 ? 500 : 200);
  });
  d.det.sweep();
  assert.equal(d.hosts[0]!.ejected, false);
  assert.deepEqual(d.det.successRate, [-1, -1]);
});

test('failure percentage: ejects hosts failing ≥ threshold when enforced', () => {
  const cfg = { max_ejection_percent: 100, consecutive_5xx: 1000, enforcing_failure_percentage: 100, failure_percentage_minimum_hosts: 2, failure_percentage_request_volume: 10, failure_percentage_threshold: 50 };
  const d = setup(cfg, 3);
  d.hosts.forEach((h, i) => {
    for (let r = 0; r < 10; r++) d.det.putResult(h, i === 1 && r < 5 ? 503 : 200);
  });
  d.det.sweep();
  assert.deepEqual(d.hosts.map((h) => h.ejected), [false, true, false]);
  assert.equal(d.stat('ejections_enforced_failure_percentage'), 1);
  // requests of an interval are judged once: the next sweep sees an empty interval
  d.advance(1);
  d.det.sweep();
  assert.equal(d.stat('ejections_detected_failure_percentage'), 1);
});

test('removed hosts release their ejection; an active health check success unejects', () => {
  const d = setup({ max_ejection_percent: 100 }, 3);
  for (const h of d.hosts.slice(0, 2)) for (let i = 0; i < 5; i++) d.det.putResult(h, 500);
  assert.equal(d.stat('ejections_active'), 2);
  d.det.setHosts(d.hosts.slice(1));
  assert.equal(d.stat('ejections_active'), 1);
  d.det.healthCheckSucceeded(d.hosts[1]!);
  assert.equal(d.hosts[1]!.ejected, false);
  assert.equal(d.stat('ejections_active'), 0);
  d.det.putResult(d.hosts[0]!, 500); // a host no longer in the cluster is ignored
});
