// PeerAuthentication composition (Istio's ComposePeerAuthentication): mesh < namespace < workload < port, UNSET
// inheriting, PERMISSIVE by default, one namespace-wide policy per namespace, portLevelMtls by application port.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMeshText } from '../../api/mesh/load.js';
import { validateMeshResource } from '../../api/mesh/validate.js';
import { effectiveMtls } from './peer-authentication.js';
import { proxyFromNode, type Proxy } from './proxy.js';
import { buildSnapshot, type MeshSnapshot } from './snapshot.js';

/** PeerAuthentications as YAML: `name ns [selector app] [mode] [port:mode ...]` per line, loaded and validated for real. */
function mesh(...lines: string[]): MeshSnapshot {
  const docs = lines.map((l) => {
    const [name, ns, ...rest] = l.split(' ');
    const app = rest.find((x) => x.startsWith('app='))?.slice(4);
    const mode = rest.find((x) => /^[A-Z]+$/.test(x));
    const ports = rest.filter((x) => /^\d+:/.test(x)).map((x) => x.split(':'));
    return [
      'apiVersion: security.istio.io/v1',
      'kind: PeerAuthentication',
      `metadata: {name: ${name}, namespace: ${ns}}`,
      'spec:',
      ...(app ? [`  selector: {matchLabels: {app: ${app}}}`] : []),
      ...(mode ? [`  mtls: {mode: ${mode}}`] : []),
      ...(ports.length ? ['  portLevelMtls:', ...ports.map(([p, m]) => `    ${p}: {mode: ${m}}`)] : []),
    ].join('\n');
  });
  const { resources, errors } = loadMeshText(docs.join('\n---\n'), 'pa.yaml');
  assert.deepEqual(errors, []);
  for (const r of resources) assert.deepEqual(validateMeshResource(r).errors, []);
  return buildSnapshot(resources);
}

const sidecar = (ns: string, app: string, ports = '9080:8080'): Proxy => proxyFromNode({ id: `${app}.${ns}`, metadata: { NAMESPACE: ns, LABELS: { app }, SERVICE: app, INBOUND_PORTS: ports } });
const mode = (snap: MeshSnapshot, p: Proxy) => effectiveMtls(snap, p).mode;

test('no PeerAuthentication: PERMISSIVE, no per-port modes', () => {
  const m = effectiveMtls(mesh(), sidecar('foo', 'a'));
  assert.equal(m.mode, 'PERMISSIVE');
  assert.deepEqual([...m.ports], []);
  assert.deepEqual(m.from, {});
});

test('the narrowest level wins: workload over namespace over mesh', () => {
  const snap = mesh('default istio-system STRICT', 'ns foo DISABLE', 'fin foo app=finance PERMISSIVE');
  assert.equal(mode(snap, sidecar('bar', 'x')), 'STRICT'); // the mesh's
  assert.equal(mode(snap, sidecar('foo', 'x')), 'DISABLE'); // the namespace's
  assert.equal(mode(snap, sidecar('foo', 'finance')), 'PERMISSIVE'); // the workload's
  assert.deepEqual(effectiveMtls(snap, sidecar('foo', 'finance')).from, { mesh: 'istio-system/default', namespace: 'foo/ns', workload: 'foo/fin' });
  // a workload policy of another namespace does not apply
  assert.equal(mode(snap, sidecar('bar', 'finance')), 'STRICT');
});

test('UNSET (or no mtls) inherits from the level above; a mesh UNSET is PERMISSIVE', () => {
  assert.equal(mode(mesh('default istio-system STRICT', 'ns foo UNSET', 'fin foo app=finance'), sidecar('foo', 'finance')), 'STRICT');
  assert.equal(mode(mesh('default istio-system UNSET', 'fin foo app=finance UNSET'), sidecar('foo', 'finance')), 'PERMISSIVE');
  assert.equal(mode(mesh('ns foo STRICT', 'fin foo app=finance UNSET'), sidecar('foo', 'finance')), 'STRICT');
});

test('one namespace-wide policy per namespace: the first by name (Istio: the oldest); the others are ignored', () => {
  const snap = mesh('b-policy foo STRICT', 'a-policy foo DISABLE', 'z istio-system STRICT', 'y istio-system DISABLE');
  assert.equal(mode(snap, sidecar('foo', 'x')), 'DISABLE');
  assert.equal(mode(snap, sidecar('bar', 'x')), 'DISABLE'); // istio-system/y, first by name
  assert.deepEqual(
    snap.peerAuthentications.ignored.map((i) => [i.policy.key, i.why, i.kept?.key]),
    [
      ['foo/b-policy', 'duplicate', 'foo/a-policy'],
      ['istio-system/z', 'duplicate', 'istio-system/y'],
    ],
  );
});

