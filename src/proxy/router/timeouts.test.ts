import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderMap } from '../http/headers.js';
import type { RouteActionEntry } from './route-table.js';
import { attemptTimeouts, formatGrpcTimeout, parseGrpcTimeout, streamTimeouts } from './timeouts.js';

const entry = (e: Partial<RouteActionEntry>) => ({ timeoutMs: 15000, idleTimeoutMs: undefined, maxStreamDuration: undefined, maxGrpcTimeoutMs: undefined, grpcTimeoutOffsetMs: undefined, ...e }) as RouteActionEntry;
const opts = { respectExpected: false, insertExpected: true };

test('grpc-timeout values', () => {
  assert.equal(parseGrpcTimeout('100m'), 100);
  assert.equal(parseGrpcTimeout('2S'), 2000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('1500u'), 1);
  assert.equal(parseGrpcTimeout('123456789m'), undefined); // at most 8 digits
  assert.equal(parseGrpcTimeout('10'), undefined);
  assert.equal(formatGrpcTimeout(250), '250m');
  assert.equal(formatGrpcTimeout(200_000_000), '200000S');
});

test('per-try timeout: from the policy or a trusted header, ignored when not below the route timeout', () => {
  let h = new HeaderMap();
  assert.deepEqual(attemptTimeouts(entry({}), 500, 0, h, opts), { globalMs: 15000, perTryMs: 500, perTryIdleMs: 0 });
  assert.equal(h.get('x-envoy-expected-rq-timeout-ms'), '500');
  h = new HeaderMap(['x-envoy-upstream-rq-per-try-timeout-ms', '300', 'x-envoy-upstream-rq-timeout-ms', '1000']);
  assert.deepEqual(attemptTimeouts(entry({}), 500, 0, h, opts), { globalMs: 1000, perTryMs: 300, perTryIdleMs: 0 });
  assert.equal(h.has('x-envoy-upstream-rq-per-try-timeout-ms'), false);
  h = new HeaderMap();
  assert.equal(attemptTimeouts(entry({ timeoutMs: 400 }), 500, 0, h, opts).perTryMs, 0);
  assert.equal(h.get('x-envoy-expected-rq-timeout-ms'), '400');
  // no route timeout: the per-try one stands
  assert.equal(attemptTimeouts(entry({ timeoutMs: 0 }), 500, 0, new HeaderMap(), opts).perTryMs, 500);
});

test('deprecated max_grpc_timeout caps the client deadline (0 = no cap)', () => {
  const grpc = (t?: string) => new HeaderMap(['content-type', 'application/grpc', ...(t ? ['grpc-timeout', t] : [])]);
  assert.equal(attemptTimeouts(entry({ maxGrpcTimeoutMs: 1000 }), 0, 0, grpc('5S'), opts).globalMs, 1000);
  assert.equal(attemptTimeouts(entry({ maxGrpcTimeoutMs: 1000 }), 0, 0, grpc('200m'), opts).globalMs, 200);
  assert.equal(attemptTimeouts(entry({ maxGrpcTimeoutMs: 0 }), 0, 0, grpc(), opts).globalMs, 0);
  assert.equal(attemptTimeouts(entry({ maxGrpcTimeoutMs: 0, grpcTimeoutOffsetMs: 50 }), 0, 0, grpc('200m'), opts).globalMs, 150);
});

test('route idle_timeout and max_stream_duration (with grpc-timeout when grpc_timeout_header_max is set)', () => {
  const plain = new HeaderMap();
  assert.deepEqual(streamTimeouts(entry({}), plain, 0), { idleMs: undefined, durationMs: undefined, grpcTimeout: undefined });
  assert.equal(streamTimeouts(entry({}), plain, 700).durationMs, 700);
  assert.equal(streamTimeouts(entry({ maxStreamDuration: { max_stream_duration: 0 } }), plain, 700).durationMs, undefined);
  assert.equal(streamTimeouts(entry({ idleTimeoutMs: 0 }), plain, 0).idleMs, 0);
  const grpc = new HeaderMap(['content-type', 'application/grpc', 'grpc-timeout', '3S']);
  // the header is ignored unless grpc_timeout_header_max is present
  assert.equal(streamTimeouts(entry({ maxStreamDuration: { max_stream_duration: 10_000 } }), grpc, 0).durationMs, 10_000);
  assert.deepEqual(streamTimeouts(entry({ maxStreamDuration: { grpc_timeout_header_max: 0 } }), grpc, 0), { idleMs: undefined, durationMs: 3000, grpcTimeout: '3000m' });
  assert.equal(streamTimeouts(entry({ maxStreamDuration: { grpc_timeout_header_max: 1000 } }), grpc, 0).durationMs, 1000);
  assert.equal(streamTimeouts(entry({ maxStreamDuration: { grpc_timeout_header_max: 0, grpc_timeout_header_offset: 500 } }), grpc, 0).durationMs, 2500);
});

test('respect_expected_rq_timeout: the announced budget wins, else x-envoy-upstream-rq-timeout-ms', () => {
  const o = { respectExpected: true, insertExpected: false };
  assert.equal(attemptTimeouts(entry({}), 0, 0, new HeaderMap(['x-envoy-expected-rq-timeout-ms', '700', 'x-envoy-upstream-rq-timeout-ms', '900']), o).globalMs, 700);
  const h = new HeaderMap(['x-envoy-upstream-rq-timeout-ms', '900']);
  assert.equal(attemptTimeouts(entry({}), 0, 0, h, o).globalMs, 900);
  assert.equal(h.has('x-envoy-upstream-rq-timeout-ms'), false);
});
