import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CertificateAuthority, parseSpiffeId, spiffeId, type IssuedCert } from './authority.js';
import { createWorkloadKeyAndCsr } from '../../common/csr.js';
import { x509 } from './x509.js';
import { mustOpenssl, openssl, opensslVerify, pemBlocks, tempDir, writeFiles } from './test-support.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const ID = spiffeId('cluster.local', 'default', 'frontend');

async function issue(ca: CertificateAuthority, identity = ID, ttlMs?: number): Promise<IssuedCert & { keyPem: string }> {
  const { keyPem, csrPem } = await createWorkloadKeyAndCsr(identity);
  return { ...(await ca.sign(csrPem, identity, ttlMs)), keyPem };
}

/** A clock the test moves; starts on a whole second so that certificate dates compare exactly. */
function clock(start = Math.floor(Date.now() / 1000) * 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('spiffeId and parseSpiffeId are inverse; malformed IDs parse to undefined', () => {
  assert.equal(ID, 'spiffe://cluster.local/ns/default/sa/frontend');
  assert.deepEqual(parseSpiffeId(ID), { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'frontend' });
  for (const bad of ['spiffe://cluster.local/ns/default', 'spiffe://Cluster.Local/ns/a/sa/b', 'https://cluster.local/ns/a/sa/b', 'spiffe://td/ns/../sa/b', 'spiffe://td/ns/a/sa/b/c', 'spiffe://td/ns//sa/b']) {
    assert.equal(parseSpiffeId(bad), undefined, bad);
  }
});

test('first start generates a self-signed P-256 root (10 years, CN and O, CA critical, keyCertSign+cRLSign) in a 0700 directory', async () => {
  const dir = tempDir();
  const c = clock();
  const ca = await CertificateAuthority.open({ dataDir: dir, trustDomain: 'example.org', now: c.now });
  const roots = pemBlocks(ca.rootsPem());
  assert.equal(roots.length, 1);
  const root = new X509Certificate(roots[0]!);
  assert.equal(root.subject, 'O=example.org\nCN=Meshwork Root CA');
  assert.equal(root.issuer, root.subject);
  assert.ok(root.ca);
  assert.ok(root.verify(root.publicKey));
  assert.equal(root.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(root.validTo) - c.t) / (365.25 * DAY);
  assert.ok(years > 9.99 && years < 10.01, `lifetime ${years} years`);
  const lib = new x509.X509Certificate(roots[0]!);
  assert.equal(lib.getExtension(x509.BasicConstraintsExtension)?.critical, true);
  assert.equal(lib.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.match(mustOpenssl(['x509', '-noout', '-text', '-in', path.join(dir, 'ca/root-cert.pem')]), /Signature Algorithm: ecdsa-with-SHA256/);

  assert.equal(fs.statSync(path.join(dir, 'ca')).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(dir, 'ca/root-key.pem')).mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(dir, 'ca/trust-bundle.pem'), 'utf8'), ca.rootsPem());
  assert.equal(ca.trustDomain, 'example.org');
  assert.equal(ca.crlPem(), undefined);
  ca.close();
});

