// RequestAuthentication end to end: `meshwork control-plane --mesh-dir` fetches the keys of a local JWKS server
// (node:http, keys made with jose) and inlines them into the jwt_authn filter of a sidecar's inbound listener;
// an ingress gateway gets its own rule with an inline JWKS. Tokens signed here: a valid one reaches the app
// (with the payload header the rule asks for), a missing one passes (authentication alone requires nothing),
// invalid ones are refused (bad signature, expired, unknown issuer, `alg: none`: 401; wrong audience: 403, as
// Envoy and Istio answer it). Then the key server rotates its keys, and the control plane's refresh carries the
// new set to the proxies: a token of the new key passes, one of the retired key fails. A rule whose key server
// cannot be reached fails its tokens and lets requests without one through (Istio's fake-JWKS behaviour).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { httpGatewayYaml, TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

// The control plane refreshes fetched key sets this often (Istio's variable; the child inherits it).
process.env.PILOT_JWT_PUB_KEY_REFRESH_INTERVAL = '500ms';

const ISSUER = 'https://issuer.mesh.test';
const GW_ISSUER = 'https://login.gateway.test';
const DOWN_ISSUER = 'https://down.test';
const now = () => Math.floor(Date.now() / 1000);

type Key = { priv: CryptoKey; pub: JWK; alg: string };
async function key(alg: 'RS256' | 'ES256', kid: string): Promise<Key> {
  const p = await generateKeyPair(alg, { extractable: true });
  return { priv: p.privateKey, pub: { ...(await exportJWK(p.publicKey)), kid, alg, use: 'sig' }, alg };
}

function sign(k: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iat: now(), exp: now() + 600, ...claims }).setProtectedHeader({ alg: k.alg, kid: k.pub.kid!, ...header }).sign(k.priv);
}

/** An unsigned token (`alg: none`) carrying the claims of a good one. */
const unsigned = (claims: Record<string, unknown>) => `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', exp: now() + 600, ...claims })).toString('base64url')}.`;

