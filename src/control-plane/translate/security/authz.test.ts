// The AuthorizationPolicy → RBAC translation, checked by running what it generates through the proxy's own
// RBAC engine (decoder, support table, compiled matchers): a generated rule is right when the proxy decides
// requests the way Istio's semantics say.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../api/envoy/index.js';
import type { AuthorizationRule } from '../../../api/mesh/types.js';
import { compileRegex } from '../../../common/re2.js';
import { compileRbacEngines, decide } from '../../../proxy/extensions/common/rbac/engine.js';
import { compilePrincipal, type RbacConnection } from '../../../proxy/extensions/common/rbac/matchers.js';
import { HeaderMap } from '../../../proxy/http/headers.js';
import type { AuthorizationPolicy } from '../../model/authorization.js';
import { buildRbac, namesInNestedBrackets, pathTemplateRegex, quoteMeta, requestPrincipal, rulePolicy, splitRequestPrincipal, stringMatcher, type AuthzContext } from './authz.js';

const HTTP: AuthzContext = { forTcp: false, issuers: ['https://issuer.example.com', 'https://other.example.com/realms/x'] };
const TCP: AuthzContext = { ...HTTP, forTcp: true };

const conn = (o: Partial<RbacConnection> = {}): RbacConnection => ({
  downstreamDirectRemoteAddress: '10.1.2.3:40000',
  downstreamRemoteAddress: '10.1.2.3:40000',
  downstreamLocalAddress: '127.0.0.5:9080',
  requestedServerName: undefined,
  downstreamTls: undefined,
  ...o,
});
const peer = (uri: string): Partial<RbacConnection> => ({ downstreamTls: { peerUriSan: [uri], peerCertificatePresented: true } as any });
const jwt = (iss: string, payload: Record<string, unknown>): Partial<RbacConnection> => ({ dynamicMetadata: { 'envoy.filters.http.jwt_authn': { [iss]: { iss, ...payload } } } });

const policy = (name: string, rules: AuthorizationRule[], o: Partial<AuthorizationPolicy> = {}): AuthorizationPolicy =>
  ({ key: `ns1/${name}`, name, namespace: 'ns1', action: 'ALLOW', rules, dryRun: false, ...o }) as AuthorizationPolicy;

/** The enforced engine of `policies` for `action`, as the proxy compiles it from the filter config. */
function engine(policies: AuthorizationPolicy[], action: 'ALLOW' | 'DENY' | 'LOG', ctx: AuthzContext = HTTP) {
  const built = buildRbac(policies, action, ctx)!;
  const filter = decodeMessage<any>('envoy.extensions.filters.http.rbac.v3.RBAC', built);
  return compileRbacEngines(filter, 'rbac');
}
const allowed = (e: ReturnType<typeof engine>, h: Record<string, string>, c: Partial<RbacConnection> = {}) =>
  decide(e.enforced!, HeaderMap.from({ ':method': 'GET', ':path': '/', ':authority': 'svc', ...h }), conn(c)).allowed;

test('values: "*", prefix*, *suffix and literals; literals are never patterns', () => {
  assert.deepEqual(stringMatcher('*'), { safe_regex: { regex: '.+' } });
  assert.deepEqual(stringMatcher('/api/*'), { prefix: '/api/' });
  assert.deepEqual(stringMatcher('*.png'), { suffix: '.png' });
  assert.deepEqual(stringMatcher('a.b(c)'), { exact: 'a.b(c)' });
  assert.deepEqual(stringMatcher('ns/x/sa/y', 'spiffe://'), { exact: 'spiffe://ns/x/sa/y' });
  const re = stringMatcher('*/sa/a.b', 'spiffe://').safe_regex.regex as string;
  const c = compileRegex(re, 'r');
  assert.equal(c.fullMatch('spiffe://td/ns/x/sa/a.b'), true);
  assert.equal(c.fullMatch('spiffe://td/ns/x/sa/aXb'), false, 'the dot is literal');
  assert.equal(quoteMeta('a.b*c?[d]{e}(f)|g^h$i\\j+'), 'a\\.b\\*c\\?\\[d\\]\\{e\\}\\(f\\)\\|g\\^h\\$i\\\\j\\+');
});

test('path templates: {*} one segment, {**} the rest', () => {
  const one = compileRegex(pathTemplateRegex('/api/{*}/items'), 'r');
  assert.equal(one.fullMatch('/api/v1/items'), true);
  assert.equal(one.fullMatch('/api/v1/v2/items'), false);
  assert.equal(one.fullMatch('/api//items'), false);
  const rest = compileRegex(pathTemplateRegex('/static/{**}'), 'r');
  assert.equal(rest.fullMatch('/static/a/b/c.css'), true);
  assert.equal(rest.fullMatch('/static/'), true);
  assert.equal(rest.fullMatch('/other/a'), false);
  assert.equal(compileRegex(pathTemplateRegex('/a.b/{*}'), 'r').fullMatch('/aXb/c'), false, 'literal parts stay literal');
});

