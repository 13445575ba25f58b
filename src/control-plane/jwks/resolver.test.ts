// The control plane's JWKS fetcher against a real HTTP key server: first fetch, change detection (a push only
// when the keys really change), failures (keys kept, back-off, recovery, eviction), OpenID discovery, and the
// bounds (entries, body size, timeout).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { waitFor } from '../../../test/helpers/proxy.js';
import { JwksResolver, jwksTargets, targetKey } from './resolver.js';

const jwk = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid });

interface KeyServer {
  url: (p: string) => string;
  hits: Map<string, number>;
  /** path → [status, body] */
  routes: Map<string, [number, string] | 'hang'>;
  close(): Promise<void>;
}

async function keyServer(): Promise<KeyServer> {
  const routes = new Map<string, [number, string] | 'hang'>();
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    hits.set(p, (hits.get(p) ?? 0) + 1);
    const r = routes.get(p);
    if (r === 'hang') return;
    const [status, body] = r ?? [404, 'not found'];
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    hits,
    routes,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const kidsOf = (text: string | undefined) => (text ? (JSON.parse(text).keys as { kid: string }[]).map((k) => k.kid) : undefined);

test('fetched when tracked; a refresh pushes only when the keys change (not when they are reordered)', async () => {
  const srv = await keyServer();
  const a = jwk('a');
  const b = jwk('b');
  srv.routes.set('/jwks', [200, JSON.stringify({ keys: [a] })]);
  const changes: string[] = [];
  const r = new JwksResolver({ onChange: (why) => changes.push(why), refreshIntervalMs: 100 });
  try {
    const uri = srv.url('/jwks');
    assert.equal(r.keys('iss', uri), undefined);
    r.track([{ issuer: 'iss', jwksUri: uri }]);
    await r.settled(2000);
    assert.deepEqual(kidsOf(r.keys('iss', uri)), ['a']);
    assert.deepEqual(changes, [`jwks ${uri} fetched`]);

    srv.routes.set('/jwks', [200, JSON.stringify({ keys: [a, b] })]);
    await waitFor(() => changes.length === 2, 'the rotation to be seen', 5000);
    assert.equal(changes[1], `jwks ${uri} changed`);
    assert.deepEqual(kidsOf(r.keys('iss', uri)), ['a', 'b']);

    srv.routes.set('/jwks', [200, JSON.stringify({ keys: [b, a] })]);
    const hits = srv.hits.get('/jwks')!;
    await waitFor(() => srv.hits.get('/jwks')! >= hits + 3, 'more refreshes', 5000);
    assert.equal(changes.length, 2, 'same keys in another order: no push');
  } finally {
    r.close();
    await srv.close();
  }
});

test('failures: no keys until a fetch succeeds (retried with back-off); a failing refresh keeps the keys; eviction drops them', async () => {
  const srv = await keyServer();
  srv.routes.set('/jwks', [503, 'down']);
  const changes: string[] = [];
  const r = new JwksResolver({ onChange: (why) => changes.push(why), refreshIntervalMs: 100, retryMaxMs: 50, evictAfterMs: 1500 });
  try {
    const uri = srv.url('/jwks');
    r.track([{ issuer: 'iss', jwksUri: uri }]);
    await waitFor(() => (srv.hits.get('/jwks') ?? 0) >= 3, 'retries', 5000);
    assert.equal(r.keys('iss', uri), undefined);
    assert.match(r.status()[0]!.lastError!, /status 503/);
    assert.equal(changes.length, 0);

    // a body without a usable key is a failure too: nothing is pushed that proxies would refuse
    srv.routes.set('/jwks', [200, '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}']);
    const h = srv.hits.get('/jwks')!;
    await waitFor(() => srv.hits.get('/jwks')! >= h + 2, 'more retries', 5000);
    assert.equal(r.keys('iss', uri), undefined);
    assert.match(r.status()[0]!.lastError!, /no usable key/);

    srv.routes.set('/jwks', [200, JSON.stringify({ keys: [jwk('a')] })]);
    await waitFor(() => r.keys('iss', uri) !== undefined, 'recovery', 5000);
    assert.deepEqual(changes, [`jwks ${uri} fetched`]);

    srv.routes.set('/jwks', [500, 'oops']);
    const h2 = srv.hits.get('/jwks')!;
    await waitFor(() => srv.hits.get('/jwks')! >= h2 + 2, 'failing refreshes', 5000);
    assert.deepEqual(kidsOf(r.keys('iss', uri)), ['a'], 'kept while the server is down');
    await waitFor(() => r.keys('iss', uri) === undefined, 'eviction after evictAfterMs without a good refresh', 5000);
    assert.equal(changes.at(-1), `jwks ${uri} dropped`);
  } finally {
    r.close();
    await srv.close();
  }
});

test('OpenID discovery from the issuer when there is no jwksUri', async () => {
  const srv = await keyServer();
  const issuer = srv.url('/realm/');
  srv.routes.set('/realm/.well-known/openid-configuration', [200, JSON.stringify({ issuer, jwks_uri: srv.url('/realm/certs') })]);
  srv.routes.set('/realm/certs', [200, JSON.stringify({ keys: [jwk('d')] })]);
  const r = new JwksResolver({ onChange: () => {} });
  try {
    r.track(jwksTargets([{ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'x', namespace: 'ns' }, spec: { jwtRules: [{ issuer }] } } as any]));
    await r.settled(2000);
    assert.deepEqual(kidsOf(r.keys(issuer, undefined)), ['d']);
    assert.equal(r.status()[0]!.key, targetKey(issuer, undefined));
    assert.equal(r.status()[0]!.uri, srv.url('/realm/certs'));
  } finally {
    r.close();
    await srv.close();
  }
});

