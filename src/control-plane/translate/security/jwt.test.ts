// RequestAuthentication → jwt_authn: the provider mapping and Istio's requirement shape (structure), where the
// filter goes (inbound and gateway connection managers only), and what the generated config does when the
// proxy's own jwt_authn filter runs it (simulated requests: valid, invalid, missing, foreign tokens).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import type { JWTRule, MeshResource } from '../../../api/mesh/types.js';
import type { FilterCallbacks, FilterFactoryContext, LocalReplyOptions } from '../../../proxy/http/filter.js';
import { HeaderMap } from '../../../proxy/http/headers.js';
import { jwtAuthnFilter, METADATA_NAMESPACE } from '../../../proxy/extensions/http-filters/jwt-authn/index.js';
import { StatsStore } from '../../../proxy/observability/stats.js';
import { StreamInfo } from '../../../proxy/stream-info.js';
import { UNAVAILABLE_JWKS } from '../../jwks/keys.js';
import { proxyFromNode } from '../../model/proxy.js';
import { buildSnapshot } from '../../model/snapshot.js';
import { buildListeners } from '../listeners/index.js';
import { JWT_AUTHN_FILTER, jwtAuthentication, jwtAuthnFilters, jwtProvider, type JwksSource } from './jwt.js';

const NOW = () => Math.floor(Date.now() / 1000);
let k1: { priv: CryptoKey; jwk: JWK };
let k2: { priv: CryptoKey; jwk: JWK };

before(async () => {
  const make = async (kid: string) => {
    const p = await generateKeyPair('ES256', { extractable: true });
    return { priv: p.privateKey, jwk: { ...(await exportJWK(p.publicKey)), kid, alg: 'ES256' } };
  };
  k1 = await make('k1');
  k2 = await make('k2');
});

const jwksOf = (...keys: JWK[]) => JSON.stringify({ keys });
const sign = (key: { priv: CryptoKey; jwk: JWK }, payload: Record<string, unknown>) =>
  new SignJWT({ exp: NOW() + 600, sub: 'alice', ...payload }).setProtectedHeader({ alg: 'ES256', kid: key.jwk.kid! }).sign(key.priv);

const requestAuthn = (name: string, namespace: string, jwtRules: JWTRule[], selector?: Record<string, string>): MeshResource =>
  ({ apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name, namespace }, spec: { ...(selector ? { selector: { matchLabels: selector } } : {}), jwtRules } }) as MeshResource;

test('a rule maps field by field onto a provider, as Istio maps it', () => {
  const p = jwtProvider({
    issuer: 'https://a.example',
    audiences: ['api'],
    jwks: jwksOf({ kty: 'EC', crv: 'P-256', x: 'SN_ioIq9KXiVlRcbm7qrCEBUR_Ymsh44dl6mlnGdtg8', y: 'guZlHH03K4JDro6HgVLfCReY01DqGTeBSPoWcwPvVg4', d: 'secret' }),
    fromHeaders: [{ name: 'x-token' }, { name: 'authorization', prefix: 'Bearer ' }],
    fromParams: ['t'],
    fromCookies: ['c'],
    forwardOriginalToken: true,
    outputPayloadToHeader: 'x-payload',
    outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
  });
  assert.deepEqual(p, {
    issuer: 'https://a.example',
    audiences: ['api'],
    local_jwks: { inline_string: jwksOf({ kty: 'EC', crv: 'P-256', x: 'SN_ioIq9KXiVlRcbm7qrCEBUR_Ymsh44dl6mlnGdtg8', y: 'guZlHH03K4JDro6HgVLfCReY01DqGTeBSPoWcwPvVg4' }) },
    forward: true,
    from_headers: [{ name: 'x-token' }, { name: 'authorization', value_prefix: 'Bearer ' }],
    from_params: ['t'],
    from_cookies: ['c'],
    forward_payload_header: 'x-payload',
    payload_in_metadata: 'https://a.example',
    normalize_payload_in_metadata: { space_delimited_claims: ['permission', 'scope'] },
    claim_to_headers: [{ header_name: 'x-sub', claim_name: 'sub' }],
  });
  // nothing about locations: Envoy's defaults (Authorization: Bearer, ?access_token=) are Istio's
  const bare = jwtProvider({ issuer: 'i', jwksUri: 'https://i/keys' });
  assert.deepEqual(Object.keys(bare).sort(), ['issuer', 'local_jwks', 'normalize_payload_in_metadata', 'payload_in_metadata']);
  // an issuer-less rule verifies tokens but has no metadata key (the convention keys payloads by issuer)
  assert.equal(jwtProvider({ jwksUri: 'https://i/keys' }).payload_in_metadata, undefined);
});