test('a signed leaf verifies with openssl and node:crypto, and carries only the critical SPIFFE URI SAN', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open({ dataDir: dir });
  const cert = await issue(ca);
  assert.equal(cert.chainPem.length, 1);
  assert.equal(cert.identity, ID);
  const v = opensslVerify(dir, { roots: ca.rootsPem(), leaf: cert.chainPem[0]! });
  assert.equal(v.status, 0, v.out);
  assert.match(v.out, /: OK/);
  // the usages fit both ends of a mutual TLS connection
  for (const purpose of ['sslserver', 'sslclient']) {
    const f = writeFiles(dir, { 'roots.pem': ca.rootsPem(), 'leaf.pem': cert.chainPem[0]! });
    assert.equal(openssl(['verify', '-purpose', purpose, '-CAfile', f['roots.pem']!, f['leaf.pem']!]).status, 0, purpose);
  }

  const leaf = new X509Certificate(cert.chainPem[0]!);
  const root = new X509Certificate(ca.rootsPem());
  assert.ok(leaf.checkIssued(root));
  assert.ok(leaf.verify(root.publicKey));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(cert.keyPem)));
  assert.equal(leaf.subject, undefined, 'empty subject');
  assert.match(mustOpenssl(['x509', '-noout', '-subject', '-in', writeFiles(dir, { 's.pem': cert.chainPem[0]! })['s.pem']!]), /^subject=\s*$/m);
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(leaf.ca, false);
  assert.equal(leaf.serialNumber.toLowerCase(), cert.serial);
  assert.match(cert.serial, /^[0-9a-f]{32}$/);

  const lib = new x509.X509Certificate(cert.chainPem[0]!);
  const san = lib.getExtension(x509.SubjectAlternativeNameExtension)!;
  assert.equal(san.critical, true);
  assert.deepEqual(san.names.toJSON(), [{ type: 'url', value: ID }]);
  const ku = lib.getExtension(x509.KeyUsagesExtension)!;
  assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
  assert.deepEqual([...lib.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(lib.getExtension(x509.BasicConstraintsExtension)!.ca, false);
  const rootSki = new x509.X509Certificate(ca.rootsPem()).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  assert.equal(lib.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, rootSki);
  assert.ok(lib.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);

  assert.deepEqual(
    ca.issued().map((i) => [i.serial, i.identity, i.revoked]),
    [[cert.serial, ID, false]],
  );
  // serials are random: a second leaf for the same CSR identity gets another one
  assert.notEqual((await issue(ca)).serial, cert.serial);
  assert.equal(ca.issued()[0]!.serial !== cert.serial, true, 'newest first');
  ca.close();
});

test('TTL: 24 h by default, a shorter request is honoured, a longer one gets the maximum; notBefore is a minute early', async () => {
  const c = clock();
  const ca = await CertificateAuthority.open({ dataDir: tempDir(), now: c.now });
  const d = await issue(ca);
  assert.equal(d.notBefore.getTime(), c.t - 60_000);
  assert.equal(d.notAfter.getTime(), c.t + DAY);
  const leaf = new X509Certificate(d.chainPem[0]!);
  assert.equal(Date.parse(leaf.validFrom), d.notBefore.getTime());
  assert.equal(Date.parse(leaf.validTo), d.notAfter.getTime());
  assert.equal((await issue(ca, ID, HOUR)).notAfter.getTime(), c.t + HOUR);
  assert.equal((await issue(ca, ID, 365 * DAY)).notAfter.getTime(), c.t + 90 * DAY);
  await rejectsWith(issue(ca, ID, -5), 'MW_CA_CSR_INVALID');
  ca.close();

  const short = await CertificateAuthority.open({ dataDir: tempDir(), now: c.now, workloadTtlMs: 2 * HOUR, maxWorkloadTtlMs: 3 * HOUR });
  assert.equal((await issue(short)).notAfter.getTime(), c.t + 2 * HOUR);
  assert.equal((await issue(short, ID, DAY)).notAfter.getTime(), c.t + 3 * HOUR);
  short.close();
});

