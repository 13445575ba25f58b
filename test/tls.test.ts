// End to end: TLS through a real `meshwork proxy` process, with certificates made by openssl for the run.
// Downstream: termination with the certificate chosen by SNI among filter chains (server_names), ALPN,
// client-certificate validation (trusted CA, required certificate, SAN matcher) and the TLS fields of the
// access log. Upstream: UpstreamTlsContext with sni and trusted_ca against a real HTTPS server, and a wrong
// CA that must fail the connection (503, UF).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { DOWNSTREAM_TLS, makePki, tlsCertificate, type CertFiles, type Pki } from './helpers/certs.js';
import { bootstrap, curl, fileLog, hcmFilter, listener, logLines, staticCluster } from './helpers/protocols.js';
import { listenerPort, startProxy, stat, tmpDir, type RunningProxy } from './helpers/proxy.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
let pki: Pki;
let certs: Record<'a' | 'b' | 'client' | 'clientWrongCa' | 'clientOtherSan' | 'upstream', CertFiles>;
let plain: http.Server;
let secure: https.Server;
let upstreamSni: (string | false | null)[] = [];
let proxy: RunningProxy;
let logDir: string;
const ports: Record<string, number> = {};

function downstreamTls(cert: CertFiles, extra: Record<string, unknown> = {}, common: Record<string, unknown> = {}): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: { tls_certificates: [tlsCertificate(cert)], ...common }, ...extra },
  };
}

before(async () => {
  pki = makePki();
  certs = {
    a: pki.leaf('a', { cn: 'a.example.com', dns: ['a.example.com'] }),
    b: pki.leaf('b', { cn: 'b.example.com', dns: ['b.example.com'] }),
    client: pki.leaf('client', { cn: 'client', uri: [CLIENT_ID], dns: ['client.example.com'], usage: 'client' }),
    clientWrongCa: pki.leaf('client-wrong-ca', { cn: 'client', uri: [CLIENT_ID], usage: 'client', wrongCa: true }),
    clientOtherSan: pki.leaf('client-other-san', { cn: 'intruder', uri: ['spiffe://cluster.local/ns/default/sa/intruder'], usage: 'client' }),
    upstream: pki.leaf('upstream', { cn: 'upstream.internal', dns: ['upstream.internal'], usage: 'server' }),
  };
  plain = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`plain ${req.url}`);
  });
  secure = https.createServer({ cert: certs.upstream.certPem, key: certs.upstream.keyPem }, (req, res) => {
    upstreamSni.push((req.socket as tls.TLSSocket).servername);
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`secure ${req.url}`);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  const plainPort = (plain.address() as net.AddressInfo).port;
  const securePort = (secure.address() as net.AddressInfo).port;
  logDir = tmpDir('meshwork-tls-logs-');
  const log = (name: string, fmt: string) => [fileLog(path.join(logDir, `${name}.log`), fmt)];
  const alpn = { alpn_protocols: ['h2', 'http/1.1'] };
  proxy = await startProxy(
    bootstrap(
      [
        listener('sni', [
          {
            filter_chain_match: { server_names: ['a.example.com'] },
            transport_socket: downstreamTls(certs.a, {}, alpn),
            filters: [hcmFilter({ statPrefix: 'sni_a', cluster: 'plain', accessLog: log('sni', 'a %REQUESTED_SERVER_NAME% %PROTOCOL% %RESPONSE_CODE%') })],
          },
          {
            filter_chain_match: { server_names: ['b.example.com'] },
            transport_socket: downstreamTls(certs.b, {}, alpn),
            filters: [hcmFilter({ statPrefix: 'sni_b', cluster: 'plain', accessLog: log('sni', 'b %REQUESTED_SERVER_NAME% %PROTOCOL% %RESPONSE_CODE%') })],
          },
        ]),
        listener('mtls', [
          {
            transport_socket: downstreamTls(
              certs.a,
              { require_client_certificate: true },
              {
                validation_context: {
                  trusted_ca: { filename: pki.ca.cert },
                  match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: CLIENT_ID } }],
                },
              },
            ),
            filters: [hcmFilter({ statPrefix: 'mtls', cluster: 'plain', accessLog: log('mtls', '%REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_SUBJECT% %RESPONSE_CODE%') })],
          },
        ]),
        // trusted CA but no SAN check and no require_client_certificate: a certificate is asked for, not required
        listener('optional', [
          {
            transport_socket: downstreamTls(certs.a, {}, { validation_context: { trusted_ca: { filename: pki.ca.cert } } }),
            filters: [hcmFilter({ statPrefix: 'optional', cluster: 'plain', accessLog: log('optional', '[%DOWNSTREAM_PEER_URI_SAN%] %RESPONSE_CODE%') })],
          },
        ]),
        listener('up_tls', [{ filters: [hcmFilter({ statPrefix: 'up_tls', cluster: 'secure', accessLog: log('up_tls', '%RESPONSE_CODE% %RESPONSE_FLAGS%') })] }]),
        listener('up_badca', [{ filters: [hcmFilter({ statPrefix: 'up_badca', cluster: 'secure_badca', accessLog: log('up_badca', '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%') })] }]),
      ],
      [
        staticCluster('plain', plainPort),
        staticCluster('secure', securePort, { tls: { sni: 'upstream.internal', common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.cert } } } } }),
        staticCluster('secure_badca', securePort, { tls: { sni: 'upstream.internal', common_tls_context: { validation_context: { trusted_ca: { filename: pki.otherCa.cert } } } } }),
      ],
    ),
  );
  for (const n of ['sni', 'mtls', 'optional', 'up_tls', 'up_badca']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  plain?.closeAllConnections();
  plain?.close();
  secure?.closeAllConnections();
  secure?.close();
});