test('of several selecting policies the first by name decides the workload', () => {
  const snap = mesh('b foo app=finance STRICT', 'a foo app=finance DISABLE');
  assert.equal(mode(snap, sidecar('foo', 'finance')), 'DISABLE');
  assert.deepEqual(snap.peerAuthentications.forWorkload('foo', { app: 'finance' }).map((p) => p.key), ['foo/a', 'foo/b']);
});

test('a policy with a selector in the root namespace applies to nobody (Istio ignores it)', () => {
  const snap = mesh('sel istio-system app=finance STRICT');
  assert.equal(mode(snap, sidecar('foo', 'finance')), 'PERMISSIVE');
  assert.equal(mode(snap, sidecar('istio-system', 'finance')), 'PERMISSIVE');
  assert.deepEqual(snap.peerAuthentications.ignored.map((i) => [i.policy.key, i.why]), [['istio-system/sel', 'root-selector']]);
});

test('a workload of the root namespace gets the mesh policy', () => {
  assert.equal(mode(mesh('default istio-system STRICT', 'ns foo DISABLE'), sidecar('istio-system', 'x')), 'STRICT');
});

test('portLevelMtls is keyed by the application (container) port and mapped to inbound listener ports; UNSET takes the workload mode', () => {
  // --port 9080:8080 (listens on 9080, app on 8080) and 9443:8443:19443 (listens on 19443, app on 8443)
  const p = sidecar('foo', 'finance', '9080:8080,9443:8443:19443,7070');
  const snap = mesh('default istio-system PERMISSIVE', 'fin foo app=finance STRICT 8080:DISABLE 8443:UNSET 9999:PERMISSIVE 9443:DISABLE');
  const m = effectiveMtls(snap, p);
  assert.equal(m.mode, 'STRICT');
  // 9443 is a service port, not an application port: Istio's port is the workload's, so it matches nothing
  assert.deepEqual([...m.ports].sort(), [
    [19443, 'STRICT'],
    [9080, 'DISABLE'],
  ]);
  assert.deepEqual(
    [...m.byTargetPort].sort((a, b) => a[0] - b[0]),
    [
      [8080, 'DISABLE'],
      [8443, 'STRICT'],
      [9443, 'DISABLE'],
      [9999, 'PERMISSIVE'],
    ],
  );
  // a port it does not name (7070) runs the workload mode
  assert.equal(m.ports.get(7070) ?? m.mode, 'STRICT');
});

test('a Sidecar ingress listener is an inbound port too: its defaultEndpoint port is the application port', () => {
  const text = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: s, namespace: foo}
spec:
  workloadSelector: {labels: {app: finance}}
  ingress:
  - port: {number: 9090, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8081
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: fin, namespace: foo}
spec:
  selector: {matchLabels: {app: finance}}
  portLevelMtls: {8081: {mode: STRICT}}
`;
  const { resources, errors } = loadMeshText(text, 'x.yaml');
  assert.deepEqual(errors, []);
  const m = effectiveMtls(buildSnapshot(resources), sidecar('foo', 'finance'));
  assert.deepEqual([...m.ports], [[9090, 'STRICT']]);
  assert.equal(m.mode, 'PERMISSIVE');
});

test('namespaceMode: what a namespace\'s workloads run without a workload policy', () => {
  const snap = mesh('default istio-system STRICT', 'ns foo DISABLE', 'fin bar app=finance DISABLE');
  assert.equal(snap.peerAuthentications.namespaceMode('foo'), 'DISABLE');
  assert.equal(snap.peerAuthentications.namespaceMode('bar'), 'STRICT');
  assert.equal(mesh().peerAuthentications.namespaceMode('bar'), 'PERMISSIVE');
});

test('the security indexes survive instance registration unchanged', () => {
  const snap = mesh('default istio-system STRICT');
  const next = snap.withInstance({ id: 'a', namespace: 'foo', address: '10.0.0.1', ports: {}, labels: {}, weight: 1, health: 'HEALTHY' });
  assert.equal(next.peerAuthentications, snap.peerAuthentications);
  assert.equal(next.authorizationPolicies, snap.authorizationPolicies);
  assert.equal(next.requestAuthentications, snap.requestAuthentications);
});