test('a CSR that does not name exactly the identity, or names another trust domain, is refused', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open({ dataDir: dir });
  const other = spiffeId('cluster.local', 'default', 'admin');
  const { csrPem } = await createWorkloadKeyAndCsr(ID);
  await rejectsWith(ca.sign(csrPem, other), 'MW_CA_CSR_IDENTITY', /exactly one URI SAN equal to the identity, it carries "spiffe:\/\/cluster.local\/ns\/default\/sa\/frontend"/);
  const foreign = spiffeId('evil.example', 'default', 'frontend');
  await rejectsWith(ca.sign((await createWorkloadKeyAndCsr(foreign)).csrPem, foreign), 'MW_CA_CSR_IDENTITY', /trust domain is not "cluster.local"/);
  await rejectsWith(ca.sign(csrPem, 'frontend'), 'MW_CA_CSR_IDENTITY', /not a SPIFFE ID/);

  // CSRs made by openssl: two URI SANs (one of them right), no SAN at all
  mustOpenssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem'], dir);
  mustOpenssl(['req', '-new', '-key', 'k.pem', '-subj', '/CN=x', '-addext', `subjectAltName=URI:${ID},URI:${other}`, '-out', 'two.csr'], dir);
  mustOpenssl(['req', '-new', '-key', 'k.pem', '-subj', '/CN=x', '-out', 'none.csr'], dir);
  await rejectsWith(ca.sign(fs.readFileSync(path.join(dir, 'two.csr'), 'utf8'), ID), 'MW_CA_CSR_IDENTITY');
  await rejectsWith(ca.sign(fs.readFileSync(path.join(dir, 'none.csr'), 'utf8'), ID), 'MW_CA_CSR_IDENTITY', /it carries none/);
  assert.equal(ca.issued().length, 0);
  ca.close();
});

test('a tampered, malformed or weak-keyed CSR is refused; an RSA-2048 CSR from openssl is signed', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open({ dataDir: dir });
  const { csrPem } = await createWorkloadKeyAndCsr(spiffeId('cluster.local', 'default', 'frontenc'));
  // change the identity inside the signed bytes: the SAN now says "frontend", but the signature covered "frontenc"
  const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from('frontenc'));
  assert.ok(at > 0);
  der[at + 7] = 'd'.charCodeAt(0);
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await rejectsWith(ca.sign(tampered, ID), 'MW_CA_CSR_INVALID', /signature does not verify/);
  await rejectsWith(ca.sign('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', ID), 'MW_CA_CSR_INVALID');
  await rejectsWith(ca.sign('not a csr', ID), 'MW_CA_CSR_INVALID');

  mustOpenssl(['genrsa', '-out', 'weak.pem', '1024'], dir);
  mustOpenssl(['req', '-new', '-key', 'weak.pem', '-subj', '/', '-addext', `subjectAltName=critical,URI:${ID}`, '-out', 'weak.csr'], dir);
  await rejectsWith(ca.sign(fs.readFileSync(path.join(dir, 'weak.csr'), 'utf8'), ID), 'MW_CA_CSR_INVALID', /RSA 1024 key is not accepted/);
  mustOpenssl(['genrsa', '-out', 'rsa.pem', '2048'], dir);
  mustOpenssl(['req', '-new', '-key', 'rsa.pem', '-subj', '/CN=ignored', '-addext', `subjectAltName=critical,URI:${ID}`, '-out', 'rsa.csr'], dir);
  const cert = await ca.sign(fs.readFileSync(path.join(dir, 'rsa.csr'), 'utf8'), ID);
  assert.equal(new X509Certificate(cert.chainPem[0]!).subject, undefined, 'nothing of the CSR subject is copied');
  assert.equal(opensslVerify(dir, { roots: ca.rootsPem(), leaf: cert.chainPem[0]! }).status, 0);
  ca.close();
});

