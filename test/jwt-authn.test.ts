// JWT authentication through a real `meshwork proxy` (envoy.filters.http.jwt_authn from a static bootstrap):
// a JWKS server on node:http serving keys made with jose, tokens signed in the test, an echo upstream that
// reports what reached it. Covers the verified path (payload and claim headers upstream, dynamic metadata in
// the access log), every rejection Envoy words (missing, expired, audience, issuer, signature, alg none),
// remote JWKS fetching through a cluster (caching, key rotation picked up by an unknown kid, the refetch rate
// limit, retries, async_fetch), per-route disabling and requires_any / requires_all.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { hcmListener, routerFilter, staticCluster } from './helpers/bootstrap.js';
import { accessLines, request, startUpstream, stdoutAccessLog, type Upstream } from './helpers/http-semantics.js';
import { listenerPort, startProxy, stat, tmpDir, waitFor, type RunningProxy } from './helpers/proxy.js';

const JWT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
const PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig';
const ISSUER = 'https://issuer.test';
const LOCAL_ISSUER = 'https://local.test';
const now = () => Math.floor(Date.now() / 1000);

interface Key {
  kid: string;
  alg: string;
  priv: CryptoKey;
  pub: JWK;
}
async function makeKey(alg: string, kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
  return { kid, alg, priv: privateKey, pub: { ...(await exportJWK(publicKey)), kid, alg } };
}
const sign = (k: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT({ iss: ISSUER, aud: 'api.test', sub: 'alice', exp: now() + 600, ...claims }).setProtectedHeader({ alg: k.alg, kid: k.kid, ...header }).sign(k.priv);

/** The JWKS server: what it serves can change (rotation), and it counts fetches per path. */
interface JwksServer {
  port: number;
  keys: JWK[];
  hits: Record<string, number>;
  hosts: string[];
  close(): Promise<void>;
}
async function startJwksServer(): Promise<JwksServer> {
  const state: JwksServer = { port: 0, keys: [], hits: {}, hosts: [], close: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    state.hits[p] = (state.hits[p] ?? 0) + 1;
    state.hosts.push(req.headers.host ?? '');
    if (p === '/broken') {
      res.writeHead(503).end('down');
      return;
    }
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}

let jwks: JwksServer;
let up: Upstream;
let proxy: RunningProxy;
let port: number;
let k1: Key; // served by the JWKS server at start
let k2: Key; // published later (rotation)
let k3: Key; // never published
let localKey: Key;
let stranger: Key; // signs with k1's kid: a bad signature

before(async () => {
  [k1, k2, k3, localKey, stranger] = await Promise.all([makeKey('RS256', 'k1'), makeKey('ES256', 'k2'), makeKey('EdDSA', 'k3'), makeKey('PS256', 'local'), makeKey('RS256', 'k1')]);
  jwks = await startJwksServer();
  jwks.keys = [k1.pub];
  up = await startUpstream('backend');
  const dir = tmpDir('meshwork-jwt-');
  const localJwks = path.join(dir, 'local-jwks.json');
  fs.writeFileSync(localJwks, JSON.stringify({ keys: [localKey.pub] }));
  const remote = (uriPath: string, extra: object = {}) => ({
    http_uri: { uri: `http://jwks.test${uriPath}`, cluster: 'jwks', timeout: '2s' },
    cache_duration: '600s',
    ...extra,
  });
  const jwtAuthn = {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': JWT_TYPE,
      providers: {
        remote: {
          issuer: ISSUER,
          audiences: ['api.test'],
          remote_jwks: remote('/jwks'),
          forward_payload_header: 'x-jwt-payload',
          claim_to_headers: [{ header_name: 'x-jwt-sub', claim_name: 'sub' }, { header_name: 'x-jwt-tier', claim_name: 'org.tier' }],
          payload_in_metadata: 'issuer.test',
        },
        local: { issuer: LOCAL_ISSUER, local_jwks: { filename: localJwks }, from_headers: [{ name: 'x-local-token' }], forward: true },
        broken: {
          issuer: 'https://broken.test',
          from_headers: [{ name: 'x-broken-token' }],
          remote_jwks: remote('/broken', { retry_policy: { num_retries: 2, retry_back_off: { base_interval: '0.01s', max_interval: '0.05s' } } }),
        },
        eager: { issuer: 'https://eager.test', from_headers: [{ name: 'x-eager-token' }], remote_jwks: remote('/eager', { async_fetch: {} }) },
      },
      rules: [
        { match: { prefix: '/optional' }, requires: { requires_any: { requirements: [{ provider_name: 'remote' }, { allow_missing: {} }] } } },
        { match: { prefix: '/any' }, requires: { requires_any: { requirements: [{ provider_name: 'remote' }, { provider_name: 'local' }] } } },
        { match: { prefix: '/all' }, requires: { requires_all: { requirements: [{ provider_name: 'remote' }, { provider_name: 'local' }] } } },
        { match: { prefix: '/broken' }, requires: { provider_name: 'broken' } },
        { match: { prefix: '/' }, requires: { provider_name: 'remote' } },
      ],
    },
  };
  proxy = await startProxy({
    static_resources: {
      listeners: [
        hcmListener('main', {
          access_log: [stdoutAccessLog('%REQ(:PATH)% %RESPONSE_CODE% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn:issuer.test:sub)% %RESPONSE_CODE_DETAILS%')],
          http_filters: [jwtAuthn, routerFilter()],
          route_config: {
            virtual_hosts: [
              {
                name: 'all',
                domains: ['*'],
                routes: [
                  { match: { prefix: '/health' }, route: { cluster: 'backend' }, typed_per_filter_config: { 'envoy.filters.http.jwt_authn': { '@type': PER_ROUTE_TYPE, disabled: true } } },
                  { match: { prefix: '/' }, route: { cluster: 'backend' } },
                ],
              },
            ],
          },
        }),
      ],
      clusters: [staticCluster('backend', [up.port]), staticCluster('jwks', [jwks.port])],
    },
  });
  port = await listenerPort(proxy, 'main');
});

after(async () => {
  await proxy?.stop();
  await up?.close();
  await jwks?.close();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const seen = (p: string) => up.requests.filter((r) => r.url === p);
const logLine = (p: string) => waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`${p} `)), `access log for ${p}`);

