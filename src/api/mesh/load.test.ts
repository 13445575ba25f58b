import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMeshText } from './load.js';
import type { MeshResource } from './types.js';

// tests run from dist/src/api/mesh; the fixtures stay in the source tree
const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../src/api/mesh/testdata');
const fixture = (name: string) => ({ text: fs.readFileSync(path.join(TESTDATA, name), 'utf8'), file: path.join('testdata', name) });

function loadOk(text: string, file = 'mesh.yaml'): MeshResource[] {
  const { resources, errors } = loadMeshText(text, file);
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  return resources;
}

function loadErrors(text: string, file = 'mesh.yaml') {
  const { resources, errors } = loadMeshText(text, file);
  return { resources, errors: errors.map((e) => ({ code: e.code, path: e.path, location: e.location, message: e.message })) };
}

test("seed 002's canary loads: Gateway, the 90/10 VirtualService and the DestinationRule, with their locations", () => {
  const { text, file } = fixture('seed-002-canary.yaml');
  const [gw, vs, dr] = loadOk(text, file);
  assert.equal(gw!.kind, 'Gateway');
  assert.equal(gw!.apiVersion, 'networking.istio.io/v1alpha3');
  assert.deepEqual(gw!.metadata, { name: 'http-gateway', namespace: 'default' });
  assert.equal(gw!.location, `${file}:4:1`);
  assert.equal(vs!.kind, 'VirtualService');
  assert.equal(vs!.location, `${file}:19:1`);
  const spec = (vs as MeshResource<'VirtualService'>).spec;
  assert.deepEqual(
    spec.http![0]!.route!.map((r) => [r.destination.subset, r.weight]),
    [
      ['v1', 90],
      ['v2', 10],
    ],
  );
  // locate() names the line of any field, in the whole file
  assert.equal(vs!.locate!('spec.http[0].route[1].weight'), `${file}:46:7`);
  assert.equal(vs!.locate!('spec.http[0].match[0].uri.prefix'), `${file}:31:9`);
  assert.equal(dr!.kind, 'DestinationRule');
  assert.equal(dr!.locate!('spec.subsets[1].labels'), `${file}:59:5`);
  // a path that was not written falls back to its deepest written part
  assert.equal(dr!.locate!('spec.subsets[1].trafficPolicy.tls'), `${file}:58:5`);
});

test('map keys in paths are quoted: spec.http[0].match[0].headers["user-agent"].regex', () => {
  const { text, file } = fixture('seed-002-ab.yaml');
  const [vs] = loadOk(text, file);
  assert.equal(vs!.locate!('spec.http[1].match[0].headers["user-agent"].regex'), `${file}:29:11`);
});

test('loaded resources are deep-frozen (validated once, then trusted)', () => {
  const { text, file } = fixture('seed-002-canary.yaml');
  const [, vs] = loadOk(text, file);
  assert.ok(Object.isFrozen(vs));
  assert.ok(Object.isFrozen((vs as MeshResource<'VirtualService'>).spec.http![0]!.route![0]!.destination));
  assert.throws(() => {
    (vs as MeshResource<'VirtualService'>).spec.http![0]!.route![0]!.weight = 50;
  }, TypeError);
});

