// The CA's certificates in real mutual TLS: node:tls (OpenSSL) on both ends, as two sidecars would use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority, spiffeId } from './authority.js';
import { createWorkloadKeyAndCsr } from '../../common/csr.js';
import { tempDir } from './test-support.js';

const SERVER = spiffeId('cluster.local', 'default', 'backend');
const CLIENT = spiffeId('cluster.local', 'default', 'frontend');

interface Creds {
  key: string;
  cert: string;
  ca: string;
}

async function creds(ca: CertificateAuthority, identity: string): Promise<Creds & { serial: string }> {
  const { keyPem, csrPem } = await createWorkloadKeyAndCsr(identity);
  const c = await ca.sign(csrPem, identity);
  return { key: keyPem, cert: c.chainPem.join(''), ca: ca.rootsPem(), serial: c.serial };
}

/** A server that requires and verifies a client certificate, and answers "pong <client SAN>" to "ping".
 *  Node's server drops a refused client without telling why, so `observe` makes one that accepts everyone
 *  and answers with OpenSSL's verdict instead ("pong ..." or e.g. "refused CERT_REVOKED"). */
async function mtlsServer(o: Creds & { crl?: string; observe?: boolean }) {
  const clientErrors: Error[] = [];
  const server = tls.createServer({ key: o.key, cert: o.cert, ca: o.ca, ...(o.crl ? { crl: o.crl } : {}), requestCert: true, rejectUnauthorized: !o.observe }, (socket) => {
    socket.once('data', () => socket.end(socket.authorized ? `pong ${socket.getPeerCertificate().subjectaltname}` : `refused ${socket.authorizationError}`));
    socket.on('error', () => {});
  });
  server.on('tlsClientError', (err) => clientErrors.push(err));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, clientErrors, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Connects with a client certificate, checks the server's SPIFFE identity (not a hostname), says ping. */
function exchange(port: number, c: Creds): Promise<string | Error> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      key: c.key,
      cert: c.cert,
      ca: c.ca,
      checkServerIdentity: (_host, cert) => (cert.subjectaltname === `URI:${SERVER}` ? undefined : new Error(`server is ${cert.subjectaltname}, not ${SERVER}`)),
    });
    socket.on('secureConnect', () => socket.write('ping'));
    socket.on('data', (d) => (reply += d));
    socket.on('error', (err) => resolve(err));
    socket.on('close', () => resolve(reply || new Error('closed without a reply')));
  });
}

test('mutual TLS with leaves from the CA succeeds; a client certificate from another CA is refused', async () => {
  const ca = await CertificateAuthority.open({ dataDir: tempDir() });
  const other = await CertificateAuthority.open({ dataDir: tempDir() });
  const server = await mtlsServer(await creds(ca, SERVER));
  try {
    assert.equal(await exchange(server.port, await creds(ca, CLIENT)), `pong URI:${CLIENT}`);
    assert.equal(server.clientErrors.length, 0);

    // a client whose certificate another CA signed (it trusts our root, so only the server can refuse it)
    const stranger = { ...(await creds(other, CLIENT)), ca: ca.rootsPem() };
    const refused = await exchange(server.port, stranger);
    assert.ok(refused instanceof Error, `expected a refusal, got ${String(refused)}`);
    assert.equal(server.clientErrors.length, 1);
    const observer = await mtlsServer({ ...(await creds(ca, SERVER)), observe: true });
    try {
      assert.equal(await exchange(observer.port, stranger), 'refused UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    } finally {
      await observer.close();
    }

    // and a client does not accept a server whose certificate another CA signed
    const impostor = await mtlsServer({ ...(await creds(other, SERVER)), ca: ca.rootsPem() });
    try {
      const r = await exchange(impostor.port, await creds(ca, CLIENT));
      assert.ok(r instanceof Error && /self[- ]signed|unable to verify|issuer/i.test(r.message), String(r));
    } finally {
      await impostor.close();
    }
  } finally {
    await server.close();
    ca.close();
    other.close();
  }
});

test('a revoked client certificate is refused by a peer that has the CRL; others still connect', async () => {
  const ca = await CertificateAuthority.open({ dataDir: tempDir() });
  const good = await creds(ca, CLIENT);
  const bad = await creds(ca, spiffeId('cluster.local', 'default', 'stolen'));
  await ca.revokeSerial(bad.serial);
  const serverCreds = await creds(ca, SERVER);
  const server = await mtlsServer({ ...serverCreds, crl: ca.crlPem()! });
  const observer = await mtlsServer({ ...serverCreds, crl: ca.crlPem()!, observe: true });
  const unaware = await mtlsServer(serverCreds); // without the CRL the revoked leaf still passes: the CRL does the refusing
  try {
    assert.equal(await exchange(server.port, good), `pong URI:${CLIENT}`);
    assert.ok((await exchange(server.port, bad)) instanceof Error);
    assert.equal(server.clientErrors.length, 1);
    assert.equal(await exchange(observer.port, bad), 'refused CERT_REVOKED');
    assert.equal(await exchange(unaware.port, bad), 'pong URI:spiffe://cluster.local/ns/default/sa/stolen');
  } finally {
    await Promise.all([server.close(), observer.close(), unaware.close()]);
    ca.close();
  }
});

test('during a root rotation, a peer with the new bundle accepts leaves of both roots', async () => {
  const ca = await CertificateAuthority.open({ dataDir: tempDir() });
  const oldClient = await creds(ca, CLIENT);
  await ca.rotateRoot();
  const server = await mtlsServer(await creds(ca, SERVER)); // new leaf, bundle with both roots
  try {
    assert.equal(await exchange(server.port, { ...oldClient, ca: ca.rootsPem() }), `pong URI:${CLIENT}`);
    assert.equal(await exchange(server.port, await creds(ca, CLIENT)), `pong URI:${CLIENT}`);
  } finally {
    await server.close();
    ca.close();
  }
});