/** The key server: GET /jwks answers the current set, counted. */
async function jwksServer(): Promise<{ port: number; set: (keys: JWK[]) => void; fetches: () => number; close: () => Promise<void> }> {
  let body = '{"keys":[]}';
  let fetches = 0;
  const srv = http.createServer((req, res) => {
    if (req.url !== '/jwks') return void res.writeHead(404).end();
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    set: (keys) => void (body = JSON.stringify({ keys })),
    fetches: () => fetches,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

const config = (o: { gatewayPort: number; servicePort: number; jwksPort: number; deadPort: number; gatewayJwks: string }) => `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: api-jwt
  namespace: default
spec:
  selector:
    matchLabels:
      app: api
  jwtRules:
  - issuer: ${ISSUER}
    jwksUri: http://127.0.0.1:${o.jwksPort}/jwks
    audiences: [api.mesh.test]
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - header: x-jwt-sub
      claim: sub
  - issuer: ${DOWN_ISSUER}
    jwksUri: http://127.0.0.1:${o.deadPort}/jwks
    timeout: 1s
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: ingress-jwt
  namespace: istio-system
spec:
  selector:
    matchLabels:
      istio: ingressgateway
  jwtRules:
  - issuer: ${GW_ISSUER}
    jwks: '${o.gatewayJwks}'
---
${httpGatewayYaml('web-gateway', o.gatewayPort)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: api
spec:
  hosts: ["*"]
  gateways: [web-gateway]
  http:
  - route:
    - destination:
        host: api
        port:
          number: ${o.servicePort}
`;

test('RequestAuthentication: jwt_authn on a sidecar and a gateway, control-plane-fetched keys and their rotation', async () => {
  const k1 = await key('RS256', 'k1');
  const k2 = await key('RS256', 'k2');
  const stranger = await key('RS256', 'k1'); // same kid as k1, another key: a forged signature
  const gwKey = await key('ES256', 'gw-1');
  const keys = await jwksServer();
  keys.set([k1.pub]);
  const [gatewayPort, servicePort, listenPort, deadPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const mesh = await TestMesh.start({
    'jwt.yaml': config({ gatewayPort, servicePort, jwksPort: keys.port, deadPort, gatewayJwks: JSON.stringify({ keys: [gwKey.pub] }) }),
  });
  try {
    const app = await mesh.app('api');
    await mesh.sidecar({ id: 'api-1', service: 'api', labels: 'app=api', ports: [`${servicePort}:${app.port}:${listenPort}`] });
    await mesh.gateway();
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };
    const toSidecar = (headers: Record<string, string> = {}, path = '/data') => tryRequest(listenPort, { path, headers: { host: 'api', ...headers } });
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const good = (k = k1, claims: Record<string, unknown> = {}) => sign(k, { iss: ISSUER, aud: 'api.mesh.test', ...claims });

    await waitFor(async () => (await toSidecar(bearer(await good()))).status === 200, 'a valid token to reach the app through the sidecar', 30_000).catch(fail);
    assert.ok(keys.fetches() >= 1, 'the control plane fetched the keys');

    // ---- the sidecar's inbound listener
    const t = await good(k1, { scope: 'read write' });
    const ok = await toSidecar(bearer(t));
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, 'api /data');
    const seen = app.requests.at(-1)!.headers;
    assert.equal(seen['x-jwt-payload'], t.split('.')[1], 'outputPayloadToHeader: the payload, base64url');
    assert.equal(JSON.parse(Buffer.from(String(seen['x-jwt-payload']), 'base64url').toString()).iss, ISSUER);
    assert.equal(seen['x-jwt-sub'], 'alice', 'outputClaimToHeaders');
    assert.equal(seen.authorization, undefined, 'the token is removed without forwardOriginalToken');
    // a client cannot forge the headers the filter writes
    const forged = await toSidecar({ 'x-jwt-payload': 'forged', 'x-jwt-sub': 'admin' });
    assert.equal(forged.status, 200);
    assert.equal(app.requests.at(-1)!.headers['x-jwt-payload'], undefined);
    assert.equal(app.requests.at(-1)!.headers['x-jwt-sub'], undefined);
    // Istio's default locations: the access_token query parameter too
    assert.equal((await toSidecar({}, `/data?access_token=${await good()}`)).status, 200);

    const noToken = await toSidecar();
    assert.equal(noToken.status, 200, 'no token: passes (requiring one is an AuthorizationPolicy matter)');

    const refused: [string, Promise<string>, number, RegExp][] = [
      ['bad signature', sign(stranger, { iss: ISSUER, aud: 'api.mesh.test' }), 401, /Jwt verification fails/],
      ['expired', good(k1, { exp: now() - 3600, iat: now() - 7200 }), 401, /Jwt is expired/],
      ['unknown issuer', sign(k1, { iss: 'https://evil.test', aud: 'api.mesh.test' }), 401, /Jwt issuer is not configured/],
      ['wrong audience', good(k1, { aud: 'other.test' }), 403, /Audiences in Jwt are not allowed/],
      ['alg none', Promise.resolve(unsigned({ iss: ISSUER, aud: 'api.mesh.test' })), 401, /Jwt header \[alg\] is not supported/],
      ['not a JWT', Promise.resolve('abc.def'), 401, /Jwt is not in the form/],
      ['unreachable key server', sign(k1, { iss: DOWN_ISSUER }), 401, /Jwt verification fails|Jwks doesn't have key/],
    ];
    const before = app.requests.length;
    for (const [what, token, status, body] of refused) {
      const r = await toSidecar(bearer(await token));
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.match(r.body, body, what);
      assert.match(String(r.headers['www-authenticate']), /^Bearer realm=".*", error="invalid_token"$/, what);
    }
    assert.equal(app.requests.length, before, 'no refused request reached the app');

    // ---- the gateway: its own rule (inline keys), and the token does not travel past it
    await waitFor(async () => (await tryRequest(gatewayPort, { path: '/gw' })).status === 200, 'the gateway to route to the app', 30_000).catch(fail);
    const gwToken = await sign(gwKey, { iss: GW_ISSUER });
    const viaGw = await tryRequest(gatewayPort, { path: '/gw', headers: bearer(gwToken) });
    assert.equal(viaGw.status, 200, viaGw.body);
    assert.equal(app.requests.at(-1)!.headers.authorization, undefined, 'the gateway removed the verified token');
    assert.equal((await tryRequest(gatewayPort, { path: '/gw', headers: bearer(await sign(gwKey, { iss: GW_ISSUER, exp: now() - 3600 })) })).status, 401);
    assert.equal((await tryRequest(gatewayPort, { path: '/gw', headers: bearer(await good()) })).status, 401, "the sidecar's issuer means nothing to the gateway");
    assert.equal((await tryRequest(gatewayPort, { path: '/gw', headers: bearer(unsigned({ iss: GW_ISSUER })) })).status, 401);

    // ---- key rotation at the key server reaches the sidecar through the control plane's refresh
    const newToken = await good(k2);
    assert.equal((await toSidecar(bearer(newToken))).status, 401, 'k2 is not published yet');
    keys.set([k1.pub, k2.pub]);
    await waitFor(async () => (await toSidecar(bearer(newToken))).status === 200, 'the new key to reach the sidecar', 20_000).catch(fail);
    assert.equal((await toSidecar(bearer(await good(k1)))).status, 200, 'the old key still verifies while published');
    keys.set([k2.pub]);
    const oldToken = await good(k1);
    await waitFor(async () => (await toSidecar(bearer(oldToken))).status === 401, 'the retired key to stop verifying', 20_000).catch(fail);
    assert.equal((await toSidecar(bearer(newToken))).status, 200);
    assert.equal((await toSidecar()).status, 200);

    // the control plane shows what it fetched
    const status = (await (await mesh.cp.http('/debug/resources')).json()) as { jwks: { key: string; keys: number; lastError?: string }[] };
    const fetched = status.jwks.find((j) => j.key === `http://127.0.0.1:${keys.port}/jwks`);
    assert.equal(fetched?.keys, 1);
    assert.ok(status.jwks.find((j) => j.key === `http://127.0.0.1:${deadPort}/jwks`)?.lastError, 'the unreachable server is reported');
  } finally {
    await mesh.close();
    await keys.close();
  }
});