test('a file with one bad document: it is reported with file:line, the others still load', () => {
  const { text, file } = fixture('mixed.yaml');
  const { resources, errors } = loadErrors(text, file);
  assert.deepEqual(
    resources.map((r) => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`),
    ['ServiceEntry/default/httpbin-ext', 'WorkloadEntry/shop/vm-1', 'DestinationRule/default/reviews'],
  );
  assert.deepEqual(
    errors.filter((e) => e.code !== 'MW_CONFIG_PARSE').map((e) => [e.code, e.path, e.location]),
    [
      ['MW_MESH_UNKNOWN_FIELD', 'spec.http[0].route[0].wieght', `${file}:28:7`],
      ['MW_MESH_UNSUPPORTED', 'apiVersion', `${file}:31:13`],
      ['MW_MESH_INVALID', 'apiVersion', `${file}:46:13`],
    ],
  );
  // the flow mapping on the last line does not parse: located in the file, not in the document
  const parse = errors.filter((e) => e.code === 'MW_CONFIG_PARSE');
  assert.ok(parse.length >= 1);
  for (const e of parse) assert.match(e.location!, /^testdata\/mixed\.yaml:59:\d+$/);
  assert.match(errors[0]!.message, /^testdata\/mixed\.yaml:28:7: spec\.http\[0\]\.route\[0\]\.wieght: unknown field "wieght" in HTTPRouteDestination \(did you mean "weight"\?\)$/);
  assert.match(errors[1]!.message, /telemetry\.istio\.io resources \(Telemetry\) are not supported \(kind "Telemetry"\)/);
  assert.match(errors[2]!.message, /"v1" is not an API Meshwork serves: it accepts networking\.istio\.io\/v1, v1beta1, v1alpha3/);
});

test('a Kubernetes List in JSON: every item loads, each located at its item', () => {
  const { text, file } = fixture('list.json');
  const { resources, errors } = loadErrors(text, file);
  assert.deepEqual(
    resources.map((r) => [r.kind, r.metadata.name, r.location]),
    [
      ['Gateway', 'ingress', `${file}:5:5`],
      ['VirtualService', 'reviews', `${file}:24:5`],
    ],
  );
  assert.deepEqual(
    errors.map((e) => [e.code, e.path, e.location]),
    [['MW_MESH_INVALID', 'items[2].spec.hosts[0]', `${file}:49:11`]],
  );
  assert.match(errors[0]!.message, /expected a string, got number 42 \(quote it\)/);
});

test('a single JSON object is one resource', () => {
  const [r] = loadOk(JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'a', namespace: 'x' }, spec: { host: 'a' } }), 'a.json');
  assert.equal(r!.kind, 'DestinationRule');
  assert.equal(r!.metadata.namespace, 'x');
  assert.equal(r!.location, 'a.json:1:1');
});

test('empty documents, comment-only documents and a trailing --- are skipped', () => {
  const rs = loadOk('---\n# nothing\n---\n\n---\napiVersion: networking.istio.io/v1beta1\nkind: Sidecar\nmetadata: {name: s}\nspec:\n  egress:\n  - hosts: ["./*"]\n---\n');
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.location, 'mesh.yaml:6:1');
  assert.equal(loadOk('').length, 0);
});

test('every networking version is accepted; other versions, groups and kinds are rejected naming what is accepted', () => {
  for (const v of ['v1', 'v1beta1', 'v1alpha3']) assert.equal(loadOk(`apiVersion: networking.istio.io/${v}\nkind: WorkloadEntry\nmetadata: {name: w}\nspec: {address: 10.0.0.1}\n`).length, 1);
  const cases: [string, string, string, RegExp][] = [
    ['networking.istio.io/v2', 'Gateway', 'MW_MESH_INVALID', /version "v2" of networking\.istio\.io is not accepted: use v1, v1beta1, v1alpha3/],
    ['gateway.networking.k8s.io/v1', 'HTTPRoute', 'MW_MESH_UNSUPPORTED', /Kubernetes Gateway API resources are not supported/],
    ['security.istio.io/v1alpha1', 'PeerAuthentication', 'MW_MESH_INVALID', /version "v1alpha1" of security\.istio\.io is not accepted: use v1, v1beta1/],
    ['networking.istio.io/v1', 'AuthorizationPolicy', 'MW_MESH_INVALID', /AuthorizationPolicy belongs to security\.istio\.io \(use security\.istio\.io\/v1\), not networking\.istio\.io/],
    ['security.istio.io/v1', 'Gateway', 'MW_MESH_INVALID', /Gateway belongs to networking\.istio\.io/],
    ['security.istio.io/v1', 'Policy', 'MW_MESH_INVALID', /kind "Policy" is not a security\.istio\.io kind Meshwork serves: PeerAuthentication, AuthorizationPolicy, RequestAuthentication/],
    ['networking.istio.io/v1', 'EnvoyFilter', 'MW_MESH_UNSUPPORTED', /EnvoyFilter is not supported \(Meshwork serves Gateway, VirtualService/],
    ['networking.istio.io/v1', 'Service', 'MW_MESH_INVALID', /kind "Service" is not a networking\.istio\.io kind Meshwork serves/],
  ];
  for (const [apiVersion, kind, code, message] of cases) {
    const { resources, errors } = loadErrors(`apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: x}\nspec: {}\n`);
    assert.equal(resources.length, 0, apiVersion);
    assert.equal(errors.length, 1, apiVersion);
    assert.equal(errors[0]!.code, code, apiVersion);
    assert.match(errors[0]!.message, message);
  }
  const missing = loadErrors('kind: Gateway\nmetadata: {name: x}\n');
  assert.deepEqual(missing.errors.map((e) => [e.code, e.path, e.location]), [['MW_MESH_INVALID', 'apiVersion', 'mesh.yaml:1:1']]);
});

test('metadata: name required and a Kubernetes name, namespace a DNS label (default "default"), labels strings', () => {
  const doc = (meta: string) => loadErrors(`apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n${meta}\nspec: {host: a}\n`);
  assert.deepEqual(doc('  namespace: x').errors.map((e) => [e.code, e.path]), [['MW_MESH_INVALID', 'metadata.name']]);
  const bad = doc('  name: My_Rule');
  assert.deepEqual(bad.errors.map((e) => [e.path, e.location]), [['metadata.name', 'mesh.yaml:4:9']]);
  assert.match(bad.errors[0]!.message, /"My_Rule" is not a valid name/);
  assert.deepEqual(doc('  name: a.b-c\n  namespace: Prod').errors.map((e) => e.path), ['metadata.namespace']);
  assert.deepEqual(doc('  name: a\n  labels: {version: 1}').errors.map((e) => [e.path, e.location]), [['metadata.labels["version"]', 'mesh.yaml:5:21']]);
  assert.deepEqual(doc('  name: a\n  owner: me').errors.map((e) => [e.code, e.path]), [['MW_MESH_INVALID', 'metadata.owner']]);
  // what kubectl writes is accepted and dropped
  const ok = doc('  name: a.b-c\n  uid: 123\n  resourceVersion: "9"\n  annotations: {note: x}');
  assert.deepEqual(ok.errors, []);
  assert.deepEqual(ok.resources[0]!.metadata, { name: 'a.b-c', namespace: 'default', annotations: { note: 'x' } });
  assert.equal(loadErrors('apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec: {host: a}\n').errors[0]!.message, 'mesh.yaml:1:1: metadata: metadata.name is required');
});

test('unknown fields are errors naming the full path, at the key; top-level extras too; status is accepted', () => {
  const { errors } = loadErrors(
    'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nstatus: {}\nextra: 1\nspec:\n  hosts: [a]\n  http:\n  - match:\n    - uri: {prefix: /}\n      header: {}\n    route:\n    - destination: {host: a, subsets: v1}\n',
  );
  assert.deepEqual(
    errors.map((e) => [e.code, e.path, e.location]),
    [
      ['MW_MESH_UNKNOWN_FIELD', 'extra', 'mesh.yaml:5:1'],
      ['MW_MESH_UNKNOWN_FIELD', 'spec.http[0].match[0].header', 'mesh.yaml:11:7'],
      ['MW_MESH_UNKNOWN_FIELD', 'spec.http[0].route[0].destination.subsets', 'mesh.yaml:13:30'],
    ],
  );
  assert.match(errors[1]!.message, /unknown field "header" in HTTPMatchRequest \(did you mean "headers"\?\)/);
  assert.match(errors[2]!.message, /\(did you mean "subset"\?\)/);
});

test('wrong types and enum values are errors at the value', () => {
  const { errors } = loadErrors(
    'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: 7\n  trafficPolicy:\n    loadBalancer: {simple: FASTEST}\n    connectionPool: {tcp: {maxConnections: 1.5}}\n    tls: {insecureSkipVerify: "yes"}\n  subsets: {name: v1}\n',
  );
  assert.deepEqual(
    errors.map((e) => [e.path, e.location]),
    [
      ['spec.host', 'mesh.yaml:5:9'],
      ['spec.trafficPolicy.loadBalancer.simple', 'mesh.yaml:7:28'],
      ['spec.trafficPolicy.connectionPool.tcp.maxConnections', 'mesh.yaml:8:44'],
      ['spec.trafficPolicy.tls.insecureSkipVerify', 'mesh.yaml:9:31'],
      ['spec.subsets', 'mesh.yaml:10:12'],
    ],
  );
  assert.ok(errors.every((e) => e.code === 'MW_MESH_INVALID'));
  assert.match(errors[1]!.message, /"FASTEST" is not one of UNSPECIFIED, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN/);
  assert.match(errors[4]!.message, /expected a list, got a map/);
});

test('null fields are absent (as in proto3 JSON); the spec holds only what was written', () => {
  const [r] = loadOk('apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy:\n  subsets:\n  - name: v1\n    labels:\n');
  assert.deepEqual(r!.spec, { host: 'a', subsets: [{ name: 'v1' }] });
});

test('a YAML syntax error is reported at its line in the file, and the next document still loads', () => {
  const { resources, errors } = loadErrors('apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\nspec: {egress: [{hosts: ["*/*"]}]}\n---\nkind: [\n---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w}\nspec: {address: 10.0.0.1}\n');
  assert.equal(resources.length, 2);
  assert.equal(errors.length >= 1, true);
  assert.ok(errors.every((e) => e.code === 'MW_CONFIG_PARSE'));
  assert.match(errors[0]!.location!, /^mesh\.yaml:(6|7):\d+$/);
});

test('security.istio.io v1 and v1beta1: PeerAuthentication, AuthorizationPolicy and RequestAuthentication load, located field by field', () => {
  const { text, file } = fixture('security.yaml');
  const [mesh, finance, authz, jwt] = loadOk(text, file);
  assert.deepEqual(
    [mesh, finance, authz, jwt].map((r) => [r!.apiVersion, r!.kind, `${r!.metadata.namespace}/${r!.metadata.name}`]),
    [
      ['security.istio.io/v1', 'PeerAuthentication', 'istio-system/default'],
      ['security.istio.io/v1beta1', 'PeerAuthentication', 'foo/finance'],
      ['security.istio.io/v1', 'AuthorizationPolicy', 'foo/httpbin'],
      ['security.istio.io/v1', 'RequestAuthentication', 'foo/jwt-example'],
    ],
  );
  // portLevelMtls keys are written as YAML integers and read as map keys
  assert.deepEqual((finance as MeshResource<'PeerAuthentication'>).spec.portLevelMtls, { 8080: { mode: 'DISABLE' } });
  assert.equal(finance!.locate!('spec.portLevelMtls["8080"].mode'), `${file}:24:7`);
  const ap = authz as MeshResource<'AuthorizationPolicy'>;
  assert.deepEqual(ap.metadata.annotations, { 'istio.io/dry-run': 'true' });
  assert.deepEqual(ap.spec.rules![0]!.to![1]!.operation, { methods: ['POST'], paths: ['/data'] });
  assert.equal(ap.locate!('spec.rules[0].from[1].source.namespaces[0]'), `${file}:44:22`);
  assert.equal(ap.locate!('spec.rules[0].when[0].key'), `${file}:53:7`);
  const ra = jwt as MeshResource<'RequestAuthentication'>;
  assert.deepEqual(ra.spec.jwtRules![0]!.fromHeaders, [{ name: 'x-jwt-assertion', prefix: 'Bearer ' }]);
  assert.equal(ra.locate!('spec.jwtRules[0].outputClaimToHeaders[0].claim'), `${file}:73:7`);
});

test('security kinds: unknown fields and wrong types are errors with their file:line', () => {
  const { resources, errors } = loadErrors(
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  action: PERMIT\n  rules:\n  - from:\n    - source: {principal: [x]}\n    to:\n    - operation: {ports: [8080]}\n---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  mtls: {mode: strict}\n---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r}\nspec:\n  jwtRules:\n  - issuer: x\n    fromHeader: [{name: a}]\n',
  );
  assert.equal(resources.length, 0);
  assert.deepEqual(
    errors.map((e) => [e.code, e.path, e.location]),
    [
      ['MW_MESH_INVALID', 'spec.action', 'mesh.yaml:5:11'],
      ['MW_MESH_UNKNOWN_FIELD', 'spec.rules[0].from[0].source.principal', 'mesh.yaml:8:16'],
      ['MW_MESH_INVALID', 'spec.rules[0].to[0].operation.ports[0]', 'mesh.yaml:10:27'],
      ['MW_MESH_INVALID', 'spec.mtls.mode', 'mesh.yaml:16:16'],
      ['MW_MESH_UNKNOWN_FIELD', 'spec.jwtRules[0].fromHeader', 'mesh.yaml:24:5'],
    ],
  );
  assert.match(errors[1]!.message, /unknown field "principal" in Source \(did you mean "principals"\?\)/);
  assert.match(errors[2]!.message, /expected a string, got number 8080 \(quote it\)/);
  assert.match(errors[3]!.message, /"strict" is not one of UNSET, DISABLE, PERMISSIVE, STRICT/);
});
