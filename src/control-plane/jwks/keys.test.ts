// The checks a key set passes before the control plane inlines it: what a proxy would refuse never leaves here.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { Jwks } from '../../proxy/extensions/http-filters/jwt-authn/jwks.js';
import { checkJwks, checkJwksCached, jwksFingerprint, UNAVAILABLE_JWKS } from './keys.js';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

test('usable keys pass; private members are dropped; a bare key becomes a set', () => {
  const { privateKey } = ec();
  const priv = privateKey.export({ format: 'jwk' });
  const r = checkJwks(JSON.stringify({ keys: [{ ...priv, kid: 'a' }] }));
  assert.ok(r.ok);
  const keys = JSON.parse(r.text).keys;
  assert.equal(keys.length, 1);
  assert.equal(keys[0].d, undefined, 'the private scalar is not pushed to proxies');
  assert.equal(keys[0].kid, 'a');
  const bare = checkJwks(JSON.stringify({ ...priv, d: undefined }));
  assert.ok(bare.ok && JSON.parse(bare.text).keys.length === 1);
});

test('unusable keys are skipped, and a set with none is refused with the first reason', () => {
  const good = ec().publicKey.export({ format: 'jwk' });
  const r = checkJwks(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, good, { kty: 'XYZ' }] }));
  assert.ok(r.ok);
  assert.equal(r.keys, 1);
  for (const [text, why] of [
    ['nope', /not valid JSON/],
    ['[]', /not a JSON object/],
    ['{"keys":{}}', /not a list/],
    ['{"keys":[]}', /empty/],
    ['{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}', /keys\[0\]: the key material does not load/],
    ['{"keys":[{"kty":"RSA","alg":"ES256","n":"AA","e":"AQAB"}]}', /not an RSA algorithm/],
    ['{"keys":[{"kty":"OKP","crv":"X25519","x":"AA"}]}', /Ed25519/],
    ['{"keys":[{"kty":"oct","k":"a b"}]}', /base64url/],
  ] as const) {
    const c = checkJwks(text);
    assert.ok(!c.ok, text);
    assert.match(c.reason, why, text);
  }
});

test("what passes here loads in the proxy; UNAVAILABLE_JWKS loads but has no private half anywhere", () => {
  const sets = [UNAVAILABLE_JWKS, JSON.stringify({ keys: [ec().publicKey.export({ format: 'jwk' }), { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }] })];
  for (const s of sets) {
    const c = checkJwks(s);
    assert.ok(c.ok);
    assert.ok(Jwks.parse(c.text) instanceof Jwks, 'the proxy accepts it');
  }
  assert.equal(JSON.parse(UNAVAILABLE_JWKS).keys[0].d, undefined);
  assert.equal(checkJwksCached(UNAVAILABLE_JWKS), checkJwksCached(UNAVAILABLE_JWKS), 'remembered');
});

test('fingerprints ignore key order and member order, not content', () => {
  const a = ec().publicKey.export({ format: 'jwk' });
  const b = ec().publicKey.export({ format: 'jwk' });
  const fp = (keys: object[]) => jwksFingerprint(JSON.stringify({ keys }));
  assert.equal(fp([a, b]), fp([b, a]));
  assert.equal(fp([{ ...a, kid: 'x' }]), fp([{ kid: 'x', ...a }]));
  assert.notEqual(fp([a]), fp([b]));
  assert.notEqual(fp([a]), fp([a, b]));
});