test('a valid token passes: the upstream gets the payload and claim headers, not the token; the payload is in dynamic metadata', async () => {
  const t = await sign(k1, { org: { tier: 'gold' } });
  const r = await request(port, { path: '/ok', headers: bearer(t) });
  assert.equal(r.status, 200, r.text);
  const [s] = seen('/ok');
  assert.ok(s);
  assert.equal(s.headers.authorization, undefined, 'the token is removed (forward: false)');
  const payload = JSON.parse(Buffer.from(s.headers['x-jwt-payload']![0]!, 'base64url').toString());
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.iss, ISSUER);
  assert.deepEqual(s.headers['x-jwt-sub'], ['alice']);
  assert.deepEqual(s.headers['x-jwt-tier'], ['gold']);
  // the JWKS came through the `jwks` cluster, asked for with the URI's authority
  assert.equal(jwks.hits['/jwks'], 1);
  assert.ok(jwks.hosts.includes('jwks.test'));
  // RBAC and access logs read the verified payload from the stream's dynamic metadata
  assert.match(await logLine('/ok'), /^\/ok 200 alice /);
  // cached: a second token does not fetch again
  assert.equal((await request(port, { path: '/ok2', headers: bearer(await sign(k1, { sub: 'bob' })) })).status, 200);
  assert.equal(jwks.hits['/jwks'], 1);
});

test('a client cannot forge the headers the filter writes', async () => {
  const r = await request(port, { path: '/forged', headers: { ...bearer(await sign(k1, {})), 'x-jwt-sub': 'admin', 'x-jwt-payload': 'e30' } });
  assert.equal(r.status, 200);
  const [s] = seen('/forged');
  assert.deepEqual(s!.headers['x-jwt-sub'], ['alice']);
  assert.equal(s!.headers['x-jwt-payload']!.length, 1);
  assert.notEqual(s!.headers['x-jwt-payload']![0], 'e30');
});

test('a missing token: 401 "Jwt is missing" with a Bearer challenge, unless the rule allows it missing', async () => {
  const r = await request(port, { path: '/missing?x=1' });
  assert.equal(r.status, 401);
  assert.equal(r.text, 'Jwt is missing');
  assert.equal(r.headers['www-authenticate'], `Bearer realm="http://127.0.0.1:${port}/missing?x=1"`);
  assert.match(await logLine('/missing?x=1'), /^\/missing\?x=1 401 - jwt_authn_access_denied\{Jwt_is_missing\}$/);
  assert.equal(seen('/missing?x=1').length, 0);
  assert.equal((await request(port, { path: '/optional/none' })).status, 200, 'allow_missing');
  // allow_missing still rejects a bad token
  const bad = await request(port, { path: '/optional/bad', headers: bearer(await sign(k1, { exp: now() - 3600 })) });
  assert.equal(bad.status, 401);
  assert.equal(bad.text, 'Jwt is expired');
});

