import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultConfig, headerOps, retryPolicy } from './http-route.js';
import { routeMatch } from './match.js';

test('retries: Istio default when absent, none at 0 attempts, retryOn codes → retriable_status_codes', () => {
  const d = retryPolicy(undefined, false)!;
  assert.equal(d.num_retries, 2);
  assert.equal(d.retry_on, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
  assert.deepEqual(d.retriable_status_codes, [503]);
  assert.equal(d.retry_host_predicate[0].name, 'envoy.retry_host_predicates.previous_hosts');
  assert.equal(retryPolicy(undefined, true)!.retry_host_predicate, undefined, 'consistent hashing keeps the host');
  assert.equal(retryPolicy({ attempts: 0 }, false), undefined);
  const c = retryPolicy({ attempts: 3, retryOn: '5xx,503, 504', perTryTimeout: '2s' }, false)!;
  assert.deepEqual([c.num_retries, c.retry_on, c.retriable_status_codes, c.per_try_timeout], [3, '5xx,retriable-status-codes', [503, 504], '2s']);
  const k = retryPolicy({ attempts: 5 }, false)!;
  assert.deepEqual([k.num_retries, k.retriable_status_codes], [5, [503]], 'attempts alone keep the default conditions');
  assert.equal(retryPolicy({ attempts: 1, retryOn: 'reset' }, false)!.retriable_status_codes, undefined);
});

test('fault: percentage per million, deprecated percent per hundred, abort without percentage as Istio', () => {
  assert.deepEqual(faultConfig({ delay: { fixedDelay: '500ms', percentage: { value: 12.5 } } })!.delay, { fixed_delay: '0.5s', percentage: { numerator: 125000, denominator: 'MILLION' } });
  assert.deepEqual(faultConfig({ delay: { fixedDelay: '7s', percent: 100 } })!.delay.percentage, { numerator: 100, denominator: 'HUNDRED' });
  assert.deepEqual(faultConfig({ abort: { httpStatus: 500 } })!.abort, { http_status: 500 });
  assert.deepEqual(faultConfig({ abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } })!.abort, { grpc_status: 14, percentage: { numerator: 1000000, denominator: 'MILLION' } });
  assert.equal(faultConfig({}), undefined);
});

test('matches: uri kinds, ignoreUriCase, present/inverted headers, query parameters', () => {
  assert.deepEqual(routeMatch(undefined), { prefix: '/' });
  assert.deepEqual(routeMatch({ uri: { exact: '/a' }, ignoreUriCase: true }), { path: '/a', case_sensitive: false });
  assert.deepEqual(routeMatch({ uri: { regex: '/v[0-9]+/.*' } }), { safe_regex: { regex: '/v[0-9]+/.*' } });
  assert.deepEqual(routeMatch({ headers: { 'X-B': { prefix: 'b' }, 'x-a': {} }, withoutHeaders: { 'x-c': {} } }).headers, [
    { name: 'x-a', present_match: true },
    { name: 'x-b', string_match: { prefix: 'b' } },
    { name: 'x-c', present_match: true, invert_match: true },
  ]);
  assert.deepEqual(routeMatch({ queryParams: { v: { exact: '1' } } }).query_parameters, [{ name: 'v', string_match: { exact: '1' } }]);
});

test('header operations: set overwrites, add appends, keys sorted', () => {
  const h = headerOps({ set: { b: '2', a: '1' }, add: { c: '3' }, remove: ['d'] });
  assert.deepEqual(h.add.map((x) => [x.header.key, x.append_action]), [['a', 'OVERWRITE_IF_EXISTS_OR_ADD'], ['b', 'OVERWRITE_IF_EXISTS_OR_ADD'], ['c', 'APPEND_IF_EXISTS_OR_ADD']]);
  assert.deepEqual(h.remove, ['d']);
});
