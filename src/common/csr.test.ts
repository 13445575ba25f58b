import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createWorkloadKeyAndCsr } from './csr.js';

const ID = 'spiffe://cluster.local/ns/default/sa/frontend';

test('the CSR verifies with openssl, has an empty subject and one critical URI SAN; the key is P-256 PKCS#8', async () => {
  // a long identity too, so that the DER lengths go past one byte
  for (const identity of [ID, `spiffe://cluster.local/ns/default/sa/${'a'.repeat(200)}`]) {
    const { keyPem, csrPem } = await createWorkloadKeyAndCsr(identity);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mw-csr-'));
    fs.writeFileSync(path.join(dir, 'r.csr'), csrPem);
    const r = spawnSync('openssl', ['req', '-in', 'r.csr', '-verify', '-noout', '-text', '-pubkey'], { cwd: dir, encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /verify OK/);
    assert.match(r.stdout, /Subject: *\n/);
    assert.match(r.stdout, /X509v3 Subject Alternative Name: critical\n\s+URI:(\S+)\n/);
    assert.equal(/URI:(\S+)/.exec(r.stdout)![1], identity);
    assert.match(r.stdout, /Signature Algorithm: ecdsa-with-SHA256/);

    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = createPrivateKey(keyPem);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    // the CSR's public key is this private key's
    const csrPub = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----\n/.exec(r.stdout)![0];
    assert.equal(createPublicKey(csrPub).export({ type: 'spki', format: 'pem' }), createPublicKey(key).export({ type: 'spki', format: 'pem' }));
  }
});

test('each call makes a new key', async () => {
  const a = await createWorkloadKeyAndCsr(ID);
  const b = await createWorkloadKeyAndCsr(ID);
  assert.notEqual(a.keyPem, b.keyPem);
});

test('an identity that is not ASCII is refused', async () => {
  await assert.rejects(createWorkloadKeyAndCsr('spiffe://cluster.local/ns/ä/sa/b'), /not an ASCII URI/);
});
