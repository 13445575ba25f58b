// End to end, through a real `meshwork proxy` process: a cluster's transport_socket_matches choose TLS or
// plaintext per endpoint by its envoy.transport_socket_match metadata (what Istio's auto-mTLS generates), and a
// validation context with a CRL and only_verify_leaf_cert_crl refuses a revoked client certificate while its
// CA, which published no CRL of its own above the leaf, still verifies the others.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { DOWNSTREAM_TLS, UPSTREAM_TLS, makePki, tlsCertificate, type CertFiles, type Pki } from './helpers/certs.js';
import { bootstrap, fileLog, hcmFilter, listener } from './helpers/protocols.js';
import { listenerPort, startProxy, tmpDir, type RunningProxy } from './helpers/proxy.js';

x509.cryptoProvider.set(crypto.webcrypto as unknown as Crypto);

let pki: Pki;
let certs: Record<'upstream' | 'server' | 'good' | 'revoked', CertFiles>;
let plain: http.Server;
let secure: https.Server;
let proxy: RunningProxy;
const seen = { plain: 0, secure: 0, secureSni: [] as (string | false | null)[] };
const ports: Record<string, number> = {};
let accessLog: string;

/** A CRL signed by the test CA listing `revoked` (made with @peculiar/x509: openssl ca needs a database). */
async function makeCrl(ca: CertFiles, revoked: CertFiles[]): Promise<string> {
  const der = crypto.createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const signingKey = await crypto.webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
  const issuer = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: revoked.map((c) => ({ serialNumber: new crypto.X509Certificate(c.certPem).serialNumber, revocationDate: new Date(Date.now() - 60_000) })),
    signingAlgorithm: alg,
    signingKey,
  });
  // OpenSSL's PEM label is "X509 CRL"; the library writes "CRL"
  return crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
}

before(async () => {
  pki = makePki();
  certs = {
    upstream: pki.leaf('upstream', { cn: 'upstream.internal', dns: ['upstream.internal'], usage: 'server' }),
    server: pki.leaf('server', { cn: 'proxy.internal', dns: ['proxy.internal'], usage: 'server' }),
    good: pki.leaf('good', { cn: 'good', uri: ['spiffe://cluster.local/ns/default/sa/good'], usage: 'client' }),
    revoked: pki.leaf('revoked', { cn: 'revoked', uri: ['spiffe://cluster.local/ns/default/sa/revoked'], usage: 'client' }),
  };
  const crlFile = path.join(tmpDir('meshwork-crl-'), 'ca.crl');
  fs.writeFileSync(crlFile, await makeCrl(pki.ca, [certs.revoked]));
  plain = http.createServer((req, res) => {
    seen.plain++;
    req.resume();
    res.end('plain');
  });
  secure = https.createServer({ cert: certs.upstream.certPem, key: certs.upstream.keyPem }, (req, res) => {
    seen.secure++;
    seen.secureSni.push((req.socket as tls.TLSSocket).servername);
    req.resume();
    res.end('secure');
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  const endpoint = (port: number, metadata?: object) => ({
    endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
    ...(metadata ? { metadata: { filter_metadata: { 'envoy.transport_socket_match': metadata } } } : {}),
  });
  const mixed = {
    name: 'mixed',
    connect_timeout: '2s',
    type: 'STATIC',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: 'mixed',
      endpoints: [{ lb_endpoints: [endpoint((secure.address() as net.AddressInfo).port, { tlsMode: 'istio' }), endpoint((plain.address() as net.AddressInfo).port)] }],
    },
    transport_socket_matches: [
      {
        name: 'tlsMode-istio',
        match: { tlsMode: 'istio' },
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: { '@type': UPSTREAM_TLS, sni: 'upstream.internal', common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.cert } } } },
        },
      },
      { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
    ],
  };
  const revocationChecked = {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS,
        require_client_certificate: true,
        common_tls_context: {
          tls_certificates: [tlsCertificate(certs.server)],
          validation_context: { trusted_ca: { filename: pki.ca.cert }, crl: { filename: crlFile }, only_verify_leaf_cert_crl: true },
        },
      },
    },
    filters: [hcmFilter({ statPrefix: 'crl', cluster: 'mixed' })],
  };
  accessLog = path.join(tmpDir('meshwork-tsm-log-'), 'access.log');
  const log = [fileLog(accessLog, '%RESPONSE_CODE% [%UPSTREAM_PEER_SUBJECT%] [%UPSTREAM_TLS_VERSION%]')];
  proxy = await startProxy(bootstrap([listener('http', [{ filters: [hcmFilter({ statPrefix: 'http', cluster: 'mixed', accessLog: log })] }]), listener('crl', [revocationChecked])], [mixed]));
  for (const n of ['http', 'crl']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  for (const s of [plain, secure]) {
    s?.closeAllConnections();
    s?.close();
  }
});

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

test('transport_socket_matches: TLS to the endpoint whose metadata matches, plaintext to the other', async () => {
  const bodies: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await get(ports.http!);
    assert.equal(r.status, 200, r.body);
    bodies.push(r.body);
  }
  // round robin over both endpoints, each reached over the transport its metadata asks for
  assert.deepEqual(bodies.filter((b) => b === 'secure').length, 3);
  assert.deepEqual(bodies.filter((b) => b === 'plain').length, 3);
  assert.ok(seen.secureSni.every((s) => s === 'upstream.internal'), `the TLS endpoint got the match's SNI: ${seen.secureSni}`);
  // the upstream connection's TLS reaches the access log: the TLS endpoint's certificate, none for the plain one
  let lines: string[] = [];
  for (let i = 0; i < 50 && lines.length < 6; i++) {
    lines = fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8').trim().split('\n') : [];
    if (lines.length < 6) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(lines.filter((l) => /^200 \[CN=upstream\.internal,O=Meshwork Tests\] \[TLSv1\.[23]\]$/.test(l)).length, 3, lines.join('\n'));
  assert.equal(lines.filter((l) => l === '200 [-] [-]').length, 3, lines.join('\n'));
});

function mtlsGet(port: number, client: CertFiles): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/', agent: false, ca: pki.ca.certPem, servername: 'proxy.internal', cert: client.certPem, key: client.keyPem }, (res) => {
        res.resume().on('end', () => resolve(res.statusCode!));
      })
      .on('error', reject);
  });
}

test('only_verify_leaf_cert_crl: a revoked client certificate is refused, an unrevoked one from the same CA served', async () => {
  assert.equal(await mtlsGet(ports.crl!, certs.good), 200);
  await assert.rejects(mtlsGet(ports.crl!, certs.revoked), /socket hang up|ECONNRESET|EPIPE/, 'the proxy closes the revoked client\'s connection');
});
