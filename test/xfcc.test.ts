// x-forwarded-client-cert through a real `meshwork proxy`: SANITIZE (the default) strips a client's header,
// APPEND_FORWARD adds this hop's element (By, Hash, Cert, Chain, Subject, URI, DNS in Envoy's order) to what an mTLS client
// sent, SANITIZE_SET replaces it, ALWAYS_FORWARD_ONLY passes it untouched, and without mTLS the modes that need
// a client certificate strip it. The header is set before the route is chosen, as in Envoy, so a route can match
// the caller's identity in it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { DOWNSTREAM_TLS, makePki, tlsCertificate, type CertFiles, type Pki } from './helpers/certs.js';
import { bootstrap, hcmFilter, listener, staticCluster } from './helpers/protocols.js';
import { listenerPort, startProxy, type RunningProxy } from './helpers/proxy.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
let pki: Pki;
let client: CertFiles;
let other: CertFiles;
let upstream: http.Server;
let proxy: RunningProxy;
const ports: Record<string, number> = {};

before(async () => {
  pki = makePki();
  client = pki.leaf('client', { cn: 'client', uri: [CLIENT_ID], dns: ['client.example.com'], usage: 'client' });
  other = pki.leaf('other', { cn: 'other', uri: ['spiffe://cluster.local/ns/default/sa/other'], usage: 'client' });
  const server = pki.leaf('server', { cn: 'server', uri: [SERVER_ID], dns: ['proxy.internal'], usage: 'server' });
  upstream = http.createServer((req, res) => res.end(String(req.headers['x-forwarded-client-cert'] ?? '<none>')));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const mtls = (mode: string, extra: Record<string, unknown> = {}, routes?: object[]) => ({
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS,
        require_client_certificate: true,
        common_tls_context: { tls_certificates: [tlsCertificate(server)], validation_context: { trusted_ca: { filename: pki.ca.cert } } },
      },
    },
    filters: [hcmFilter({ statPrefix: mode.toLowerCase(), cluster: 'echo', extra: { forward_client_cert_details: mode, ...extra }, ...(routes ? { routes } : {}) })],
  });
  // routing by the caller's identity: the header this hop set carries its URI
  const byIdentity = [
    { match: { prefix: '/', headers: [{ name: 'x-forwarded-client-cert', string_match: { contains: `URI=${CLIENT_ID}` } }] }, direct_response: { status: 200, body: { inline_string: 'the client\'s route' } } },
    { match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'everyone else' } } },
  ];
  const details = { set_current_client_cert_details: { subject: true, uri: true, dns: true } };
  proxy = await startProxy(
    bootstrap(
      [
        listener('append', [mtls('APPEND_FORWARD', details)]),
        listener('set', [mtls('SANITIZE_SET', details)]),
        listener('sanitize_tls', [mtls('SANITIZE')]),
        listener('routed', [mtls('SANITIZE_SET', details, byIdentity)]),
        listener('with_cert', [mtls('SANITIZE_SET', { set_current_client_cert_details: { cert: true, chain: true, uri: true } })]),
        listener('plain_default', [{ filters: [hcmFilter({ statPrefix: 'plain_default', cluster: 'echo' })] }]),
        listener('plain_append', [{ filters: [hcmFilter({ statPrefix: 'plain_append', cluster: 'echo', extra: { forward_client_cert_details: 'APPEND_FORWARD', ...details } })] }]),
        listener('plain_always', [{ filters: [hcmFilter({ statPrefix: 'plain_always', cluster: 'echo', extra: { forward_client_cert_details: 'ALWAYS_FORWARD_ONLY' } })] }]),
      ],
      [staticCluster('echo', (upstream.address() as net.AddressInfo).port)],
    ),
  );
  for (const n of ['routed', 'append', 'set', 'sanitize_tls', 'with_cert', 'plain_default', 'plain_append', 'plain_always']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  upstream?.closeAllConnections();
  upstream?.close();
});

const SENT = 'By=spiffe://cluster.local/ns/default/sa/frontend;Hash=abc;URI=spiffe://cluster.local/ns/default/sa/edge';

function get(port: number, tls: boolean, cert: CertFiles = client, sent = SENT): Promise<string> {
  return new Promise((resolve, reject) => {
    const o = { host: '127.0.0.1', port, path: '/', agent: false, headers: { 'x-forwarded-client-cert': sent } };
    const done = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve(body));
    };
    const req = tls ? https.get({ ...o, ca: pki.ca.certPem, servername: 'proxy.internal', cert: cert.certPem, key: cert.keyPem }, done) : http.get(o, done);
    req.on('error', reject);
  });
}

test('APPEND_FORWARD and SANITIZE_SET add this hop\'s element for an mTLS client; SANITIZE strips', async () => {
  const hash = new crypto.X509Certificate(client.certPem).fingerprint256.replace(/:/g, '').toLowerCase();
  const element = `By=${SERVER_ID};Hash=${hash};Subject="CN=client,O=Meshwork Tests";URI=${CLIENT_ID};DNS=client.example.com`;
  assert.equal(await get(ports.append!, true), `${SENT},${element}`);
  assert.equal(await get(ports.set!, true), element);
  assert.equal(await get(ports.sanitize_tls!, true), '<none>');
});

test('Cert and Chain: the client certificate and its verified chain, URL-encoded PEM, between Hash and URI', async () => {
  const xfcc = await get(ports.with_cert!, true);
  const m = /^By=[^;]+;Hash=[0-9a-f]{64};Cert="([^"]+)";Chain="([^"]+)";URI=(.+)$/.exec(xfcc);
  assert.ok(m, xfcc);
  const pem = new crypto.X509Certificate(client.certPem).toString();
  assert.equal(decodeURIComponent(m[1]!), pem);
  // Node gives the verified chain: the client's leaf, then the CA it chains to (Envoy sends what the client sent)
  assert.equal(decodeURIComponent(m[2]!), pem + new crypto.X509Certificate(pki.ca.certPem).toString());
  assert.equal(m[3], CLIENT_ID);
});

test('without mTLS: the default and APPEND_FORWARD strip a client\'s header, ALWAYS_FORWARD_ONLY keeps it', async () => {
  assert.equal(await get(ports.plain_default!, false), '<none>');
  assert.equal(await get(ports.plain_append!, false), '<none>');
  assert.equal(await get(ports.plain_always!, false), SENT);
});

test('a route can match the caller\'s identity: the header is set before the route is chosen', async () => {
  assert.equal(await get(ports.routed!, true), 'the client\'s route');
  // another identity, and a client that forges the header: SANITIZE_SET replaced it before routing
  assert.equal(await get(ports.routed!, true, other, `URI=${CLIENT_ID}`), 'everyone else');
});
