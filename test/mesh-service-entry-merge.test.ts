// Two ServiceEntries of one host merge as in Istio: api.merge.internal gets the ports of both, each served by
// the endpoints its own entry declares. A request on each port through a sidecar reaches that entry's app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

test('ServiceEntries of one host merge: the ports of both, each with its own endpoints', async () => {
  const webPort = await freePort();
  const adminPort = await freePort();
  const mesh = await TestMesh.start();
  try {
    const web = await mesh.app('web');
    const admin = await mesh.app('admin');
    const entry = (name: string, port: number, portName: string, target: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts:
  - api.merge.internal
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - number: ${port}
    name: ${portName}
  endpoints:
  - address: 127.0.0.1
    ports:
      ${portName}: ${target}
---
`;
    mesh.write('entries.yaml', entry('api-web', webPort, 'http-web', web.port) + entry('api-admin', adminPort, 'http-admin', admin.port));
    const client = await mesh.sidecar({ id: 'client', labels: 'app=client' });
    const call = (port: number) => tryRequest(port, { host: client.outboundBind, headers: { host: `api.merge.internal:${port}` } });
    await waitFor(async () => (await call(adminPort)).body === 'admin /', 'the second entry\'s port', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(webPort)).body, 'web /');
      assert.equal((await call(adminPort)).body, 'admin /');
    }
  } finally {
    await mesh.close();
  }
});
