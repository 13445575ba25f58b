// CORS from a VirtualService corsPolicy, end to end: a Gateway and a VirtualService whose /api route allows one
// origin (and its methods, headers, credentials, exposed header, max age), served by `meshwork control-plane
// --mesh-dir` to an ingress gateway in front of a self-registered sidecar and its app. A browser-style preflight
// is answered by the gateway itself; the actual request reaches the app and comes back with the CORS headers; a
// preflight from another origin goes to the app untouched (FORWARD, the default) until the VirtualService says
// unmatchedPreflights: IGNORE, after which the gateway answers it without CORS headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestMesh, tryRequest, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const ORIGIN = 'https://shop.example.com';

const config = (gatewayPort: number, servicePort: number, unmatched: 'FORWARD' | 'IGNORE') => `${httpGatewayYaml('web-gateway', gatewayPort)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts:
  - "*"
  gateways:
  - web-gateway
  http:
  - match:
    - uri:
        prefix: /api
    corsPolicy:
      allowOrigins:
      - exact: ${ORIGIN}
      allowMethods: [GET, POST, PUT]
      allowHeaders: [content-type, x-token]
      exposeHeaders: [x-app]
      maxAge: 12h
      allowCredentials: true
      unmatchedPreflights: ${unmatched}
    route:
    - destination:
        host: api
        port:
          number: ${servicePort}
  - route:
    - destination:
        host: api
        port:
          number: ${servicePort}
`;

const preflight = (origin: string) => ({ origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-token' });

test('corsPolicy through a gateway: preflight answered, actual request decorated, unmatched preflights forwarded then ignored', async () => {
  const gatewayPort = await freePort();
  const servicePort = await freePort();
  const mesh = await TestMesh.start({ 'api.yaml': config(gatewayPort, servicePort, 'FORWARD') });
  try {
    const app = await mesh.app('api');
    await mesh.sidecar({ id: 'api-1', service: 'api', labels: 'app=api', ports: [`${servicePort}:${app.port}:${await freePort()}`] });
    await mesh.gateway();
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };
    await waitFor(async () => (await tryRequest(gatewayPort, { path: '/api/ready' })).status === 200, 'the gateway to route to the app', 30_000).catch(fail);

    // the browser's preflight: answered by the gateway, the app never sees an OPTIONS
    const pf = await tryRequest(gatewayPort, { method: 'OPTIONS', path: '/api/cart', headers: preflight(ORIGIN) });
    assert.equal(pf.status, 200, pf.body);
    assert.equal(pf.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(pf.headers['access-control-allow-methods'], 'GET,POST,PUT');
    assert.equal(pf.headers['access-control-allow-headers'], 'content-type,x-token');
    assert.equal(pf.headers['access-control-max-age'], '43200');
    assert.equal(pf.headers['access-control-allow-credentials'], 'true');
    assert.equal(app.requests.filter((r) => r.method === 'OPTIONS').length, 0);

    // the actual request: to the app, back with the CORS headers
    const put = await tryRequest(gatewayPort, { method: 'PUT', path: '/api/cart', headers: { origin: ORIGIN, 'content-type': 'application/json', 'x-token': 't' } });
    assert.equal(put.status, 200, put.body);
    assert.equal(put.body, 'api /api/cart');
    assert.equal(put.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(put.headers['access-control-allow-credentials'], 'true');
    assert.equal(put.headers['access-control-expose-headers'], 'x-app');
    // a route without corsPolicy adds nothing
    const plain = await tryRequest(gatewayPort, { path: '/home', headers: { origin: ORIGIN } });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['access-control-allow-origin'], undefined);

    // another origin's preflight: FORWARD sends it to the app, without CORS headers
    const evil = await tryRequest(gatewayPort, { method: 'OPTIONS', path: '/api/cart', headers: preflight('https://evil.example') });
    assert.equal(evil.status, 200);
    assert.equal(evil.body, 'api /api/cart');
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    assert.equal(app.requests.filter((r) => r.method === 'OPTIONS').length, 1);

    // IGNORE: the gateway answers it itself, still without Allow-Origin, and the app sees nothing more
    mesh.write('api.yaml', config(gatewayPort, servicePort, 'IGNORE'));
    await waitFor(async () => (await tryRequest(gatewayPort, { method: 'OPTIONS', path: '/api/cart', headers: preflight('https://evil.example') })).body === '', 'IGNORE to apply', 30_000).catch(fail);
    const ignored = await tryRequest(gatewayPort, { method: 'OPTIONS', path: '/api/cart', headers: preflight('https://evil.example') });
    assert.equal(ignored.status, 200);
    assert.equal(ignored.headers['access-control-allow-origin'], undefined);
    assert.equal(ignored.headers['access-control-allow-methods'], 'GET,POST,PUT');
    const optionsSeen = app.requests.filter((r) => r.method === 'OPTIONS').length;
    await tryRequest(gatewayPort, { method: 'OPTIONS', path: '/api/cart', headers: preflight('https://evil.example') });
    assert.equal(app.requests.filter((r) => r.method === 'OPTIONS').length, optionsSeen);
  } finally {
    await mesh.close();
  }
});