test('invalid tokens are refused with Envoy\'s status and reason; none reaches the upstream', async () => {
  const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${(await sign(k1, {})).split('.')[1]}.`;
  const cases: [string, Record<string, string>, number, string][] = [
    ['/bad/expired', bearer(await sign(k1, { exp: now() - 3600 })), 401, 'Jwt is expired'],
    ['/bad/audience', bearer(await sign(k1, { aud: 'someone-else' })), 403, 'Audiences in Jwt are not allowed'],
    ['/bad/issuer', bearer(await sign(k1, { iss: 'https://evil.test' })), 401, 'Jwt issuer is not configured'],
    ['/bad/signature', bearer(await sign(stranger, {})), 401, 'Jwt verification fails'],
    ['/bad/none', bearer(unsigned), 401, 'Jwt header [alg] is not supported'],
    ['/bad/garbage', bearer('abc.def'), 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ];
  for (const [p, headers, status, body] of cases) {
    const r = await request(port, { path: p, headers });
    assert.equal(r.status, status, `${p}: ${r.text}`);
    assert.equal(r.text, body, p);
    assert.equal(r.headers['www-authenticate'], `Bearer realm="http://127.0.0.1:${port}${p}", error="invalid_token"`, p);
    assert.equal(seen(p).length, 0, `${p} must not reach the upstream`);
  }
  assert.ok((await stat(proxy, 'http.main.jwt_authn.denied'))! >= cases.length);
});

test('per-route disabled: /health needs no token', async () => {
  const r = await request(port, { path: '/health' });
  assert.equal(r.status, 200);
});

test('requires_any and requires_all across a remote and a local (file) provider', async () => {
  const local = await sign(localKey, { iss: LOCAL_ISSUER, aud: undefined });
  const remote = await sign(k1, {});
  assert.equal((await request(port, { path: '/any/local', headers: { 'x-local-token': local } })).status, 200);
  assert.equal(seen('/any/local')[0]!.headers['x-local-token']![0], local, 'forward: true keeps the token');
  assert.equal((await request(port, { path: '/any/remote', headers: bearer(remote) })).status, 200);
  const none = await request(port, { path: '/any/none' });
  assert.equal(none.status, 401);
  assert.equal(none.text, 'Jwt is missing');
  const onlyRemote = await request(port, { path: '/all/remote', headers: bearer(remote) });
  assert.equal(onlyRemote.status, 401);
  assert.equal(onlyRemote.text, 'Jwt is missing');
  assert.equal((await request(port, { path: '/all/both', headers: { ...bearer(remote), 'x-local-token': local } })).status, 200);
});

test('a failing JWKS endpoint: retried per retry_policy, then 401 "Jwks remote fetch is failed"', async () => {
  const t = await sign(k1, { iss: 'https://broken.test', aud: undefined });
  const r = await request(port, { path: '/broken/x', headers: { 'x-broken-token': t } });
  assert.equal(r.status, 401);
  assert.equal(r.text, 'Jwks remote fetch is failed');
  assert.equal(jwks.hits['/broken'], 3, 'the first attempt and num_retries: 2');
  assert.ok((await stat(proxy, 'http.main.jwt_authn.jwks_fetch_failed'))! >= 1);
});

test('async_fetch: the keys are fetched when the config is applied, before any request', async () => {
  assert.ok((await waitFor(() => jwks.hits['/eager'], 'the eager JWKS fetch'))! >= 1);
});

// Last: it changes what the JWKS server publishes.
test('key rotation: a token with a kid the cache lacks triggers one refetch; made-up kids are rate-limited', async () => {
  const before = jwks.hits['/jwks'] ?? 0;
  jwks.keys = [k2.pub]; // the issuer rotates: k1 retired, k2 published
  const r = await request(port, { path: '/rotated', headers: bearer(await sign(k2, {})) });
  assert.equal(r.status, 200, r.text);
  assert.equal(jwks.hits['/jwks'], before + 1, 'one refetch picked the new key up');
  // the retired key no longer verifies
  const old = await request(port, { path: '/retired', headers: bearer(await sign(k1, {})) });
  assert.equal(old.status, 401);
  assert.equal(old.text, "Jwks doesn't have key to match kid or alg from Jwt");
  // another unknown kid right away: no second refetch within the interval
  const made = await request(port, { path: '/madeup', headers: bearer(await sign(k3, {})) });
  assert.equal(made.status, 401);
  assert.equal(jwks.hits['/jwks'], before + 1, 'rate-limited');
  assert.ok((await stat(proxy, 'http.main.jwt_authn.jwks_fetch_success'))! >= 2);
  assert.ok((await stat(proxy, 'http.main.jwt_authn.allowed'))! >= 5);
});
