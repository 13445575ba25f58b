import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { ConfigError } from '../../common/errors.js';
import type { TlsInfo } from '../stream-info.js';
import { buildDownstreamTls, dnsNameMatch, type DownstreamTls, type DownstreamTlsContextConfig, type SecretConfig, type TlsBuildOptions } from './tls-context.js';
import { inspectClientHello } from './tls-inspector.js';
import { makeTestPki, type TestCert, type TestPki } from './tls-test-pki.js';

let pki: TestPki;
before(() => {
  pki = makeTestPki();
});
after(() => pki.cleanup());

const OPTS: TlsBuildOptions = { source: 'listeners[0].filter_chains[0].transport_socket.typed_config' };
const file = (c: TestCert) => ({ certificate_chain: { filename: c.cert }, private_key: { filename: c.key } });

type Verdict = { ok: true; info: TlsInfo; alpn: string | false | null } | { ok: false; reason: string } | { ok: false; error: string };
interface ClientResult {
  /** the certificate the server presented, as the client saw it */
  serverSan?: string;
  serverKeyType?: string;
  alpn?: string | false | null;
  version?: string | null;
  error?: string;
}

/**
 * The listener's TLS path in miniature: peek the ClientHello with the inspector, wrap the socket with the
 * options for that SNI/ALPN, verify the peer after the handshake, close on failure.
 */
async function withServer(dtls: DownstreamTls, fn: (port: number, verdicts: Verdict[]) => Promise<void>): Promise<void> {
  const verdicts: Verdict[] = [];
  const server = net.createServer((raw) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const hello = inspectClientHello(buf);
      if (hello.result === 'need-more') return;
      raw.off('data', onData);
      raw.pause();
      raw.unshift(buf);
      // TLSSocket takes the buffered bytes over; the raw socket must stay paused or it would steal the rest.
      const s = new tls.TLSSocket(raw, hello.result === 'tls' ? dtls.socketOptions(hello.sni, hello.alpn) : dtls.serverOptions);
      s.on('error', (e) => verdicts.push({ ok: false, error: e.message }));
      s.on('secure', () => {
        const v = dtls.verifyPeer(s);
        if (!v.ok) {
          verdicts.push({ ok: false, reason: v.reason });
          s.destroy();
          return;
        }
        verdicts.push({ ok: true, info: v.info, alpn: s.alpnProtocol });
        s.end('hello');
      });
    };
    raw.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as net.AddressInfo).port, verdicts);
  } finally {
    server.close();
  }
}

function connect(port: number, opts: tls.ConnectionOptions): Promise<ClientResult> {
  return new Promise((resolve) => {
    const out: ClientResult = {};
    const timer = setTimeout(() => {
      out.error = 'timeout';
      c.destroy();
    }, 3000);
    const c = tls.connect({ host: '127.0.0.1', port, ca: pki.read(pki.ca.cert), checkServerIdentity: () => undefined, ...opts });
    c.on('secureConnect', () => {
      const x = c.getPeerX509Certificate();
      out.serverSan = x?.subjectAltName;
      out.serverKeyType = x?.publicKey.asymmetricKeyType;
      out.alpn = c.alpnProtocol;
      out.version = c.getProtocol();
    });
    c.on('error', (e) => (out.error ??= e.message));
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.resume();
  });
}

const mtls = (extra: Partial<DownstreamTlsContextConfig> = {}): DownstreamTlsContextConfig => ({
  require_client_certificate: true,
  common_tls_context: {
    tls_certificates: [file(pki.serverEc)],
    validation_context: {
      trusted_ca: { filename: pki.ca.cert },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/client' } }],
    },
  },
  ...extra,
});

