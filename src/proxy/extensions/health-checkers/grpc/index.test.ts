import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeServingStatus, encodeHealthCheckRequest } from './index.js';

test('HealthCheckRequest is one length-prefixed message with field 1', () => {
  assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeHealthCheckRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
  const long = encodeHealthCheckRequest('x'.repeat(200)); // two-byte varint length
  assert.deepEqual([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
});

test('HealthCheckResponse status is read from field 1; unknown fields are skipped; malformed is -1', () => {
  const frame = (bytes: number[]) => Buffer.from([0, 0, 0, 0, bytes.length, ...bytes]);
  assert.equal(decodeServingStatus(frame([0x08, 1])), 1);
  assert.equal(decodeServingStatus(frame([])), 0);
  assert.equal(decodeServingStatus(frame([0x12, 2, 0x61, 0x62, 0x08, 2])), 2);
  assert.equal(decodeServingStatus(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), -1, 'compressed');
  assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 5, 0x08])), -1, 'truncated');
  assert.equal(decodeServingStatus(Buffer.alloc(0)), -1);
});