test('claim keys: nested brackets', () => {
  assert.deepEqual(namesInNestedBrackets('[groups]'), ['groups']);
  assert.deepEqual(namesInNestedBrackets('[realm][role]'), ['realm', 'role']);
  assert.deepEqual(namesInNestedBrackets('[a.b]'), ['a.b']);
});

test('request principals split at the last "/" and decompose against the declared issuers', () => {
  const iss = HTTP.issuers;
  const s = splitRequestPrincipal('https://other.example.com/realms/x/bob');
  assert.equal(s.iss('https://other.example.com/realms/x'), true);
  assert.deepEqual(s.sub, { exact: 'bob' });
  const check = (value: string, c: Partial<RbacConnection>) => compilePrincipal(decodeMessage('envoy.config.rbac.v3.Principal', requestPrincipal(value, iss)), 'p')(new HeaderMap(), conn(c));
  const alice = jwt('https://issuer.example.com', { sub: 'alice' });
  const bob = jwt('https://other.example.com/realms/x', { sub: 'bob' });
  assert.equal(check('https://issuer.example.com/alice', alice), true);
  assert.equal(check('https://issuer.example.com/alice', bob), false);
  assert.equal(check('https://other.example.com/realms/x/bob', bob), true);
  assert.equal(check('*', alice), true);
  assert.equal(check('*', {}), false, 'no token: no principal');
  assert.equal(check('*/alice', alice), true);
  assert.equal(check('*/alice', bob), false);
  assert.equal(check('*.example.com/alice', alice), true, 'issuer suffix');
  assert.equal(check('https://issuer.example.com/*', alice), true);
  assert.equal(check('https://issuer.example.com/al*', alice), true);
  assert.equal(check('https://issuer.example.com/bo*', alice), false);
  // split at the last "/" as Istio does: "https://other*" is issuer "https:/", subject prefix "other"
  assert.equal(check('https://other*', bob), false);
  assert.equal(check('*ice', alice), true, 'no "/": a sub suffix, any issuer');
  // an issuer no RequestAuthentication declares never verifies: the value matches nothing
  assert.deepEqual(requestPrincipal('https://unknown.example.com/alice', iss), { not_id: { any: true } });
  assert.equal(check('https://unknown.example.com/alice', jwt('https://unknown.example.com', { sub: 'alice' })), false);
  // a payload under the issuer's key but with another iss (a misconfigured provider) is not trusted
  assert.equal(check('https://issuer.example.com/alice', { dynamicMetadata: { 'envoy.filters.http.jwt_authn': { 'https://issuer.example.com': { iss: 'evil', sub: 'alice' } } } }), false);
});

test('ALLOW: principals, namespaces, paths, methods, hosts (case-insensitive), headers, claims; allow-nothing', () => {
  const e = engine(
    [
      policy('p', [
        {
          from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }, { source: { namespaces: ['ops'] } }],
          to: [{ operation: { methods: ['GET'], paths: ['/api/*'], hosts: ['api.example.com'] } }],
          when: [{ key: 'request.headers[x-tenant]', values: ['acme'] }],
        },
        { from: [{ source: { requestPrincipals: ['https://issuer.example.com/*'] } }], when: [{ key: 'request.auth.claims[groups]', values: ['admins'] }] },
      ]),
    ],
    'ALLOW',
  );
  const web = peer('spiffe://cluster.local/ns/shop/sa/web');
  const ok = { ':path': '/api/x', ':authority': 'API.Example.com', 'x-tenant': 'acme' };
  assert.equal(allowed(e, ok, web), true);
  assert.equal(allowed(e, ok, peer('spiffe://cluster.local/ns/ops/sa/anyone')), true, 'namespace');
  assert.equal(allowed(e, ok, peer('spiffe://cluster.local/ns/shop/sa/other')), false);
  assert.equal(allowed(e, ok, {}), false, 'plaintext: no identity');
  assert.equal(allowed(e, { ...ok, ':method': 'POST' }, web), false);
  assert.equal(allowed(e, { ...ok, ':path': '/other' }, web), false);
  assert.equal(allowed(e, { ...ok, ':authority': 'api.example.com:8080' }, web), false, 'a port is part of the host, as in Istio');
  assert.equal(allowed(e, { ...ok, 'x-tenant': 'other' }, web), false);
  const admin = jwt('https://issuer.example.com', { sub: 'u', groups: ['eng', 'admins'] });
  assert.equal(allowed(e, {}, admin), true, 'claim in a list');
  assert.equal(allowed(e, {}, jwt('https://issuer.example.com', { sub: 'u', groups: 'admins' })), true, 'claim as a string');
  assert.equal(allowed(e, {}, jwt('https://issuer.example.com', { sub: 'u', groups: ['eng'] })), false);
  // allow-nothing: an ALLOW policy without rules
  const nothing = engine([policy('allow-nothing', [])], 'ALLOW');
  assert.equal(allowed(nothing, {}, web), false);
});

