// A Sidecar's `ingress` defines the inbound listeners of the workloads it selects: reviews' sidecar runs with
// `--port SP:<app v1>:<listen>`; a Sidecar ingress listener on <listen> replaces the flag's listener: it
// terminates TLS with certificate files and forwards to its defaultEndpoint (another app), its inbound cluster
// limited by the ingress connectionPool. The endpoint other proxies dial stays <listen> (the client's
// DestinationRule originates TLS to it). Removing the Sidecar brings the flag's listener back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePki } from './helpers/certs.js';
import { TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

test('Sidecar ingress: TLS terminated on the endpoint port, defaultEndpoint and connectionPool honoured', async () => {
  const pki = makePki();
  const cert = pki.leaf('reviews', { cn: 'reviews.shop.svc.cluster.local', dns: ['reviews.shop.svc.cluster.local'], usage: 'server' });
  const servicePort = await freePort();
  const listen = await freePort();
  const mesh = await TestMesh.start();
  try {
    const flagApp = await mesh.app('flag-app');
    const ingressApp = await mesh.app('ingress-app');
    const reviews = await mesh.sidecar({ id: 'reviews-1', service: 'reviews', namespace: 'shop', labels: 'app=reviews', ports: [`${servicePort}:${flagApp.port}:${listen}`] });
    const client = await mesh.sidecar({ id: 'client', namespace: 'shop', labels: 'app=client' });
    const call = () => tryRequest(servicePort, { host: client.outboundBind, headers: { host: `reviews:${servicePort}` } });
    await waitFor(async () => (await call()).body === 'flag-app /', 'reviews through its --port listener', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });

    mesh.write('reviews-sidecar.yaml', `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: reviews
  namespace: shop
spec:
  workloadSelector:
    labels:
      app: reviews
  ingress:
  - port:
      number: ${listen}
      protocol: HTTPS
      name: https-web
    defaultEndpoint: 127.0.0.1:${ingressApp.port}
    tls:
      mode: SIMPLE
      serverCertificate: ${cert.cert}
      privateKey: ${cert.key}
    connectionPool:
      tcp:
        maxConnections: 17
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  trafficPolicy:
    tls:
      mode: SIMPLE
      caCertificates: ${pki.ca.cert}
`);
    // the client originates TLS to reviews' endpoint port, where the ingress listener terminates it
    await waitFor(async () => (await call()).body === 'ingress-app /', 'reviews through the Sidecar ingress listener (TLS)', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await call())}\n${mesh.logs()}`);
    });
    for (let i = 0; i < 5; i++) assert.equal((await call()).body, 'ingress-app /');
    assert.ok(ingressApp.requests.length >= 6);
    // the endpoint port speaks TLS now: a plain HTTP request is not served
    assert.notEqual((await tryRequest(listen, { headers: { host: 'reviews' }, timeoutMs: 3000 })).status, 200);
    // the registered endpoint did not move: the client's EDS still names <listen>
    const eds = JSON.stringify(await (await client.admin('/config_dump?include_eds')).json());
    assert.ok(eds.includes(`"port_value":${listen}`), 'the client dials the endpoint port');
    // the ingress connectionPool limits reviews' inbound cluster
    const inbound = JSON.stringify(await (await reviews.admin('/config_dump')).json());
    assert.match(inbound, new RegExp(`"name":"inbound\\|${listen}\\|\\|".*?"max_connections":17`));

    // remove both: the flag's listener (plain HTTP to the flag app) comes back
    mesh.remove('reviews-sidecar.yaml');
    await waitFor(async () => (await call()).body === 'flag-app /', 'reviews through its --port listener again', 30_000);
  } finally {
    await mesh.close();
  }
});