test('keys: inline (a bare key is wrapped in a set), fetched, or the unavailable set', () => {
  const single = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'SN_ioIq9KXiVlRcbm7qrCEBUR_Ymsh44dl6mlnGdtg8', y: 'guZlHH03K4JDro6HgVLfCReY01DqGTeBSPoWcwPvVg4' });
  assert.equal(jwtProvider({ issuer: 'i', jwks: single }).local_jwks.inline_string, `{"keys":[${single}]}`);
  // an inline set with no usable key would make the proxy NACK the listener: the unavailable set instead
  assert.equal(jwtProvider({ issuer: 'i', jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}' }).local_jwks.inline_string, UNAVAILABLE_JWKS);
  const fetched: JwksSource = { keys: (iss, uri) => (uri === 'https://i/keys' ? '{"keys":[]}' : undefined) };
  assert.equal(jwtProvider({ issuer: 'i', jwksUri: 'https://i/keys' }, fetched).local_jwks.inline_string, '{"keys":[]}');
  assert.equal(jwtProvider({ issuer: 'i', jwksUri: 'https://other/keys' }, fetched).local_jwks.inline_string, UNAVAILABLE_JWKS);
  assert.equal(jwtProvider({ issuer: 'i', jwksUri: 'https://i/keys' }).local_jwks.inline_string, UNAVAILABLE_JWKS, 'no fetcher: unavailable');
  // an inline jwks wins over jwksUri (Istio ignores the URI then)
  assert.equal(jwtProvider({ issuer: 'i', jwksUri: 'https://i/keys', jwks: single }, fetched).local_jwks.inline_string, `{"keys":[${single}]}`);
});

test("the requirement is Istio's: one provider or allow_missing; several: any provider, or all-or-missing", () => {
  assert.equal(jwtAuthentication([]), undefined);
  const one = jwtAuthentication([{ issuer: 'a', jwksUri: 'https://a/k' }])!;
  assert.deepEqual(Object.keys(one.providers), ['origins-0']);
  assert.deepEqual(one.rules, [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }]);
  assert.equal(one.bypass_cors_preflight, true);

  // providers numbered after a stable sort by issuer
  const many = jwtAuthentication([{ issuer: 'c', jwksUri: 'https://c/1' }, { issuer: 'a', jwksUri: 'https://a/k' }, { issuer: 'c', jwksUri: 'https://c/2' }])!;
  assert.deepEqual(
    Object.entries(many.providers).map(([n, p]) => [n, (p as { issuer: string }).issuer]),
    [['origins-0', 'a'], ['origins-1', 'c'], ['origins-2', 'c']],
  );
  const optional = (n: string) => ({ requires_any: { requirements: [{ provider_name: n }, { allow_missing: {} }] } });
  assert.deepEqual(many.rules[0].requires, {
    requires_any: {
      requirements: [
        { provider_name: 'origins-0' },
        { provider_name: 'origins-1' },
        { provider_name: 'origins-2' },
        { requires_all: { requirements: [optional('origins-0'), optional('origins-1'), optional('origins-2')] } },
      ],
    },
  });
});

test('placement: first security filter of inbound and gateway connection managers (after istio.stats, which sees every response); outbound ones and unselected proxies get none', () => {
  const resources: MeshResource[] = [
    requestAuthn('reviews-jwt', 'shop', [{ issuer: 'https://a.example', jwksUri: 'https://a.example/k' }], { app: 'reviews' }),
    requestAuthn('gw-jwt', 'istio-system', [{ issuer: 'https://gw.example', jwksUri: 'https://gw.example/k' }], { istio: 'ingressgateway' }),
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'ratings', namespace: 'shop' },
      spec: { hosts: ['ratings.shop.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }], endpoints: [{ address: '10.0.0.7' }] },
    } as MeshResource,
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'gw', namespace: 'istio-system' },
      spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] },
    } as MeshResource,
  ];
  const snapshot = buildSnapshot(resources);
  const reviews = proxyFromNode({ id: 'reviews-1', metadata: { NAMESPACE: 'shop', LABELS: { app: 'reviews' }, SERVICE: 'reviews', INBOUND_PORTS: '9080:8080' } });
  const ratings = proxyFromNode({ id: 'ratings-1', metadata: { NAMESPACE: 'shop', LABELS: { app: 'ratings' }, SERVICE: 'ratings', INBOUND_PORTS: '9080:8080' } });
  const gateway = proxyFromNode({ id: 'gw-1', metadata: { MESH_TYPE: 'router', NAMESPACE: 'istio-system', LABELS: { istio: 'ingressgateway' } } });

  const filtersOf = (listeners: any[]) =>
    Object.fromEntries(
      listeners.flatMap((l) =>
        (l.filter_chains as any[]).flatMap((c) => c.filters.filter((f: any) => f.typed_config?.http_filters).map((f: any) => [`${l.name}`, f.typed_config.http_filters.map((h: any) => h.name)])),
      ),
    );
  const sidecar = filtersOf(buildListeners(snapshot, reviews));
  const inbound = Object.entries(sidecar).filter(([n]) => !n.startsWith('0.0.0.0_') && n !== 'http_proxy');
  assert.ok(inbound.length > 0);
  for (const [, names] of inbound) assert.deepEqual(names.slice(0, 2), ['istio.stats', JWT_AUTHN_FILTER]);
  for (const [name, names] of Object.entries(sidecar)) if (name.startsWith('0.0.0.0_') || name === 'http_proxy') assert.ok(!names.includes(JWT_AUTHN_FILTER), `${name} is outbound`);
  for (const names of Object.values(filtersOf(buildListeners(snapshot, ratings)))) assert.ok(!names.includes(JWT_AUTHN_FILTER), 'no policy selects ratings');
  const gw = Object.values(filtersOf(buildListeners(snapshot, gateway)));
  assert.ok(gw.length > 0);
  for (const names of gw) assert.deepEqual(names.slice(0, 2), ['istio.stats', JWT_AUTHN_FILTER]);
  // root-namespace selector policies apply only to what they select; the gateway's one is not the sidecar's
  assert.deepEqual(Object.values(jwtAuthnFilters(snapshot, gateway)[0]!.typed_config.providers).map((p: any) => p.issuer), ['https://gw.example']);
});

