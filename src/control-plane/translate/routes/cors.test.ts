import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corsPolicyConfig } from './cors.js';

test('corsPolicy → CorsPolicy as Istio writes it: matchers, joined lists, seconds, always enabled, FORWARD unless IGNORE', () => {
  assert.deepEqual(
    corsPolicyConfig({
      allowOrigins: [{ exact: 'https://a' }, { prefix: 'https://b' }, { regex: 'https://.*\\.c' }],
      allowOrigin: ['ignored when allowOrigins is set'],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['x-a', 'x-b'],
      exposeHeaders: ['x-c'],
      maxAge: '1h30m',
      allowCredentials: false,
      unmatchedPreflights: 'IGNORE',
    }),
    {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
      allow_origin_string_match: [{ exact: 'https://a' }, { prefix: 'https://b' }, { safe_regex: { regex: 'https://.*\\.c' } }],
      allow_methods: 'GET,POST',
      allow_headers: 'x-a,x-b',
      expose_headers: 'x-c',
      max_age: '5400',
      allow_credentials: false,
      filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
      forward_not_matching_preflights: false,
    },
  );
  // the deprecated allowOrigin list: exact matches; nothing else set → only what Istio always writes
  assert.deepEqual(corsPolicyConfig({ allowOrigin: ['https://old'] }), {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allow_origin_string_match: [{ exact: 'https://old' }],
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    forward_not_matching_preflights: true,
  });
  assert.equal(corsPolicyConfig({ unmatchedPreflights: 'FORWARD' }).forward_not_matching_preflights, true);
});
