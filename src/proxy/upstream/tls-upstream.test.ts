import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { ConfigError } from '../../common/errors.js';
import type { TlsInfo } from '../stream-info.js';
import { makeTestPki, type TestCert, type TestPki } from '../listener/tls-test-pki.js';
import { buildUpstreamTls, type UpstreamTlsContextConfig } from './tls-upstream.js';

let pki: TestPki;
before(() => {
  pki = makeTestPki();
});
after(() => pki.cleanup());

const OPTS = { source: 'clusters[0].transport_socket.typed_config' };
const SERVER_URI = 'spiffe://cluster.local/ns/default/sa/server';

interface Seen {
  servername: string | false | null;
  alpn: string | false | null;
  /** subject of the client certificate the server received and verified against the CA, if any */
  clientSubject?: string;
  clientAuthorized: boolean;
}

/** A real TLS server presenting `cert`; it records what each client sent. */
async function withUpstream(cert: TestCert, fn: (port: number, seen: Seen[]) => Promise<void>, extra: tls.TlsOptions = {}): Promise<void> {
  const seen: Seen[] = [];
  const server = tls.createServer(
    { cert: pki.read(cert.cert), key: pki.read(cert.key), requestCert: true, rejectUnauthorized: false, ca: pki.read(pki.ca.cert), ALPNProtocols: ['h2', 'http/1.1'], ...extra },
    (s) => {
      seen.push({ servername: s.servername, alpn: s.alpnProtocol, clientSubject: s.getPeerX509Certificate()?.subject, clientAuthorized: s.authorized });
      s.end();
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as net.AddressInfo).port, seen);
  } finally {
    server.close();
  }
}

/** Connects the way the connection pools do and reports the verdict of verify() and the TlsInfo. */
function dial(ctx: UpstreamTlsContextConfig, port: number): Promise<{ reason: string | null; info: TlsInfo; alpn: string | false | null }> {
  const up = buildUpstreamTls(ctx, OPTS);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ ...up.connectOptions, host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no handshake within 3s'));
    }, 3000);
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('secureConnect', () => {
      clearTimeout(timer);
      resolve({ reason: up.verify(s), info: up.info(s), alpn: s.alpnProtocol });
      s.destroy();
    });
  });
}

const trusting = (extra: object = {}): UpstreamTlsContextConfig => ({
  common_tls_context: { validation_context: { trusted_ca: { filename: pki.ca.cert }, ...extra } },
});

test('verifies the server chain and SAN, and never the hostname', async () => {
  await withUpstream(pki.serverEc, async (port) => {
    // 127.0.0.1 is not in the certificate: Envoy does not care, and neither do we
    const ok = await dial(trusting({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: SERVER_URI } }] }), port);
    assert.equal(ok.reason, null);
    assert.equal(ok.info.peerCertificateValidated, true);
    assert.deepEqual(ok.info.peerUriSan, [SERVER_URI]);
    assert.deepEqual(ok.info.peerDnsSan, ['server.example.com']);
    assert.equal(ok.info.peerSubject, 'CN=server.example.com,O=Meshwork');
    const wrongSan = await dial(trusting({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/other/' } }] }), port);
    assert.match(wrongSan.reason!, /SAN matcher/);
    const dnsWildcard = await dial(trusting({ match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { suffix: '.example.com' } }] }), port);
    assert.equal(dnsWildcard.reason, null);
  });
});

test('fails on a server whose chain does not lead to trusted_ca', async () => {
  await withUpstream(pki.rogueServer, async (port) => {
    const r = await dial(trusting({ match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: SERVER_URI } }] }), port);
    assert.match(r.reason!, /^verify cert failed: (UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
    assert.equal(r.info.peerCertificateValidated, false);
    // without a validation context Envoy does not verify anything
    const none = await dial({}, port);
    assert.equal(none.reason, null);
    assert.equal(none.info.peerCertificatePresented, true);
    assert.equal(none.info.peerCertificateValidated, false);
  });
});

