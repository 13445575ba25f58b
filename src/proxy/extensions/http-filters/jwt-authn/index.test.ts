// The filter end to end inside one process: compiled from a JwtAuthentication config with local keys, driven
// through its HttpFilter hooks with a recording FilterCallbacks. Remote JWKS and a real proxy are covered by
// test/jwt-authn.test.ts.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, FilterFactoryContext, LocalReplyOptions } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { StreamInfo } from '../../../stream-info.js';
import { compileJwtAuthn, compileJwtAuthnPerRoute, jwtAuthnFilter, METADATA_NAMESPACE, type JwtAuthnPerRoute } from './index.js';

const NOW = () => Math.floor(Date.now() / 1000);
let keys: { a: CryptoKey; b: CryptoKey; jwksA: JWK[]; jwksB: JWK[] };
const sign = (key: CryptoKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT({ exp: NOW() + 600, ...payload }).setProtectedHeader({ alg: 'ES256', kid: key === keys.a ? 'a' : 'b', ...header }).sign(key);
const tokA = (p: Record<string, unknown> = {}) => sign(keys.a, { iss: 'https://a.example', aud: 'api', sub: 'alice', ...p });
const tokB = (p: Record<string, unknown> = {}) => sign(keys.b, { iss: 'https://b.example', sub: 'bob', ...p });

before(async () => {
  const a = await generateKeyPair('ES256', { extractable: true });
  const b = await generateKeyPair('ES256', { extractable: true });
  keys = {
    a: a.privateKey,
    b: b.privateKey,
    jwksA: [{ ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'ES256' }],
    jwksB: [{ ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'ES256' }],
  };
});

const providers = () => ({
  A: {
    issuer: 'https://a.example',
    audiences: ['api'],
    local_jwks: { inline_string: JSON.stringify({ keys: keys.jwksA }) },
    forward_payload_header: 'x-jwt-payload',
    payload_in_metadata: 'a_payload',
    claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }, { header_name: 'x-tier', claim_name: 'org.tier' }],
  },
  B: { issuer: 'https://b.example', local_jwks: { inline_string: JSON.stringify({ keys: keys.jwksB }) }, from_headers: [{ name: 'x-b-token' }], forward: true },
});

const ctx = (): FilterFactoryContext => ({ clusterManager: {} as any, stats: new StatsStore(), statPrefix: 'http.test.', path: 'f', name: 'envoy.filters.http.jwt_authn' });

interface Outcome {
  kind: 'continue' | 'reply';
  status?: number;
  body?: string;
  opts?: LocalReplyOptions;
  headers: HeaderMap;
  info: StreamInfo;
  routeCleared: boolean;
}

type Create = ReturnType<typeof jwtAuthnFilter.create>;

/** Run one request through a filter compiled from `cfg` (or an already compiled one, to share its caches). */
async function run(cfg: object | Create, req: Record<string, string>, perRoute?: JwtAuthnPerRoute, c = ctx()): Promise<Outcome> {
  const create = typeof cfg === 'function' ? (cfg as Create) : jwtAuthnFilter.create(cfg, c);
  const headers = HeaderMap.from({ ':method': 'GET', ':path': '/', ':authority': 'app.test', 'x-forwarded-proto': 'http', ...req });
  const info = new StreamInfo({ remote: '127.0.0.1:1', local: '127.0.0.1:2', id: 1 });
  let routeCleared = false;
  return new Promise((resolve) => {
    const cb = {
      streamInfo: info,
      requestHeaders: headers,
      route: () => null,
      clearRouteCache: () => void (routeCleared = true),
      perFilterConfig: <T>() => perRoute as T | undefined,
      continueDecoding: () => resolve({ kind: 'continue', headers, info, routeCleared }),
      sendLocalReply: (status: number, body: string | Buffer, opts?: LocalReplyOptions) => resolve({ kind: 'reply', status, body: String(body), opts, headers, info, routeCleared }),
    } as unknown as FilterCallbacks;
    const f = create(cb);
    if (f.decodeHeaders!(headers, true) === 'continue') resolve({ kind: 'continue', headers, info, routeCleared });
  });
}

const requireA = () => ({ providers: providers(), rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }] });
const challenge = (o: Outcome) => o.opts?.headers?.find(([k]) => k === 'www-authenticate')?.[1];

test('a valid token passes: payload header, claim headers, metadata, token removed', async () => {
  const t = await tokA({ org: { tier: 'gold' } });
  const o = await run(requireA(), { authorization: `Bearer ${t}`, 'x-jwt-payload': 'forged', 'x-sub': 'admin' });
  assert.equal(o.kind, 'continue');
  assert.equal(o.headers.get('authorization'), undefined, 'not forwarded without `forward`');
  assert.deepEqual(o.headers.getAll('x-jwt-payload'), [t.split('.')[1]], 'the forged value was removed first');
  assert.deepEqual(o.headers.getAll('x-sub'), ['alice']);
  assert.equal(o.headers.get('x-tier'), 'gold');
  const md = o.info.dynamicMetadata?.[METADATA_NAMESPACE]?.a_payload as Record<string, unknown>;
  assert.equal(md.sub, 'alice');
  assert.equal(md.iss, 'https://a.example');
});

