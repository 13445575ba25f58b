// The mesh API end to end: `meshwork control-plane --mesh-dir` with seed 002's Gateway, 90/10 VirtualService and
// DestinationRule subsets; an ingress gateway and two sidecars started with mesh flags only (no bootstrap
// files), each sidecar in front of a real app server and registering its workload; requests through the
// gateway split between the versions as the weights say, then move when the VirtualService file changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startControlPlane } from './helpers/control-plane.js';
import { runMeshworkProxy, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';

function startMeshProxy(args: string[]) {
  const p = runMeshworkProxy(args);
  return { ...p, stderr: p.output };
}

/** An app that says which version it is and what path it was asked for. */
async function app(version: string): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = http.createServer((req, res) => res.end(`${version} ${req.url}`));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, close: () => new Promise((r) => srv.close(() => r())) };
}

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

const meshConfig = (gatewayPort: number, servicePort: number, weights: [number, number]) => `${httpGatewayYaml('http-gateway', gatewayPort, 'networking.istio.io/v1alpha3')}---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app
spec:
  hosts:
  - "*"
  gateways:
  - http-gateway
  http:
  - match:
    - uri:
        prefix: "/my-app"
    rewrite:
      uri: "/"
    route:
    - destination:
        host: my-app
        subset: v1
        port:
          number: ${servicePort}
      weight: ${weights[0]}
    - destination:
        host: my-app
        subset: v2
        port:
          number: ${servicePort}
      weight: ${weights[1]}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: my-app
spec:
  host: my-app
  subsets:
  - name: v1
    labels:
      version: v1.0.0
  - name: v2
    labels:
      version: v2.0.0
`;

test('seed 002 canary through a gateway and two self-registered sidecars: 90/10, then 0/100 after an edit', async () => {
  const dir = tmpDir();
  const gatewayPort = await freePort();
  const servicePort = await freePort();
  fs.writeFileSync(path.join(dir, 'my-app.yaml'), meshConfig(gatewayPort, servicePort, [90, 10]));
  const cp = await startControlPlane(dir, [], { meshDir: true });
  const v1 = await app('v1');
  const v2 = await app('v2');
  const cpAddr = `127.0.0.1:${cp.xdsPort}`;
  // each sidecar: its own loopback address for its outbound listeners and its own inbound listen port
  const sidecars = [
    startMeshProxy(['--sidecar', '--service', 'my-app', '--labels', 'app=my-app,version=v1.0.0', '--port', `${servicePort}:${v1.port}:${await freePort()}`, '--outbound-bind', '127.0.0.2', '--control-plane', cpAddr, '--service-node', 'my-app-v1']),
    startMeshProxy(['--sidecar', '--service', 'my-app', '--labels', 'app=my-app,version=v2.0.0', '--port', `${servicePort}:${v2.port}:${await freePort()}`, '--outbound-bind', '127.0.0.3', '--control-plane', cpAddr, '--service-node', 'my-app-v2']),
  ];
  const gateway = startMeshProxy(['--gateway', 'ingress', '--labels', 'istio=ingressgateway', '--control-plane', cpAddr]);
  const logs = () => `control plane:\n${cp.stderr().slice(-4000)}\ngateway:\n${gateway.stderr()}\nsidecars:\n${sidecars.map((s) => s.stderr()).join('\n')}`;
  try {
    // both workloads registered and reachable through the gateway
    const seen = new Set<string>();
    await waitFor(async () => {
      try {
        const r = await get(gatewayPort, '/my-app');
        if (r.status === 200) seen.add(r.body);
      } catch {
        /* the gateway's listener is not there yet */
      }
      return seen.size === 2;
    }, 'both versions answering through the gateway', 20_000).catch((e) => {
      throw new Error(`${e.message} (seen: ${[...seen].join(', ')})\n${logs()}`);
    });
    assert.deepEqual([...seen].sort(), ['v1 /', 'v2 /'], 'rewrite /my-app → /');

    const N = 1000;
    const count = async (n = N) => {
      const c = { v1: 0, v2: 0, other: 0 };
      for (let i = 0; i < n; i++) {
        const r = await get(gatewayPort, '/my-app');
        if (r.status === 200 && r.body.startsWith('v1')) c.v1++;
        else if (r.status === 200 && r.body.startsWith('v2')) c.v2++;
        else c.other++;
      }
      return c;
    };
    const c = await count();
    assert.equal(c.other, 0, `every request answered by a version: ${JSON.stringify(c)}`);
    // 10 % of 1,000 is 100 with a standard deviation of 9.5: 62..138 is ±4 sd
    assert.ok(c.v2 >= 62 && c.v2 <= 138, `v2 got ${c.v2} of ${N}, expected about 100`);

    // the VirtualService moves everything to v2
    fs.writeFileSync(path.join(dir, 'my-app.yaml'), meshConfig(gatewayPort, servicePort, [0, 100]));
    await waitFor(async () => (await get(gatewayPort, '/my-app')).body.startsWith('v2') && (await count(100)).v1 === 0, 'all traffic on v2', 15_000);

    // the debug API shows both registered workloads and all four proxies synced
    const res = (await (await cp.http('/debug/resources')).json()) as { registered: { id: string; service: string }[] };
    assert.deepEqual(res.registered.map((r) => r.id).sort(), ['my-app-v1', 'my-app-v2']);
    assert.ok(res.registered.every((r) => r.service === 'my-app.default.svc.cluster.local'));

    // a sidecar that leaves takes its endpoint with it: v1 only once v2's sidecar is gone (weights back to 50/50)
    fs.writeFileSync(path.join(dir, 'my-app.yaml'), meshConfig(gatewayPort, servicePort, [50, 50]));
    await waitFor(async () => (await get(gatewayPort, '/my-app')).body.startsWith('v1'), 'v1 back in the split', 15_000);
    await sidecars[1]!.stop();
    await waitFor(async () => {
      const after = (await (await cp.http('/debug/resources')).json()) as { registered: { id: string }[] };
      return after.registered.length === 1;
    }, 'v2 unregistered', 10_000);
  } finally {
    await gateway.stop();
    for (const s of sidecars) await s.stop();
    await cp.stop();
    await v1.close();
    await v2.close();
  }
});
