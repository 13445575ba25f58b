import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUuid } from './uuid.js';

test('randomUuid returns distinct, well-formed version 4 UUIDs across batch refills', () => {
  const seen = new Set<string>();
  // several batches, so refills are covered
  for (let i = 0; i < 1000; i++) {
    const u = randomUuid();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(u);
  }
  assert.equal(seen.size, 1000);
});

test('randomUuid digits are spread over all hex values (not a constant pattern)', () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 500; i++) for (const c of randomUuid().replace(/-/g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
  assert.equal(counts.size, 16);
});