test('revokeSerial: the CRL lists the serial, openssl -crl_check refuses that leaf and accepts the others', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open({ dataDir: dir });
  let changes = 0;
  ca.onChange(() => changes++);
  const a = await issue(ca);
  const b = await issue(ca, spiffeId('cluster.local', 'default', 'backend'));
  assert.equal(ca.crlPem(), undefined);
  await ca.revokeSerial(a.serial.toUpperCase(), 'keyCompromise');
  assert.equal(changes, 1);
  const crlPem = ca.crlPem()!;
  assert.ok(crlPem);
  const crl = new x509.X509Crl(crlPem);
  assert.ok(crl.findRevoked(a.serial));
  assert.equal(crl.findRevoked(a.serial)!.reason, x509.X509CrlReason.keyCompromise);
  assert.equal(crl.findRevoked(b.serial), null);
  assert.ok(await crl.verify({ publicKey: new x509.X509Certificate(ca.rootsPem()) }));
  assert.ok(crl.nextUpdate && crl.nextUpdate.getTime() > Date.now());

  const refused = opensslVerify(dir, { roots: ca.rootsPem(), leaf: a.chainPem[0]!, crl: crlPem });
  assert.notEqual(refused.status, 0);
  assert.match(refused.out, /certificate revoked/);
  const ok = opensslVerify(dir, { roots: ca.rootsPem(), leaf: b.chainPem[0]!, crl: crlPem });
  assert.equal(ok.status, 0, ok.out);
  // without the CRL the revoked leaf still verifies: the test above is not vacuous
  assert.equal(opensslVerify(dir, { roots: ca.rootsPem(), leaf: a.chainPem[0]! }).status, 0);

  assert.deepEqual(ca.issued().map((i) => [i.serial, i.revoked]), [[b.serial, false], [a.serial, true]]);
  await ca.revokeSerial(a.serial); // twice is once
  assert.equal(changes, 1);
  await rejectsWith(ca.revokeSerial('00ff'), 'MW_CA_UNKNOWN');
  ca.close();
});

test('revokeIdentity revokes its live certificates and refuses its future CSRs; other identities are untouched', async () => {
  const dir = tempDir();
  const ca = await CertificateAuthority.open({ dataDir: dir });
  const bad = spiffeId('cluster.local', 'shop', 'cart');
  const x1 = await issue(ca, bad);
  const x2 = await issue(ca, bad);
  const y = await issue(ca);
  await ca.revokeIdentity(bad, 'compromised pod');
  const crl = new x509.X509Crl(ca.crlPem()!);
  assert.ok(crl.findRevoked(x1.serial));
  assert.ok(crl.findRevoked(x2.serial));
  assert.equal(crl.findRevoked(y.serial), null);
  await rejectsWith(issue(ca, bad), 'MW_CA_REVOKED', /identity is revoked/);
  assert.ok(await issue(ca));
  await rejectsWith(ca.revokeIdentity('spiffe://elsewhere/ns/a/sa/b'), 'MW_CA_CSR_IDENTITY');
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'ca/revoked.json'), 'utf8'));
  assert.deepEqual(saved.identities.map((i: { identity: string; reason: string }) => [i.identity, i.reason]), [[bad, 'compromised pod']]);
  ca.close();
});

test('state survives open(): same root, revocations, issued list; expired entries leave the CRL', async () => {
  const dir = tempDir();
  const c = clock();
  const ca = await CertificateAuthority.open({ dataDir: dir, now: c.now });
  const a = await issue(ca, ID, HOUR);
  const gone = spiffeId('cluster.local', 'default', 'gone');
  const g = await issue(ca, gone, 2 * HOUR);
  await ca.revokeSerial(a.serial);
  await ca.revokeIdentity(gone);
  const roots = ca.rootsPem();
  ca.close();

  const again = await CertificateAuthority.open({ dataDir: dir, now: c.now });
  assert.equal(again.rootsPem(), roots);
  const crl = new x509.X509Crl(again.crlPem()!);
  assert.ok(crl.findRevoked(a.serial));
  assert.ok(crl.findRevoked(g.serial));
  assert.deepEqual(again.issued().map((i) => [i.serial, i.revoked]), [[g.serial, true], [a.serial, true]]);
  await rejectsWith(issue(again, gone), 'MW_CA_REVOKED');
  // a new leaf chains to the same root as before the restart
  const b = await issue(again);
  assert.ok(new X509Certificate(b.chainPem[0]!).checkIssued(new X509Certificate(roots)));

  // time passes: a's certificate expires, so it leaves the CRL (and the issued list); g's is still listed
  let changes = 0;
  again.onChange(() => changes++);
  c.t += HOUR + 1000;
  await again.refresh();
  const later = new x509.X509Crl(again.crlPem()!);
  assert.equal(later.findRevoked(a.serial), null);
  assert.ok(later.findRevoked(g.serial));
  assert.equal(changes, 1);
  assert.deepEqual(again.issued().map((i) => i.serial), [b.serial, g.serial]);
  // and once nothing revoked is alive, there is no CRL at all
  c.t += HOUR;
  await again.refresh();
  assert.equal(again.crlPem(), undefined);
  await rejectsWith(issue(again, gone), 'MW_CA_REVOKED', /revoked/);
  again.close();
});

