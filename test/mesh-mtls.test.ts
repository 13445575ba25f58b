// Mutual TLS between sidecars, end to end with real processes: a control plane running the CA (--data-dir),
// sidecars that join with the join token (their keys made in the proxy, certificates signed over CSR), and the
// traffic between them:
//  - auto mTLS: a client sidecar sends mTLS to a workload whose sidecar holds a certificate, and checks its
//    SPIFFE identity; the server's app sees the request;
//  - PERMISSIVE (the default) accepts plaintext and mTLS on one port; STRICT refuses plaintext, a client
//    certificate from another CA, and (after POST /debug/ca/revoke) a revoked identity's certificate;
//  - certificate rotation with a 20-second TTL under continuous traffic: no failed request, new serials in
//    the sidecars' /certs;
//  - root rotation: old-root and new-root sidecars keep talking, trusting the pushed bundle of both roots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { CA_SERVICE, type CertificateRequest, type CertificateResponse } from '../src/api/ca/service.js';
import { createWorkloadKeyAndCsr } from '../src/common/csr.js';
import { makePki } from './helpers/certs.js';
import { TestMesh, startPacedLoad, tryRequest, type MeshProxy } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: default
spec:
  mtls:
    mode: STRICT
`;

type CaClient = grpc.Client & { CreateCertificate(req: CertificateRequest, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: CertificateResponse) => void): void };
const CaClient = grpc.makeGenericClientConstructor(CA_SERVICE, 'IstioCertificateService') as unknown as new (address: string, creds: grpc.ChannelCredentials) => CaClient;

/** A certificate for `identity` from the mesh CA, as a workload would get one (the test holds the key). */
async function meshCertificate(xds: string, token: string, identity: string): Promise<{ keyPem: string; chain: string[] }> {
  const { keyPem, csrPem } = await createWorkloadKeyAndCsr(identity);
  const client = new CaClient(xds, grpc.credentials.createInsecure());
  try {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const res = await new Promise<CertificateResponse>((resolve, reject) => client.CreateCertificate({ csr: csrPem, validity_duration: 0 }, md, (err, r) => (err ? reject(err) : resolve(r!))));
    return { keyPem, chain: res.cert_chain };
  } finally {
    client.close();
  }
}

/** One HTTPS request straight to a sidecar's inbound listener with a client certificate (or none). */
function direct(port: number, o: { key?: string; cert?: string; ca: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      // the sidecar's certificate names a SPIFFE identity, not a DNS name: only its chain is checked here
      { host: '127.0.0.1', port, path: '/direct', agent: false, ca: o.ca, key: o.key, cert: o.cert, checkServerIdentity: () => undefined, timeout: 5000 },
      (res) => res.resume().on('end', () => resolve(res.statusCode!)),
    );
    req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function workloadCert(p: MeshProxy): Promise<{ serial: string; issued: number }> {
  const j = (await (await p.admin('/certs')).json()) as { workload_certificate?: { serial: string; issued: number } };
  assert.ok(j.workload_certificate, 'the sidecar reports its workload certificate in /certs');
  return j.workload_certificate;
}

test('mTLS between sidecars: auto mTLS, PERMISSIVE, STRICT, another CA and a revoked identity refused', async () => {
  const port = await freePort();
  const listen = await freePort();
  const mesh = await TestMesh.withCa();
  try {
    const token = fs.readFileSync(mesh.joinTokenFile, 'utf8').trim().split(/\s+/)[0]!; // "<token> <scope>"
    const app = await mesh.app('b');
    const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
    const server = await mesh.sidecar({ id: 'b-1', service: 'b', labels: 'app=b', ports: [`${port}:${app.port}:${listen}`], args: join('b') });
    const client = await mesh.sidecar({ id: 'a-1', args: join('a') });
    const call = () => tryRequest(port, { host: client.outboundBind, headers: { host: `b:${port}` } });
    await waitFor(async () => (await call()).status === 200, 'b routed from a', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    // The server sidecar terminated TLS for that request: its inbound listener counts handshakes.
    const stats = await (await server.admin('/stats?filter=ssl.handshake')).text();
    assert.match(stats, /ssl\.handshake: [1-9]/, `the request from a came over mTLS:\n${stats}`);
    // ...and told the app who called: x-forwarded-client-cert with both identities (Istio's inbound default)
    const xfcc = String(app.requests.at(-1)!.headers['x-forwarded-client-cert']);
    assert.match(xfcc, /^By=spiffe:\/\/cluster\.local\/ns\/default\/sa\/b;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/a$/, xfcc);
    const roots = (await (await fetch(`http://127.0.0.1:${mesh.cp.httpPort}/debug/ca`)).json()) as { roots: string };

    // PERMISSIVE: plaintext straight to the inbound port is served too
    assert.equal((await tryRequest(listen, { path: '/plain' })).status, 200);

    // STRICT: plaintext refused; a's requests still go through (mTLS)
    mesh.write('peer-authentication.yaml', STRICT);
    await waitFor(async () => (await tryRequest(listen, { path: '/plain' })).status === 0, 'plaintext refused under STRICT', 15_000);
    for (let i = 0; i < 5; i++) assert.equal((await call()).status, 200);

    // a client certificate from another CA is refused; one from the mesh CA is served
    const other = makePki().leaf('intruder', { cn: 'intruder', uri: ['spiffe://cluster.local/ns/default/sa/intruder'], usage: 'client' });
    await assert.rejects(direct(listen, { key: other.keyPem, cert: other.certPem, ca: roots.roots }));
    await assert.rejects(direct(listen, { ca: roots.roots }), 'no client certificate: refused');
    const identity = 'spiffe://cluster.local/ns/default/sa/tester';
    const mine = await meshCertificate(mesh.xds, token, identity);
    assert.equal(await direct(listen, { key: mine.keyPem, cert: mine.chain[0]!, ca: roots.roots }), 200);

    // revoked: the server sidecar refuses the identity's certificate once the new trust bundle reached it
    const r = await fetch(`http://127.0.0.1:${mesh.cp.httpPort}/debug/ca/revoke?identity=${encodeURIComponent(identity)}`, { method: 'POST' });
    assert.equal(r.status, 200, await r.text());
    await waitFor(
      () => direct(listen, { key: mine.keyPem, cert: mine.chain[0]!, ca: roots.roots }).then(() => false, () => true),
      'the revoked certificate refused',
      10_000,
    );
    // ...and the CA signs no new certificate for it
    await assert.rejects(meshCertificate(mesh.xds, token, identity), /revoked/i);
    // the sidecars' own identities are unaffected
    for (let i = 0; i < 3; i++) assert.equal((await call()).status, 200);
    // a wrong join token gets nothing
    await assert.rejects(meshCertificate(mesh.xds, 'not-the-token', 'spiffe://cluster.local/ns/default/sa/x'), /token/i);
  } finally {
    await mesh.close();
  }
});

