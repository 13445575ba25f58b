// Test support (not used by the proxy): a throwaway PKI made with the openssl CLI in a temp directory, for
// the TLS tests of the listener and the upstream. Keys are EC P-256 (fast to make) except one RSA server key.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCert {
  cert: string; // file paths
  key: string;
}

export interface TestPki {
  dir: string;
  ca: TestCert;
  /** EC, DNS:server.example.com, URI:spiffe://cluster.local/ns/default/sa/server */
  serverEc: TestCert;
  /** RSA, DNS:server.example.com */
  serverRsa: TestCert;
  /** EC, DNS:*.other.test */
  wildcard: TestCert;
  /** EC, CN=client, URI:spiffe://cluster.local/ns/default/sa/client, DNS:client.internal */
  client: TestCert;
  /** EC, signed by the CA but with URI:spiffe://cluster.local/ns/other/sa/intruder */
  intruder: TestCert;
  /** an unrelated CA and two leaves it signed, with the same SANs as serverEc and client */
  rogueCa: TestCert;
  rogueServer: TestCert;
  rogueClient: TestCert;
  read(file: string): Buffer;
  cleanup(): void;
}

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = (name: string) => run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  const makeCa = (name: string, cn: string): TestCert => {
    ecKey(name);
    run('req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '2', '-out', `${name}.crt`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const makeLeaf = (name: string, ca: string, subject: string, san: string, rsa = false): TestCert => {
    if (rsa) run('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`);
    else ecKey(name);
    fs.writeFileSync(
      path.join(dir, `${name}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`,
    );
    run('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const serverSan = 'DNS:server.example.com,URI:spiffe://cluster.local/ns/default/sa/server';
  const clientSan = 'URI:spiffe://cluster.local/ns/default/sa/client,DNS:client.internal';
  const ca = makeCa('ca', 'Meshwork Test CA');
  const rogueCa = makeCa('rogue-ca', 'Rogue CA');
  return {
    dir,
    ca,
    serverEc: makeLeaf('server-ec', 'ca', '/O=Meshwork/CN=server.example.com', serverSan),
    serverRsa: makeLeaf('server-rsa', 'ca', '/O=Meshwork/CN=server.example.com', 'DNS:server.example.com', true),
    wildcard: makeLeaf('wildcard', 'ca', '/CN=*.other.test', 'DNS:*.other.test'),
    client: makeLeaf('client', 'ca', '/O=Meshwork/CN=client', clientSan),
    intruder: makeLeaf('intruder', 'ca', '/CN=intruder', 'URI:spiffe://cluster.local/ns/other/sa/intruder'),
    rogueCa,
    rogueServer: makeLeaf('rogue-server', 'rogue-ca', '/CN=server.example.com', serverSan),
    rogueClient: makeLeaf('rogue-client', 'rogue-ca', '/CN=client', clientSan),
    read: (file) => fs.readFileSync(file),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
