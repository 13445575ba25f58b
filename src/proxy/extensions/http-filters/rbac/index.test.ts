import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import type { FilterCallbacks, LocalReplyOptions } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { StreamInfo } from '../../../stream-info.js';
import { rbacFilter } from './index.js';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

const ctx = (stats: StatsStore) => ({ stats, statPrefix: 'http.ingress.', path: 'f', name: 'envoy.filters.http.rbac', clusterManager: undefined as never });
const decode = (type: string, cfg: object) => ({ '@type': type, ...(decodeMessage(type.split('/')[1]!, cfg) as object) });

const denyAdmin = { action: 'DENY', policies: { 'deny-admin': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } } };
const allowGet = { action: 'ALLOW', policies: { 'allow-get': { permissions: [{ header: { name: ':method', string_match: { exact: 'GET' } } }], principals: [{ any: true }] } } };

/** Run one request through a filter built from `cfg`; `perRoute` is what the route's typed_per_filter_config compiled to. */
function run(cfg: object, headers: Record<string, string>, opts: { perRoute?: unknown; stats?: StatsStore } = {}) {
  const stats = opts.stats ?? new StatsStore();
  const create = rbacFilter.create(decode(TYPE, cfg), ctx(stats));
  const info = new StreamInfo({ remote: '10.0.0.9:5000', local: '10.0.0.1:80', id: 1 });
  let reply: { status: number; body: string; opts?: LocalReplyOptions } | undefined;
  const cb = {
    streamInfo: info,
    perFilterConfig: <T>(name: string) => (name === 'envoy.filters.http.rbac' ? (opts.perRoute as T) : undefined),
    sendLocalReply: (status: number, body: string | Buffer, o?: LocalReplyOptions) => {
      reply = { status, body: body.toString(), opts: o };
    },
  } as unknown as FilterCallbacks;
  const status = create(cb).decodeHeaders!(HeaderMap.from({ ':method': 'GET', ...headers }), true);
  const counter = (n: string) => stats.counter(`http.ingress.rbac.${n}`).value;
  return { status, reply, info, stats, counter };
}

test('enforced DENY: 403 "RBAC: access denied" with the matched policy in the details; counted as denied', () => {
  const r = run({ rules: denyAdmin }, { ':path': '/admin/users' });
  assert.equal(r.status, 'stop');
  assert.equal(r.reply?.status, 403);
  assert.equal(r.reply?.body, 'RBAC: access denied');
  assert.equal(r.reply?.opts?.details, 'rbac_access_denied_matched_policy[deny-admin]');
  assert.equal(r.reply?.opts?.flag, undefined, 'Envoy sets no response flag for an RBAC deny');
  assert.equal(r.counter('denied'), 1);
  assert.equal(r.counter('allowed'), 0);
  const ok = run({ rules: denyAdmin }, { ':path': '/public' });
  assert.equal(ok.status, 'continue');
  assert.equal(ok.reply, undefined);
  assert.equal(ok.counter('allowed'), 1);
});

test('enforced ALLOW with no match: details name no policy', () => {
  const r = run({ rules: allowGet }, { ':method': 'POST', ':path': '/' });
  assert.equal(r.reply?.opts?.details, 'rbac_access_denied_matched_policy[none]');
});

test('shadow rules: counted and written to dynamic metadata, never enforced; rules_stat_prefix / shadow_rules_stat_prefix', () => {
  const stats = new StatsStore();
  const r = run({ shadow_rules: denyAdmin, shadow_rules_stat_prefix: 'canary_', rules_stat_prefix: 'main_', rules: allowGet }, { ':path': '/admin' }, { stats });
  assert.equal(r.status, 'continue');
  assert.deepEqual(r.info.dynamicMetadata, {
    'envoy.filters.http.rbac': { canary_shadow_effective_policy_id: 'deny-admin', canary_shadow_engine_result: 'denied' },
  });
  assert.equal(stats.counter('http.ingress.rbac.canary_shadow_denied').value, 1);
  assert.equal(stats.counter('http.ingress.rbac.main_allowed').value, 1);
  const allowed = run({ shadow_rules: denyAdmin }, { ':path': '/x' });
  assert.deepEqual(allowed.info.dynamicMetadata, { 'envoy.filters.http.rbac': { shadow_engine_result: 'allowed' } }, 'no policy id when none matched');
  assert.equal(allowed.counter('shadow_allowed'), 1);
});

test('LOG action: allowed, with envoy.common access_log_hint saying whether a policy matched', () => {
  const log = { action: 'LOG', policies: { audit: { permissions: [{ url_path: { path: { prefix: '/audit' } } }], principals: [{ any: true }] } } };
  const hit = run({ rules: log }, { ':path': '/audit/1' });
  assert.equal(hit.status, 'continue');
  assert.deepEqual(hit.info.dynamicMetadata, { 'envoy.common': { access_log_hint: true } });
  assert.equal(hit.counter('allowed'), 1);
  assert.deepEqual(run({ rules: log }, { ':path': '/x' }).info.dynamicMetadata, { 'envoy.common': { access_log_hint: false } });
});

test('RBACPerRoute: replaces the engines; without rbac (or rules) the filter is off for the route', () => {
  const perRoute = (cfg: object) => rbacFilter.createPerRoute!(decode(PER_ROUTE, cfg), ctx(new StatsStore()));
  const off = run({ rules: denyAdmin }, { ':path': '/admin' }, { perRoute: perRoute({}) });
  assert.equal(off.status, 'continue');
  assert.equal(off.counter('allowed'), 0, 'no engine ran');
  assert.equal(run({ rules: denyAdmin }, { ':path': '/admin' }, { perRoute: perRoute({ rbac: {} }) }).status, 'continue');
  const stricter = run({ rules: denyAdmin }, { ':method': 'POST', ':path': '/public' }, { perRoute: perRoute({ rbac: { rules: allowGet } }) });
  assert.equal(stricter.reply?.status, 403);
  assert.equal(stricter.counter('denied'), 1, 'the filter\'s statistics count route overrides');
});

test('config errors: RBACPerRoute as the filter, RBAC as a route override, unsupported fields', () => {
  const stats = new StatsStore();
  assert.throws(() => rbacFilter.create({ '@type': PER_ROUTE }, ctx(stats)), /per-route config/);
  assert.throws(() => rbacFilter.createPerRoute!({ '@type': TYPE }, ctx(stats)), /RBACPerRoute/);
  assert.throws(() => rbacFilter.create({ '@type': TYPE, matcher: {} }, ctx(stats)), (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'f.matcher');
  assert.throws(() => decodeMessage('envoy.extensions.filters.http.rbac.v3.RBAC', { track_per_rule_stats: true }), /not supported/);
});
