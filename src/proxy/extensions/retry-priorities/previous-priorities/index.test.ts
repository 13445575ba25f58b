import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../registry.js';
import { ConfigError } from '../../../../common/errors.js';
import * as roundRobin from '../../load-balancers/round-robin/index.js';
import { StatsStore } from '../../../observability/stats.js';
import { compileRetryPolicy } from '../../../router/retry-policy.js';
import { RetryState, retryStats } from '../../../router/retry-state.js';
import { Host } from '../../../upstream/host.js';
import { PrioritySet } from '../../../upstream/priority.js';
import { PreviousPriorities, TYPE_URL } from './index.js';

const at = (priority: number) => new Host('10.0.0.1', 1000 + priority, { priority });

test('the proto comment example: healths {100, 50, 50} → {100, 0, 0}, and {0, 50, 50} once P0 was tried', () => {
  const rp = new PreviousPriorities(1);
  const original = [100, 0, 0];
  assert.deepEqual(rp.determinePriorityLoad([100, 50, 50], original), original);
  rp.onHostAttempted(at(0));
  assert.deepEqual(rp.determinePriorityLoad([100, 50, 50], original), [0, 50, 50]);
});

test('update_frequency 2 (Istio): the first retry keeps the load, the second leaves the priorities tried', () => {
  const rp = new PreviousPriorities(2);
  const health = [100, 100, 100];
  const original = [100, 0, 0];
  rp.onHostAttempted(at(0));
  assert.deepEqual(rp.determinePriorityLoad(health, original), original);
  rp.onHostAttempted(at(0));
  assert.deepEqual(rp.determinePriorityLoad(health, original), [0, 100, 0]);
  // between updates the last adjusted load stands
  rp.onHostAttempted(at(1));
  assert.deepEqual(rp.determinePriorityLoad(health, original), [0, 100, 0]);
  rp.onHostAttempted(at(1));
  assert.deepEqual(rp.determinePriorityLoad(health, original), [0, 0, 100]);
  // every priority tried: start over from the original load
  rp.onHostAttempted(at(2));
  rp.onHostAttempted(at(2));
  assert.deepEqual(rp.determinePriorityLoad(health, original), [100, 0, 0]);
});

test('unhealthy priorities: the sequence of the proto comment (P0 100 %, P1 0 %, P2 50 %)', () => {
  const rp = new PreviousPriorities(1);
  const health = [100, 0, 50];
  const original = [100, 0, 0];
  const seq: number[][] = [];
  for (const p of [0, 2, 0]) {
    rp.onHostAttempted(at(p));
    seq.push([...rp.determinePriorityLoad(health, original)]);
  }
  // after P0: only P2 is left; after P2: nothing healthy is left, so reset (original load); after P0 again: P2
  assert.deepEqual(seq, [[0, 0, 100], [100, 0, 0], [0, 0, 100]]);
  // nothing healthy at all: the original load, untouched
  const none = new PreviousPriorities(1);
  none.onHostAttempted(at(0));
  assert.deepEqual(none.determinePriorityLoad([0, 0], [100, 0]), [100, 0]);
});

test('retry_priority compiles through the registry; a bad config or an unknown extension is rejected', () => {
  const p = compileRetryPolicy({ retry_on: '5xx', retry_priority: { name: 'x', typed_config: { '@type': TYPE_URL, update_frequency: 2 } } }, 'rp');
  assert.ok(p.retryPriority);
  assert.throws(
    () => compileRetryPolicy({ retry_on: '5xx', retry_priority: { typed_config: { '@type': TYPE_URL } } }, 'rp'),
    (e: unknown) => e instanceof ConfigError && e.path === 'rp.retry_priority.typed_config.update_frequency',
  );
  assert.throws(
    () => compileRetryPolicy({ retry_on: '5xx', retry_priority: { name: 'envoy.retry_priorities.other' } }, 'rp'),
    (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'rp.retry_priority',
  );
});

test("a cluster's pick follows the request's retry priority: the third attempt leaves P0 for P1", () => {
  const ps = new PrioritySet({ overprovisioningFactor: 140, panicThreshold: 50, localityWeighted: false }, roundRobin.create, {});
  const p0 = [new Host('10.0.0.1', 1, { priority: 0 })];
  const p1 = [new Host('10.0.0.2', 1, { priority: 1 })];
  ps.update([p0, p1], () => true);
  const policy = compileRetryPolicy({ retry_on: '5xx', num_retries: 3, retry_priority: { name: 'x', typed_config: { '@type': TYPE_URL, update_frequency: 2 } } }, 'rp');
  const state = new RetryState(policy, retryStats(new StatsStore()));
  const picks: string[] = [];
  let host = ps.chooseHost(undefined)!;
  for (let i = 0; i < 4; i++) {
    picks.push(host.address);
    state.onHostAttempted(host);
    host = ps.chooseHost({ shouldSkip: state.hostFilter(), maxPicks: state.hostSelectionPicks, retryPriority: state.retryPriority })!;
  }
  assert.deepEqual(picks, ['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.2']);
  // without a retry priority every attempt stays on the healthy P0
  const plain = new RetryState(compileRetryPolicy({ retry_on: '5xx', num_retries: 3 }, 'rp'), retryStats(new StatsStore()));
  plain.onHostAttempted(p0[0]!);
  plain.onHostAttempted(p0[0]!);
  assert.equal(plain.hostFilter(), undefined);
  assert.equal(plain.retryPriority, undefined);
  assert.equal(ps.chooseHost(undefined), p0[0]);
});
