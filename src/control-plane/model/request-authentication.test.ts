// Which RequestAuthentications (and so which JWT rules) apply to a proxy: its namespace's, then the root's, by
// selector; every applying policy counts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMeshText } from '../../api/mesh/load.js';
import { validateMeshResource } from '../../api/mesh/validate.js';
import { proxyFromNode } from './proxy.js';
import { jwtRulesFor, requestAuthenticationsFor } from './request-authentication.js';
import { buildSnapshot } from './snapshot.js';

const ra = (name: string, ns: string, spec: string) => `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ${name}, namespace: ${ns}}
spec: ${spec}`;

const { resources, errors } = loadMeshText(
  [
    ra('mesh', 'istio-system', '{jwtRules: [{issuer: "https://mesh.example.com", jwksUri: "https://mesh.example.com/jwks"}]}'),
    ra('gw', 'istio-system', '{selector: {matchLabels: {istio: ingressgateway}}, jwtRules: [{issuer: gw-issuer}, {issuer: gw-issuer-2, fromParams: [token]}]}'),
    ra('z-ns', 'foo', '{jwtRules: [{issuer: foo-issuer, audiences: [foo]}]}'),
    ra('a-httpbin', 'foo', '{selector: {matchLabels: {app: httpbin}}, jwtRules: [{issuer: httpbin-issuer, fromHeaders: [{name: x-jwt, prefix: "Bearer "}], forwardOriginalToken: true}]}'),
    ra('other', 'bar', '{jwtRules: [{issuer: bar-issuer}]}'),
  ].join('\n---\n'),
  'ra.yaml',
);
assert.deepEqual(errors, []);
for (const r of resources) assert.deepEqual(validateMeshResource(r).errors, []);
const snap = buildSnapshot(resources);
const proxy = (ns: string, labels: Record<string, string>, type = 'sidecar') => proxyFromNode({ id: 'p', metadata: { NAMESPACE: ns, LABELS: labels, MESH_TYPE: type } });

test('the workload namespace\'s policies (by name) come first, then the root namespace\'s; selectors by labels', () => {
  assert.deepEqual(requestAuthenticationsFor(snap, proxy('foo', { app: 'httpbin' })).map((p) => p.key), ['foo/a-httpbin', 'foo/z-ns', 'istio-system/mesh']);
  assert.deepEqual(requestAuthenticationsFor(snap, proxy('foo', { app: 'reviews' })).map((p) => p.key), ['foo/z-ns', 'istio-system/mesh']);
  assert.deepEqual(requestAuthenticationsFor(snap, proxy('qux', {})).map((p) => p.key), ['istio-system/mesh']);
});

test('gateways are selected by their labels, from the root namespace too', () => {
  assert.deepEqual(requestAuthenticationsFor(snap, proxy('ingress', { istio: 'ingressgateway' }, 'router')).map((p) => p.key), ['istio-system/gw', 'istio-system/mesh']);
});

test('jwtRulesFor: every rule of every applying policy, with its policy and index, as written', () => {
  const rules = jwtRulesFor(snap, proxy('foo', { app: 'httpbin' }));
  assert.deepEqual(
    rules.map((r) => [r.policy.key, r.index, r.rule.issuer]),
    [
      ['foo/a-httpbin', 0, 'httpbin-issuer'],
      ['foo/z-ns', 0, 'foo-issuer'],
      ['istio-system/mesh', 0, 'https://mesh.example.com'],
    ],
  );
  assert.deepEqual(rules[0]!.rule, { issuer: 'httpbin-issuer', fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }], forwardOriginalToken: true });
  assert.deepEqual(jwtRulesFor(snap, proxy('ingress', { istio: 'ingressgateway' }, 'router')).map((r) => [r.policy.name, r.index]), [
    ['gw', 0],
    ['gw', 1],
    ['mesh', 0],
  ]);
});
