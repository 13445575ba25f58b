// End to end: certificates that follow their files, through a real `meshwork proxy` with a static bootstrap.
// - inline tls_certificates `filename` (a Meshwork choice: Envoy reads these once) and a static secret's
//   trusted_ca: replacing the files by a move reaches new handshakes (openssl s_client sees the new serial),
//   an established connection keeps its certificate and keeps working, a bad file keeps the old certificate;
// - file-based SDS (sds_config.path_config_source) whose secret points into a Kubernetes-style volume: the
//   `..data` symlink swap, and a new SDS file moved over the old one, each reach new handshakes;
//   sds.<name>.key_rotation_failed counts a swap to a key that does not match.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { DOWNSTREAM_TLS, handshakeSerial, makePki, serialOf, type CertFiles, type Pki } from './helpers/certs.js';
import { bootstrap, curl, hcmFilter, listener, staticCluster } from './helpers/protocols.js';
import { listenerPort, startProxy, stat, tmpDir, waitFor, type RunningProxy } from './helpers/proxy.js';

let pki: Pki;
let app: http.Server;
let appPort: number;

before(async () => {
  pki = makePki();
  app = http.createServer((req, res) => {
    req.resume();
    res.end(`app ${req.url}`);
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((r) => app.close(() => r())));


/** Replace `dest` whole: written beside it, then moved over it (what rotation tools do). */
function moveOver(dest: string, content: string): void {
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, dest);
}

/** One kept-alive TLS connection sending HTTP/1.1 requests one at a time. */
async function keptConnection(port: number, servername: string): Promise<{ socket: tls.TLSSocket; get: (p: string) => Promise<string> }> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: pki.ca.certPem, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  let buf = '';
  let waiting: ((s: string) => void) | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    const m = /content-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(buf);
    if (m && waiting) {
      const end = m.index + m[0].length + Number(m[1]);
      if (buf.length >= end) {
        const r = buf.slice(0, end);
        buf = buf.slice(end);
        const w = waiting;
        waiting = undefined;
        w(r);
      }
    }
  });
  const get = (p: string) =>
    new Promise<string>((resolve, reject) => {
      waiting = resolve;
      socket.once('error', reject);
      socket.write(`GET ${p} HTTP/1.1\r\nhost: ${servername}\r\n\r\n`);
    });
  return { socket, get };
}

function tlsSocket(common: Record<string, unknown>, extra: Record<string, unknown> = {}): object {
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common, ...extra } };
}