test('picks the certificate by SNI: exact name, one-label wildcard, else the first one', async () => {
  const dtls = buildDownstreamTls({ common_tls_context: { tls_certificates: [file(pki.serverEc), file(pki.wildcard)] } }, OPTS);
  await withServer(dtls, async (port, verdicts) => {
    assert.match((await connect(port, { servername: 'api.other.test' })).serverSan!, /\*\.other\.test/);
    assert.match((await connect(port, { servername: 'SERVER.example.com' })).serverSan!, /server\.example\.com/);
    assert.match((await connect(port, { servername: 'a.b.other.test' })).serverSan!, /server\.example\.com/, 'a wildcard covers one label only');
    assert.match((await connect(port, { servername: 'unknown.test' })).serverSan!, /server\.example\.com/);
    assert.match((await connect(port, {})).serverSan!, /server\.example\.com/);
    assert.equal(verdicts.length, 5);
    assert.ok(verdicts.every((v) => v.ok));
    const first = verdicts[0] as { info: TlsInfo };
    assert.equal(first.info.sni, 'api.other.test');
    assert.equal(first.info.localSubject, 'CN=*.other.test');
    assert.equal(first.info.peerCertificatePresented, false);
  });
});

test('serves RSA and ECDSA certificates for the same name by what the client can verify', async () => {
  const dtls = buildDownstreamTls({ common_tls_context: { tls_certificates: [file(pki.serverRsa), file(pki.serverEc)] } }, OPTS);
  await withServer(dtls, async (port) => {
    const rsa = await connect(port, { servername: 'server.example.com', sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
    assert.equal(rsa.serverKeyType, 'rsa');
    const ec = await connect(port, { servername: 'server.example.com', sigalgs: 'ecdsa_secp256r1_sha256' });
    assert.equal(ec.serverKeyType, 'ec');
    // also through the SNICallback path used when nothing was inspected
    assert.equal(dtls.serverOptions.secureContext, dtls.secureContext);
  });
});

test('mTLS: a client certificate from the trusted CA with the right SAN is accepted and described', async () => {
  const dtls = buildDownstreamTls(mtls(), OPTS);
  assert.equal(dtls.requestCert, true);
  await withServer(dtls, async (port, verdicts) => {
    const r = await connect(port, { servername: 'server.example.com', cert: pki.read(pki.client.cert), key: pki.read(pki.client.key) });
    assert.equal(r.error, undefined);
    assert.equal(verdicts.length, 1);
    const v = verdicts[0];
    assert.ok(v.ok, JSON.stringify(v));
    const x = new crypto.X509Certificate(pki.read(pki.client.cert));
    // the peer's PEM is made on demand (x-forwarded-client-cert Cert, ext_authz include_peer_certificate)
    const { peerCertificatePem, peerChainPem, ...info } = v.info;
    assert.equal(peerCertificatePem?.(), x.toString());
    assert.equal(typeof peerChainPem, 'function');
    assert.deepEqual(info, {
      sni: 'server.example.com',
      version: 'TLSv1.3',
      cipher: v.info.cipher,
      peerCertificatePresented: true,
      peerCertificateValidated: true,
      peerSubject: 'CN=client,O=Meshwork',
      peerUriSan: ['spiffe://cluster.local/ns/default/sa/client'],
      peerDnsSan: ['client.internal'],
      peerFingerprint256: crypto.createHash('sha256').update(x.raw).digest('hex'),
      peerSerial: BigInt(`0x${x.serialNumber}`).toString(16),
      localSubject: 'CN=server.example.com,O=Meshwork',
      localUriSan: ['spiffe://cluster.local/ns/default/sa/server'],
    });
    assert.match(v.info.cipher!, /^TLS_/);
  });
});

test('mTLS: no certificate, a wrong SAN, or an untrusted CA is rejected', async () => {
  const dtls = buildDownstreamTls(mtls(), OPTS);
  await withServer(dtls, async (port, verdicts) => {
    await connect(port, { servername: 'server.example.com' });
    await connect(port, { servername: 'server.example.com', cert: pki.read(pki.intruder.cert), key: pki.read(pki.intruder.key) });
    await connect(port, { servername: 'server.example.com', cert: pki.read(pki.rogueClient.cert), key: pki.read(pki.rogueClient.key) });
    assert.equal(verdicts.length, 3);
    const reasons = verdicts.map((v) => (v.ok ? 'accepted' : 'reason' in v ? v.reason : v.error));
    assert.match(reasons[0], /PEER_DID_NOT_RETURN_A_CERTIFICATE/);
    assert.match(reasons[1], /SAN matcher.*intruder/);
    assert.match(reasons[2], /verify cert failed: (UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
  });
});

test('without require_client_certificate or SAN checks a client certificate is optional but still verified', async () => {
  const dtls = buildDownstreamTls({ common_tls_context: { tls_certificates: [file(pki.serverEc)], validation_context: { trusted_ca: { filename: pki.ca.cert } } } }, OPTS);
  await withServer(dtls, async (port, verdicts) => {
    await connect(port, {});
    await connect(port, { cert: pki.read(pki.intruder.cert), key: pki.read(pki.intruder.key) });
    await connect(port, { cert: pki.read(pki.rogueClient.cert), key: pki.read(pki.rogueClient.key) });
    assert.deepEqual(
      verdicts.map((v) => (v.ok ? [v.info.peerCertificatePresented, v.info.peerCertificateValidated] : 'rejected')),
      [[false, false], [true, true], 'rejected'],
    );
  });
});

test('ACCEPT_UNTRUSTED lets an untrusted client in, marked as not validated', async () => {
  const cfg = mtls();
  cfg.common_tls_context!.validation_context!.trust_chain_verification = 'ACCEPT_UNTRUSTED';
  const dtls = buildDownstreamTls(cfg, OPTS);
  await withServer(dtls, async (port, verdicts) => {
    await connect(port, { cert: pki.read(pki.rogueClient.cert), key: pki.read(pki.rogueClient.key) });
    assert.equal(verdicts.length, 1);
    assert.ok(verdicts[0].ok);
    assert.equal(verdicts[0].info.peerCertificateValidated, false);
  });
});

test('ALPN is negotiated, and a client sharing no protocol continues without ALPN as in Envoy', async () => {
  const dtls = buildDownstreamTls({ common_tls_context: { tls_certificates: [file(pki.serverEc)], alpn_protocols: ['h2', 'http/1.1'] } }, OPTS);
  await withServer(dtls, async (port, verdicts) => {
    assert.equal((await connect(port, { ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1');
    assert.equal((await connect(port, { ALPNProtocols: ['http/1.1', 'h2'] })).alpn, 'h2', 'server preference');
    const none = await connect(port, { ALPNProtocols: ['spdy/3'] });
    assert.equal(none.error, undefined);
    assert.equal(none.alpn, false);
    assert.deepEqual(verdicts.map((v) => v.ok && v.alpn), ['http/1.1', 'h2', false]);
  });
});

test('tls_params: versions and cipher suites reach the handshake', async () => {
  const only13 = buildDownstreamTls({ common_tls_context: { tls_certificates: [file(pki.serverEc)], tls_params: { tls_minimum_protocol_version: 'TLSv1_3' } } }, OPTS);
  await withServer(only13, async (port) => {
    assert.ok((await connect(port, { maxVersion: 'TLSv1.2' })).error, 'a TLS 1.2 client is refused');
    assert.equal((await connect(port, {})).version, 'TLSv1.3');
  });
  const tls12 = buildDownstreamTls(
    {
      common_tls_context: {
        tls_certificates: [file(pki.serverEc)],
        tls_params: { tls_maximum_protocol_version: 'TLSv1_2', cipher_suites: ['[ECDHE-ECDSA-AES256-GCM-SHA384|ECDHE-ECDSA-CHACHA20-POLY1305]'] },
      },
    },
    OPTS,
  );
  await withServer(tls12, async (port, verdicts) => {
    const r = await connect(port, {});
    assert.equal(r.version, 'TLSv1.2');
    assert.ok(verdicts[0].ok);
    assert.equal(verdicts[0].info.cipher, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    assert.equal(verdicts[0].info.version, 'TLSv1.2');
  });
});

test('require_sni rejects a ClientHello without SNI', async () => {
  const dtls = buildDownstreamTls({ require_sni: true, common_tls_context: { tls_certificates: [file(pki.serverEc)] } }, OPTS);
  await withServer(dtls, async (port, verdicts) => {
    await connect(port, {});
    await connect(port, { servername: 'server.example.com' });
    assert.deepEqual(verdicts.map((v) => v.ok), [false, true]);
  });
});

test('static secrets are resolved by name', async () => {
  const secrets: Record<string, SecretConfig> = {
    cert: { name: 'cert', tls_certificate: { certificate_chain: { inline_bytes: pki.read(pki.serverEc.cert) }, private_key: { inline_string: pki.read(pki.serverEc.key).toString() } } },
    ca: { name: 'ca', validation_context: { trusted_ca: { filename: pki.ca.cert } } },
  };
  const dtls = buildDownstreamTls(
    {
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'cert' }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'client.internal' } }] },
          validation_context_sds_secret_config: { name: 'ca' },
        },
      },
    },
    { ...OPTS, secret: (n) => secrets[n] },
  );
  await withServer(dtls, async (port, verdicts) => {
    await connect(port, { cert: pki.read(pki.client.cert), key: pki.read(pki.client.key) });
    await connect(port, { cert: pki.read(pki.intruder.cert), key: pki.read(pki.intruder.key) });
    assert.deepEqual(verdicts.map((v) => v.ok), [true, false]);
  });
  assert.throws(() => buildDownstreamTls({ common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'nope' }] } }, OPTS), (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_REFERENCE');
});

test('configuration errors name the field and, for files, the path', () => {
  const code = (cfg: DownstreamTlsContextConfig, c: string, re: RegExp) =>
    assert.throws(() => buildDownstreamTls(cfg, OPTS), (e: unknown) => e instanceof ConfigError && e.code === c && re.test(e.message));
  const missing = path.join(pki.dir, 'missing.pem');
  code({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: missing }, private_key: { filename: pki.serverEc.key } }] } }, 'MW_TLS', /tls_certificates\[0\]\.certificate_chain\.filename: Cannot read ".*missing\.pem": ENOENT/);
  code({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: pki.serverEc.cert }, private_key: { filename: pki.client.key } }] } }, 'MW_TLS', /does not match/);
  fs.writeFileSync(path.join(pki.dir, 'garbage.pem'), 'not a certificate');
  code({ common_tls_context: { tls_certificates: [{ certificate_chain: { filename: path.join(pki.dir, 'garbage.pem') }, private_key: { filename: pki.serverEc.key } }] } }, 'MW_TLS', /Cannot load the certificate chain/);
  code({ common_tls_context: { tls_certificates: [file(pki.serverEc)], validation_context: { trusted_ca: { filename: path.join(pki.dir, 'garbage.pem') } } } }, 'MW_TLS', /trusted_ca/);
  code({ common_tls_context: {} }, 'MW_CONFIG_INVALID', /at least one certificate/);
  code(
    { common_tls_context: { tls_certificates: [file(pki.serverEc)], validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'x' } }] } } },
    'MW_CONFIG_INVALID',
    /without trusted CA is insecure/,
  );
  code({ common_tls_context: { tls_certificates: [file(pki.serverEc)], tls_params: { cipher_suites: ['ECDHE-NOPE-SHA'] } } }, 'MW_CONFIG_INVALID', /cipher_suites\[0\]: unknown cipher suite/);
  code({ common_tls_context: { tls_certificates: [file(pki.serverEc)], tls_params: { ecdh_curves: ['P-999'] } } }, 'MW_CONFIG_INVALID', /ecdh_curves\[0\]/);
  code({ common_tls_context: { tls_certificates: [file(pki.serverEc)], tls_params: { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_2' } } }, 'MW_CONFIG_INVALID', /above the maximum/);
  code({ common_tls_context: { tls_certificates: [file(pki.serverEc)], key_log: { path: '/tmp/k' } } }, 'MW_CONFIG_UNSUPPORTED', /common_tls_context\.key_log/);
});

test('DNS SAN matching follows Envoy: case-insensitive, wildcards in the left-most label only', () => {
  assert.equal(dnsNameMatch('api.example.com', '*.example.com'), true);
  assert.equal(dnsNameMatch('API.example.com', 'api.EXAMPLE.com'), true);
  assert.equal(dnsNameMatch('a.b.example.com', '*.example.com'), false);
  assert.equal(dnsNameMatch('example.com', '*.example.com'), false);
  assert.equal(dnsNameMatch('foo-bar.example.com', 'foo*.example.com'), true);
  assert.equal(dnsNameMatch('xn--abc.example.com', 'xn--*.example.com'), false);
  assert.equal(dnsNameMatch('a.example.com', 'a.*.com'), false);
});
