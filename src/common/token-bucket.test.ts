import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from './errors.js';
import { compileTokenBucket, TokenBucket } from './token-bucket.js';

function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('starts full, refills tokens_per_fill per whole fill_interval, never above max_tokens', () => {
  const c = clock();
  const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 100 }, c.now);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), true);
  assert.equal(b.consume(), false);
  c.t += 99; // not a whole interval yet: Envoy refills in steps, not continuously
  assert.equal(b.consume(), false);
  c.t += 1;
  assert.equal(b.remaining(), 2);
  c.t += 1000; // ten more steps, capped at max_tokens
  assert.equal(b.remaining(), 3);
  assert.equal(b.isFull(), true);
});

test('fill steps stay on the grid of the creation time', () => {
  const c = clock(0);
  const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 }, c.now);
  b.consume();
  c.t = 150;
  assert.equal(b.consume(), true); // the step at 100
  assert.equal(b.msUntilNextFill(), 50); // next step at 200, not 250
  c.t = 199;
  assert.equal(b.consume(), false);
  c.t = 200;
  assert.equal(b.consume(), true);
});

test('resetSeconds: the interval minus whole seconds elapsed since the last fill', () => {
  const c = clock(0);
  const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 }, c.now);
  assert.equal(b.resetSeconds(), 60);
  c.t = 10_500;
  assert.equal(b.resetSeconds(), 50);
  const short = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 }, c.now);
  c.t += 900;
  assert.equal(short.resetSeconds(), 1);
});

test('compileTokenBucket validates with field paths', () => {
  assert.deepEqual(compileTokenBucket({ max_tokens: 5, fill_interval: 1000 }, 'tb'), { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: 1000 });
  const bad = (tb: object, path: RegExp) => assert.throws(() => compileTokenBucket(tb, 'x.token_bucket'), (e: unknown) => e instanceof ConfigError && path.test(e.message));
  bad({ max_tokens: 1, fill_interval: 49 }, /x\.token_bucket\.fill_interval: must be at least 50ms/);
  bad({ max_tokens: 0, fill_interval: 100 }, /x\.token_bucket\.max_tokens/);
  bad({ max_tokens: 1, tokens_per_fill: 0, fill_interval: 100 }, /x\.token_bucket\.tokens_per_fill/);
  bad({ max_tokens: 1 }, /x\.token_bucket\.fill_interval: a fill interval is required/);
});