test('the CRL is re-signed at half its life, with a growing CRL number', async () => {
  const c = clock();
  const ca = await CertificateAuthority.open({ dataDir: tempDir(), now: c.now, workloadTtlMs: 3 * DAY });
  const a = await issue(ca);
  await ca.revokeSerial(a.serial);
  const first = new x509.X509Crl(ca.crlPem()!);
  c.t += 13 * HOUR;
  await ca.refresh();
  const second = new x509.X509Crl(ca.crlPem()!);
  assert.ok(second.thisUpdate.getTime() > first.thisUpdate.getTime());
  assert.ok(second.nextUpdate!.getTime() > c.t);
  const num = (crl: x509.X509Crl) => Buffer.from(crl.getExtension('2.5.29.20')!.value).readUIntBE(2, Buffer.from(crl.getExtension('2.5.29.20')!.value)[1]!);
  assert.ok(num(second) > num(first), `${num(second)} > ${num(first)}`);
  ca.close();
});

test('a user-provided RSA root signs leaves that chain to it; its root cannot be rotated', async () => {
  const dir = tempDir();
  mustOpenssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '30', '-subj', '/O=Example Corp/CN=Example Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const ca = await CertificateAuthority.open({ dataDir: path.join(dir, 'data'), certFile: path.join(dir, 'root.pem'), keyFile: path.join(dir, 'root.key') });
  assert.equal(new X509Certificate(ca.rootsPem()).fingerprint256, new X509Certificate(fs.readFileSync(path.join(dir, 'root.pem'))).fingerprint256);
  const leaf = await issue(ca);
  assert.equal(leaf.chainPem.length, 1);
  const v = opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]! });
  assert.equal(v.status, 0, v.out);
  assert.match(mustOpenssl(['x509', '-noout', '-text', '-in', writeFiles(dir, { 'l.pem': leaf.chainPem[0]! })['l.pem']!]), /sha256WithRSAEncryption/);
  await rejectsWith(ca.rotateRoot(), 'MW_CA_EXTERNAL');
  // the RSA-signed CRL works with openssl too
  await ca.revokeSerial(leaf.serial);
  assert.match(opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]!, crl: ca.crlPem()! }).out, /certificate revoked/);
  assert.equal(fs.existsSync(path.join(dir, 'data/ca/root-key.pem')), false, 'a user CA generates no root');
  ca.close();
});

