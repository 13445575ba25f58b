// The mesh generator against the real directory store: what proxies alike share, what survives a change, and
// sidecars registering their workload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TYPE_URL } from '../../api/xds/index.js';
import { MeshFileStore } from '../sources/file/mesh-store.js';
import { MeshGenerator } from './mesh-generator.js';
import type { ProxyInfo } from './server.js';

const MESH = (weights: [number, number]) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - { destination: { host: reviews, subset: v1 }, weight: ${weights[0]} }
    - { destination: { host: reviews, subset: v2 }, weight: ${weights[1]} }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings }
spec:
  hosts: [ratings.default.svc.cluster.local]
  ports: [{ number: 9080, name: http }]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{ address: 10.0.0.9 }]
`;

let seq = 0;
function proxy(node: ProxyInfo['node']): ProxyInfo {
  return { connectionId: `c${++seq}`, node, peer: '127.0.0.1:1', connectedAt: new Date(), delta: false };
}
const sidecar = (id: string, version: string, listenPort: number) =>
  proxy({ id, metadata: { MESH_TYPE: 'sidecar', NAMESPACE: 'default', LABELS: { app: 'reviews', version }, SERVICE: 'reviews', INBOUND_PORTS: `9080:8080:${listenPort}` } });
const client = (id: string) => proxy({ id, metadata: { MESH_TYPE: 'sidecar', NAMESPACE: 'default', LABELS: { app: 'productpage' } } });

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-meshgen-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH([90, 10]));
  const store = new MeshFileStore({ dir });
  await store.start({ watch: false });
  const changes: string[] = [];
  const gen = new MeshGenerator({ store, onChange: (r) => changes.push(r) });
  gen.start();
  return {
    gen,
    changes,
    write: async (text: string) => {
      fs.writeFileSync(path.join(dir, 'mesh.yaml'), text);
      await store.reload();
    },
    close: () => {
      gen.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('proxies alike get the same Map; a named subscription gets only its names', async () => {
  const s = await setup();
  try {
    const a = client('a');
    const b = client('b');
    const cdsA = s.gen.generate(a, TYPE_URL.CLUSTER, '*');
    assert.equal(s.gen.generate(b, TYPE_URL.CLUSTER, '*'), cdsA, 'same scope, same Map (the xDS server encodes it once)');
    assert.ok(cdsA.has('outbound|9080||ratings.default.svc.cluster.local'));
    const names = new Set(['outbound|9080||ratings.default.svc.cluster.local', 'no-such-cluster']);
    const eds = s.gen.generate(a, TYPE_URL.ENDPOINT, names);
    assert.deepEqual([...eds.keys()], ['outbound|9080||ratings.default.svc.cluster.local']);
    assert.equal(s.gen.generate(b, TYPE_URL.ENDPOINT, new Set(names)), eds, 'same names, same Map');
    assert.equal(s.gen.generate(a, TYPE_URL.SECRET, '*').size, 0, 'types the mesh does not build are empty');
  } finally {
    s.close();
  }
});

test('a change rebuilds; resources it did not touch keep their entry objects', async () => {
  const s = await setup();
  try {
    const a = client('a');
    // reviews has no ServiceEntry: it exists once a sidecar registers a workload of it
    s.gen.proxyConnected(sidecar('reviews-v1', 'v1', 15101));
    s.changes.length = 0;
    const rds1 = s.gen.generate(a, TYPE_URL.ROUTE, '*');
    const cds1 = s.gen.generate(a, TYPE_URL.CLUSTER, '*');
    await s.write(MESH([50, 50]));
    assert.equal(s.changes.length, 1);
    const rds2 = s.gen.generate(a, TYPE_URL.ROUTE, '*');
    const cds2 = s.gen.generate(a, TYPE_URL.CLUSTER, '*');
    assert.notEqual(rds2, rds1, 'a new set');
    assert.notEqual(rds2.get('9080')!.version, rds1.get('9080')!.version, 'the route config changed');
    assert.match(JSON.stringify(rds2.get('9080')!.json), /"weight":50/);
    for (const [name, e] of cds2) assert.equal(e, cds1.get(name), `cluster ${name} kept its entry`);
  } finally {
    s.close();
  }
});

test('a sidecar with a service registers its workload while connected; the last stream leaving unregisters it', async () => {
  const s = await setup();
  try {
    const a = client('a');
    const v2 = sidecar('reviews-v2', 'v2', 15102);
    const subset = 'outbound|9080|v2|reviews.default.svc.cluster.local';
    const endpointsOf = () => JSON.stringify(s.gen.generate(a, TYPE_URL.ENDPOINT, new Set([subset])).get(subset)?.json ?? null);
    assert.ok(!endpointsOf().includes('15102'));
    s.gen.proxyConnected(v2);
    assert.equal(s.changes.length, 1, 'a push for the new endpoint');
    assert.match(endpointsOf(), /"port_value":15102/);
    // a second stream of the same proxy (e.g. a standalone service) changes nothing
    const again = { ...v2, connectionId: 'c-again' };
    s.gen.proxyConnected(again);
    s.gen.proxyDisconnected(v2);
    assert.match(endpointsOf(), /"port_value":15102/, 'still connected by its other stream');
    s.gen.proxyDisconnected(again);
    assert.ok(!endpointsOf().includes('15102'), 'gone with its last stream');
    assert.equal(s.changes.length, 2);
    // a proxy without a service registers nothing
    s.gen.proxyConnected(client('c'));
    assert.equal(s.changes.length, 2);
  } finally {
    s.close();
  }
});
