import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HTTPMatchRequest, MeshResource } from '../../api/mesh/types.js';
import { parseResources } from '../translate/test-support.js';
import { matchConflict, mergeDelegateRoute, mergeMatch, mergeMatches, resolveDelegation, VirtualServiceIndex } from './virtual-services.js';

const vss = (text: string) => parseResources(text).resources as MeshResource<'VirtualService'>[];
const uri = (m: object): HTTPMatchRequest => ({ uri: m });

test('match conflicts follow Istio: a delegate may only narrow the root\'s uri, headers, port, labels and gateways', () => {
  // prefix roots take longer prefixes and exacts below them
  assert.equal(matchConflict(uri({ prefix: '/a' }), uri({ prefix: '/a/b' })), false);
  assert.equal(matchConflict(uri({ prefix: '/a' }), uri({ exact: '/a/x' })), false);
  assert.equal(matchConflict(uri({ prefix: '/a/b' }), uri({ prefix: '/a' })), true);
  assert.equal(matchConflict(uri({ prefix: '/a' }), uri({ exact: '/b' })), true);
  // exact roots take only themselves
  assert.equal(matchConflict(uri({ exact: '/a' }), uri({ exact: '/a' })), false);
  assert.equal(matchConflict(uri({ exact: '/a' }), uri({ prefix: '/a' })), true);
  // regexes mix with nothing but an unset side
  assert.equal(matchConflict(uri({ regex: '/a.*' }), uri({ prefix: '/a' })), true);
  assert.equal(matchConflict(uri({ prefix: '/a' }), uri({ regex: '/a.*' })), true);
  assert.equal(matchConflict(uri({ regex: '/a.*' }), {}), false);
  assert.equal(matchConflict({}, uri({ regex: '/a.*' })), false);
  // headers: same rules per name (names case-insensitive); a header only one side names is fine
  assert.equal(matchConflict({ headers: { 'X-User': { prefix: 'a' } } }, { headers: { 'x-user': { exact: 'ab' } } }), false);
  assert.equal(matchConflict({ headers: { 'x-user': { exact: 'a' } } }, { headers: { 'x-user': { exact: 'b' } } }), true);
  assert.equal(matchConflict({ headers: { 'x-a': { exact: 'a' } } }, { headers: { 'x-b': { exact: 'b' } } }), false);
  assert.equal(matchConflict({ queryParams: { q: { exact: 'a' } } }, { queryParams: { q: { prefix: 'a' } } }), true);
  // the rest
  assert.equal(matchConflict({ ignoreUriCase: true }, {}), true);
  assert.equal(matchConflict({ port: 80 }, { port: 81 }), true);
  assert.equal(matchConflict({ port: 80 }, {}), false);
  assert.equal(matchConflict({ sourceLabels: { app: 'a' } }, { sourceLabels: { app: 'b' } }), true);
  assert.equal(matchConflict({ sourceLabels: { app: 'a' } }, { sourceLabels: { v: '1' } }), false);
  assert.equal(matchConflict({ gateways: ['ns/a', 'ns/b'] }, { gateways: ['ns/b'] }), false);
  assert.equal(matchConflict({ gateways: ['ns/a'] }, { gateways: ['ns/b'] }), true);
});

test('merged conditions: the delegate\'s, with the root\'s filling the gaps; names joined with "-"', () => {
  assert.deepEqual(
    mergeMatch(
      { name: 'r', uri: { prefix: '/a' }, method: { exact: 'GET' }, headers: { 'x-a': { exact: '1' } }, port: 80, gateways: ['ns/gw'] },
      { name: 'd', uri: { prefix: '/a/b' }, headers: { 'X-B': { exact: '2' } }, sourceLabels: { app: 'x' } },
    ),
    { name: 'r-d', uri: { prefix: '/a/b' }, method: { exact: 'GET' }, headers: { 'x-a': { exact: '1' }, 'x-b': { exact: '2' } }, port: 80, gateways: ['ns/gw'], sourceLabels: { app: 'x' } },
  );
  // each delegate condition pairs with every root condition it fits; one that fits none drops the route
  const root = [uri({ prefix: '/a' }), uri({ prefix: '/b' })];
  assert.deepEqual(mergeMatches(root, [uri({ prefix: '/a/1' }), uri({ prefix: '/b/2' })]), [uri({ prefix: '/a/1' }), uri({ prefix: '/b/2' })]);
  assert.deepEqual(mergeMatches(root, [{ headers: { h: { exact: 'v' } } }]), [{ uri: { prefix: '/a' }, headers: { h: { exact: 'v' } } }, { uri: { prefix: '/b' }, headers: { h: { exact: 'v' } } }]);
  assert.equal(typeof mergeMatches(root, [uri({ prefix: '/a/1' }), uri({ prefix: '/c' })]), 'symbol');
  assert.deepEqual(mergeMatches(undefined, [uri({ prefix: '/x' })]), [uri({ prefix: '/x' })]);
  assert.deepEqual(mergeMatches(root, undefined), root);
});