test('inline certificate files and a static secret\'s CA follow their files; old connections keep theirs; a bad file keeps the old one', async () => {
  const v1 = pki.leaf('inline-v1', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
  const v2 = pki.leaf('inline-v2', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
  const v3 = pki.leaf('inline-v3', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
  const client = pki.leaf('reload-client', { cn: 'client', usage: 'client' });
  const otherClient = pki.leaf('reload-other-client', { cn: 'other', usage: 'client', wrongCa: true });
  const dir = tmpDir('meshwork-reload-');
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  fs.writeFileSync(certFile, v1.certPem);
  fs.writeFileSync(keyFile, v1.keyPem);
  const caDir = tmpDir('meshwork-reload-ca-');
  const caFile = path.join(caDir, 'ca.crt');
  fs.writeFileSync(caFile, pki.ca.certPem);
  const server = { certificate_chain: { filename: certFile }, private_key: { filename: keyFile } };
  const b: any = bootstrap(
    [
      listener('inline', [{ transport_socket: tlsSocket({ tls_certificates: [server] }), filters: [hcmFilter({ statPrefix: 'inline', cluster: 'app' })] }]),
      listener('mutual', [
        {
          transport_socket: tlsSocket({ tls_certificates: [server], validation_context_sds_secret_config: { name: 'client-ca' } }, { require_client_certificate: true }),
          filters: [hcmFilter({ statPrefix: 'mutual', cluster: 'app' })],
        },
      ]),
    ],
    [staticCluster('app', appPort)],
  );
  b.static_resources.secrets = [{ name: 'client-ca', validation_context: { trusted_ca: { filename: caFile } } }];
  const proxy = await startProxy(b);
  try {
    const port = await listenerPort(proxy, 'inline');
    const mutualPort = await listenerPort(proxy, 'mutual');
    assert.equal(await handshakeSerial(port, 'a.example.com'), serialOf(v1));
    const kept = await keptConnection(port, 'a.example.com');
    assert.match(await kept.get('/first'), /^HTTP\/1\.1 200[\s\S]*app \/first$/);

    // the certificate and its key moved over the old ones
    moveOver(keyFile, v2.keyPem);
    moveOver(certFile, v2.certPem);
    await waitFor(async () => (await handshakeSerial(port, 'a.example.com')) === serialOf(v2), 'new handshakes to get the new certificate', 10_000).catch((e) => {
      throw new Error(`${e.message}\n${proxy.stderr()}`);
    });
    // the established connection keeps its certificate, and its requests keep working
    assert.equal(kept.socket.getPeerCertificate().serialNumber.toUpperCase(), serialOf(v1));
    assert.match(await kept.get('/second'), /^HTTP\/1\.1 200[\s\S]*app \/second$/);
    kept.socket.destroy();
    // curl over a new connection, checking the chain against the CA
    const r = await curl(['--cacert', pki.ca.cert, '--resolve', `a.example.com:${port}:127.0.0.1`, `https://a.example.com:${port}/curl`]);
    assert.equal(r.stdout, 'app /curl', r.stderr);

    // a certificate that does not match the key: the old certificate stays, the error names the file
    moveOver(certFile, v3.certPem);
    await waitFor(() => /cannot load the changed certificate files/.test(proxy.stderr()) && proxy.stderr(), 'the bad file to be reported', 10_000);
    assert.ok(proxy.stderr().includes(certFile) || /key values mismatch|does not match|private key/i.test(proxy.stderr()), proxy.stderr());
    assert.equal(await handshakeSerial(port, 'a.example.com'), serialOf(v2));
    // garbage too
    moveOver(certFile, 'not a certificate\n');
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(await handshakeSerial(port, 'a.example.com'), serialOf(v2));
    // the matching pair again: picked up
    moveOver(keyFile, v3.keyPem);
    moveOver(certFile, v3.certPem);
    await waitFor(async () => (await handshakeSerial(port, 'a.example.com')) === serialOf(v3), 'the good pair after a bad file', 10_000);

    // the static secret's trusted_ca: a client of the other CA is refused, then accepted once the CA file is replaced
    const mutualStatus = async (c: CertFiles) => (await curl(['--cacert', pki.ca.cert, '--cert', c.cert, '--key', c.key, '--resolve', `a.example.com:${mutualPort}:127.0.0.1`, `https://a.example.com:${mutualPort}/m`])).stdout;
    assert.equal(await mutualStatus(client), 'app /m');
    assert.notEqual(await mutualStatus(otherClient), 'app /m');
    moveOver(caFile, pki.otherCa.certPem);
    await waitFor(async () => (await mutualStatus(otherClient)) === 'app /m', 'the replaced CA file to admit its client', 10_000);
    assert.notEqual(await mutualStatus(client), 'app /m', 'the old CA is no longer trusted');
  } finally {
    await proxy.stop();
  }
});

test('file-based SDS (path_config_source): a Kubernetes ..data swap and a new SDS file reach new handshakes', async () => {
  const v1 = pki.leaf('sds-v1', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  const v2 = pki.leaf('sds-v2', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  const v3 = pki.leaf('sds-v3', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  const v4 = pki.leaf('sds-v4', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  // a Kubernetes secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>
  const vol = tmpDir('meshwork-volume-');
  const version = (name: string, c: CertFiles, key = c.keyPem) => {
    fs.mkdirSync(path.join(vol, name));
    fs.writeFileSync(path.join(vol, name, 'tls.crt'), c.certPem);
    fs.writeFileSync(path.join(vol, name, 'tls.key'), key);
  };
  const swap = (name: string) => {
    fs.symlinkSync(name, path.join(vol, '..data_tmp'));
    fs.renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
  };
  version('..v1', v1);
  fs.symlinkSync('..v1', path.join(vol, '..data'));
  fs.symlinkSync('..data/tls.crt', path.join(vol, 'tls.crt'));
  fs.symlinkSync('..data/tls.key', path.join(vol, 'tls.key'));

  const sdsDir = tmpDir('meshwork-sds-');
  const sdsFile = path.join(sdsDir, 'server.yaml');
  const sdsYaml = (cert: string, key: string) =>
    `resources:\n- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\n  name: server\n  tls_certificate:\n    certificate_chain: { filename: ${cert} }\n    private_key: { filename: ${key} }\n`;
  fs.writeFileSync(sdsFile, sdsYaml(path.join(vol, 'tls.crt'), path.join(vol, 'tls.key')));
  const sds = { name: 'server', sds_config: { path_config_source: { path: sdsFile } } };
  const proxy = await startProxy(bootstrap([listener('sds', [{ transport_socket: tlsSocket({ tls_certificate_sds_secret_configs: [sds] }), filters: [hcmFilter({ statPrefix: 'sds', cluster: 'app' })] }])], [staticCluster('app', appPort)]));
  try {
    const port = await listenerPort(proxy, 'sds');
    assert.equal(await handshakeSerial(port, 'b.example.com'), serialOf(v1));
    const kept = await keptConnection(port, 'b.example.com');

    // the volume's atomic swap
    version('..v2', v2);
    swap('..v2');
    await waitFor(async () => (await handshakeSerial(port, 'b.example.com')) === serialOf(v2), 'the ..data swap to reach new handshakes', 10_000).catch((e) => {
      throw new Error(`${e.message}\n${proxy.stderr()}`);
    });
    assert.match(await kept.get('/still'), /^HTTP\/1\.1 200[\s\S]*app \/still$/);
    assert.equal(kept.socket.getPeerCertificate().serialNumber.toUpperCase(), serialOf(v1));
    kept.socket.destroy();

    // a swap to a key that does not match: refused, counted, the certificate stays
    version('..v3', v3, v1.keyPem);
    swap('..v3');
    await waitFor(async () => ((await stat(proxy, 'sds.server.key_rotation_failed')) ?? 0) >= 1, 'sds.server.key_rotation_failed', 10_000);
    assert.equal(await handshakeSerial(port, 'b.example.com'), serialOf(v2));

    // the SDS file itself moved over with new paths
    const other = tmpDir('meshwork-sds-other-');
    fs.writeFileSync(path.join(other, 'c.pem'), v4.certPem);
    fs.writeFileSync(path.join(other, 'k.pem'), v4.keyPem);
    moveOver(sdsFile, sdsYaml(path.join(other, 'c.pem'), path.join(other, 'k.pem')));
    await waitFor(async () => (await handshakeSerial(port, 'b.example.com')) === serialOf(v4), 'the new SDS file to reach new handshakes', 10_000);
    assert.ok(((await stat(proxy, 'sds.server.update_success')) ?? 0) >= 2);
    // an SDS file that does not decode keeps the secret
    moveOver(sdsFile, 'resources: [ { "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret, name: server, tls_certificate: { bogus: 1 } } ]\n');
    await waitFor(async () => ((await stat(proxy, 'sds.server.update_rejected')) ?? 0) >= 1, 'sds.server.update_rejected', 10_000);
    assert.equal(await handshakeSerial(port, 'b.example.com'), serialOf(v4));
  } finally {
    await proxy.stop();
  }
});

test('a file-based SDS source that does not exist is a config error naming it', async () => {
  const missing = path.join(tmpDir('meshwork-sds-missing-'), 'nope.yaml');
  const sds = { name: 'server', sds_config: { path_config_source: { path: missing } } };
  const proxy = await startProxy(bootstrap([listener('sds', [{ transport_socket: tlsSocket({ tls_certificate_sds_secret_configs: [sds] }), filters: [hcmFilter({ statPrefix: 'sds', cluster: 'app' })] }])], [staticCluster('app', appPort)]), { waitReady: false });
  const code = await proxy.exited;
  assert.notEqual(code, 0);
  assert.match(proxy.stderr(), new RegExp(`Cannot read "${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}": ENOENT`));
});
