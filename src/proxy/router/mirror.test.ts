import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/errors.js';
import { compileMirrorPolicies, shadowAuthority } from './mirror.js';

test('the -shadow suffix goes before the port', () => {
  assert.equal(shadowAuthority('foo'), 'foo-shadow');
  assert.equal(shadowAuthority('foo:80'), 'foo-shadow:80');
  assert.equal(shadowAuthority('cluster.local:8080'), 'cluster.local-shadow:8080');
  assert.equal(shadowAuthority('[::1]:80'), '[::1]-shadow:80');
  assert.equal(shadowAuthority('[::1]'), '[::1]-shadow');
  assert.equal(shadowAuthority('::1'), '::1-shadow');
});

test('mirror policies: every request by default, runtime_fraction otherwise, suffix can be disabled', () => {
  const [all, some, plain] = compileMirrorPolicies([
    { cluster: 'a' },
    { cluster: 'b', runtime_fraction: { default_value: { numerator: 25, denominator: 'TEN_THOUSAND' } } },
    { cluster_header: 'X-Mirror', disable_shadow_host_suffix_append: true },
  ], 'p');
  assert.deepEqual({ ...all, fraction: { ...all!.fraction } }, { cluster: 'a', clusterHeader: undefined, fraction: { numerator: 100, denominator: 100 }, appendShadowSuffix: true });
  assert.deepEqual({ ...some!.fraction }, { numerator: 25, denominator: 10_000 });
  assert.equal(plain!.clusterHeader, 'x-mirror');
  assert.equal(plain!.appendShadowSuffix, false);
  // a percentage over 100 is a mistake worth reporting
  assert.throws(() => compileMirrorPolicies([{ cluster: 'a', runtime_fraction: { default_value: { numerator: 250 } } }], 'p'), (e: ConfigError) => e.path === 'p[0].runtime_fraction.default_value.numerator');
  assert.throws(() => compileMirrorPolicies([{ cluster: 'a', runtime_fraction: { default_value: { numerator: 1, denominator: 'THOUSAND' as any } } }], 'p'), (e: ConfigError) => e.path === 'p[0].runtime_fraction.default_value.denominator');
});