test('a merged route keeps the delegate\'s action and inherits the root\'s unset fields', () => {
  const merged = mergeDelegateRoute(
    { name: 'root', match: [uri({ prefix: '/r' })], timeout: '5s', retries: { attempts: 1 }, corsPolicy: { allowOrigins: [{ exact: 'o' }] }, headers: { request: { set: { a: '1' } } } },
    { name: 'leaf', route: [{ destination: { host: 'h' } }], timeout: '1s' },
  )!;
  assert.deepEqual(merged, {
    name: 'root-leaf',
    match: [uri({ prefix: '/r' })],
    route: [{ destination: { host: 'h' } }],
    timeout: '1s',
    retries: { attempts: 1 },
    corsPolicy: { allowOrigins: [{ exact: 'o' }] },
    headers: { request: { set: { a: '1' } } },
  });
  assert.equal(mergeDelegateRoute({ match: [uri({ prefix: '/r' })] }, { match: [uri({ prefix: '/x' })], route: [] }), undefined);
});

const ROOT = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: root, namespace: web }
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - { name: a, match: [{ uri: { prefix: /a } }], delegate: { name: team-a, namespace: team } }
  - { name: b, match: [{ uri: { prefix: /b } }], delegate: { name: missing } }
  - { name: c, delegate: { name: not-a-delegate } }
  - { name: rest, route: [{ destination: { host: rest } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: team-a, namespace: team }
spec:
  http:
  - { name: one, match: [{ uri: { prefix: /a/1 } }], route: [{ destination: { host: svc } }] }
  - { name: off, match: [{ uri: { prefix: /z } }], route: [{ destination: { host: svc } }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: not-a-delegate, namespace: web }
spec:
  hosts: [other]
  http:
  - route: [{ destination: { host: other } }]
---`;

test('resolution: delegates merge into their roots (hosts resolved in their own namespace) and are not indexed alone', () => {
  const { virtualServices, findings } = resolveDelegation(vss(ROOT));
  assert.deepEqual(virtualServices.map((v) => v.name), ['root', 'not-a-delegate']);
  const root = virtualServices[0]!;
  assert.deepEqual(root.http.map((h) => [h.name, h.match?.[0]?.uri, h.route?.[0]?.destination.host]), [
    ['a-one', { prefix: '/a/1' }, 'svc.team.svc.cluster.local'],
    ['rest', undefined, 'rest.web.svc.cluster.local'],
  ]);
  assert.ok(root.http.every((h) => h.delegate === undefined));
  assert.deepEqual(findings.map((f) => [`${f.resource.metadata.namespace}/${f.resource.metadata.name}`, f.kind, f.path]), [
    ['team/team-a', 'conflict', 'spec.http[1].match'],
    ['web/root', 'reference', 'spec.http[1].delegate'],
    ['web/root', 'reference', 'spec.http[2].delegate'],
  ]);
  assert.match(findings[1]!.reason, /no VirtualService web\/missing is defined/);
  assert.match(findings[2]!.reason, /has hosts, so it is not a delegate/);
  // the index holds roots only: the delegate binds to no gateway and no "mesh"
  const index = new VirtualServiceIndex(vss(ROOT));
  assert.deepEqual(index.forGateway('web/gw').map((v) => v.name), ['root']);
  assert.deepEqual(index.forMesh('web').map((v) => v.name), ['not-a-delegate']);
});