interface TlsResult {
  status: number;
  body: string;
  peer: tls.PeerCertificate;
  alpn: string | false | null;
}

/** One HTTPS GET over a fresh connection; rejects when the handshake or the connection fails. */
function get(port: number, o: { servername?: string; client?: CertFiles; alpn?: string[]; path?: string }): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port,
      path: o.path ?? '/',
      agent: false,
      servername: o.servername,
      ca: pki.ca.certPem,
      // the proxy's certificate is checked against the SNI we send, as a real client would
      checkServerIdentity: (host, cert) => tls.checkServerIdentity(o.servername ?? host, cert),
      ...(o.client ? { cert: o.client.certPem, key: o.client.keyPem } : {}),
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
      timeout: 5000,
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.on('response', (res) => {
      const sock = res.socket as tls.TLSSocket;
      const peer = sock.getPeerCertificate();
      const alpn = sock.alpnProtocol;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, peer, alpn }));
      res.on('error', reject);
    });
    req.end();
  });
}

test('the certificate is chosen by SNI among filter chains with server_names', async () => {
  const a = await get(ports.sni!, { servername: 'a.example.com' });
  assert.equal(a.status, 200);
  assert.equal(a.peer.subject.CN, 'a.example.com');
  assert.equal(a.body, 'plain /');
  const b = await get(ports.sni!, { servername: 'b.example.com', path: '/b' });
  assert.equal(b.status, 200);
  assert.equal(b.peer.subject.CN, 'b.example.com');
  // the chain of the SNI handled the request (each chain logs with its own prefix)
  const lines = await logLines(path.join(logDir, 'sni.log'), 2);
  assert.ok(lines.includes('a a.example.com HTTP/1.1 200'), lines.join('\n'));
  assert.ok(lines.includes('b b.example.com HTTP/1.1 200'), lines.join('\n'));
  // an SNI no chain matches: Envoy closes the connection (no default chain configured)
  const before = (await stat(proxy, `listener.127.0.0.1_${ports.sni}.no_filter_chain_match`)) ?? 0;
  await assert.rejects(get(ports.sni!, { servername: 'c.example.com' }));
  assert.equal(await stat(proxy, `listener.127.0.0.1_${ports.sni}.no_filter_chain_match`), before + 1);
});

