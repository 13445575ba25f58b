import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { healthCheckFilter } from './index.js';

function setup(config: any, opts: { failed?: boolean; clusters?: Record<string, { total: number; healthy: number }> } = {}) {
  const state = { failed: opts.failed ?? false };
  const clusterManager = {
    get: (name: string) => {
      const c = opts.clusters?.[name];
      return c && { stats: { membership_total: { value: c.total }, membership_healthy: { value: c.healthy } } };
    },
  };
  const ctx = { clusterManager, stats: new StatsStore(), statPrefix: 'http.x.', path: 'f', name: 'hc', server: { healthCheckFailed: () => state.failed } } as unknown as FilterFactoryContext;
  const make = healthCheckFilter.create({ headers: [{ name: ':path', string_match: { exact: '/healthz' } }], ...config }, ctx);
  const run = (path: string, endStream = true) => {
    const replies: { status: number; headers?: [string, string][]; details?: string }[] = [];
    const streamInfo = { healthCheck: false };
    const cb = { streamInfo, sendLocalReply: (status: number, _b: unknown, o: any) => replies.push({ status, headers: o?.headers, details: o?.details }) } as unknown as FilterCallbacks;
    const f = make(cb);
    const status = f.decodeHeaders!(new HeaderMap([':method', 'GET', ':path', path]), endStream);
    return { status, replies, f, healthCheck: streamInfo.healthCheck };
  };
  return { state, run };
}

test('non-pass-through: answers matching requests 200, or 503 with x-envoy-immediate-health-check-fail when failed', () => {
  const { state, run } = setup({ pass_through_mode: false });
  const other = run('/other');
  assert.equal(other.status, 'continue');
  assert.equal(other.replies.length, 0);
  assert.equal(other.healthCheck, false);
  const hc = run('/healthz');
  assert.equal(hc.replies[0]!.status, 200);
  assert.equal(hc.healthCheck, true, 'marked for not_health_check_filter');
  state.failed = true;
  const r = run('/healthz');
  assert.equal(r.status, 'stop');
  assert.deepEqual(r.replies, [{ status: 503, headers: [['x-envoy-immediate-health-check-fail', 'true']], details: 'health_check_failed' }]);
  // a request with a body is answered at its end
  state.failed = false;
  const withBody = run('/healthz', false);
  assert.equal(withBody.replies.length, 0);
  assert.equal(withBody.f.decodeData!(Buffer.from('x'), true), 'stop');
  assert.equal(withBody.replies[0]!.status, 200);
});

test('pass-through: forwards unless failed; the response is marked when the server failed meanwhile', () => {
  const { state, run } = setup({ pass_through_mode: true });
  const r = run('/healthz');
  assert.equal(r.status, 'continue');
  assert.equal(r.replies.length, 0);
  state.failed = true;
  const h = new HeaderMap([':status', '200']);
  r.f.encodeHeaders!(h, true);
  assert.equal(h.get('x-envoy-immediate-health-check-fail'), 'true');
  assert.equal(run('/healthz').replies[0]!.status, 503);
});

test('cluster_min_healthy_percentages: unknown, empty or too unhealthy clusters answer 503', () => {
  const pct = (v: number) => ({ value: v });
  const clusters = { good: { total: 4, healthy: 2 }, bad: { total: 4, healthy: 1 }, empty: { total: 0, healthy: 0 } };
  const answer = (m: Record<string, unknown>) => setup({ pass_through_mode: false, cluster_min_healthy_percentages: m }, { clusters }).run('/healthz').replies[0];
  assert.equal(answer({ good: pct(50) })!.status, 200);
  assert.deepEqual(answer({ bad: pct(50.9) }), { status: 503, headers: undefined, details: 'health_check_failed_cluster_unhealthy' });
  assert.equal(answer({ empty: pct(0) })!.status, 200);
  assert.equal(answer({ empty: pct(10) })!.details, 'health_check_failed_cluster_empty');
  assert.equal(answer({ nope: pct(0) })!.details, 'health_check_failed_cluster_not_found');
  assert.throws(() => answer({ good: pct(101) }), (e: ConfigError) => e.path === 'f.cluster_min_healthy_percentages.good.value');
  assert.throws(() => setup({}), (e: ConfigError) => e.path === 'f.pass_through_mode');
});