test('certificate rotation with a 20-second TTL under continuous traffic loses no request', async () => {
  const port = await freePort();
  const listen = await freePort();
  const mesh = await TestMesh.withCa({ 'strict.yaml': STRICT }, ['--workload-cert-ttl', '20s']);
  try {
    const app = await mesh.app('b');
    const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
    const server = await mesh.sidecar({ id: 'b-1', service: 'b', labels: 'app=b', ports: [`${port}:${app.port}:${listen}`], args: join('b') });
    const client = await mesh.sidecar({ id: 'a-1', args: join('a') });
    await waitFor(async () => (await tryRequest(port, { host: client.outboundBind, headers: { host: `b:${port}` } })).status === 200, 'b routed from a', 30_000);
    const before = { server: await workloadCert(server), client: await workloadCert(client) };
    // 20 s certificates renew at about half their life: 25 s of traffic spans at least two renewals each
    const load = startPacedLoad(port, { host: client.outboundBind, headers: { host: `b:${port}` }, perSecond: 40, workers: 4 });
    await new Promise((r) => setTimeout(r, 25_000));
    const answers = await load.stop();
    const after = { server: await workloadCert(server), client: await workloadCert(client) };
    assert.ok(answers.length > 500, `traffic flowed: ${answers.length} requests`);
    assert.deepEqual(load.failures(), [], `no failed request across rotations (of ${answers.length})`);
    for (const side of ['server', 'client'] as const) {
      assert.notEqual(after[side].serial, before[side].serial, `${side}: a new certificate`);
      assert.ok(after[side].issued >= 2, `${side}: renewed (${after[side].issued} certificates)`);
    }
  } finally {
    await mesh.close();
  }
});