test('not-values, ipBlocks and remoteIpBlocks', () => {
  const e = engine([policy('p', [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'], notIpBlocks: ['10.9.0.0/16'], notRemoteIpBlocks: ['192.0.2.1'] } }], to: [{ operation: { notPaths: ['/private*'] } }] }])], 'ALLOW');
  assert.equal(allowed(e, {}), true);
  assert.equal(allowed(e, { ':path': '/private/x' }), false);
  assert.equal(allowed(e, {}, { downstreamDirectRemoteAddress: '10.9.1.1:1', downstreamRemoteAddress: '10.9.1.1:1' }), false);
  assert.equal(allowed(e, {}, { downstreamDirectRemoteAddress: '11.0.0.1:1', downstreamRemoteAddress: '11.0.0.1:1' }), false);
  assert.equal(allowed(e, {}, { downstreamRemoteAddress: '192.0.2.1:1' }), false, 'remote (XFF) address');
});

test('DENY: an empty rule denies everything; dry-run policies go to shadow_rules', () => {
  const e = engine([policy('deny-all', [{}], { action: 'DENY' })], 'DENY');
  assert.equal(allowed(e, {}), false);
  const built = buildRbac([policy('d', [{}], { action: 'DENY', dryRun: true })], 'DENY', HTTP)!;
  assert.equal(built.rules, undefined);
  assert.deepEqual(Object.keys(built.shadow_rules!.policies), ['ns[ns1]-policy[d]-rule[0]']);
});

test('TCP: HTTP-only ALLOW rules are left out, HTTP-only DENY rules deny every connection', () => {
  const httpOnly: AuthorizationRule = { to: [{ operation: { paths: ['/admin'] } }] };
  assert.equal(rulePolicy(httpOnly, TCP, 'ALLOW'), undefined);
  const deny = rulePolicy(httpOnly, TCP, 'DENY')!;
  assert.deepEqual(deny.permissions, [{ and_rules: { rules: [{ any: true }] } }]);
  // a TCP field keeps narrowing the DENY rule; the HTTP field alone is dropped
  const narrowed = rulePolicy({ to: [{ operation: { paths: ['/admin'], ports: ['5432'] } }] }, TCP, 'DENY')!;
  assert.deepEqual(narrowed.permissions, [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 5432 }] } }] } }]);
  // an ALLOW policy whose every rule was left out allows nothing (its engine has no policy)
  const e = engine([policy('p', [httpOnly])], 'ALLOW', TCP);
  assert.equal(allowed(e, {}), false);
  // requestPrincipals are HTTP-only too
  assert.equal(rulePolicy({ from: [{ source: { requestPrincipals: ['*'] } }] }, TCP, 'ALLOW'), undefined);
});

test('sidecar ports are workload ports, decided per listener', () => {
  const ctx: AuthzContext = { ...HTTP, workloadPort: 8080 };
  const e = engine([policy('p', [{ to: [{ operation: { ports: ['8080'] } }] }, { to: [{ operation: { ports: ['9090'] } }], from: [{ source: { namespaces: ['x'] } }] }])], 'ALLOW', ctx);
  // the listener in front of 8080 listens on 9080: the rule naming 8080 matches whatever the local port
  assert.equal(allowed(e, {}), true);
  const rule2 = rulePolicy({ to: [{ operation: { ports: ['9080'] } }] }, ctx, 'ALLOW')!;
  assert.deepEqual(rule2.permissions, [{ and_rules: { rules: [{ not_rule: { any: true } }] } }], 'a listen port is not a workload port');
  const notPorts = rulePolicy({ to: [{ operation: { notPorts: ['8080'] } }] }, ctx, 'ALLOW')!;
  assert.deepEqual(notPorts.permissions, [{ and_rules: { rules: [{ not_rule: { any: true } }] } }]);
  // gateways: destination_port at run time
  assert.deepEqual(rulePolicy({ to: [{ operation: { ports: ['443'] } }] }, HTTP, 'ALLOW')!.permissions, [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: 443 }] } }] } }]);
});
