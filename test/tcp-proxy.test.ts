// End to end: envoy.filters.network.tcp_proxy through a real `meshwork proxy` process. Raw TCP echo with
// large data both ways and half-close, TLS passthrough chosen by SNI (the client's TLS session reaches the
// upstream untouched), unknown clusters and refused upstream connections closing the downstream, and the
// TCP access log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { makePki, type CertFiles, type Pki } from './helpers/certs.js';
import { bootstrap, fileLog, listener, logLines, readAll, staticCluster, tcpProxyFilter, within } from './helpers/protocols.js';
import { freePort, listenerPort, startProxy, stat, tmpDir, type RunningProxy } from './helpers/proxy.js';

const TLS_INSPECTOR = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

let pki: Pki;
let secureCert: CertFiles;
let echo: net.Server;
let tlsEcho: tls.Server;
let tlsEchoSni: (string | false | null)[] = [];
let proxy: RunningProxy;
let logDir: string;
const ports: Record<string, number> = {};

// Echo with half-close: everything read is written back; when the client finishes sending, the server
// still answers (a summary line) before closing its side.
function startEcho(): Promise<number> {
  echo = net.createServer({ allowHalfOpen: true }, (sock) => {
    let n = 0;
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      n += d.length;
      if (!sock.write(d)) {
        sock.pause();
        sock.once('drain', () => sock.resume());
      }
    });
    sock.on('end', () => setTimeout(() => sock.end(`|EOF after ${n} bytes`), 50));
  });
  return new Promise((r) => echo.listen(0, '127.0.0.1', () => r((echo.address() as net.AddressInfo).port)));
}

function startTlsEcho(): Promise<number> {
  tlsEcho = tls.createServer({ cert: secureCert.certPem, key: secureCert.keyPem }, (sock) => {
    tlsEchoSni.push(sock.servername);
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => sock.write(Buffer.concat([Buffer.from('tls:'), d])));
  });
  return new Promise((r) => tlsEcho.listen(0, '127.0.0.1', () => r((tlsEcho.address() as net.AddressInfo).port)));
}

before(async () => {
  pki = makePki();
  secureCert = pki.leaf('secure', { cn: 'secure.example.com', dns: ['secure.example.com'], usage: 'server' });
  const echoPort = await startEcho();
  const tlsPort = await startTlsEcho();
  const deadPort = await freePort(); // nothing listens there
  logDir = tmpDir('meshwork-tcp-logs-');
  const log = (name: string) => ({
    stat_prefix: name,
    access_log: [fileLog(path.join(logDir, `${name}.log`), '%UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %REQUESTED_SERVER_NAME%')],
  });
  proxy = await startProxy(
    bootstrap(
      [
        listener('tcp', [{ filters: [tcpProxyFilter('echo', log('tcp'))] }]),
        listener(
          'passthrough',
          [
            { filter_chain_match: { server_names: ['secure.example.com'] }, filters: [tcpProxyFilter('tls_echo', log('passthrough'))] },
            { filter_chain_match: { server_names: ['plain.example.com'] }, filters: [tcpProxyFilter('echo', log('passthrough'))] },
          ],
          { listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR } }] },
        ),
        listener('nocluster', [{ filters: [tcpProxyFilter('does_not_exist', log('nocluster'))] }]),
        listener('refused', [{ filters: [tcpProxyFilter('dead', log('refused'))] }]),
      ],
      [staticCluster('echo', echoPort), staticCluster('tls_echo', tlsPort), staticCluster('dead', deadPort, { connectTimeout: '1s' })],
    ),
  );
  for (const n of ['tcp', 'passthrough', 'nocluster', 'refused']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  echo?.close();
  tlsEcho?.close();
});