test('root rotation: the pushed trust bundle holds both roots, so old-root and new-root sidecars keep talking mTLS', async () => {
  const port = await freePort();
  const listen = await freePort();
  const mesh = await TestMesh.withCa({ 'strict.yaml': STRICT });
  try {
    const app = await mesh.app('b');
    const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
    const server = await mesh.sidecar({ id: 'b-1', service: 'b', labels: 'app=b', ports: [`${port}:${app.port}:${listen}`], args: join('b') });
    const oldClient = await mesh.sidecar({ id: 'a-old', args: join('a') });
    const call = (c: { outboundBind: string }) => tryRequest(port, { host: c.outboundBind, headers: { host: `b:${port}` } });
    await waitFor(async () => (await call(oldClient)).status === 200, 'b routed from a', 30_000);
    const roots = async (p: MeshProxy) => {
      const j = (await (await p.admin('/certs')).json()) as { certificates: { name: string; ca_cert: unknown[] }[] };
      return j.certificates.find((c) => c.name === 'ROOTCA')?.ca_cert.length ?? 0;
    };
    assert.equal(await roots(server), 1);
    const r = await fetch(`http://127.0.0.1:${mesh.cp.httpPort}/debug/ca/rotate-root`, { method: 'POST' });
    assert.equal(r.status, 200, await r.text());
    // every proxy gets the bundle with the new root next to the old one
    await waitFor(async () => (await roots(server)) === 2 && (await roots(oldClient)) === 2, 'both roots in the proxies\' ROOTCA', 15_000);
    // a sidecar that joins now gets a certificate from the new root; the server still holds its old-root one
    const newClient = await mesh.sidecar({ id: 'a-new', args: join('a') });
    await waitFor(async () => (await call(newClient)).status === 200, 'the new-root client reaches the old-root server', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(oldClient)).status, 200);
      assert.equal((await call(newClient)).status, 200);
    }
    // and the two clients' certificates really come from different roots (the bundle lists the new root first)
    const bundle = ((await (await fetch(`http://127.0.0.1:${mesh.cp.httpPort}/debug/ca`)).json()) as { roots: string }).roots;
    const [newRoot, oldRoot] = (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new crypto.X509Certificate(pem));
    const leafOf = async (p: MeshProxy) => {
      const dump = (await (await p.admin('/config_dump')).json()) as { configs: { '@type': string; static_secrets?: { name: string; secret: { tls_certificate: { certificate_chain: { inline_string: string } } } }[] }[] };
      const secrets = dump.configs.find((c) => c['@type'].endsWith('SecretsConfigDump'))!.static_secrets!;
      return new crypto.X509Certificate(secrets.find((x) => x.name === 'default')!.secret.tls_certificate.certificate_chain.inline_string);
    };
    const [oldLeaf, newLeaf] = [await leafOf(oldClient), await leafOf(newClient)];
    assert.ok(newLeaf.verify(newRoot!.publicKey) && !newLeaf.verify(oldRoot!.publicKey), 'the new client holds a new-root certificate');
    assert.ok(oldLeaf.verify(oldRoot!.publicKey) && !oldLeaf.verify(newRoot!.publicKey), 'the old client still holds its old-root certificate');
  } finally {
    await mesh.close();
  }
});