test('ALPN negotiates h2 or http/1.1 on a terminated chain', async () => {
  const h1 = await get(ports.sni!, { servername: 'b.example.com', alpn: ['http/1.1'] });
  assert.equal(h1.alpn, 'http/1.1');
  const c = await curl(['--http2', '--cacert', pki.ca.cert, '--resolve', `a.example.com:${ports.sni}:127.0.0.1`, '-w', ' %{http_version}', `https://a.example.com:${ports.sni}/h2`]);
  assert.equal(c.code, 0, c.stderr);
  assert.equal(c.stdout, 'plain /h2 2');
  const lines = await logLines(path.join(logDir, 'sni.log'), 4);
  assert.ok(lines.includes('a a.example.com HTTP/2 200'), lines.join('\n'));
});

test('client certificates: a valid one is accepted and its URI SAN is logged', async () => {
  const r = await get(ports.mtls!, { servername: 'a.example.com', client: certs.client });
  assert.equal(r.status, 200);
  const lines = await logLines(path.join(logDir, 'mtls.log'), 1);
  assert.equal(lines[0], `a.example.com ${CLIENT_ID} CN=client,O=Meshwork Tests 200`);
});

test('client certificates: none, an untrusted CA, or a SAN outside the matcher all fail the handshake', async () => {
  const errors = `listener.127.0.0.1_${ports.mtls}.ssl.connection_error`;
  const before = (await stat(proxy, errors)) ?? 0;
  await assert.rejects(get(ports.mtls!, { servername: 'a.example.com' }), 'no client certificate');
  await assert.rejects(get(ports.mtls!, { servername: 'a.example.com', client: certs.clientWrongCa }), 'certificate from another CA');
  await assert.rejects(get(ports.mtls!, { servername: 'a.example.com', client: certs.clientOtherSan }), 'SAN not matched');
  assert.equal(await stat(proxy, errors), before + 3);
  // and nothing reached the HTTP layer
  assert.equal(await stat(proxy, 'http.mtls.downstream_rq_total'), 1);
});

test('without require_client_certificate the certificate is optional, but a presented one must verify', async () => {
  const anon = await get(ports.optional!, { servername: 'a.example.com' });
  assert.equal(anon.status, 200);
  const withCert = await get(ports.optional!, { servername: 'a.example.com', client: certs.client });
  assert.equal(withCert.status, 200);
  await assert.rejects(get(ports.optional!, { servername: 'a.example.com', client: certs.clientWrongCa }));
  const lines = await logLines(path.join(logDir, 'optional.log'), 2);
  assert.deepEqual(lines.slice(0, 2), ['[-] 200', `[${CLIENT_ID}] 200`]);
});

test('upstream TLS sends the configured SNI and verifies the server against trusted_ca', async () => {
  upstreamSni = [];
  const r = await fetch(`http://127.0.0.1:${ports.up_tls}/up`);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'secure /up');
  assert.deepEqual(upstreamSni, ['upstream.internal']);
  const lines = await logLines(path.join(logDir, 'up_tls.log'), 1);
  assert.equal(lines[0], '200 -');
});

test('upstream TLS with the wrong CA fails the connection: 503 with UF', async () => {
  upstreamSni = [];
  const r = await fetch(`http://127.0.0.1:${ports.up_badca}/up`);
  assert.equal(r.status, 503);
  const body = await r.text();
  assert.match(body, /upstream connect error or disconnect\/reset before headers/);
  assert.deepEqual(upstreamSni, [], 'no request reached the upstream');
  const lines = await logLines(path.join(logDir, 'up_badca.log'), 1);
  assert.match(lines[0]!, /^503 UF /);
  assert.match(lines[0]!, /verify|certificate/i);
});
