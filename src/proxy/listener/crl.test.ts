import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateRevocationKey, crlRevocations, pemCrls } from './crl.js';

/** A CA, two leaves and a CRL revoking the first, made by the openssl CLI (`openssl ca` with a scratch database). */
function pki(): { revoked: crypto.X509Certificate; kept: crypto.X509Certificate; crlPem: string } {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-crl-'));
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'pipe', 'pipe'] });
  o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  o(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '3', '-subj', '/O=Meshwork Tests/CN=CRL  Test CA', '-out', 'ca.crt']);
  for (const n of ['a', 'b']) {
    o(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${n}.key`]);
    o(['req', '-new', '-key', `${n}.key`, '-subj', `/CN=${n}`, '-out', `${n}.csr`]);
    o(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${n}.crt`]);
  }
  fs.writeFileSync(path.join(d, 'index.txt'), '');
  fs.writeFileSync(path.join(d, 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(d, 'ca.cnf'), `[ca]\ndefault_ca=x\n[x]\ndatabase=${d}/index.txt\ncrlnumber=${d}/crlnumber\ndefault_md=sha256\ndefault_crl_days=1\n`);
  o(['ca', '-config', 'ca.cnf', '-revoke', 'a.crt', '-keyfile', 'ca.key', '-cert', 'ca.crt']);
  o(['ca', '-config', 'ca.cnf', '-gencrl', '-keyfile', 'ca.key', '-cert', 'ca.crt', '-out', 'ca.crl']);
  const cert = (n: string) => new crypto.X509Certificate(fs.readFileSync(path.join(d, `${n}.crt`)));
  return { revoked: cert('a'), kept: cert('b'), crlPem: fs.readFileSync(path.join(d, 'ca.crl'), 'utf8') };
}

test('CRL entries match the revoked certificate by issuer and serial, and nothing else', () => {
  const { revoked, kept, crlPem } = pki();
  const [der] = pemCrls(`junk\n${crlPem}`);
  assert.ok(der);
  const keys = new Set(crlRevocations(der));
  assert.equal(keys.size, 1);
  assert.ok(keys.has(certificateRevocationKey(revoked)), `${[...keys]} vs ${certificateRevocationKey(revoked)}`);
  assert.ok(!keys.has(certificateRevocationKey(kept)));
  // names compare as OpenSSL compares them: case and runs of spaces do not matter
  assert.match(certificateRevocationKey(revoked), /=crl test ca\|/);
});

test('a malformed CRL is an error, not an empty list', () => {
  assert.throws(() => crlRevocations(Buffer.from([0x30, 0x05, 0x02, 0x01])), /truncated|overruns/);
  assert.throws(() => crlRevocations(Buffer.from([0x04, 0x00])), /not a CRL/);
  assert.deepEqual(pemCrls('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----'), []);
});
