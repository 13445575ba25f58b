import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from './errors.js';
import { compileFractionalPercent, percentHit, PERCENT_0 } from './fractional-percent.js';

test('denominators, defaults and the draw', () => {
  assert.deepEqual(compileFractionalPercent({ numerator: 5, denominator: 'TEN_THOUSAND' }, 'p', PERCENT_0), { numerator: 5, denominator: 10_000 });
  assert.deepEqual(compileFractionalPercent({}, 'p', PERCENT_0), { numerator: 0, denominator: 100 });
  assert.equal(compileFractionalPercent(undefined, 'p', PERCENT_0), PERCENT_0);
  const p = compileFractionalPercent({ numerator: 25, denominator: 'MILLION' }, 'p', PERCENT_0);
  assert.equal(percentHit(p, () => 24.9 / 1e6), true);
  assert.equal(percentHit(p, () => 25 / 1e6), false);
  assert.equal(percentHit({ numerator: 100, denominator: 100 }, () => 0.999999), true);
  assert.equal(percentHit({ numerator: 0, denominator: 100 }, () => 0), false);
});

test('a numerator above its denominator is rejected with the field path', () => {
  assert.throws(
    () => compileFractionalPercent({ numerator: 101 }, 'cfg.percentage', PERCENT_0),
    (e: unknown) => e instanceof ConfigError && /cfg\.percentage\.numerator: 101 is more than the denominator HUNDRED/.test(e.message),
  );
  assert.doesNotThrow(() => compileFractionalPercent({ numerator: 1_000_000, denominator: 'MILLION' }, 'p', PERCENT_0));
});
