import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../../common/errors.js';
import { StatsStore } from '../../../observability/stats.js';
import { compileLocalRateLimit } from './index.js';

const bucket = (max: number, fill = '1s') => ({ max_tokens: max, tokens_per_fill: max, fill_interval: fill === '1s' ? 1000 : Number(fill) });
const compile = (cfg: object) => compileLocalRateLimit({ stat_prefix: 'lrl', ...cfg }, { stats: new StatsStore(), path: 'f' });
const d = (...kv: string[]) => {
  const out = [];
  for (let i = 0; i < kv.length; i += 2) out.push({ key: kv[i]!, value: kv[i + 1]! });
  return out;
};

test('defaults: disabled and not enforced unless configured, status 429', () => {
  const c = compile({ token_bucket: bucket(1) });
  assert.deepEqual(c.enabled, { numerator: 0, denominator: 100 });
  assert.deepEqual(c.enforced, { numerator: 0, denominator: 100 });
  assert.equal(c.status, 429);
  assert.equal(c.vhRateLimits, 'OVERRIDE');
  assert.equal(c.xRateLimitHeaders, false);
});

test('status: an error status is kept, anything below 400 falls back to 429', () => {
  assert.equal(compile({ status: { code: 'ServiceUnavailable' } }).status, 503);
  assert.equal(compile({ status: { code: 'OK' } }).status, 429);
});

test('descriptors: matched ones take from their bucket; the default bucket only when none matched unless always_consume', () => {
  const cfg = { token_bucket: bucket(2), descriptors: [{ entries: d('k', 'v'), token_bucket: bucket(3) }, { entries: d('k', 'v', 'u', 'x'), token_bucket: bucket(1) }] };
  const b = compile({ ...cfg, always_consume_default_token_bucket: false }).buckets(0);
  for (let i = 0; i < 3; i++) assert.equal(b.take([d('k', 'v')]).allowed, true);
  assert.equal(b.take([d('k', 'v')]).allowed, false);
  assert.equal(b.take([d('k', 'v')]).bucket!.config.maxTokens, 3);
  // the default bucket was untouched
  assert.equal(b.take([d('k', 'other')]).allowed, true);
  assert.equal(b.take([]).allowed, true);
  assert.equal(b.take([]).allowed, false);
  // both matched: the most restrictive is reported and charged first
  const b2 = compile(cfg).buckets(0);
  const r = b2.take([d('k', 'v'), d('k', 'v', 'u', 'x')]);
  assert.equal(r.allowed, true);
  assert.equal(b2.take([d('k', 'v', 'u', 'x')]).allowed, false);
  // always_consume_default_token_bucket (default true): the default bucket (2) was charged too
  assert.equal(b2.take([d('k', 'v')]).allowed, true);
  assert.equal(b2.take([d('k', 'v')]).allowed, false);
});

test('no token bucket and no matching descriptor: allowed', () => {
  assert.equal(compile({}).buckets(0).take([]).allowed, true);
});

test('local_rate_limit_per_downstream_connection: one bucket set per connection', () => {
  const c = compile({ token_bucket: bucket(1), local_rate_limit_per_downstream_connection: true });
  assert.equal(c.buckets(1).take([]).allowed, true);
  assert.equal(c.buckets(1).take([]).allowed, false);
  assert.equal(c.buckets(2).take([]).allowed, true);
  const shared = compile({ token_bucket: bucket(1) });
  assert.equal(shared.buckets(1).take([]).allowed, true);
  assert.equal(shared.buckets(2).take([]).allowed, false);
});

test('invalid configs are rejected with field paths', () => {
  const bad = (cfg: object, re: RegExp) => assert.throws(() => compile(cfg), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  bad({ token_bucket: bucket(1, '20') }, /f\.token_bucket\.fill_interval: must be at least 50ms/);
  bad({ descriptors: [{ entries: d('k', 'v'), token_bucket: bucket(1, '10') }] }, /f\.descriptors\[0\]\.token_bucket\.fill_interval/);
  bad({ descriptors: [{ entries: d('k', 'v'), token_bucket: bucket(1) }, { entries: d('k', 'v'), token_bucket: bucket(2) }] }, /f\.descriptors\[1\]: duplicate descriptor/);
  bad({ descriptors: [{ entries: [], token_bucket: bucket(1) }] }, /f\.descriptors\[0\]\.entries/);
  bad({ filter_enforced: { default_value: { numerator: 2_000_000, denominator: 'MILLION' } } }, /f\.filter_enforced\.default_value\.numerator/);
  assert.throws(() => compileLocalRateLimit({}, { stats: new StatsStore(), path: 'f' }), /f\.stat_prefix/);
});