/** The first flight of a TLS client for `servername`, as sent on the wire. */
function captureClientHello(servername: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((sock) => {
      sock.once('data', (d: Buffer) => {
        resolve(d);
        sock.destroy();
        srv.close();
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername, rejectUnauthorized: false });
      c.on('error', () => {});
    });
    setTimeout(() => reject(new Error('no ClientHello captured')), 5000).unref();
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('raw TCP: large data both ways arrives intact, and half-close lets the upstream answer last', async () => {
  const sock = await connect(ports.tcp!);
  const all = readAll(sock, 20_000);
  const data = crypto.randomBytes(8 * 1024 * 1024 + 5);
  // write in pieces with backpressure, then half-close our side
  for (let off = 0; off < data.length; off += 256 * 1024) {
    if (!sock.write(data.subarray(off, off + 256 * 1024))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  const got = await all;
  const trailer = `|EOF after ${data.length} bytes`;
  assert.equal(got.length, data.length + trailer.length, 'everything echoed plus the answer sent after our FIN');
  assert.equal(sha(got.subarray(0, data.length)), sha(data));
  assert.equal(got.subarray(data.length).toString(), trailer);
  const lines = await logLines(path.join(logDir, 'tcp.log'), 1);
  assert.equal(lines[0], `echo ${data.length} ${data.length + trailer.length} - -`);
  assert.equal(await stat(proxy, 'tcp.tcp.downstream_cx_total'), 1);
});

test('TLS passthrough by SNI: the client talks TLS to the upstream itself', async () => {
  tlsEchoSni = [];
  const s = tls.connect({ host: '127.0.0.1', port: ports.passthrough!, servername: 'secure.example.com', ca: pki.ca.certPem });
  await within(new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject)), 5000, 'the TLS handshake with the upstream');
  // the certificate the client verified is the upstream's own: the proxy holds no certificate for this chain
  assert.equal(s.authorized, true, String(s.authorizationError));
  assert.equal(s.getPeerCertificate().subject.CN, 'secure.example.com');
  assert.equal(s.getPeerCertificate().fingerprint256, new crypto.X509Certificate(secureCert.certPem).fingerprint256);
  const reply = new Promise<string>((resolve) => s.once('data', (d) => resolve(d.toString())));
  s.write('ping');
  assert.equal(await within(reply, 5000, 'the echo over TLS'), 'tls:ping');
  assert.deepEqual(tlsEchoSni, ['secure.example.com'], 'the upstream saw the SNI the client sent');
  s.end();
  await within(new Promise((r) => s.once('close', r)), 5000, 'the TLS connection to close');
  // the other SNI goes to the plain echo: a real ClientHello (captured from node's TLS client) comes back
  // byte for byte, so the inspector only peeked at it
  const hello = await captureClientHello('plain.example.com');
  const raw = await connect(ports.passthrough!);
  const all = readAll(raw, 5000);
  raw.end(hello);
  const echoed = await all;
  assert.ok(echoed.subarray(0, hello.length).equals(hello), 'the ClientHello came back unchanged');
  const lines = await logLines(path.join(logDir, 'passthrough.log'), 2);
  assert.ok(lines.some((l) => /^tls_echo \d+ \d+ - secure\.example\.com$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^echo \d+ \d+ - plain\.example\.com$/.test(l)), lines.join('\n'));
});

test('an unknown cluster closes the connection (NC in the access log)', async () => {
  const sock = await connect(ports.nocluster!);
  sock.write('hello?');
  const got = await readAll(sock, 5000);
  assert.equal(got.length, 0);
  const lines = await logLines(path.join(logDir, 'nocluster.log'), 1);
  assert.match(lines[0]!, /^does_not_exist 0 0 NC -$/);
  assert.equal(await stat(proxy, 'tcp.nocluster.downstream_cx_no_route'), 1);
});

test('a refused upstream connection closes the downstream (UF in the access log)', async () => {
  const sock = await connect(ports.refused!);
  sock.write('anyone?');
  const got = await readAll(sock, 5000);
  assert.equal(got.length, 0);
  const lines = await logLines(path.join(logDir, 'refused.log'), 1);
  assert.match(lines[0]!, /^dead 0 0 UF -$/);
  assert.ok(((await stat(proxy, 'cluster.dead.upstream_cx_connect_fail')) ?? 0) >= 1);
});
