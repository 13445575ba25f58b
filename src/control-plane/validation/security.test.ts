// `meshwork analyze`'s security checks, on real YAML through the loader and the model.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMeshText } from '../../api/mesh/load.js';
import { validateMeshResource } from '../../api/mesh/validate.js';
import { securityFindings } from './security.js';

function findings(text: string) {
  const { resources, errors } = loadMeshText(text, 'sec.yaml');
  assert.deepEqual(errors, []);
  for (const r of resources) assert.deepEqual(validateMeshResource(r).errors, [], r.metadata.name);
  return securityFindings(resources).map((d) => `${d.code} ${d.resource} ${d.path} @${d.location?.replace('sec.yaml:', '')}: ${d.reason}`);
}

const PA = (name: string, ns: string, spec: string) => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n---\n`;
const WE = (name: string, ns: string, app: string) => `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {address: 10.0.0.9, labels: {app: ${app}}}\n---\n`;

test('a second mesh-wide or namespace-wide PeerAuthentication is reported as ignored, naming the one that counts', () => {
  const out = findings(PA('default', 'istio-system', '{mtls: {mode: STRICT}}') + PA('another', 'istio-system', '{mtls: {mode: DISABLE}}') + PA('b', 'foo', '{}') + PA('c', 'foo', '{}'));
  assert.equal(out.length, 2);
  assert.match(out[0]!, /^MW_MESH_CONFLICT PeerAuthentication istio-system\/default  @1:1: another mesh-wide PeerAuthentication, istio-system\/another \(sec\.yaml:6:1\), already decides the mode: this one is ignored/);
  assert.match(out[1]!, /^MW_MESH_CONFLICT PeerAuthentication foo\/c  @16:1: another namespace-wide \(foo\) PeerAuthentication, foo\/b/);
});

test('a PeerAuthentication with a selector in the root namespace applies to nothing', () => {
  assert.deepEqual(findings(PA('sel', 'istio-system', '{selector: {matchLabels: {app: a}}, mtls: {mode: STRICT}}')), [
    'MW_MESH_WARNING PeerAuthentication istio-system/sel spec.selector @4:8: a PeerAuthentication with a selector in the root namespace istio-system applies to no workload (Istio ignores it): put it in the namespace of the workloads it selects',
  ]);
});

test('selectors that match no declared workload of their namespace; left alone where the config declares none', () => {
  const policies =
    PA('pa', 'foo', '{selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}') +
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ap, namespace: foo}\nspec: {selector: {matchLabels: {app: ratings}}, rules: [{}]}\n---\n` +
    `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: foo}\nspec: {selector: {matchLabels: {app: details}}, jwtRules: [{issuer: a}]}\n---\n`;
  // only runtime-registered sidecars: nothing to compare with
  assert.deepEqual(findings(policies), []);
  const out = findings(policies + WE('vm', 'foo', 'ratings') + WE('vm2', 'bar', 'details'));
  assert.deepEqual(
    out.map((l) => l.split(':')[0]),
    ['MW_MESH_WARNING PeerAuthentication foo/pa spec.selector @4', 'MW_MESH_WARNING RequestAuthentication foo/ra spec.selector @14'],
  );
  assert.match(out[0]!, /selector \{"app":"reviews"\} matches no workload the config declares in namespace foo/);
  // a Gateway's selector stands for its gateway proxies, of any namespace
  const gw = `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\nspec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}\n---\n`;
  const ingress = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ingress, namespace: istio-system}\nspec: {selector: {matchLabels: {istio: ingressgateway}}, rules: [{}]}\n`;
  assert.deepEqual(findings(WE('vm', 'foo', 'ratings') + gw + ingress), []);
});

test('a DestinationRule disabling TLS towards STRICT workloads is a conflict', () => {
  const se = `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews, namespace: shop}\nspec: {hosts: [reviews.shop.svc.cluster.local], location: MESH_INTERNAL, resolution: STATIC, ports: [{number: 9080, name: http}], endpoints: [{address: 10.0.0.1, labels: {app: reviews}}]}\n---\n`;
  const dr = `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: web}\nspec: {host: reviews.shop.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}\n---\n`;
  const out = findings(se + dr + PA('strict', 'shop', '{mtls: {mode: STRICT}}'));
  assert.equal(out.length, 1);
  assert.match(out[0]!, /^MW_MESH_CONFLICT DestinationRule web\/reviews spec\.trafficPolicy\.tls\.mode @\d+:\d+: TLS is disabled towards reviews\.shop\.svc\.cluster\.local, whose workloads require mutual TLS/);
  // the workload's own policy decides: PERMISSIVE for app=reviews, so no conflict
  assert.deepEqual(findings(se + dr + PA('strict', 'shop', '{mtls: {mode: STRICT}}') + PA('reviews', 'shop', '{selector: {matchLabels: {app: reviews}}, mtls: {mode: PERMISSIVE}}')), []);
  assert.deepEqual(findings(se + dr), []);
});
