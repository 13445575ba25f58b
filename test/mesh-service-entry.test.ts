// Services outside the mesh, reached from a sidecar: a ServiceEntry (resolution STATIC) whose workloadSelector
// picks WorkloadEntries, each a plain server with no sidecar (its port from the entry's `ports` by port name);
// removing a WorkloadEntry takes its endpoint away. And a ServiceEntry with `resolution: DNS` whose endpoint is
// `localhost`, resolved by the sidecar (STRICT_DNS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterNames, TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const workloadEntry = (name: string, port: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
spec:
  address: 127.0.0.1
  labels:
    app: legacy
    instance: ${name}
  ports:
    http-legacy: ${port}
`;

test('ServiceEntry STATIC + WorkloadEntries (workloadSelector) and resolution DNS (localhost), from a sidecar', async () => {
  const legacyPort = await freePort();
  const dnsPort = await freePort();
  const mesh = await TestMesh.start({
    'legacy.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: legacy
spec:
  hosts:
  - legacy.internal
  location: MESH_INTERNAL
  ports:
  - number: ${legacyPort}
    name: http-legacy
    protocol: HTTP
  resolution: STATIC
  workloadSelector:
    labels:
      app: legacy
`,
  });
  try {
    // plain servers: no sidecar in front of them
    const one = await mesh.app('legacy-1');
    const two = await mesh.app('legacy-2');
    const external = await mesh.app('external');
    mesh.write('we-1.yaml', workloadEntry('legacy-1', one.port));
    mesh.write('we-2.yaml', workloadEntry('legacy-2', two.port));
    mesh.write('external.yaml', `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external
spec:
  hosts:
  - api.external.test
  location: MESH_EXTERNAL
  ports:
  - number: ${dnsPort}
    name: http
    protocol: HTTP
  resolution: DNS
  endpoints:
  - address: localhost
    ports:
      http: ${external.port}
`);
    const client = await mesh.sidecar({ id: 'client' });
    const legacy = () => tryRequest(legacyPort, { host: client.outboundBind, path: '/legacy', headers: { host: `legacy.internal:${legacyPort}` } });
    const seen = new Set<string>();
    await waitFor(async () => {
      const r = await legacy();
      if (r.status === 200) seen.add(r.body);
      return seen.size === 2;
    }, 'both WorkloadEntries answering', 30_000).catch((e) => {
      throw new Error(`${e.message} (seen ${[...seen]})\n${mesh.logs()}`);
    });
    assert.deepEqual([...seen].sort(), ['legacy-1 /legacy', 'legacy-2 /legacy']);
    assert.equal(one.requests[0]!.headers.host, `legacy.internal:${legacyPort}`);
    assert.ok((await clusterNames(client)).includes(`outbound|${legacyPort}||legacy.internal`));

    // a WorkloadEntry removed: its endpoint goes
    mesh.remove('we-2.yaml');
    await waitFor(async () => !(await (await client.admin('/clusters')).text()).includes(`:${two.port}::`), 'legacy-2 gone from the client\'s endpoints', 30_000);
    const before = two.requests.length;
    for (let i = 0; i < 20; i++) assert.equal((await legacy()).body, 'legacy-1 /legacy');
    assert.equal(two.requests.length, before);

    // resolution DNS: the sidecar resolves "localhost" itself
    const r = await waitFor(async () => {
      const x = await tryRequest(dnsPort, { host: client.outboundBind, path: '/dns', headers: { host: `api.external.test:${dnsPort}` } });
      return x.status === 200 && x;
    }, 'the DNS ServiceEntry answering', 30_000).catch(async (e) => {
      throw new Error(`${e.message}\n${(await (await client.admin('/clusters')).text()).split('\n').filter((l) => l.includes('external')).join('\n')}\n${mesh.logs()}`);
    });
    assert.equal(r.body, 'external /dns');
    assert.equal(external.requests.at(-1)!.headers.host, `api.external.test:${dnsPort}`);
    const dump = JSON.stringify(await (await client.admin('/config_dump')).json());
    assert.match(dump, new RegExp(`"name":"outbound\\|${dnsPort}\\|\\|api\\.external\\.test"[^}]*"type":"STRICT_DNS"|"type":"STRICT_DNS"[^}]*"name":"outbound\\|${dnsPort}\\|\\|api\\.external\\.test"`));
  } finally {
    await mesh.close();
  }
});
