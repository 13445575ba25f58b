import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import { HeaderMap } from '../../../http/headers.js';
import { compileRbacEngine, compileRbacEngines, decide, denyDetails, setDynamicMetadata } from './engine.js';
import type { RbacConnection } from './matchers.js';

const engine = (rules: object) => compileRbacEngine(decodeMessage('envoy.config.rbac.v3.RBAC', rules), 'rules');
const conn: RbacConnection = {
  downstreamDirectRemoteAddress: '10.0.0.1:1234',
  downstreamRemoteAddress: '10.0.0.1:1234',
  downstreamLocalAddress: '10.0.0.2:80',
  requestedServerName: undefined,
  downstreamTls: undefined,
};
const path = (p: string) => HeaderMap.from({ ':method': 'GET', ':path': p });
const prefix = (p: string) => ({ permissions: [{ url_path: { path: { prefix: p } } }], principals: [{ any: true }] });

test('ALLOW: allowed iff a policy matches; no policies allows nothing (allow-nothing)', () => {
  const e = engine({ action: 'ALLOW', policies: { public: prefix('/public') } });
  assert.deepEqual(decide(e, path('/public/a'), conn), { allowed: true, policy: 'public', matched: true });
  assert.deepEqual(decide(e, path('/private'), conn), { allowed: false, policy: undefined, matched: false });
  const nothing = engine({ action: 'ALLOW', policies: {} });
  assert.equal(decide(nothing, path('/'), conn).allowed, false);
  assert.equal(engine({}).action, 'ALLOW', 'ALLOW is the default action');
});

test('DENY: allowed iff no policy matches; the matched policy is reported', () => {
  const e = engine({ action: 'DENY', policies: { 'deny-admin': prefix('/admin') } });
  assert.deepEqual(decide(e, path('/admin'), conn), { allowed: false, policy: 'deny-admin', matched: true });
  assert.deepEqual(decide(e, path('/ok'), conn), { allowed: true, policy: undefined, matched: false });
  assert.equal(decide(engine({ action: 'DENY', policies: {} }), path('/'), conn).allowed, true);
});

test('LOG: always allowed, reporting whether a policy matched', () => {
  const e = engine({ action: 'LOG', policies: { audit: prefix('/audit') } });
  assert.deepEqual(decide(e, path('/audit/x'), conn), { allowed: true, policy: 'audit', matched: true });
  assert.deepEqual(decide(e, path('/x'), conn), { allowed: true, policy: undefined, matched: false });
});

test('a policy needs one of its permissions and one of its principals', () => {
  const e = engine({
    action: 'ALLOW',
    policies: {
      p: {
        permissions: [{ url_path: { path: { exact: '/a' } } }, { url_path: { path: { exact: '/b' } } }],
        principals: [{ header: { name: 'x-user', string_match: { exact: 'alice' } } }, { remote_ip: { address_prefix: '192.168.0.0', prefix_len: 16 } }],
      },
    },
  });
  const h = (p: string, user?: string) => HeaderMap.from({ ':path': p, ...(user ? { 'x-user': user } : {}) });
  assert.equal(decide(e, h('/b', 'alice'), conn).allowed, true);
  assert.equal(decide(e, h('/b', 'bob'), conn).allowed, false);
  assert.equal(decide(e, h('/c', 'alice'), conn).allowed, false);
  assert.equal(decide(e, h('/a'), { ...conn, downstreamRemoteAddress: '192.168.3.4:0' }).allowed, true);
});

test('policies are tried in byte order of their names (Envoy std::map), whatever the config order', () => {
  const e = engine({ action: 'DENY', policies: { zeta: prefix('/'), Alpha: prefix('/'), beta: prefix('/x') } });
  assert.deepEqual(e.policyNames, ['Alpha', 'beta', 'zeta']);
  assert.equal(decide(e, path('/x'), conn).policy, 'Alpha');
});

test('compileRbacEngines: absent rules mean no engine; the matcher API and CEL conditions are refused', () => {
  const none = compileRbacEngines({}, 'f');
  assert.equal(none.enforced, undefined);
  assert.equal(none.shadow, undefined);
  const both = compileRbacEngines({ rules: { action: 'DENY' }, shadow_rules: { action: 'ALLOW' } }, 'f');
  assert.equal(both.enforced?.action, 'DENY');
  assert.equal(both.shadow?.action, 'ALLOW');
  assert.throws(() => compileRbacEngines({ matcher: {} }, 'f'), (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'f.matcher');
  assert.throws(() => compileRbacEngines({ shadow_matcher: {} }, 'f'), (e: any) => e.path === 'f.shadow_matcher');
  assert.throws(
    () => compileRbacEngine({ policies: { p: { ...prefix('/'), condition: {} } } }, 'r'),
    (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'r.policies["p"].condition',
  );
  assert.throws(() => compileRbacEngine({ policies: { p: { permissions: [], principals: [{ any: true }] } } }, 'r'), /at least one permission/);
  assert.throws(() => engine({ audit_logging_options: { audit_condition: 'ON_DENY' } }), /not supported/);
});

test('denyDetails and dynamic metadata merging', () => {
  assert.equal(denyDetails(undefined), 'rbac_access_denied_matched_policy[none]');
  assert.equal(denyDetails('deny admin\tpaths'), 'rbac_access_denied_matched_policy[deny_admin_paths]');
  const info: { dynamicMetadata: Record<string, Record<string, unknown>> | undefined } = { dynamicMetadata: undefined };
  setDynamicMetadata(info, 'ns', { a: 1 });
  setDynamicMetadata(info, 'ns', { b: 2 });
  assert.deepEqual(info.dynamicMetadata, { ns: { a: 1, b: 2 } });
});
