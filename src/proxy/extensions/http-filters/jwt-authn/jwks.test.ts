import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { Jwks } from './jwks.js';
import { parseJwt, Status, type Jwt } from './jwt.js';

interface Signer {
  jwk: JWK;
  sign(payload: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

async function signer(alg: string, kid: string, opts: { crv?: string; jwkAlg?: boolean } = {}): Promise<Signer> {
  if (alg.startsWith('HS')) {
    const secret = Buffer.from(`secret-of-${kid}-that-is-long-enough-for-hs512-0123456789abcdef0123456789`);
    const jwk: JWK = { kty: 'oct', k: secret.toString('base64url'), kid, ...(opts.jwkAlg === false ? {} : { alg }) };
    return { jwk, sign: (p, h) => new SignJWT(p).setProtectedHeader({ alg, kid, ...h }).sign(secret) };
  }
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: opts.crv });
  const jwk = { ...(await exportJWK(publicKey)), kid, ...(opts.jwkAlg === false ? {} : { alg }) };
  return { jwk, sign: (p, h) => new SignJWT(p).setProtectedHeader({ alg, kid, ...h }).sign(privateKey) };
}

const jwks = (...keys: JWK[]): Jwks => {
  const j = Jwks.parse(JSON.stringify({ keys }));
  assert.ok(j instanceof Jwks, JSON.stringify(j));
  return j;
};
const jwt = (t: string): Jwt => parseJwt(t) as Jwt;

test('every algorithm Envoy supports verifies with its key, and a tampered token does not', async () => {
  for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512']) {
    const s = await signer(alg, `k-${alg}`, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const set = jwks(s.jwk);
    const t = await s.sign({ sub: 'alice' });
    assert.equal(await set.verify(jwt(t)), Status.Ok, alg);
    const [h, , sig] = t.split('.');
    const forged = `${h}.${Buffer.from('{"sub":"mallory"}').toString('base64url')}.${sig}`;
    assert.equal(await set.verify(jwt(forged)), Status.JwtVerificationFail, `${alg} tampered`);
  }
});

test('key choice: kid and alg pick the candidates; no candidate is a kid/alg mismatch', async () => {
  const a = await signer('RS256', 'a');
  const b = await signer('RS256', 'b');
  const set = jwks(a.jwk, b.jwk);
  assert.equal(await set.verify(jwt(await b.sign({}))), Status.Ok);
  // a kid nobody has: no candidate (the remote source refetches on this)
  const c = await signer('RS256', 'c');
  const unknown = jwt(await c.sign({}));
  assert.equal(set.hasCandidate(unknown), false);
  assert.equal(await set.verify(unknown), Status.JwksKidAlgMismatch);
  // the right kid but signed by another key: a failed signature, not a mismatch
  assert.equal(await set.verify(jwt(await c.sign({}, { kid: 'a' }))), Status.JwtVerificationFail);
  // no kid in the token: every key is tried
  const noKid = await a.sign({}, { kid: undefined });
  assert.equal(await set.verify(jwt(noKid)), Status.Ok);
  // a key without kid or alg is a candidate for any token of its type
  const bare = await signer('ES256', 'x', { jwkAlg: false });
  const bareJwk = { ...bare.jwk };
  delete bareJwk.kid;
  assert.equal(await jwks(bareJwk).verify(jwt(await bare.sign({}))), Status.Ok);
  // the key's alg differs from the token's: not a candidate
  const es = await signer('ES256', 'a');
  assert.equal(await set.verify(jwt(await es.sign({}))), Status.JwksKidAlgMismatch);
});

test('an RSA key without alg serves both RS and PS tokens (imported once per algorithm)', async () => {
  const { publicKey, privateKey } = await generateKeyPair('PS256', { extractable: true });
  const set = jwks({ ...(await exportJWK(publicKey)), kid: 'r' });
  const priv = await exportJWK(privateKey);
  for (const alg of ['RS256', 'PS256', 'PS256']) {
    const t = await new SignJWT({}).setProtectedHeader({ alg, kid: 'r' }).sign(await importJWK(priv, alg));
    assert.equal(await set.verify(jwt(t)), Status.Ok, alg);
  }
});

test('parsing: invalid keys are skipped, a set without any usable key is refused with the reason', async () => {
  const good = await signer('RS256', 'good');
  const set = Jwks.parse(JSON.stringify({ keys: [{ kty: 'RSA', n: 'AQAB' }, { kty: 'XYZ' }, good.jwk] }));
  assert.ok(set instanceof Jwks);
  assert.equal(set.keys.length, 1);
  const bad = (text: string, status: Status, detail: RegExp) => {
    const r = Jwks.parse(text);
    assert.ok(!(r instanceof Jwks), text);
    assert.equal(r.status, status, text);
    assert.match(r.detail, detail, text);
  };
  bad('{', Status.JwksParseError, /JSON/);
  bad('[]', Status.JwksParseError, /object/);
  bad('{}', Status.JwksNoKeys, /keys/);
  bad('{"keys":{}}', Status.JwksBadKeys, /array/);
  bad('{"keys":[]}', Status.JwksNoValidKeys, /empty/);
  bad('{"keys":[{"kty":"RSA","e":"AQAB"}]}', Status.JwksNoValidKeys, /keys\[0\]: \[n\] and \[e\]/);
  bad('{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"ES256"}]}', Status.JwksNoValidKeys, /does not start with RS or PS/);
  bad('{"keys":[{"kty":"EC","crv":"P-256","alg":"ES384","x":"a","y":"b"}]}', Status.JwksNoValidKeys, /not compatible/);
  bad('{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}', Status.JwksNoValidKeys, /key material is invalid/);
  bad('{"keys":[{"kty":"OKP","crv":"X25519","x":"AAAA"}]}', Status.JwksNoValidKeys, /not supported for an OKP key/);
  bad('{"keys":[{"kty":"oct","k":"a+b"}]}', Status.JwksNoValidKeys, /HMAC/);
  bad('{"keys":[{"kid":"x"}]}', Status.JwksNoValidKeys, /\[kty\] is missing/);
});

test('private key members are dropped: only public parts are kept for verification', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const priv = { ...(await exportJWK(privateKey)), kid: 'p', alg: 'ES256' };
  const set = jwks(priv);
  const t = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'p' }).sign(privateKey);
  assert.equal(await set.verify(jwt(t)), Status.Ok);
  assert.ok(publicKey);
});
