// TLS origination at an egress gateway with a DestinationRule `credentialName` (Istio's "egress gateway with
// mutual TLS origination"): a client sends plain HTTP to the gateway; the gateway's route sends it to an external
// HTTPS server that demands a client certificate; the DestinationRule's MUTUAL TLS takes the client certificate
// and the CA that verifies the server from the credential store (`--credentials-dir`, served over SDS as
// `kubernetes://<name>` and `kubernetes://<name>-cacert`). Then: the credential's files are replaced and the
// server sees the new client certificate with no restart; a server certificate from another CA is refused (503);
// a sidecar, for which Istio ignores credentialName, gets no credential. Real processes, a node:https server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { makePki, serialOf } from './helpers/certs.js';
import { TestMesh } from './helpers/mesh.js';
import { curl } from './helpers/protocols.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';

const HOST = 'api.partner.example';

test('DestinationRule credentialName: an egress gateway originates mutual TLS with the credential, rotated without restart', async () => {
  const pki = makePki();
  const server = pki.leaf('server', { cn: HOST, dns: [HOST], usage: 'server' });
  const impostor = pki.leaf('impostor', { cn: HOST, dns: [HOST], usage: 'server', wrongCa: true });
  const client1 = pki.leaf('client1', { cn: 'egress-1', usage: 'client' });
  const client2 = pki.leaf('client2', { cn: 'egress-2', usage: 'client' });

  // the partner's server: only clients with a certificate from the CA; it answers with the client's serial, and
  // closes each connection (a pooled upstream connection keeps the certificate it was made with, as in Envoy:
  // a rotation shows on new handshakes)
  const seen: string[] = [];
  const partner = https.createServer({ cert: server.certPem, key: server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    seen.push(peer.serialNumber.toUpperCase());
    res.setHeader('connection', 'close');
    res.end(`partner ${req.url} client=${peer.subject.CN} sni=${(req.socket as TLSSocket & { servername?: string }).servername}`);
  });
  await new Promise<void>((r) => partner.listen(0, '127.0.0.1', r));
  const partnerPort = (partner.address() as AddressInfo).port;

  const creds = tmpDir('meshwork-credentials-');
  const cred = path.join(creds, 'partner-client');
  fs.mkdirSync(cred);
  fs.writeFileSync(path.join(cred, 'tls.crt'), client1.certPem);
  fs.writeFileSync(path.join(cred, 'tls.key'), client1.keyPem);
  fs.writeFileSync(path.join(cred, 'ca.crt'), pki.ca.certPem);
  const moveOver = (file: string, text: string) => {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  };

  const gatewayPort = await freePort();
  const servicePort = await freePort();
  const mesh = await TestMesh.start(
    {
      'egress.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: partner
spec:
  hosts: [${HOST}]
  location: MESH_EXTERNAL
  ports:
  - number: ${servicePort}
    name: https
    protocol: HTTPS
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
      https: ${partnerPort}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: egress
spec:
  selector:
    istio: egressgateway
  servers:
  - port: { number: ${gatewayPort}, name: http, protocol: HTTP }
    hosts: [${HOST}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: partner-via-egress
spec:
  hosts: [${HOST}]
  gateways: [egress]
  http:
  - route:
    - destination:
        host: ${HOST}
        port: { number: ${servicePort} }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: partner-mtls
spec:
  host: ${HOST}
  trafficPolicy:
    tls:
      mode: MUTUAL
      credentialName: partner-client
      sni: ${HOST}
`,
    },
    ['--credentials-dir', creds],
  );
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const gw = await mesh.gateway({ id: 'egress-gateway', name: 'egress', labels: 'istio=egressgateway' });
    const sidecar = await mesh.sidecar({ id: 'app' });
    const get = (p: string) => curl(['-w', '|%{http_code}', '-H', `host: ${HOST}`, `http://127.0.0.1:${gatewayPort}${p}`]);

    await waitFor(async () => (await get('/a')).stdout === `partner /a client=egress-1 sni=${HOST}|200`, 'mutual TLS origination with the credential', 30_000).catch(fail);
    assert.equal(seen.at(-1), serialOf(client1));

    // the gateway's cluster names the credential; the secrets come over SDS
    const dump: any = await (await gw.admin('/config_dump')).json();
    const secrets = dump.configs.find((c: any) => c['@type'].endsWith('SecretsConfigDump'));
    const names = (secrets?.dynamic_active_secrets ?? []).map((s: any) => s.name).sort();
    assert.ok(names.includes('kubernetes://partner-client') && names.includes('kubernetes://partner-client-cacert'), JSON.stringify(names));

    // a new client certificate in the credential's files reaches new connections, no restart
    moveOver(path.join(cred, 'tls.key'), client2.keyPem);
    moveOver(path.join(cred, 'tls.crt'), client2.certPem);
    await waitFor(async () => (await get('/b')).stdout.includes('client=egress-2'), 'the rotated client certificate', 30_000).catch(fail);
    assert.equal(seen.at(-1), serialOf(client2));

    // the credential's CA verifies the server: a server certificate from another CA is refused
    partner.setSecureContext({ cert: impostor.certPem, key: impostor.keyPem, ca: pki.ca.certPem });
    const before = seen.length;
    await waitFor(async () => (await get('/c')).stdout.endsWith('|503'), 'the impostor refused', 30_000).catch(fail);
    assert.equal(seen.length, before, 'no request reached the impostor');

    // Istio's rule: credentialName is for gateways; a sidecar gets no credential from the store
    const sidecarDump: any = await (await sidecar.admin('/config_dump')).json();
    const sidecarSecrets = sidecarDump.configs.find((c: any) => c['@type'].endsWith('SecretsConfigDump'));
    assert.ok(!JSON.stringify(sidecarSecrets ?? {}).includes('partner-client'), 'the sidecar holds no partner credential');
  } finally {
    await mesh.close();
    partner.close();
    partner.closeAllConnections();
  }
});
