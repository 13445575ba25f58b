// Which AuthorizationPolicies apply to a proxy (Istio's ListAuthorizationPolicies): the root namespace's mesh-wide,
// the workload namespace's, selectors by labels, gateways alike; grouped by action in a stable order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMeshText } from '../../api/mesh/load.js';
import { validateMeshResource } from '../../api/mesh/validate.js';
import type { MeshResource } from '../../api/mesh/types.js';
import { authorizationPoliciesFor } from './authorization.js';
import { proxyFromNode, type Proxy } from './proxy.js';
import { buildSnapshot, type MeshSnapshot } from './snapshot.js';

const policy = (name: string, ns: string, spec: string) => `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec: ${spec}`;

function load(...docs: string[]): { snap: MeshSnapshot; resources: MeshResource[] } {
  const { resources, errors } = loadMeshText(docs.join('\n---\n'), 'authz.yaml');
  assert.deepEqual(errors, []);
  for (const r of resources) assert.deepEqual(validateMeshResource(r).errors, [], r.metadata.name);
  return { snap: buildSnapshot(resources), resources };
}

const sidecar = (ns: string, labels: Record<string, string>): Proxy => proxyFromNode({ id: `s.${ns}`, metadata: { NAMESPACE: ns, LABELS: labels } });
const gateway = (ns: string, labels: Record<string, string>): Proxy => proxyFromNode({ id: `g.${ns}`, metadata: { MESH_TYPE: 'router', NAMESPACE: ns, LABELS: labels } });

function names(snap: MeshSnapshot, p: Proxy) {
  const r = authorizationPoliciesFor(snap, p);
  const keys = (l: readonly { key: string }[]) => l.map((x) => x.key);
  return { custom: keys(r.custom), deny: keys(r.deny), allow: keys(r.allow), audit: keys(r.audit) };
}

const { snap } = load(
  policy('mesh-deny', 'istio-system', '{action: DENY, rules: [{to: [{operation: {paths: ["/admin*"], ports: ["8080"]}}]}]}'),
  policy('ingress-only', 'istio-system', '{selector: {matchLabels: {istio: ingressgateway}}, rules: [{from: [{source: {remoteIpBlocks: [10.0.0.0/8]}}]}]}'),
  policy('b-ns-wide', 'foo', '{rules: [{from: [{source: {namespaces: [foo]}}]}]}'),
  policy('a-httpbin', 'foo', '{selector: {matchLabels: {app: httpbin}}, rules: [{to: [{operation: {methods: [GET]}}]}]}'),
  policy('audit-all', 'foo', '{action: AUDIT, rules: [{}]}'),
  policy('other-ns', 'bar', '{action: DENY, rules: [{}]}'),
  policy('empty-selector', 'baz', '{selector: {matchLabels: {}}, action: DENY, rules: [{}]}'),
);

test('a workload gets the root namespace\'s policies first, then its namespace\'s, each namespace\'s by name, grouped by action', () => {
  assert.deepEqual(names(snap, sidecar('foo', { app: 'httpbin' })), {
    custom: [],
    deny: ['istio-system/mesh-deny'],
    allow: ['foo/a-httpbin', 'foo/b-ns-wide'],
    audit: ['foo/audit-all'],
  });
});

test('a selector restricts a policy to the workloads whose labels include it; namespace policies stay in their namespace', () => {
  assert.deepEqual(names(snap, sidecar('foo', { app: 'reviews' })), { custom: [], deny: ['istio-system/mesh-deny'], allow: ['foo/b-ns-wide'], audit: ['foo/audit-all'] });
  assert.deepEqual(names(snap, sidecar('bar', { app: 'httpbin' })), { custom: [], deny: ['istio-system/mesh-deny', 'bar/other-ns'], allow: [], audit: [] });
  assert.deepEqual(names(snap, sidecar('qux', {})), { custom: [], deny: ['istio-system/mesh-deny'], allow: [], audit: [] });
  // `selector: {matchLabels: {}}` is no selector: every workload of the namespace
  assert.deepEqual(names(snap, sidecar('baz', { app: 'x' })).deny, ['istio-system/mesh-deny', 'baz/empty-selector']);
});

test('gateways are workloads too: a root-namespace selector picks them in any namespace', () => {
  assert.deepEqual(names(snap, gateway('ingress', { istio: 'ingressgateway' })), { custom: [], deny: ['istio-system/mesh-deny'], allow: ['istio-system/ingress-only'], audit: [] });
  assert.deepEqual(names(snap, gateway('istio-system', { istio: 'ingressgateway' })).allow, ['istio-system/ingress-only']);
  assert.deepEqual(names(snap, gateway('foo', { istio: 'egressgateway' })).allow, ['foo/b-ns-wide']);
});

test('each policy keeps its rules as written, its action (ALLOW by default) and its dry-run annotation', () => {
  const { snap: s, resources } = load(
    policy('allow-nothing', 'foo', '{}'),
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry
  namespace: foo
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules:
  - from: [{source: {notPrincipals: ["cluster.local/ns/foo/sa/*"]}}]
    to: [{operation: {notPaths: ["/healthz"], ports: ["9080"]}}]
    when: [{key: "request.headers[x-debug]", notValues: ["1"]}]`,
  );
  const r = authorizationPoliciesFor(s, sidecar('foo', {}));
  const nothing = r.allow[0]!;
  assert.deepEqual([nothing.key, nothing.action, nothing.rules, nothing.dryRun, nothing.selector], ['foo/allow-nothing', 'ALLOW', [], false, undefined]);
  const dry = r.deny[0]!;
  assert.equal(dry.dryRun, true);
  assert.equal(dry.rules, (resources[1] as MeshResource<'AuthorizationPolicy'>).spec.rules);
  assert.deepEqual(dry.rules[0]!.when, [{ key: 'request.headers[x-debug]', notValues: ['1'] }]);
});

test('proxies alike share one result; no policies at all gives empty lists', () => {
  assert.equal(authorizationPoliciesFor(snap, sidecar('foo', { app: 'httpbin' })), authorizationPoliciesFor(snap, sidecar('foo', { app: 'httpbin' })));
  const none = load().snap;
  assert.equal(none.authorizationPolicies.empty, true);
  assert.deepEqual(names(none, sidecar('foo', {})), { custom: [], deny: [], allow: [], audit: [] });
});
