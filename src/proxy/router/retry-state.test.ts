import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderMap } from '../http/headers.js';
import { StatsStore } from '../observability/stats.js';
import { Host } from '../upstream/host.js';
import { compileRetryPolicy } from './retry-policy.js';
import { RequestBuffer, RetryState, retryStats } from './retry-state.js';

const resp = (...kv: string[]) => new HeaderMap(kv);
function state(cfg: object, opts: { random?: () => number; admission?: { tryRetry(): boolean; releaseRetry(): void } } = {}) {
  const scope = new StatsStore().scope('cluster.c.');
  const stats = retryStats(scope);
  return { rs: new RetryState(compileRetryPolicy({ retry_on: '5xx', ...cfg }, 'rp'), stats, opts), stats };
}

test('which responses each condition retries', () => {
  const would = (retry_on: string, h: HeaderMap, extra: object = {}) => state({ retry_on, ...extra }).rs.wouldRetryHeaders(h);
  assert.equal(would('5xx', resp(':status', '500')), true);
  assert.equal(would('5xx', resp(':status', '404')), false);
  assert.equal(would('gateway-error', resp(':status', '500')), false);
  assert.equal(would('gateway-error', resp(':status', '503')), true);
  assert.equal(would('retriable-4xx', resp(':status', '409')), true);
  assert.equal(would('retriable-4xx', resp(':status', '400')), false);
  assert.equal(would('retriable-status-codes', resp(':status', '418')), false);
  assert.equal(would('retriable-status-codes', resp(':status', '418'), { retriable_status_codes: [418] }), true);
  assert.equal(would('retriable-headers', resp(':status', '200', 'x-try-again', 'yes'), { retriable_headers: [{ name: 'x-try-again', present_match: true }] }), true);
  assert.equal(would('envoy-ratelimited', resp(':status', '429', 'x-envoy-ratelimited', 'true')), true);
  assert.equal(would('unavailable', resp(':status', '200', 'grpc-status', '14')), true);
  assert.equal(would('unavailable', resp(':status', '200', 'grpc-status', '13')), false);
  assert.equal(would('internal,deadline-exceeded', resp(':status', '200', 'grpc-status', '4')), true);
  // an overloaded upstream Envoy is never retried
  assert.equal(would('5xx', resp(':status', '503', 'x-envoy-overloaded', 'true')), false);
});

test('which failures each condition retries', () => {
  const would = (retry_on: string, f: Parameters<RetryState['wouldRetryFailure']>[0]) => state({ retry_on }).rs.wouldRetryFailure(f);
  assert.equal(would('connect-failure', 'connect-failure'), true);
  assert.equal(would('connect-failure', 'remote-reset'), false);
  assert.equal(would('reset', 'remote-reset'), true);
  assert.equal(would('5xx', 'connect-failure'), true);
  assert.equal(would('5xx', 'per-try-timeout'), true);
  assert.equal(would('gateway-error', 'per-try-timeout'), true);
  assert.equal(would('connect-failure', 'per-try-timeout'), false);
  assert.equal(would('refused-stream', 'refused-stream'), true);
  assert.equal(would('5xx,reset,connect-failure', 'overflow'), false);
});

test('num_retries bounds retries; the outcome after a retry counts as a retry success', () => {
  const { rs, stats } = state({ num_retries: 2 });
  const r503 = resp(':status', '503');
  assert.equal(rs.shouldRetryHeaders(r503), 'retry');
  assert.equal(rs.shouldRetryHeaders(r503), 'retry');
  assert.equal(rs.shouldRetryHeaders(r503), 'limit-exceeded');
  assert.equal(stats.upstream_rq_retry.value, 2);
  assert.equal(stats.upstream_rq_retry_limit_exceeded.value, 1);
  assert.equal(stats.upstream_rq_retry_success.value, 0);
  const b = state({});
  b.rs.shouldRetryFailure('connect-failure');
  assert.equal(b.rs.shouldRetryHeaders(resp(':status', '200')), 'no');
  assert.equal(b.stats.upstream_rq_retry_success.value, 1);
});

test('the circuit breaker admission holds a slot until the retried outcome is known', () => {
  let open = 0;
  let allow = true;
  const admission = { tryRetry: () => (allow ? (open++, true) : false), releaseRetry: () => open-- };
  const { rs } = state({ num_retries: 3 }, { admission });
  assert.equal(rs.shouldRetryFailure('remote-reset'), 'retry');
  assert.equal(open, 1);
  allow = false;
  assert.equal(rs.shouldRetryFailure('remote-reset'), 'overflow');
  assert.equal(open, 0);
  allow = true;
  assert.equal(rs.shouldRetryFailure('remote-reset'), 'retry');
  rs.release();
  assert.equal(open, 0);
});

test('back-off is fully jittered and exponential: [0,25), [0,75), [0,175), capped at 250', () => {
  const { rs } = state({ num_retries: 10 }, { random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => rs.nextBackOffMs()), [24, 74, 174, 250, 250]);
  const low = state({}, { random: () => 0 }).rs;
  assert.equal(low.nextBackOffMs(), 0);
});

test('previous_hosts rejects tried hosts up to host_selection_retry_max_attempts times', () => {
  const a = new Host('10.0.0.1', 80);
  const b = new Host('10.0.0.2', 80);
  const { rs } = state({ retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }], host_selection_retry_max_attempts: 2 });
  assert.equal(rs.hostFilter(), undefined);
  rs.onHostAttempted(a);
  const skip = rs.hostFilter()!;
  assert.equal(skip(b), false);
  assert.equal(skip(a), true);
  assert.equal(skip(a), true);
  assert.equal(skip(a), false); // out of reattempts: the balancer's pick stands
  assert.equal(state({}).rs.hostFilter(), undefined);
});

test('the request buffer gives up past its limit', () => {
  const b = new RequestBuffer(10);
  assert.equal(b.add(Buffer.alloc(6)), true);
  assert.equal(b.add(Buffer.alloc(4)), true);
  assert.equal(b.body.length, 2);
  assert.equal(b.add(Buffer.alloc(1)), false);
  assert.equal(b.overflowed, true);
  assert.equal(b.body.length, 0);
  assert.equal(b.add(Buffer.alloc(0)), false);
});