// ---- the generated config, run by the proxy's own jwt_authn filter

const ctx = (): FilterFactoryContext => ({ clusterManager: {} as any, stats: new StatsStore(), statPrefix: 'http.test.', path: 'f', name: JWT_AUTHN_FILTER });

async function run(config: object, req: Record<string, string>): Promise<{ status: number; body?: string; headers: HeaderMap; info: StreamInfo }> {
  const create = jwtAuthnFilter.create(config, ctx());
  const headers = HeaderMap.from({ ':method': 'GET', ':path': '/', ':authority': 'app.test', 'x-forwarded-proto': 'http', ...req });
  const info = new StreamInfo({ remote: '127.0.0.1:1', local: '127.0.0.1:2', id: 1 });
  return new Promise((resolve) => {
    const cb = {
      streamInfo: info,
      requestHeaders: headers,
      route: () => null,
      clearRouteCache: () => {},
      perFilterConfig: () => undefined,
      continueDecoding: () => resolve({ status: 200, headers, info }),
      sendLocalReply: (status: number, body: string | Buffer) => resolve({ status, body: String(body), headers, info }),
    } as unknown as FilterCallbacks;
    if (create(cb).decodeHeaders!(headers, true) === 'continue') resolve({ status: 200, headers, info });
  });
}

test('simulated: two issuers, one in a custom header: valid tokens pass, bad and foreign ones fail, none passes', async () => {
  const config = jwtAuthentication([
    { issuer: 'https://b.example', jwks: jwksOf(k2.jwk), fromHeaders: [{ name: 'x-b-token' }], outputPayloadToHeader: 'x-b-payload' },
    { issuer: 'https://a.example', jwks: jwksOf(k1.jwk), audiences: ['api'] },
  ])!;
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const a = await sign(k1, { iss: 'https://a.example', aud: 'api' });
  const b = await sign(k2, { iss: 'https://b.example' });

  assert.equal((await run(config, {})).status, 200, 'no token: passes');
  const okA = await run(config, bearer(a));
  assert.equal(okA.status, 200);
  assert.equal((okA.info.dynamicMetadata?.[METADATA_NAMESPACE]?.['https://a.example'] as any)?.sub, 'alice', 'payload under the issuer');
  const okB = await run(config, { 'x-b-token': b });
  assert.equal(okB.status, 200);
  assert.equal(okB.headers.get('x-b-payload'), b.split('.')[1]);
  assert.equal((await run(config, { ...bearer(a), 'x-b-token': b })).status, 200, 'one token per provider, both valid');

  assert.equal((await run(config, bearer(await sign(k2, { iss: 'https://a.example', aud: 'api' })))).status, 401, 'signed by the wrong key');
  assert.equal((await run(config, bearer(await sign(k1, { iss: 'https://a.example', aud: 'api', exp: NOW() - 3600 })))).status, 401, 'expired');
  assert.equal((await run(config, bearer(await sign(k1, { iss: 'https://evil.example', aud: 'api' })))).status, 401, 'an issuer no rule names');
  assert.equal((await run(config, bearer(await sign(k1, { iss: 'https://a.example', aud: 'other' })))).status, 403, 'wrong audience: Envoy answers 403');
  assert.equal((await run(config, { 'x-b-token': 'garbage' })).status, 401, 'a bad token alone');
  // Istio's leading ORs: one token that verifies with its provider is enough, whatever another provider's
  // location holds (Envoy and Istio behave the same with this requirement)
  assert.equal((await run(config, { ...bearer(a), 'x-b-token': 'garbage' })).status, 200);
});

test('simulated: keys not available (UNAVAILABLE_JWKS) fail every token of that issuer, and requests without one pass', async () => {
  const config = jwtAuthentication([{ issuer: 'https://a.example', jwksUri: 'https://a.example/keys' }])!;
  assert.equal((await run(config, {})).status, 200);
  const r = await run(config, { authorization: `Bearer ${await sign(k1, { iss: 'https://a.example' })}` });
  assert.equal(r.status, 401, r.body);
  // the fetched keys make the same token pass
  const fetched = jwtAuthentication([{ issuer: 'https://a.example', jwksUri: 'https://a.example/keys' }], { keys: () => jwksOf(k1.jwk) })!;
  assert.equal((await run(fetched, { authorization: `Bearer ${await sign(k1, { iss: 'https://a.example' })}` })).status, 200);
});
