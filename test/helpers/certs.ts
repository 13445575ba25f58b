// Test PKI made with the openssl CLI: a root CA, a second unrelated CA (the "wrong" one), and leaf
// certificates with SANs (DNS names, a spiffe:// URI) signed by either. EC P-256 keys keep generation fast.
// Files land in a temp dir; each leaf is { cert, key } paths plus the PEM text for in-process servers.
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './proxy.js';

export interface CertFiles {
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

export interface LeafSpec {
  cn: string;
  dns?: string[];
  uri?: string[];
  /** sign with the unrelated CA instead of the main one */
  wrongCa?: boolean;
  /** extendedKeyUsage; both by default so a leaf can serve either side */
  usage?: 'server' | 'client' | 'both';
}

export interface Pki {
  dir: string;
  ca: CertFiles;
  otherCa: CertFiles;
  leaf(name: string, spec: LeafSpec): CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  return { cert, key, certPem: fs.readFileSync(cert, 'utf8'), keyPem: fs.readFileSync(key, 'utf8') };
}

function makeCa(dir: string, name: string, cn: string): CertFiles {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-sha256', '-days', '30', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', `${name}.crt`], dir);
  return files(dir, name);
}

export function makePki(): Pki {
  const dir = tmpDir('meshwork-pki-');
  const ca = makeCa(dir, 'ca', 'Meshwork Test Root CA');
  const otherCa = makeCa(dir, 'other-ca', 'Unrelated Test CA');
  return {
    dir,
    ca,
    otherCa,
    leaf(name, spec) {
      const signer = spec.wrongCa ? 'other-ca' : 'ca';
      const sans = [...(spec.dns ?? []).map((d) => `DNS:${d}`), ...(spec.uri ?? []).map((u) => `URI:${u}`)];
      const eku = spec.usage === 'server' ? 'serverAuth' : spec.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
      const ext = [`basicConstraints=CA:FALSE`, `keyUsage=digitalSignature,keyEncipherment`, `extendedKeyUsage=${eku}`, ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])];
      fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
      openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/O=Meshwork Tests/CN=${spec.cn}`, '-out', `${name}.csr`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
      return files(dir, name);
    },
  };
}

/** A DownstreamTlsContext / UpstreamTlsContext tls_certificates entry for a leaf. */
export function tlsCertificate(c: CertFiles): object {
  return { certificate_chain: { filename: c.cert }, private_key: { filename: c.key } };
}

export const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** A self-signed EC certificate and its key (PEM), written as `<dir>/<name>.crt` and `.key` by openssl. */
export function selfSignedPair(dir: string, name: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '2'], { stdio: 'ignore' });
  return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
}

/** A certificate's serial in openssl's form (upper-case hex). */
export const serialOf = (c: CertFiles) => new crypto.X509Certificate(c.certPem).serialNumber.toUpperCase();

/** The serial of the certificate a new handshake gets for `servername`, as `openssl s_client` sees it. */
export function handshakeSerial(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { timeout: 10_000 }, (err, stdout) => {
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
      if (!pem) return reject(new Error(`s_client got no certificate${err ? `: ${err.message}` : ''}`));
      resolve(new crypto.X509Certificate(pem).serialNumber.toUpperCase());
    });
    child.stdin!.end();
  });
}
