import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/errors.js';
import { HeaderMap } from '../http/headers.js';
import { compileRetryPolicy, NO_RETRY_POLICY, parseRetryOn, RetryOn, withRequestHeaders } from './retry-policy.js';

test('Envoy defaults: one retry, 25 ms base back-off capped at 10x, one host-selection reattempt', () => {
  const p = compileRetryPolicy({ retry_on: '5xx' }, 'rp');
  assert.equal(p.retryOn, RetryOn['5xx']);
  assert.equal(p.numRetries, 1);
  assert.equal(p.backOffBaseMs, 25);
  assert.equal(p.backOffMaxMs, 250);
  assert.equal(p.hostSelectionMaxAttempts, 1);
  assert.equal(p.perTryTimeoutMs, 0);
  assert.equal(p.previousHosts, false);
  // max defaults to 10x a configured base
  assert.equal(compileRetryPolicy({ retry_on: '5xx', retry_back_off: { base_interval: 100 } }, 'rp').backOffMaxMs, 1000);
});

test('retry_on mixes HTTP and gRPC tokens; unknown tokens are rejected with the field path', () => {
  const p = compileRetryPolicy({ retry_on: 'connect-failure, reset ,unavailable,cancelled' }, 'r.retry_policy');
  assert.equal(p.retryOn, RetryOn['connect-failure'] | RetryOn.reset | RetryOn.unavailable | RetryOn.cancelled);
  assert.throws(() => compileRetryPolicy({ retry_on: '5xx,bogus' }, 'r.retry_policy'), (e: ConfigError) => e.path === 'r.retry_policy.retry_on' && /bogus/.test(e.message));
  // headers only take their own kind
  assert.deepEqual(parseRetryOn('5xx,unavailable', 'http'), { bits: RetryOn['5xx'], unknown: ['unavailable'] });
  assert.deepEqual(parseRetryOn('5xx,unavailable', 'grpc'), { bits: RetryOn.unavailable, unknown: ['5xx'] });
});

test('bad values are rejected at load time', () => {
  const bad = (cfg: object, path: string) => assert.throws(() => compileRetryPolicy(cfg, 'rp'), (e: ConfigError) => e.path === path);
  bad({ retry_on: '5xx', per_try_timeout: -1 }, 'rp.per_try_timeout');
  bad({ retry_on: '5xx', retry_back_off: { base_interval: 100, max_interval: 50 } }, 'rp.retry_back_off.max_interval');
  bad({ retry_on: '5xx', retry_back_off: { max_interval: 50 } }, 'rp.retry_back_off.base_interval');
  bad({ retry_on: '5xx', retriable_status_codes: [42] }, 'rp.retriable_status_codes[0]');
  bad({ retry_on: '5xx', retry_host_predicate: [{ name: 'envoy.retry_host_predicates.omit_canary_hosts' }] }, 'rp.retry_host_predicate[0]');
  bad({ retry_on: '5xx', rate_limited_retry_back_off: {} }, 'rp.rate_limited_retry_back_off');
  const ok = compileRetryPolicy({ retry_on: '5xx', retry_host_predicate: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }] }, 'rp');
  assert.equal(ok.previousHosts, true);
});

test('x-envoy-retry-* headers add to the policy and are consumed', () => {
  const h = new HeaderMap(['x-envoy-retry-on', '5xx,nonsense', 'x-envoy-max-retries', '4', 'x-envoy-retry-grpc-on', 'unavailable', 'x-envoy-retriable-status-codes', '418, x', 'x-envoy-retriable-header-names', 'X-Retry-Me']);
  const p = withRequestHeaders(NO_RETRY_POLICY, h)!;
  assert.equal(p.retryOn, RetryOn['5xx'] | RetryOn.unavailable);
  assert.equal(p.numRetries, 4);
  assert.ok(p.retriableStatusCodes.has(418));
  assert.ok(p.retriableHeaders[0]!.matches(new HeaderMap(['x-retry-me', '1'])));
  assert.equal(h.raw.length, 0);
  // no condition at all: no retry state
  assert.equal(withRequestHeaders(NO_RETRY_POLICY, new HeaderMap(['x-envoy-max-retries', '3'])), null);
});

test('retriable_request_headers gate retries on the request', () => {
  const p = compileRetryPolicy({ retry_on: '5xx', retriable_request_headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, 'rp');
  assert.ok(withRequestHeaders(p, new HeaderMap([':method', 'GET'])));
  assert.equal(withRequestHeaders(p, new HeaderMap([':method', 'POST'])), null);
});