test('a user-provided intermediate (SEC1 EC key) with its chain: leaves carry the intermediate, the bundle only the root', async () => {
  const dir = tempDir();
  mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-days', '30', '-subj', '/O=Example Corp/CN=Example Root'], dir);
  mustOpenssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'int.key'], dir);
  mustOpenssl(['req', '-new', '-key', 'int.key', '-subj', '/O=Example Corp/CN=Mesh Intermediate', '-out', 'int.csr'], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), '[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
  mustOpenssl(['x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '0x1234', '-days', '2', '-extfile', 'ext.cnf', '-extensions', 'v3_int', '-out', 'int.pem'], dir);
  assert.match(fs.readFileSync(path.join(dir, 'int.key'), 'utf8'), /BEGIN EC PRIVATE KEY/);
  const files = { certFile: path.join(dir, 'int.pem'), keyFile: path.join(dir, 'int.key'), chainFile: path.join(dir, 'root.pem') };
  const rootPem = fs.readFileSync(path.join(dir, 'root.pem'), 'utf8');
  const intPem = fs.readFileSync(path.join(dir, 'int.pem'), 'utf8');

  const ca = await CertificateAuthority.open({ dataDir: path.join(dir, 'data'), ...files });
  assert.equal(new X509Certificate(ca.rootsPem()).fingerprint256, new X509Certificate(rootPem).fingerprint256);
  assert.equal(pemBlocks(ca.rootsPem()).length, 1);
  const leaf = await issue(ca, ID, 30 * DAY);
  assert.equal(leaf.chainPem.length, 2);
  assert.equal(new X509Certificate(leaf.chainPem[1]!).fingerprint256, new X509Certificate(intPem).fingerprint256);
  const v = opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]!, untrusted: [leaf.chainPem[1]!] });
  assert.equal(v.status, 0, v.out);
  // without the intermediate the leaf does not verify: the chain is what makes it work
  assert.notEqual(opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]! }).status, 0);
  // a leaf never outlives its chain: 30 days asked, the intermediate's 2 days given
  assert.equal(leaf.notAfter.getTime(), Date.parse(new X509Certificate(intPem).validTo));
  // revocation with leaf-only CRL checking (Envoy's only_verify_leaf_cert_crl): the intermediate signs the CRL
  await ca.revokeSerial(leaf.serial);
  assert.match(opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]!, untrusted: [leaf.chainPem[1]!], crl: ca.crlPem()! }).out, /certificate revoked/);
  ca.close();

  // Istio's cert-chain.pem form (the intermediate itself, then the root) is accepted too
  const istioForm = writeFiles(dir, { 'cert-chain.pem': intPem + rootPem })['cert-chain.pem']!;
  const ca2 = await CertificateAuthority.open({ dataDir: tempDir(), ...files, chainFile: istioForm });
  assert.equal(pemBlocks(ca2.rootsPem()).length, 1);
  ca2.close();

  // broken setups say what is wrong
  await rejectsWith(CertificateAuthority.open({ dataDir: tempDir(), certFile: files.certFile, keyFile: files.keyFile }), 'MW_CA_LOAD', /does not reach a self-signed root/);
  mustOpenssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '30', '-subj', '/CN=Other Root'], dir);
  await rejectsWith(CertificateAuthority.open({ dataDir: tempDir(), ...files, chainFile: path.join(dir, 'other.pem') }), 'MW_CA_LOAD', /did not issue/);
  await rejectsWith(CertificateAuthority.open({ dataDir: tempDir(), ...files, keyFile: path.join(dir, 'other.key') }), 'MW_CA_LOAD', /does not belong to the certificate/);
  await rejectsWith(CertificateAuthority.open({ dataDir: tempDir(), certFile: files.certFile }), 'MW_CA_LOAD', /go together/);
  const leafFile = writeFiles(dir, { 'leaf.pem': leaf.chainPem[0]! })['leaf.pem']!;
  await rejectsWith(CertificateAuthority.open({ dataDir: tempDir(), certFile: leafFile, keyFile: leafFile }), 'MW_CA_LOAD', /lacks basicConstraints CA:TRUE/);
});

