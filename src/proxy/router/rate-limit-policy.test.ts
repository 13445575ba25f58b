import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/errors.js';
import { HeaderMap } from '../http/headers.js';
import { compileRateLimitPolicy, type Descriptor } from './rate-limit-policy.js';
import { compileRouteConfiguration } from './route-table.js';

const input = (headers: Record<string, string>) => ({ headers: HeaderMap.from(headers), remoteAddress: '10.1.2.3:5555', clusterName: 'svc' });
const run = (policy: ReturnType<typeof compileRateLimitPolicy>, headers: Record<string, string>, stage = 0) => {
  const out: Descriptor[] = [];
  policy.populate(stage, input(headers), out);
  return out;
};

test('each rate limit builds one descriptor from its actions, in order', () => {
  const p = compileRateLimitPolicy(
    [
      { actions: [{ generic_key: { descriptor_value: 'api' } }, { request_headers: { header_name: 'X-User', descriptor_key: 'user' } }, { remote_address: {} }] },
      { actions: [{ destination_cluster: {} }] },
      { stage: 1, actions: [{ generic_key: { descriptor_key: 'k', descriptor_value: 'stage1' } }] },
    ],
    'rl',
  );
  assert.deepEqual(run(p, { 'x-user': 'ann' }), [
    [{ key: 'generic_key', value: 'api' }, { key: 'user', value: 'ann' }, { key: 'remote_address', value: '10.1.2.3' }],
    [{ key: 'destination_cluster', value: 'svc' }],
  ]);
  assert.deepEqual(run(p, {}, 1), [[{ key: 'k', value: 'stage1' }]]);
});

test('a missing header drops the whole descriptor unless skip_if_absent; header_value_match honours expect_match', () => {
  const p = compileRateLimitPolicy(
    [
      { actions: [{ generic_key: { descriptor_value: 'a' } }, { request_headers: { header_name: 'x-a', descriptor_key: 'a' } }] },
      { actions: [{ generic_key: { descriptor_value: 'b' } }, { request_headers: { header_name: 'x-b', descriptor_key: 'b', skip_if_absent: true } }] },
      { actions: [{ header_value_match: { descriptor_value: 'post', headers: [{ name: ':method', exact_match: 'POST' }] } }] },
      { actions: [{ header_value_match: { descriptor_key: 'nm', descriptor_value: 'not-post', expect_match: false, headers: [{ name: ':method', exact_match: 'POST' }] } }] },
    ],
    'rl',
  );
  assert.deepEqual(run(p, { ':method': 'GET' }), [[{ key: 'generic_key', value: 'b' }], [{ key: 'nm', value: 'not-post' }]]);
  assert.deepEqual(run(p, { ':method': 'POST', 'x-a': '1' }).map((d) => d.map((e) => e.value).join('+')), ['a+1', 'b', 'post']);
});

test('invalid actions are rejected with their path', () => {
  const bad = (list: any[], re: RegExp) => assert.throws(() => compileRateLimitPolicy(list, 'vh.rate_limits'), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  bad([{ actions: [] }], /vh\.rate_limits\[0\]\.actions: at least one action/);
  bad([{ actions: [{ generic_key: {} }] }], /vh\.rate_limits\[0\]\.actions\[0\]\.generic_key\.descriptor_value/);
  bad([{ actions: [{ request_headers: { header_name: 'x' } }] }], /request_headers\.descriptor_key/);
  bad([{ stage: 11, actions: [{ remote_address: {} }] }], /vh\.rate_limits\[0\]\.stage/);
});

test('the route table compiles route and virtual host rate_limits once', () => {
  const rt = compileRouteConfiguration({
    virtual_hosts: [{
      name: 'v',
      domains: ['*'],
      rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'vh' } }] }],
      routes: [
        { match: { prefix: '/r' }, route: { cluster: 'c', rate_limits: [{ actions: [{ generic_key: { descriptor_value: 'route' } }] }], include_vh_rate_limits: true } },
        { match: { prefix: '/' }, route: { cluster: 'c' } },
      ],
    }],
  });
  const r = rt.route(HeaderMap.from({ ':authority': 'h', ':path': '/r', ':method': 'GET' }))!;
  assert.equal(r.entry.kind, 'route');
  if (r.entry.kind !== 'route') return;
  assert.equal(r.entry.includeVhRateLimits, true);
  assert.deepEqual(run(r.entry.rateLimits, {}), [[{ key: 'generic_key', value: 'route' }]]);
  assert.deepEqual(run(r.virtualHost.rateLimits, {}), [[{ key: 'generic_key', value: 'vh' }]]);
  const other = rt.route(HeaderMap.from({ ':authority': 'h', ':path': '/x', ':method': 'GET' }))!;
  assert.equal(other.entry.kind === 'route' && other.entry.rateLimits.empty, true);
});
