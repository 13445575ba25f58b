// A sidecar joining and leaving updates every proxy's endpoints: service "web" runs one instance (a); a second
// instance's sidecar starts (b) and, under continuous load through a client sidecar and the gateway, requests
// start reaching b on both paths; b's sidecar is stopped (SIGTERM) and requests stop reaching it. The moment
// the control plane has pushed b's removal to a proxy (its /clusters no longer lists b), that proxy's requests
// stop failing, if any failed at all while b went away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPacedLoad, TestMesh, tryRequest, type MeshProxy, type PacedLoad, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

test('a sidecar joining and leaving: every proxy\'s endpoints follow, no failures once the removal is pushed', async (t) => {
  const gatewayPort = await freePort();
  const port = await freePort();
  const mesh = await TestMesh.start({
    'gateway.yaml': `${httpGatewayYaml('gw', gatewayPort, 'networking.istio.io/v1')}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts:
  - "*"
  gateways:
  - gw
  http:
  - route:
    - destination:
        host: web
        port:
          number: ${port}
`,
  });
  const loads: PacedLoad[] = [];
  try {
    const a = await mesh.app('a');
    const b = await mesh.app('b');
    await mesh.sidecar({ id: 'web-a', service: 'web', labels: 'app=web', ports: [`${port}:${a.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client' });
    const gateway = await mesh.gateway();
    const viaSidecar = { port, host: client.outboundBind, headers: { host: `web:${port}` } };
    await waitFor(async () => (await tryRequest(gatewayPort)).body === 'a /' && (await tryRequest(port, viaSidecar)).body === 'a /', 'web through both paths', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    loads.push(startPacedLoad(port, { ...viaSidecar, perSecond: 25 }), startPacedLoad(gatewayPort, { perSecond: 25 }));
    const [sidecarLoad, gatewayLoad] = loads as [PacedLoad, PacedLoad];

    // b joins: both paths start reaching it
    const bListen = await freePort();
    const bSidecar = await mesh.sidecar({ id: 'web-b', service: 'web', labels: 'app=web', ports: [`${port}:${b.port}:${bListen}`] });
    const marks = loads.map((l) => l.answers.length);
    await waitFor(() => loads.every((l, i) => l.answers.slice(marks[i]).includes('b')), 'both paths reaching b', 30_000).catch((e) => {
      throw new Error(`${e.message}: ${loads.map((l) => l.answers.slice(-10).join(',')).join(' | ')}\n${mesh.logs()}`);
    });
    assert.deepEqual(loads.flatMap((l) => l.failures()), [], 'no failure while b joined');
    assert.deepEqual((await mesh.registered()).map((r) => r.id).sort(), ['web-a', 'web-b']);

    // b leaves
    const lists = async (p: MeshProxy) => (await (await p.admin('/clusters')).text()).includes(`:${bListen}::`);
    assert.ok(await lists(client) && (await lists(gateway)), 'b is in both proxies\' endpoints');
    const stopped = bSidecar.stop();
    // per proxy: the load's position when b's endpoint was seen gone from that proxy
    const removedAt = await Promise.all(
      [client, gateway].map((p, i) => waitFor(async () => !(await lists(p)) && loads[i]!.answers.length, `b removed from ${p.id}'s endpoints`, 30_000)),
    );
    assert.equal(await stopped, 0, 'b\'s sidecar exits cleanly on SIGTERM');
    await waitFor(async () => (await mesh.registered()).length === 1, 'b unregistered', 30_000);
    const after = loads.map((l) => l.answers.length);
    await waitFor(() => loads.every((l, i) => l.answers.length >= after[i]! + 50), '50 more requests on each path', 30_000);
    for (const [i, l] of loads.entries()) {
      const name = i === 0 ? 'client sidecar' : 'gateway';
      // the load's 2 workers may each have had a request on its way to b when the removal was seen
      const late = l.answers.slice(removedAt[i]! + 2);
      assert.deepEqual(late.filter((x) => x !== 'a'), [], `${name}: only a answers once b's removal reached it`);
    }
    const total = sidecarLoad.answers.length + gatewayLoad.answers.length;
    const failures = [...sidecarLoad.failures(), ...gatewayLoad.failures()];
    // failures before the push are allowed (b's sidecar may refuse a request between stopping and its removal
    // reaching the proxies) but reported
    if (failures.length) t.diagnostic(`${failures.length} of ${total} requests failed while b left: ${[...new Set(failures)].join("; ")}`);
    const bRequests = b.requests.length;
    for (let i = 0; i < 20; i++) assert.equal((await tryRequest(port, viaSidecar)).body, 'a /');
    assert.equal(b.requests.length, bRequests, 'b gets nothing any more');
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await mesh.close();
  }
});