test('failures: 401 with the reason and the Bearer challenge; 403 for audiences', async () => {
  const cases: [Record<string, string>, number, string][] = [
    [{}, 401, 'Jwt is missing'],
    [{ authorization: `Bearer ${await tokA({ exp: NOW() - 120 })}` }, 401, 'Jwt is expired'],
    [{ authorization: `Bearer ${await tokA({ nbf: NOW() + 120 })}` }, 401, 'Jwt not yet valid'],
    [{ authorization: `Bearer ${await tokA({ aud: 'other' })}` }, 403, 'Audiences in Jwt are not allowed'],
    [{ authorization: `Bearer ${await tokA({ iss: 'https://evil.example' })}` }, 401, 'Jwt issuer is not configured'],
    [{ authorization: `Bearer ${await sign(keys.b, { iss: 'https://a.example', aud: 'api' }, { kid: 'a' })}` }, 401, 'Jwt verification fails'],
    [{ authorization: `Bearer ${await sign(keys.b, { iss: 'https://a.example', aud: 'api' })}` }, 401, "Jwks doesn't have key to match kid or alg from Jwt"],
    [{ authorization: 'Bearer not-a-jwt' }, 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ];
  // alg "none": an unsigned token with the claims of a good one
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${(await tokA()).split('.')[1]}.`;
  cases.push([{ authorization: `Bearer ${none}` }, 401, 'Jwt header [alg] is not supported']);
  for (const [req, status, body] of cases) {
    const o = await run(requireA(), { ':path': '/x?y=1', ...req });
    assert.equal(o.kind, 'reply', body);
    assert.equal(o.status, status, body);
    assert.equal(o.body, body);
    assert.equal(o.opts?.details, `jwt_authn_access_denied{${body.replace(/ /g, '_')}}`);
    const want = body === 'Jwt is missing' ? 'Bearer realm="http://app.test/x?y=1"' : 'Bearer realm="http://app.test/x?y=1", error="invalid_token"';
    assert.equal(challenge(o), want, body);
  }
});

test('all tokens must verify: a good one next to a bad one fails', async () => {
  const c = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }] };
  const o = await run(c, { ':path': `/?access_token=${await tokA({ aud: 'nope' })}`, authorization: `Bearer ${await tokA()}` });
  assert.equal(o.status, 403);
});

test('strip_failure_response: only the status', async () => {
  const o = await run({ ...requireA(), strip_failure_response: true }, {});
  assert.equal(o.status, 401);
  assert.equal(o.body, '');
  assert.equal(challenge(o), undefined);
});

test('rules: the first matching rule decides; no match or an empty requirement requires nothing', async () => {
  const c = {
    providers: providers(),
    rules: [
      { match: { prefix: '/public' } },
      { match: { path: '/b', headers: [{ name: 'x-use-b', present_match: true }] }, requires: { provider_name: 'B' } },
      { match: { safe_regex: { regex: '/api/.*' } }, requires: { provider_name: 'A' } },
    ],
  };
  assert.equal((await run(c, { ':path': '/public/x' })).kind, 'continue');
  assert.equal((await run(c, { ':path': '/elsewhere' })).kind, 'continue');
  assert.equal((await run(c, { ':path': '/api/x' })).status, 401);
  assert.equal((await run(c, { ':path': '/api/x', authorization: `Bearer ${await tokA()}` })).kind, 'continue');
  const b = await run(c, { ':path': '/b', 'x-use-b': '1', 'x-b-token': await tokB() });
  assert.equal(b.kind, 'continue');
  assert.ok(b.headers.get('x-b-token'), 'forward: true keeps the token');
});

test('per-route config: disabled skips verification; requirement_name picks from requirement_map; an unknown name is 403', async () => {
  const c = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }], requirement_map: { onlyB: { provider_name: 'B' } } };
  assert.equal((await run(c, {}, compileJwtAuthnPerRoute({ disabled: true }, 'r'))).kind, 'continue');
  const byName = compileJwtAuthnPerRoute({ requirement_name: 'onlyB' }, 'r');
  assert.equal((await run(c, { authorization: `Bearer ${await tokA()}` }, byName)).status, 401);
  assert.equal((await run(c, { 'x-b-token': await tokB() }, byName)).kind, 'continue');
  const wrong = await run(c, {}, compileJwtAuthnPerRoute({ requirement_name: 'nope' }, 'r'));
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body, 'Failed JWT authentication: Wrong requirement_name: nope. It should be one of [onlyB]');
  assert.throws(() => compileJwtAuthnPerRoute({}, 'r'), ConfigError);
});

test('requires_any and requires_all', async () => {
  const any = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'A' }, { provider_name: 'B' }] } } }] };
  assert.equal((await run(any, { authorization: `Bearer ${await tokA()}` })).kind, 'continue');
  assert.equal((await run(any, { 'x-b-token': await tokB() })).kind, 'continue');
  assert.equal((await run(any, {})).body, 'Jwt is missing');
  // a real error beats "missing" from the other child
  assert.equal((await run(any, { authorization: `Bearer ${await tokA({ exp: NOW() - 600 })}` })).body, 'Jwt is expired');

  const all = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { requires_all: { requirements: [{ provider_name: 'A' }, { provider_name: 'B' }] } } }] };
  assert.equal((await run(all, { authorization: `Bearer ${await tokA()}`, 'x-b-token': await tokB() })).kind, 'continue');
  assert.equal((await run(all, { authorization: `Bearer ${await tokA()}` })).body, 'Jwt is missing');
});

test('allow_missing: no token passes, a bad token fails; allow_missing_or_failed lets both pass and records only good payloads', async () => {
  const optional = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'A' }, { allow_missing: {} }] } } }] };
  assert.equal((await run(optional, {})).kind, 'continue');
  assert.equal((await run(optional, { authorization: `Bearer ${await tokA({ aud: 'x' })}` })).status, 403);
  assert.equal((await run(optional, { authorization: `Bearer ${await tokA()}` })).kind, 'continue');

  const top = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { allow_missing: {} } }] };
  assert.equal((await run(top, {})).kind, 'continue');
  // with allow_missing the provider is found by the token's issuer
  assert.equal((await run(top, { 'x-b-token': await tokB() })).kind, 'continue');
  assert.equal((await run(top, { authorization: `Bearer ${await tokA({ exp: 1 })}` })).body, 'Jwt is expired');

  const lenient = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { allow_missing_or_failed: {} } }] };
  const bad = await run(lenient, { authorization: `Bearer ${await tokA({ exp: 1 })}` });
  assert.equal(bad.kind, 'continue');
  assert.equal(bad.info.dynamicMetadata, undefined);
  const good = await run(lenient, { authorization: `Bearer ${await tokA()}` });
  assert.equal((good.info.dynamicMetadata?.[METADATA_NAMESPACE]?.a_payload as any).sub, 'alice');
});

test('provider_and_audiences replaces the provider audiences', async () => {
  const c = { providers: providers(), rules: [{ match: { prefix: '/' }, requires: { provider_and_audiences: { provider_name: 'A', audiences: ['special'] } } }] };
  assert.equal((await run(c, { authorization: `Bearer ${await tokA()}` })).status, 403);
  assert.equal((await run(c, { authorization: `Bearer ${await tokA({ aud: 'special' })}` })).kind, 'continue');
});

test('subjects, require_expiration and max_lifetime', async () => {
  const with_ = (extra: object) => {
    const p = providers();
    Object.assign(p.A, extra);
    return { providers: p, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }] };
  };
  const subj = with_({ subjects: { prefix: 'spiffe://good/' } });
  assert.equal((await run(subj, { authorization: `Bearer ${await tokA()}` })).body, 'Jwt verification fails');
  assert.equal((await run(subj, { authorization: `Bearer ${await tokA({ sub: 'spiffe://good/x' })}` })).kind, 'continue');
  const noExp = await sign(keys.a, { iss: 'https://a.example', aud: 'api', exp: undefined });
  assert.equal((await run(requireA(), { authorization: `Bearer ${noExp}` })).kind, 'continue', 'exp is optional by default');
  assert.equal((await run(with_({ require_expiration: true }), { authorization: `Bearer ${noExp}` })).body, 'Jwt is expired');
  const life = with_({ max_lifetime: 3600_000 });
  assert.equal((await run(life, { authorization: `Bearer ${await tokA({ exp: NOW() + 7200 })}` })).body, 'Jwt is expired');
  assert.equal((await run(life, { authorization: `Bearer ${await tokA({ exp: NOW() + 600 })}` })).kind, 'continue');
});

test('bypass_cors_preflight lets an OPTIONS preflight through; normalize_payload_in_metadata splits scopes; clear_route_cache', async () => {
  const p = providers();
  Object.assign(p.A, { normalize_payload_in_metadata: { space_delimited_claims: ['scope'] }, clear_route_cache: true, header_in_metadata: 'a_header' });
  const c = { providers: p, bypass_cors_preflight: true, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }] };
  const pre = await run(c, { ':method': 'OPTIONS', origin: 'https://x', 'access-control-request-method': 'GET' });
  assert.equal(pre.kind, 'continue');
  const o = await run(c, { authorization: `Bearer ${await tokA({ scope: 'read  write' })}` });
  const md = o.info.dynamicMetadata?.[METADATA_NAMESPACE] as any;
  assert.deepEqual(md.a_payload.scope, ['read', 'write']);
  assert.equal(md.a_header.kid, 'a');
  assert.equal(o.routeCleared, true);
});

test('stats: allowed, denied, cors_preflight_bypassed under http.<prefix>.jwt_authn.', async () => {
  const c = ctx();
  const cfg = { ...requireA(), bypass_cors_preflight: true };
  await run(cfg, {}, undefined, c);
  await run(cfg, { authorization: `Bearer ${await tokA()}` }, undefined, c);
  await run(cfg, { ':method': 'OPTIONS', origin: 'o', 'access-control-request-method': 'GET' }, undefined, c);
  assert.equal(c.stats.counter('http.test.jwt_authn.denied').value, 1);
  assert.equal(c.stats.counter('http.test.jwt_authn.allowed').value, 2);
  assert.equal(c.stats.counter('http.test.jwt_authn.cors_preflight_bypassed').value, 1);
});

test('config errors name the field', () => {
  const bad = (cfg: object, re: RegExp) =>
    assert.throws(() => compileJwtAuthn(cfg, ctx()), (e: unknown) => e instanceof ConfigError && re.test(e.message), re.source);
  bad({ providers: providers(), rules: [{ match: { prefix: '/' }, requires: { provider_name: 'C' } }] }, /f\.rules\[0\]\.requires\.provider_name: Required provider \['C'\] is not configured/);
  bad({ providers: providers(), rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'A' }] } } }] }, /requires_any\.requirements: at least 2/);
  bad({ providers: providers(), rules: [{ match: { prefix: '/' }, requirement_name: 'x' }] }, /f\.rules\[0\]\.requirement_name: Wrong requirement_name: x/);
  bad({ providers: { A: { local_jwks: { inline_string: '{"keys":[]}' } } } }, /f\.providers\.A\.local_jwks: Jwks doesn't have any valid public key/);
  bad({ providers: { A: { local_jwks: { filename: '/nonexistent/jwks.json' } } } }, /f\.providers\.A\.local_jwks\.filename: Cannot read/);
  bad({ providers: { A: {} } }, /f\.providers\.A: a provider needs local_jwks or remote_jwks/);
  bad({ providers: { A: { remote_jwks: { http_uri: { uri: 'ftp://x/jwks', cluster: 'c', timeout: 1000 } } } } }, /http_uri\.uri: .* must be an http/);
  bad({ providers: { A: { remote_jwks: { http_uri: { uri: 'http://x/jwks', cluster: 'c' }, retry_policy: { retry_back_off: { base_interval: 100, max_interval: 50 } } } } } }, /max_interval/);
  bad({ filter_state_rules: { name: 'x' } }, /filter_state_rules/);
  bad({ providers: { A: { ...providers().A, failed_status_in_metadata: 'x' } } }, /f\.providers\.A\.failed_status_in_metadata: /);
});

test('jwt_cache_config: a verified token is served from the cache, still subject to its time limits', async () => {
  const p = providers();
  Object.assign(p.A, { jwt_cache_config: { jwt_cache_size: 2 } });
  const create = jwtAuthnFilter.create({ providers: p, rules: [{ match: { prefix: '/' }, requires: { provider_name: 'A' } }] }, ctx());
  const t = await tokA();
  assert.equal((await run(create, { authorization: `Bearer ${t}` })).kind, 'continue');
  const again = await run(create, { authorization: `Bearer ${t}` });
  assert.equal(again.kind, 'continue');
  assert.equal(again.headers.get('x-sub'), 'alice', 'a cache hit still writes the claim headers');
  assert.equal(again.headers.get('authorization'), undefined, 'and still removes the token');
});

test('JwtCache: most recently used kept, oldest evicted, expired entries dropped on lookup', async () => {
  const { JwtCache } = await import('./provider.js');
  const { parseJwt } = await import('./jwt.js');
  const cache = new JwtCache(2);
  const [t1, t2, t3] = [await tokA({ n: 1 }), await tokA({ n: 2 }), await tokA({ n: 3, exp: NOW() + 10 })];
  for (const t of [t1, t2]) cache.insert(parseJwt(t) as any);
  assert.ok(cache.lookup(t1, NOW(), 60), 't1 is now the most recent');
  cache.insert(parseJwt(t3) as any);
  assert.equal(cache.lookup(t2, NOW(), 60), undefined, 't2 was the oldest');
  assert.ok(cache.lookup(t3, NOW(), 0));
  assert.equal(cache.lookup(t3, NOW() + 100, 0), undefined, 'expired');
  assert.equal(cache.lookup(t3, NOW(), 0), undefined, 'and gone');
});