test('certificate hash and SPKI pins', async () => {
  const x = new crypto.X509Certificate(pki.read(pki.serverEc.cert));
  const spki = crypto.createHash('sha256').update(x.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  await withUpstream(pki.serverEc, async (port) => {
    assert.equal((await dial(trusting({ verify_certificate_hash: [x.fingerprint256] }), port)).reason, null, 'colon-separated fingerprint');
    assert.equal((await dial({ common_tls_context: { validation_context: { verify_certificate_spki: [spki] } } }, port)).reason, null, 'a pin alone, without a CA');
    assert.match((await dial(trusting({ verify_certificate_hash: ['00'.repeat(32)] }), port)).reason!, /cert hash and spki/);
  });
});

test('sends SNI only when configured, offers ALPN, and presents a client certificate', async () => {
  await withUpstream(pki.serverEc, async (port, seen) => {
    await dial({ ...trusting(), sni: 'server.example.com' }, port);
    await dial(trusting(), port);
    const mtls: UpstreamTlsContextConfig = {
      common_tls_context: {
        alpn_protocols: ['h2'],
        tls_certificates: [{ certificate_chain: { filename: pki.client.cert }, private_key: { filename: pki.client.key } }],
        validation_context: { trusted_ca: { filename: pki.ca.cert } },
      },
    };
    const r = await dial(mtls, port);
    assert.equal(r.alpn, 'h2');
    assert.deepEqual(r.info.localUriSan, ['spiffe://cluster.local/ns/default/sa/client']);
    assert.deepEqual(
      seen.map((s) => [s.servername, s.alpn, s.clientAuthorized]),
      [
        ['server.example.com', false, false],
        [false, false, false],
        [false, 'h2', true],
      ],
    );
    assert.match(seen[2].clientSubject!, /CN=client/);
  });
});

test('TLS versions follow Envoy client defaults (max TLSv1_2) unless configured', async () => {
  await withUpstream(pki.serverEc, async (port) => {
    assert.equal((await dial(trusting(), port)).info.version, 'TLSv1.2');
    const v13 = await dial({ common_tls_context: { tls_params: { tls_maximum_protocol_version: 'TLSv1_3' } } }, port);
    assert.equal(v13.info.version, 'TLSv1.3');
  });
  await withUpstream(pki.serverEc, async (port) => {
    await assert.rejects(dial({ common_tls_context: {} }, port), 'a TLS 1.3-only server refuses the TLS 1.2 default');
  }, { minVersion: 'TLSv1.3' });
});

test('connectOptions leaves unset keys out, so a pool default such as ALPN h2 survives the spread', () => {
  const up = buildUpstreamTls(trusting(), OPTS);
  assert.equal('servername' in up.connectOptions, false);
  assert.equal('ALPNProtocols' in up.connectOptions, false);
  assert.deepEqual({ ALPNProtocols: ['h2'], ...up.connectOptions }.ALPNProtocols, ['h2']);
});

test('configuration errors', () => {
  const rejects = (ctx: UpstreamTlsContextConfig, code: string, re: RegExp) =>
    assert.throws(() => buildUpstreamTls(ctx, OPTS), (e: unknown) => e instanceof ConfigError && e.code === code && re.test(e.message));
  const cert = { certificate_chain: { filename: pki.client.cert }, private_key: { filename: pki.client.key } };
  rejects({ common_tls_context: { tls_certificates: [cert, cert] } }, 'MW_CONFIG_INVALID', /Multiple TLS certificates/);
  rejects({ common_tls_context: { validation_context: { trusted_ca: { filename: '/nonexistent/ca.pem' } } } }, 'MW_TLS', /^clusters\[0\].*trusted_ca\.filename: Cannot read "\/nonexistent\/ca\.pem"/);
  rejects({ common_tls_context: { validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: SERVER_URI } }] } } }, 'MW_CONFIG_INVALID', /without trusted CA/);
  rejects({ common_tls_context: { validation_context: { verify_certificate_hash: ['abc'] } } }, 'MW_CONFIG_INVALID', /verify_certificate_hash\[0\]/);
});
