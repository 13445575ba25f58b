// Gateway servers with `credentialName`: the control plane reads the credential from its credentials dir
// (`--credentials-dir`, one directory per credential: tls.crt, tls.key, ca.crt) and serves it to the gateway over
// SDS as `kubernetes://<name>` (and `kubernetes://<name>-cacert` for MUTUAL). Two hosts on one port, two
// credentials chosen by SNI; rotating a credential's files (a Kubernetes `..data` swap, or files moved over)
// reaches new handshakes with no restart, established connections keep working, a mismatched pair keeps the
// old credential; MUTUAL with ca.crt refuses a client without a certificate. Real processes, openssl and curl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { handshakeSerial, makePki, serialOf, type CertFiles } from './helpers/certs.js';
import { debugJson, TestMesh } from './helpers/mesh.js';
import { curl } from './helpers/protocols.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';


/** A Kubernetes secret volume: tls.crt/tls.key/ca.crt are symlinks into `..data`, swapped atomically. */
function volume(dir: string) {
  let n = 0;
  const put = (files: Record<string, string>) => {
    const v = `..v${++n}`;
    fs.mkdirSync(path.join(dir, v));
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, v, f), text);
    return v;
  };
  return {
    init(files: Record<string, string>) {
      fs.mkdirSync(dir, { recursive: true });
      fs.symlinkSync(put(files), path.join(dir, '..data'));
      for (const f of Object.keys(files)) fs.symlinkSync(`..data/${f}`, path.join(dir, f));
    },
    swap(files: Record<string, string>) {
      const v = put(files);
      fs.symlinkSync(v, path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    },
  };
}

