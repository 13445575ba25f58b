// A canary finished under load, the way Istio users do it (make before break): traffic moves 100 % v1 → 100 %
// v2 by a VirtualService edit, then the DestinationRule is edited (v1's subset removed, v2 gets a traffic
// policy), then a new subset v3 is added to the DestinationRule before the VirtualService moves to it. About
// 50 requests a second flow through the gateway and through a client sidecar the whole time, on keep-alive
// connections, and not one of them fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPacedLoad, TestMesh, tryRequest, type PacedLoad, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const gatewayYaml = (port: number) => `${httpGatewayYaml('gw', port, 'networking.istio.io/v1')}`;

const vsYaml = (port: number, weights: Record<string, number>) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts:
  - web
  gateways:
  - gw
  - mesh
  http:
  - route:
${Object.entries(weights)
  .map(([subset, w]) => `    - destination:\n        host: web\n        subset: ${subset}\n        port:\n          number: ${port}\n      weight: ${w}\n`)
  .join('')}`;

const drYaml = (subsets: string, policy = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
${policy}  subsets:
${subsets}`;
const subset = (name: string, extra = '') => `  - name: ${name}\n    labels:\n      version: ${name}\n${extra}`;

test('VirtualService 100 % v1 → 100 % v2 and DestinationRule edits under continuous load: zero failed requests', async () => {
  const gatewayPort = await freePort();
  const port = await freePort();
  const mesh = await TestMesh.start({
    'gateway.yaml': gatewayYaml(gatewayPort),
    'vs.yaml': vsYaml(port, { v1: 100, v2: 0 }),
    'dr.yaml': drYaml(subset('v1') + subset('v2')),
  });
  const loads: PacedLoad[] = [];
  try {
    for (const v of ['v1', 'v2', 'v3']) {
      const app = await mesh.app(v);
      await mesh.sidecar({ id: `web-${v}`, service: 'web', labels: `app=web,version=${v}`, ports: [`${port}:${app.port}:${await freePort()}`] });
    }
    const client = await mesh.sidecar({ id: 'client' });
    await mesh.gateway();
    // a short host in a VirtualService is its FQDN, on gateways too (Istio resolves it against the namespace)
    const viaGateway = { port: gatewayPort, headers: { host: 'web.default.svc.cluster.local' } };
    const viaSidecar = { port, host: client.outboundBind, headers: { host: `web:${port}` } };
    await waitFor(async () => (await tryRequest(viaGateway.port, viaGateway)).body === 'v1 /' && (await tryRequest(viaSidecar.port, viaSidecar)).body === 'v1 /', 'v1 through the gateway and the sidecar', 30_000).catch(async (e) => {
      const g = await tryRequest(viaGateway.port, viaGateway);
      const c = await tryRequest(viaSidecar.port, viaSidecar);
      throw new Error(`${e.message}: gateway ${g.status} ${g.body}, sidecar ${c.status} ${c.body}\n${mesh.logs()}`);
    });

    loads.push(startPacedLoad(viaGateway.port, { ...viaGateway, perSecond: 25 }), startPacedLoad(viaSidecar.port, { ...viaSidecar, perSecond: 25 }));
    /** Wait until both loads' last `n` answers are all `version` (then the change reached both proxies). */
    const allOn = (version: string, what: string, n = 25) =>
      waitFor(() => loads.every((l) => l.answers.length >= n && l.answers.slice(-n).every((a) => a === version)), what, 30_000).catch((e) => {
        throw new Error(`${e.message}; last answers: ${loads.map((l) => l.answers.slice(-5).join(',')).join(' | ')}; failures: ${loads.flatMap((l) => l.failures()).slice(0, 5).join('; ')}\n${mesh.logs()}`);
      });
    await allOn('v1', 'load flowing on v1');

    // the canary's last step: everything on v2
    mesh.write('vs.yaml', vsYaml(port, { v1: 0, v2: 100 }));
    await allOn('v2', 'all traffic on v2');

    // the DestinationRule loses the subset nobody routes to, and v2 gets a traffic policy (its cluster changes)
    mesh.write('dr.yaml', drYaml(subset('v2', '    trafficPolicy:\n      loadBalancer:\n        simple: ROUND_ROBIN\n')));
    await waitFor(async () => {
      const dump = JSON.stringify(await (await client.admin('/config_dump')).json());
      return !dump.includes(`outbound|${port}|v1|web.`) && dump.includes('ROUND_ROBIN');
    }, 'the edited DestinationRule in the client sidecar', 30_000);
    const mark = loads.map((l) => l.answers.length);
    await waitFor(() => loads.every((l, i) => l.answers.length >= mark[i]! + 25), '25 more requests on each path', 30_000);

    // make before break: the new subset first, then the route
    mesh.write('dr.yaml', drYaml(subset('v2') + subset('v3')));
    await waitFor(async () => JSON.stringify(await (await client.admin('/config_dump')).json()).includes(`outbound|${port}|v3|web.`), 'subset v3 in the client sidecar', 30_000);
    mesh.write('vs.yaml', vsYaml(port, { v2: 0, v3: 100 }));
    await allOn('v3', 'all traffic on v3');

    const answers = await Promise.all(loads.map((l) => l.stop()));
    const failures = loads.flatMap((l) => l.failures());
    const total = answers.reduce((n, a) => n + a.length, 0);
    assert.deepEqual(failures, [], `${failures.length} of ${total} requests failed`);
    for (const a of answers) {
      // the order of versions seen is v1…, v2…, v3…: once a proxy moved on it never went back
      const firstV2 = a.indexOf('v2');
      const firstV3 = a.indexOf('v3');
      assert.ok(firstV2 > 0 && firstV3 > firstV2, 'both switches happened under this load');
      assert.ok(a.slice(firstV3).every((x) => x === 'v3'), 'no v2 or v1 after v3 took over');
      assert.ok(a.slice(firstV2, firstV3).every((x) => x === 'v2' || x === 'v1'));
    }
    assert.ok(total >= 200, `${total} requests sent`);
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await mesh.close();
  }
});
