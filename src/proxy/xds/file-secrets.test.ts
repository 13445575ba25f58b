import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { selfSignedPair } from '../../../test/helpers/certs.js';
import { tmpDir, waitFor } from '../../../test/helpers/proxy.js';
import { FileBackedSecret, FileSdsSource, constantSource, materialize, readSdsFile, readsFiles } from './file-secrets.js';
import { validateSecret } from './secrets.js';

const tmp = () => tmpDir('meshwork-file-secrets-');
/** (boolean polls, as the tests below write them) */
const until = (ok: () => boolean, what: string) => waitFor(ok, what);

test('readsFiles: only filename DataSources count', () => {
  assert.equal(readsFiles({ tls_certificate: { certificate_chain: { inline_string: 'x' } } }), false);
  assert.equal(readsFiles({ validation_context: { trusted_ca: { filename: '/ca.pem' } } }), true);
  assert.equal(readsFiles(undefined), false);
});

test('materialize: bytes inlined; watched directories as Envoy picks them', () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'c.pem'), 'C');
  fs.writeFileSync(path.join(dir, 'k.pem'), 'K');
  const m = materialize({ tls_certificate: { certificate_chain: { filename: path.join(dir, 'c.pem') }, private_key: { filename: path.join(dir, 'k.pem') } } }, 's');
  assert.deepEqual(m.value.tls_certificate, { certificate_chain: { inline_bytes: Buffer.from('C') }, private_key: { inline_bytes: Buffer.from('K') } });
  assert.deepEqual([...m.dirs.keys()], [dir], 'the parent directory, once');
  // watched_directory replaces the parent directories, and is dropped from the value
  const w = materialize({ validation_context: { trusted_ca: { filename: path.join(dir, 'c.pem') }, watched_directory: { path: '/somewhere' } } as any }, 's');
  assert.deepEqual([...w.dirs.keys()], ['/somewhere']);
  assert.equal('watched_directory' in w.value.validation_context!, false);
  assert.throws(() => materialize({ validation_context: { trusted_ca: { filename: path.join(dir, 'missing.pem') } } }, 'x'), /x\.validation_context\.trusted_ca\.filename: Cannot read .*ENOENT/);
});

test('FileBackedSecret: a changed pair is published; a mismatched one keeps the old and is counted', async () => {
  const dir = tmp();
  const a = selfSignedPair(dir, 'a');
  const b = selfSignedPair(dir, 'b');
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  fs.writeFileSync(cert, a.cert);
  fs.writeFileSync(key, a.key);
  let failed = 0;
  const f = new FileBackedSecret(constantSource('s', { name: 's', tls_certificate: { certificate_chain: { filename: cert }, private_key: { filename: key } } }), 'secret "s"', validateSecret, () => failed++);
  const r0 = f.revision;
  assert.equal(String(f.value!.tls_certificate!.certificate_chain!.inline_bytes), a.cert);
  // the certificate alone: does not match the key
  fs.writeFileSync(`${cert}.new`, b.cert);
  fs.renameSync(`${cert}.new`, cert);
  await until(() => failed === 1, 'the mismatch to be counted');
  assert.equal(f.revision, r0);
  assert.equal(String(f.value!.tls_certificate!.certificate_chain!.inline_bytes), a.cert);
  fs.writeFileSync(`${key}.new`, b.key);
  fs.renameSync(`${key}.new`, key);
  await until(() => f.revision > r0, 'the matching pair to be published');
  assert.equal(String(f.value!.tls_certificate!.certificate_chain!.inline_bytes), b.cert);
  // an unrelated file in the directory changes nothing
  const r1 = f.revision;
  fs.writeFileSync(path.join(dir, 'unrelated'), 'x');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(f.revision, r1);
});

test('FileBackedSecret: unreadable files at config time are a ConfigError', () => {
  assert.throws(() => new FileBackedSecret(constantSource('', { tls_certificate: { certificate_chain: { filename: '/nonexistent/c.pem' }, private_key: { filename: '/nonexistent/k.pem' } } }), 'ctx', validateSecret), /ctx\.tls_certificate\.certificate_chain\.filename: Cannot read "\/nonexistent\/c\.pem": ENOENT/);
});

test('readSdsFile: one Secret, the one named', () => {
  const dir = tmp();
  const file = path.join(dir, 's.yaml');
  const secret = (name: string) => `- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: ${name}\n  validation_context: { trusted_ca: { inline_string: x } }\n`;
  fs.writeFileSync(file, `resources:\n${secret('s')}`);
  assert.equal(readSdsFile(file, 's', 'p').name, 's');
  assert.throws(() => readSdsFile(file, 'other', 'p'), /holds secret "s", expected "other"/);
  fs.writeFileSync(file, `resources:\n${secret('s')}${secret('t')}`);
  assert.throws(() => readSdsFile(file, 's', 'p'), /exactly one Secret/);
  fs.writeFileSync(file, 'resources:\n- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\n  name: s\n');
  assert.throws(() => readSdsFile(file, 's', 'p'), /expected a envoy\.extensions\.transport_sockets\.tls\.v3\.Secret/);
});

test('FileSdsSource: reloads when the file is moved over; a bad file is rejected and keeps the secret', async () => {
  const dir = tmp();
  const { cert } = selfSignedPair(dir, 'ca');
  const file = path.join(dir, 'sds.yaml');
  const doc = (ca: string) => `resources:\n- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: ca\n  validation_context:\n    trusted_ca:\n      inline_string: |\n${ca.trim().split('\n').map((l) => `        ${l}`).join('\n')}\n`;
  fs.writeFileSync(file, doc(cert));
  const counts = { update_attempt: 0, update_success: 0, update_rejected: 0 };
  const counter = (k: keyof typeof counts) => ({ inc: () => counts[k]++ });
  const s = new FileSdsSource('ca', { path: file }, 'p', validateSecret, { update_attempt: counter('update_attempt'), update_success: counter('update_success'), update_rejected: counter('update_rejected') });
  assert.equal(s.revision, 1);
  const other = selfSignedPair(dir, 'other');
  fs.writeFileSync(`${file}.tmp`, doc(other.cert));
  fs.renameSync(`${file}.tmp`, file);
  await until(() => s.revision === 2, 'the moved file to load');
  assert.match(String(s.value!.validation_context!.trusted_ca!.inline_string), /BEGIN CERTIFICATE/);
  fs.writeFileSync(`${file}.tmp`, doc('not a certificate'));
  fs.renameSync(`${file}.tmp`, file);
  await until(() => counts.update_rejected === 1, 'the bad file to be rejected');
  assert.equal(s.revision, 2);
});
