// Gateway servers that terminate TLS with certificate files: HTTPS `tls.mode: SIMPLE` (serverCertificate,
// privateKey) and `MUTUAL` (plus caCertificates: a client certificate from that CA is required). Clients are
// node:https with SNI; the certificates are made with openssl (test/helpers/certs.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { makePki, type CertFiles } from './helpers/certs.js';
import { TestMesh } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

function httpsGet(port: number, o: { servername: string; ca: string; client?: CertFiles }): Promise<{ status: number; body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/', servername: o.servername, ca: o.ca, headers: { host: o.servername }, agent: false, ...(o.client ? { cert: o.client.certPem, key: o.client.keyPem } : {}) },
      (res) => {
        const sock = res.socket as TLSSocket;
        const subject = String(sock.getPeerCertificate().subject?.CN ?? '');
        
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, subject }));
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('Gateway HTTPS: SIMPLE serves with the server certificate; MUTUAL requires a client certificate from its CA', async () => {
  const pki = makePki();
  const secure = pki.leaf('secure', { cn: 'secure.example.com', dns: ['secure.example.com'], usage: 'server' });
  const mtls = pki.leaf('mtls', { cn: 'mtls.example.com', dns: ['mtls.example.com'], usage: 'server' });
  const goodClient = pki.leaf('client', { cn: 'client', usage: 'client' });
  const strangerClient = pki.leaf('stranger', { cn: 'stranger', usage: 'client', wrongCa: true });
  const simplePort = await freePort();
  const mutualPort = await freePort();
  const port = await freePort();
  const mesh = await TestMesh.start({
    'gateway.yaml': `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: tls-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: ${simplePort}
      name: https-simple
      protocol: HTTPS
    hosts:
    - secure.example.com
    tls:
      mode: SIMPLE
      serverCertificate: ${secure.cert}
      privateKey: ${secure.key}
  - port:
      number: ${mutualPort}
      name: https-mutual
      protocol: HTTPS
    hosts:
    - mtls.example.com
    tls:
      mode: MUTUAL
      serverCertificate: ${mtls.cert}
      privateKey: ${mtls.key}
      caCertificates: ${pki.ca.cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts:
  - secure.example.com
  - mtls.example.com
  gateways:
  - tls-gateway
  http:
  - route:
    - destination:
        host: web
        port:
          number: ${port}
`,
  });
  try {
    const app = await mesh.app('web');
    await mesh.sidecar({ id: 'web-1', service: 'web', labels: 'app=web', ports: [`${port}:${app.port}:${await freePort()}`] });
    await mesh.gateway();
    const simple = await waitFor(async () => {
      const r = await httpsGet(simplePort, { servername: 'secure.example.com', ca: pki.ca.certPem });
      return r.status === 200 && r;
    }, 'HTTPS (SIMPLE) through the gateway', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    assert.equal(simple.body, 'web /');
    assert.equal(simple.subject, 'secure.example.com', 'the server certificate of the SIMPLE server');
    assert.equal(app.requests.at(-1)!.headers['x-forwarded-proto'], 'https', 'the gateway says the request came over TLS');
    // a client that does not trust the CA refuses the gateway's certificate
    await assert.rejects(httpsGet(simplePort, { servername: 'secure.example.com', ca: pki.otherCa.certPem }), /self[- ]signed|unable to verify|certificate/i);

    // MUTUAL: with a client certificate from the CA
    const mutual = await waitFor(async () => {
      const r = await httpsGet(mutualPort, { servername: 'mtls.example.com', ca: pki.ca.certPem, client: goodClient });
      return r.status === 200 && r;
    }, 'HTTPS (MUTUAL) through the gateway', 30_000);
    assert.equal(mutual.body, 'web /');
    assert.equal(mutual.subject, 'mtls.example.com');
    // without one, or with one from another CA, the handshake is refused and the app sees nothing
    const seen = app.requests.length;
    await assert.rejects(httpsGet(mutualPort, { servername: 'mtls.example.com', ca: pki.ca.certPem }), (e: Error) => /certificate|alert|socket hang up|ECONNRESET|handshake/i.test(e.message));
    await assert.rejects(httpsGet(mutualPort, { servername: 'mtls.example.com', ca: pki.ca.certPem, client: strangerClient }), (e: Error) => /certificate|alert|socket hang up|ECONNRESET|unknown ca/i.test(e.message));
    assert.equal(app.requests.length, seen);
    // the SIMPLE server does not ask for a client certificate at all
    assert.equal((await httpsGet(simplePort, { servername: 'secure.example.com', ca: pki.ca.certPem, client: strangerClient })).status, 200);
  } finally {
    await mesh.close();
  }
});
