// End to end: an app that uses its sidecar as HTTP proxy (the "http_proxy" listener, port 15080 on the sidecar's
// outbound address). With real processes: a control plane, two versions of ratings behind their sidecars, and a
// client sidecar. Through the proxy the app reaches ratings by name with the VirtualService applied (a header
// match picks v2, the rest goes to v1), using curl -x and undici's ProxyAgent. Under Istio's default ALLOW_ANY a
// local server outside the registry is reachable too, by plain HTTP and by HTTPS through CONNECT; once a Sidecar
// says REGISTRY_ONLY, the same requests get 502 (a CONNECT is refused with 502) while ratings still answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { makePki } from './helpers/certs.js';
import { TestMesh } from './helpers/mesh.js';
import { curl } from './helpers/protocols.js';
import { freePort, waitFor } from './helpers/proxy.js';

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

const virtualService = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: ratings
        subset: v2
  - route:
    - destination:
        host: ratings
        subset: v1
`;

const registryOnly = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  egress:
  - hosts:
    - "*/*"
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
`;

test('an app using its sidecar as HTTP proxy: mesh services with their routing, and ALLOW_ANY vs REGISTRY_ONLY for the rest', async () => {
  const servicePort = await freePort();
  const pki = makePki();
  const leaf = pki.leaf('localhost', { cn: 'localhost', dns: ['localhost'], usage: 'server' });
  const outside = http.createServer((req, res) => res.end(`outside ${req.url} host=${req.headers.host}`));
  const outsideTls = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => res.end(`outside-tls ${req.url}`));
  await new Promise<void>((r) => outside.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => outsideTls.listen(0, '127.0.0.1', r));
  const outsidePort = (outside.address() as net.AddressInfo).port;
  const outsideTlsPort = (outsideTls.address() as net.AddressInfo).port;
  const mesh = await TestMesh.start({ 'dr.yaml': destinationRule, 'vs.yaml': virtualService });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2');
    await mesh.sidecar({ id: 'ratings-v1', service: 'ratings', labels: 'app=ratings,version=v1', ports: [`${servicePort}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'ratings-v2', service: 'ratings', labels: 'app=ratings,version=v2', ports: [`${servicePort}:${v2.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client' });
    const proxyUrl = `http://${client.outboundBind}:15080`;
    const viaProxy = (url: string, args: string[] = []) => curl(['-x', proxyUrl, '-w', '|%{http_code}', ...args, url]);
    const ratings = `http://ratings:${servicePort}`;

    // the mesh service by its short name, routed by the VirtualService
    // (both versions register on their own time: wait for each before asserting on it)
    await waitFor(async () => (await viaProxy(`${ratings}/r`)).stdout === 'v1 /r|200', 'ratings v1 through the HTTP proxy', 30_000).catch(fail);
    await waitFor(async () => (await viaProxy(`${ratings}/r`, ['-H', 'end-user: jason'])).stdout === 'v2 /r|200', 'ratings v2 for jason', 30_000).catch(fail);
    assert.equal((await viaProxy(`http://ratings.default.svc.cluster.local:${servicePort}/fqdn`)).stdout, 'v1 /fqdn|200');
    // the app's sidecar sent it on through the v1 sidecar: the app saw an origin-form request
    assert.equal(v1.requests.at(-1)!.url, '/fqdn');
    assert.ok(v2.requests.length >= 1);

    // undici's ProxyAgent (what a Node app would use) does the same; proxyTunnel: false makes it send http:// URLs
    // in absolute form, as curl does (a CONNECT tunnel is opaque bytes: HTTP routing could not apply inside it)
    const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false });
    try {
      const r = await undiciRequest(`${ratings}/undici`, { dispatcher: agent, headers: { 'end-user': 'jason' } });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), 'v2 /undici');
    } finally {
      await agent.close();
    }

    // ALLOW_ANY (no Sidecar resource): a server outside the registry, by plain HTTP and by HTTPS (CONNECT)
    assert.equal((await viaProxy(`http://localhost:${outsidePort}/ext`)).stdout, `outside /ext host=localhost:${outsidePort}|200`);
    const tunnel = await viaProxy(`https://localhost:${outsideTlsPort}/secret`, ['--cacert', pki.ca.cert]);
    assert.equal(tunnel.stdout, 'outside-tls /secret|200', tunnel.stderr);

    // REGISTRY_ONLY: the same requests are refused with 502; the mesh service still answers
    mesh.write('sidecar.yaml', registryOnly);
    await waitFor(async () => (await viaProxy(`http://localhost:${outsidePort}/ext`)).stdout === '|502', 'REGISTRY_ONLY to block the outside server', 30_000).catch(fail);
    const refused = await viaProxy(`https://localhost:${outsideTlsPort}/secret`, ['--cacert', pki.ca.cert]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /CONNECT tunnel failed, response 502/);
    assert.equal((await viaProxy(`${ratings}/still`)).stdout, 'v1 /still|200');

    // and back: removing the Sidecar restores ALLOW_ANY
    mesh.remove('sidecar.yaml');
    await waitFor(async () => (await viaProxy(`http://localhost:${outsidePort}/back`)).stdout.endsWith('|200'), 'ALLOW_ANY again', 30_000).catch(fail);
  } finally {
    await mesh.close();
    outside.closeAllConnections();
    outsideTls.closeAllConnections();
    await Promise.all([new Promise((r) => outside.close(r)), new Promise((r) => outsideTls.close(r))]);
    fs.rmSync(pki.dir, { recursive: true, force: true });
  }
});