test('rotateRoot: the bundle holds both roots, old leaves keep verifying, new leaves chain to the new root', async () => {
  const dir = tempDir();
  const c = clock();
  const ca = await CertificateAuthority.open({ dataDir: dir, now: c.now });
  let changes = 0;
  ca.onChange(() => changes++);
  const oldLeaf = await issue(ca, ID, 2 * HOUR);
  const oldRoot = new X509Certificate(ca.rootsPem());
  await assert.doesNotReject(ca.rotateRoot());
  assert.equal(changes, 1);
  const bundle = pemBlocks(ca.rootsPem());
  assert.equal(bundle.length, 2);
  const newRoot = new X509Certificate(bundle[0]!);
  assert.equal(new X509Certificate(bundle[1]!).fingerprint256, oldRoot.fingerprint256);
  assert.notEqual(newRoot.fingerprint256, oldRoot.fingerprint256);
  assert.equal(newRoot.subject, oldRoot.subject);
  assert.deepEqual(ca.roots().map((r) => r.signing), [true, false]);

  const newLeaf = await issue(ca, spiffeId('cluster.local', 'default', 'backend'));
  const nl = new X509Certificate(newLeaf.chainPem[0]!);
  assert.ok(nl.verify(newRoot.publicKey));
  assert.equal(nl.verify(oldRoot.publicKey), false);
  for (const leaf of [oldLeaf, newLeaf]) {
    const v = opensslVerify(dir, { roots: ca.rootsPem(), leaf: leaf.chainPem[0]! });
    assert.equal(v.status, 0, v.out);
  }
  // the new root alone does not verify the old leaf: the bundle is what keeps it working
  assert.notEqual(opensslVerify(dir, { roots: bundle[0]!, leaf: oldLeaf.chainPem[0]! }).status, 0);

  // revocation during the rotation: one CRL per root (same subject name), each leaf checked against its issuer's
  await ca.revokeSerial(newLeaf.serial);
  assert.equal(pemBlocks(ca.crlPem()!).length, 2);
  const okOld = opensslVerify(dir, { roots: ca.rootsPem(), leaf: oldLeaf.chainPem[0]!, crl: ca.crlPem()! });
  assert.equal(okOld.status, 0, okOld.out);
  assert.match(opensslVerify(dir, { roots: ca.rootsPem(), leaf: newLeaf.chainPem[0]!, crl: ca.crlPem()! }).out, /certificate revoked/);
  await ca.revokeSerial(oldLeaf.serial);
  assert.match(opensslVerify(dir, { roots: ca.rootsPem(), leaf: oldLeaf.chainPem[0]!, crl: ca.crlPem()! }).out, /certificate revoked/);
  ca.close();

  // a restart keeps both roots
  const again = await CertificateAuthority.open({ dataDir: dir, now: c.now });
  assert.equal(pemBlocks(again.rootsPem()).length, 2);
  assert.equal(pemBlocks(again.rootsPem())[0], bundle[0]);
  let later = 0;
  again.onChange(() => later++);
  // once the old root's last leaf has expired, the old root leaves the bundle by itself
  c.t += 2 * HOUR + 1000;
  assert.equal(pemBlocks(again.rootsPem()).length, 1);
  assert.equal(again.rootsPem(), bundle[0]);
  await again.refresh();
  assert.ok(later >= 1);
  assert.equal(fs.readFileSync(path.join(dir, 'ca/trust-bundle.pem'), 'utf8'), bundle[0]);
  again.close();
});

test('dropRoot removes a previous root early; the current one cannot be dropped', async () => {
  const ca = await CertificateAuthority.open({ dataDir: tempDir() });
  await issue(ca);
  const first = ca.roots()[0]!.fingerprint;
  await ca.rotateRoot();
  assert.equal(ca.roots().length, 2);
  await rejectsWith(ca.dropRoot(ca.roots()[0]!.fingerprint), 'MW_CA_UNKNOWN', /current root/);
  await rejectsWith(ca.dropRoot('ab'.repeat(32)), 'MW_CA_UNKNOWN');
  let changes = 0;
  ca.onChange(() => changes++);
  await ca.dropRoot(first.toUpperCase().replace(/(..)(?!$)/g, '$1:'));
  assert.equal(changes, 1);
  assert.equal(ca.roots().length, 1);
  assert.equal(pemBlocks(ca.rootsPem()).length, 1);
  ca.close();
});

test('a half-present generated CA is not overwritten', async () => {
  const dir = tempDir();
  (await CertificateAuthority.open({ dataDir: dir })).close();
  fs.rmSync(path.join(dir, 'ca/root-key.pem'));
  await rejectsWith(CertificateAuthority.open({ dataDir: dir }), 'MW_CA_LOAD', /root-key.pem is missing/);
});
