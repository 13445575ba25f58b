// Seed 002's A/B test by User-Agent, end to end: its Gateway, DestinationRule and User-Agent VirtualService
// (YAML indentation fixed, port 80 replaced by free ports) served by `meshwork control-plane --mesh-dir`, an
// ingress gateway and two self-registered sidecars in front of v1 and v2 of my-app. Chrome → v1, Mozilla → v2
// (the first match wins: a real Chrome's User-Agent also says Mozilla), anything else → 404, because, as the
// article says, there is no default route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestMesh, tryRequest, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const mesh002 = (gatewayPort: number, servicePort: number) => `${httpGatewayYaml('http-gateway', gatewayPort, 'networking.istio.io/v1alpha3')}---
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
    - headers:
        user-agent:
          regex: ".*Chrome.*"
      uri:
        prefix: "/my-app"
    rewrite:
      uri: "/"
    route:
    - destination:
        host: my-app
        subset: v1
        port:
          number: ${servicePort}
  - match:
    - headers:
        user-agent:
          regex: ".*Mozilla.*"
      uri:
        prefix: "/my-app"
    rewrite:
      uri: "/"
    route:
    - destination:
        host: my-app
        subset: v2
        port:
          number: ${servicePort}
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

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0';

test('seed 002 A/B by User-Agent through a gateway: Chrome → v1, Mozilla → v2, neither → 404 (no default route)', async () => {
  const gatewayPort = await freePort();
  const servicePort = await freePort();
  const mesh = await TestMesh.start({ 'my-app.yaml': mesh002(gatewayPort, servicePort) });
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2');
    await mesh.sidecar({ id: 'my-app-v1', service: 'my-app', labels: 'app=my-app,version=v1.0.0', ports: [`${servicePort}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'my-app-v2', service: 'my-app', labels: 'app=my-app,version=v2.0.0', ports: [`${servicePort}:${v2.port}:${await freePort()}`] });
    await mesh.gateway();
    const ua = (userAgent: string, path = '/my-app') => tryRequest(gatewayPort, { path, headers: { 'user-agent': userAgent } });
    // both subsets have their endpoint once both sidecars registered and the gateway has the routes
    await waitFor(async () => (await ua('Chrome')).body === 'v1 /' && (await ua('Mozilla')).body === 'v2 /', 'Chrome → v1 and Mozilla → v2', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });

    for (let i = 0; i < 20; i++) {
      // seed 002's curl: -H "User-Agent: Chrome"
      assert.deepEqual(await ua('Chrome').then((r) => [r.status, r.body]), [200, 'v1 /']);
      assert.deepEqual(await ua(CHROME).then((r) => [r.status, r.body]), [200, 'v1 /'], 'a real Chrome says Mozilla too: the first route wins');
      assert.deepEqual(await ua(FIREFOX).then((r) => [r.status, r.body]), [200, 'v2 /']);
      assert.deepEqual(await ua('Mozilla').then((r) => [r.status, r.body]), [200, 'v2 /']);
    }
    // the regex must match the whole value (Envoy's safe_regex is a full match): "chrome" in lower case is not
    // ".*Chrome.*"
    assert.equal((await ua('chrome')).status, 404);
    // neither browser: no route, 404 from the gateway itself (no app saw it)
    const seen = v1.requests.length + v2.requests.length;
    for (const agent of ['curl/8.5.0', 'Wget/1.21', '']) assert.equal((await ua(agent)).status, 404, `User-Agent "${agent}"`);
    assert.equal((await tryRequest(gatewayPort, { path: '/my-app' })).status, 404, 'no User-Agent at all');
    // the uri prefix is part of both matches
    assert.equal((await ua('Chrome', '/other')).status, 404);
    assert.equal(v1.requests.length + v2.requests.length, seen, 'the 404s never reached an app');
    // the rewrite reached the apps: they were asked for "/", not "/my-app"
    assert.ok([...v1.requests, ...v2.requests].every((r) => r.url === '/'));
    assert.ok(v1.requests.every((r) => /Chrome/.test(String(r.headers['user-agent']))));
    assert.ok(v2.requests.every((r) => /Mozilla/.test(String(r.headers['user-agent'])) && !/Chrome/.test(String(r.headers['user-agent']))));
  } finally {
    await mesh.close();
  }
});
