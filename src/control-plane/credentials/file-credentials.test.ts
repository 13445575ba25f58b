import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { selfSignedPair } from '../../../test/helpers/certs.js';
import { tmpDir, waitFor } from '../../../test/helpers/proxy.js';
import { FileCredentialStore, readCredential } from './file-credentials.js';
import { caSecretName, credentialSecretName } from './names.js';

const tmp = () => tmpDir('meshwork-credentials-');
/** (boolean polls, as the tests below write them) */
const until = (ok: () => boolean, what: string) => waitFor(ok, what);

test('Istio names: kubernetes://<name> and kubernetes://<name>-cacert', () => {
  assert.equal(credentialSecretName('shop'), 'kubernetes://shop');
  assert.equal(caSecretName('shop'), 'kubernetes://shop-cacert');
});

test('readCredential: Kubernetes TLS secret keys (and the generic ones); a mismatched pair is refused', () => {
  const keys = tmp();
  const a = selfSignedPair(keys, 'a');
  const b = selfSignedPair(keys, 'b');
  const dir = tmp();
  assert.equal(readCredential('x', dir), undefined, 'an empty directory is no credential');
  fs.writeFileSync(path.join(dir, 'tls.crt'), a.cert);
  assert.throws(() => readCredential('x', dir), /needs both tls\.crt and tls\.key/);
  fs.writeFileSync(path.join(dir, 'tls.key'), b.key);
  assert.throws(() => readCredential('x', dir), /does not match its certificate/);
  fs.writeFileSync(path.join(dir, 'tls.key'), a.key);
  assert.deepEqual(readCredential('x', dir), { name: 'x', dir, certPem: a.cert, keyPem: a.key });
  const generic = tmp();
  fs.writeFileSync(path.join(generic, 'cert'), a.cert);
  fs.writeFileSync(path.join(generic, 'key'), a.key);
  fs.writeFileSync(path.join(generic, 'cacert'), b.cert);
  assert.equal(readCredential('g', generic)!.caPem, b.cert);
  const caOnly = tmp();
  fs.writeFileSync(path.join(caOnly, 'ca.crt'), 'garbage');
  assert.throws(() => readCredential('c', caOnly), /Cannot parse .*ca\.crt/);
});

test('FileCredentialStore: added, replaced (a bad pair keeps the old one) and removed credentials are reported', async () => {
  const keys = tmp();
  const a = selfSignedPair(keys, 'a');
  const b = selfSignedPair(keys, 'b');
  const root = path.join(tmp(), 'credentials');
  const changes: string[][] = [];
  const store = new FileCredentialStore({ dir: root, onChange: (n) => changes.push(n), debounceMs: 20, pollMs: 50 });
  store.start();
  try {
    assert.deepEqual(store.status().credentials, [], 'a missing dir holds nothing');
    // the dir appears later, with a credential
    fs.mkdirSync(path.join(root, 'shop'), { recursive: true });
    fs.writeFileSync(path.join(root, 'shop', 'tls.key'), a.key);
    fs.writeFileSync(path.join(root, 'shop', 'tls.crt'), a.cert);
    await until(() => store.get('shop')?.certPem === a.cert, 'the credential to appear');
    // a certificate without its key: refused, the old pair stays
    fs.writeFileSync(path.join(root, 'shop', 'tls.crt'), b.cert);
    await until(() => store.status().errors.length === 1, 'the mismatch to be reported');
    assert.equal(store.get('shop')!.certPem, a.cert);
    assert.equal(store.rejectedTotal, 1);
    fs.writeFileSync(path.join(root, 'shop', 'tls.key'), b.key);
    await until(() => store.get('shop')?.certPem === b.cert, 'the completed pair');
    assert.deepEqual(store.status().errors, []);
    const n = changes.length;
    fs.rmSync(path.join(root, 'shop'), { recursive: true });
    await until(() => store.get('shop') === undefined, 'the removal');
    assert.deepEqual(changes.at(-1), ['shop']);
    assert.ok(changes.length > n);
  } finally {
    store.close();
  }
});