test('tracking follows the config: untracked sets are forgotten; inline jwks is never fetched; bounds hold', async () => {
  const srv = await keyServer();
  srv.routes.set('/one', [200, JSON.stringify({ keys: [jwk('1')] })]);
  srv.routes.set('/two', [200, JSON.stringify({ keys: [jwk('2')] })]);
  srv.routes.set('/big', [200, JSON.stringify({ keys: [jwk('3')], pad: 'x'.repeat(4096) })]);
  srv.routes.set('/hang', 'hang');
  const r = new JwksResolver({ onChange: () => {}, maxEntries: 3, maxBodyBytes: 2048 });
  try {
    const targets = jwksTargets([
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'RequestAuthentication',
        metadata: { name: 'x', namespace: 'ns' },
        spec: { jwtRules: [{ issuer: 'i1', jwksUri: srv.url('/one') }, { issuer: 'inline', jwks: '{"keys":[]}' }, { issuer: 'big', jwksUri: srv.url('/big') }, { issuer: 'slow', jwksUri: srv.url('/hang'), timeout: '200ms' }] },
      } as any,
    ]);
    assert.equal(targets.length, 3, 'the inline rule needs no fetch');
    r.track([...targets, { issuer: 'i2', jwksUri: srv.url('/two') }]);
    assert.equal(r.status().length, 3, 'maxEntries');
    await r.settled(3000);
    assert.deepEqual(kidsOf(r.keys('i1', srv.url('/one'))), ['1']);
    assert.equal(r.keys('big', srv.url('/big')), undefined);
    assert.match(r.status().find((s) => s.key === srv.url('/big'))!.lastError!, /larger than 2048 bytes/);
    assert.match(r.status().find((s) => s.key === srv.url('/hang'))!.lastError!, /timed out after 200 ms/);
    assert.equal(srv.hits.get('/two'), undefined, 'beyond maxEntries: not fetched');

    r.track([{ issuer: 'i2', jwksUri: srv.url('/two') }]);
    assert.equal(r.keys('i1', srv.url('/one')), undefined, 'forgotten');
    await r.settled(2000);
    assert.deepEqual(kidsOf(r.keys('i2', srv.url('/two'))), ['2']);
  } finally {
    r.close();
    await srv.close();
  }
});