function moveOver(dest: string, content: string): void {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.tmp`);
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, dest);
}

test('Gateway credentialName: credentials by SNI over SDS, rotated without restart; MUTUAL with ca.crt', async () => {
  const pki = makePki();
  const a1 = pki.leaf('a1', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
  const a2 = pki.leaf('a2', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
  const b1 = pki.leaf('b1', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  const b2 = pki.leaf('b2', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' });
  const m1 = pki.leaf('m1', { cn: 'm.example.com', dns: ['m.example.com'], usage: 'server' });
  const client = pki.leaf('client', { cn: 'client', usage: 'client' });
  const stranger = pki.leaf('stranger', { cn: 'stranger', usage: 'client', wrongCa: true });

  const creds = tmpDir('meshwork-credentials-');
  const aVol = volume(path.join(creds, 'a-cred'));
  aVol.init({ 'tls.crt': a1.certPem, 'tls.key': a1.keyPem });
  fs.mkdirSync(path.join(creds, 'b-cred'));
  fs.writeFileSync(path.join(creds, 'b-cred', 'tls.crt'), b1.certPem);
  fs.writeFileSync(path.join(creds, 'b-cred', 'tls.key'), b1.keyPem);
  fs.mkdirSync(path.join(creds, 'm-cred'));
  fs.writeFileSync(path.join(creds, 'm-cred', 'tls.crt'), m1.certPem);
  fs.writeFileSync(path.join(creds, 'm-cred', 'tls.key'), m1.keyPem);
  fs.writeFileSync(path.join(creds, 'm-cred', 'ca.crt'), pki.ca.certPem);

  const httpsPort = await freePort();
  const mutualPort = await freePort();
  const appPort = await freePort();
  const mesh = await TestMesh.start(
    {
      'gateway.yaml': `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: creds
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: { number: ${httpsPort}, name: https-a, protocol: HTTPS }
    hosts: [a.example.com]
    tls: { mode: SIMPLE, credentialName: a-cred }
  - port: { number: ${httpsPort}, name: https-b, protocol: HTTPS }
    hosts: [b.example.com]
    tls: { mode: SIMPLE, credentialName: b-cred }
  - port: { number: ${mutualPort}, name: https-m, protocol: HTTPS }
    hosts: [m.example.com]
    tls: { mode: MUTUAL, credentialName: m-cred }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [a.example.com, b.example.com, m.example.com]
  gateways: [creds]
  http:
  - route:
    - destination:
        host: web
        port: { number: ${appPort} }
`,
    },
    ['--credentials-dir', creds],
  );
  try {
    const app = await mesh.app('web');
    await mesh.sidecar({ id: 'web-1', service: 'web', labels: 'app=web', ports: [`${appPort}:${app.port}:${await freePort()}`] });
    const gw = await mesh.gateway();
    const get = (host: string, port: number, extra: string[] = []) => curl(['--cacert', pki.ca.cert, '--resolve', `${host}:${port}:127.0.0.1`, ...extra, `https://${host}:${port}/`]);

    // two credentials on one port, chosen by SNI
    await waitFor(async () => (await get('a.example.com', httpsPort)).stdout === 'web /', 'HTTPS a.example.com through the gateway', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    assert.equal((await get('b.example.com', httpsPort)).stdout, 'web /');
    assert.equal(await handshakeSerial(httpsPort, 'a.example.com'), serialOf(a1));
    assert.equal(await handshakeSerial(httpsPort, 'b.example.com'), serialOf(b1));
    const status = await debugJson(mesh.cp, '/debug/resources');
    assert.deepEqual(status.credentials.credentials, ['a-cred', 'b-cred', 'm-cred']);

    // an established connection, to check it survives the rotation
    const kept = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: 'a.example.com', ca: pki.ca.certPem });
    await new Promise<void>((resolve, reject) => kept.once('secureConnect', resolve).once('error', reject));
    const keptGet = () =>
      new Promise<string>((resolve, reject) => {
        let buf = '';
        const onData = (d: Buffer) => {
          buf += d;
          if (/\r\n\r\n[\s\S]*web \/$/.test(buf)) {
            kept.off('data', onData);
            resolve(buf);
          }
        };
        kept.on('data', onData).once('error', reject);
        kept.write('GET / HTTP/1.1\r\nhost: a.example.com\r\n\r\n');
      });
    assert.match(await keptGet(), /^HTTP\/1\.1 200/);

    // rotate a-cred by a ..data swap: the gateway (same process) serves the new certificate to new handshakes
    const pid = gw.child.pid;
    aVol.swap({ 'tls.crt': a2.certPem, 'tls.key': a2.keyPem });
    await waitFor(async () => (await handshakeSerial(httpsPort, 'a.example.com')) === serialOf(a2), 'the rotated a-cred at the gateway', 15_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    assert.equal(gw.child.pid, pid);
    assert.equal(gw.child.exitCode, null, 'the gateway was not restarted');
    assert.equal(await handshakeSerial(httpsPort, 'b.example.com'), serialOf(b1), 'the other credential is untouched');
    assert.equal(kept.getPeerCertificate().serialNumber.toUpperCase(), serialOf(a1));
    assert.match(await keptGet(), /^HTTP\/1\.1 200/, 'the established connection keeps working');
    kept.destroy();
    assert.equal((await get('a.example.com', httpsPort)).stdout, 'web /');

    // b-cred: a certificate moved over without its key: refused by the control plane, the old pair stays
    moveOver(path.join(creds, 'b-cred', 'tls.crt'), b2.certPem);
    await waitFor(() => /cannot load the changed credential/.test(mesh.cp.stderr()), 'the mismatched b-cred to be reported', 10_000);
    assert.match(mesh.cp.stderr(), /b-cred/);
    assert.equal(await handshakeSerial(httpsPort, 'b.example.com'), serialOf(b1));
    // then its key: the pair is served
    moveOver(path.join(creds, 'b-cred', 'tls.key'), b2.keyPem);
    await waitFor(async () => (await handshakeSerial(httpsPort, 'b.example.com')) === serialOf(b2), 'the completed b-cred pair at the gateway', 15_000);

    // MUTUAL with the credential's ca.crt: a client certificate from that CA is required
    await waitFor(async () => (await get('m.example.com', mutualPort, ['--cert', client.cert, '--key', client.key])).stdout === 'web /', 'MUTUAL with a client certificate', 15_000);
    const seen = app.requests.length;
    const none = await get('m.example.com', mutualPort);
    assert.notEqual(none.stdout, 'web /');
    assert.notEqual(none.code, 0, 'no client certificate: refused');
    const other = await get('m.example.com', mutualPort, ['--cert', stranger.cert, '--key', stranger.key]);
    assert.notEqual(other.code, 0, 'a client certificate of another CA: refused');
    assert.equal(app.requests.length, seen);
  } finally {
    await mesh.close();
  }
});
