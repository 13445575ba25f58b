import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AudienceChecker, parseJwt, Status, verifyTimeConstraint, type Jwt } from './jwt.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const token = (header: unknown, payload: unknown, sig = 'c2ln') => `${b64(header)}.${b64(payload)}.${sig}`;
const parsed = (t: string): Jwt => {
  const j = parseJwt(t);
  assert.equal(typeof j, 'object', `expected a JWT, got ${String(j)}`);
  return j as Jwt;
};

test('a well-formed token: claims, audiences as a list, the payload segment kept as sent', () => {
  const t = token({ alg: 'RS256', kid: 'k1' }, { iss: 'https://issuer', sub: 'alice', aud: 'api', exp: 2000, nbf: 1000, iat: 1000 });
  const j = parsed(t);
  assert.equal(j.alg, 'RS256');
  assert.equal(j.kid, 'k1');
  assert.equal(j.iss, 'https://issuer');
  assert.equal(j.sub, 'alice');
  assert.deepEqual(j.audiences, ['api']);
  assert.equal(j.exp, 2000);
  assert.equal(j.payloadB64, t.split('.')[1]);
  assert.deepEqual(parsed(token({ alg: 'ES256' }, { aud: ['a', 'b'] })).audiences, ['a', 'b']);
  // absent claims read as Envoy's defaults
  const bare = parsed(token({ alg: 'EdDSA' }, {}, Buffer.alloc(64).toString('base64url')));
  assert.deepEqual([bare.kid, bare.iss, bare.exp, bare.nbf, bare.audiences.length], ['', '', 0, 0, 0]);
});

test('malformed tokens get the status Envoy reports, word for word', () => {
  const cases: [string, Status][] = [
    ['abc', Status.JwtBadFormat],
    ['a.b', Status.JwtBadFormat],
    ['a.b.c.d', Status.JwtBadFormat],
    [`%%%.${b64({})}.c2ln`, Status.JwtHeaderParseErrorBadBase64],
    [`${b64('not json')}.${b64({})}.c2ln`, Status.JwtHeaderParseErrorBadJson],
    [`${b64('[1]')}.${b64({})}.c2ln`, Status.JwtHeaderParseErrorBadJson],
    [token({}, {}), Status.JwtHeaderBadAlg],
    [token({ alg: 5 }, {}), Status.JwtHeaderBadAlg],
    [token({ alg: 'none' }, {}), Status.JwtHeaderNotImplementedAlg],
    [token({ alg: 'RS1' }, {}), Status.JwtHeaderNotImplementedAlg],
    [token({ alg: 'RS256', kid: 7 }, {}), Status.JwtHeaderBadKid],
    [`${b64({ alg: 'RS256' })}.!!.c2ln`, Status.JwtPayloadParseErrorBadBase64],
    [token({ alg: 'RS256' }, 'nope'), Status.JwtPayloadParseErrorBadJson],
    [token({ alg: 'RS256' }, { iss: 1 }), Status.JwtPayloadParseErrorIssNotString],
    [token({ alg: 'RS256' }, { sub: true }), Status.JwtPayloadParseErrorSubNotString],
    [token({ alg: 'RS256' }, { exp: '10' }), Status.JwtPayloadParseErrorExpNotInteger],
    [token({ alg: 'RS256' }, { exp: 1.5 }), Status.JwtPayloadParseErrorExpNotInteger],
    [token({ alg: 'RS256' }, { exp: -1 }), Status.JwtPayloadParseErrorExpOutOfRange],
    [token({ alg: 'RS256' }, { nbf: 'x' }), Status.JwtPayloadParseErrorNbfNotInteger],
    [token({ alg: 'RS256' }, { iat: 'x' }), Status.JwtPayloadParseErrorIatNotInteger],
    [token({ alg: 'RS256' }, { jti: 1 }), Status.JwtPayloadParseErrorJtiNotString],
    [token({ alg: 'RS256' }, { aud: [1] }), Status.JwtPayloadParseErrorAudNotString],
    [token({ alg: 'RS256' }, {}, 'a+b'), Status.JwtSignatureParseErrorBadBase64],
    [token({ alg: 'EdDSA' }, {}, 'c2ln'), Status.JwtEd25519SignatureWrongLength],
  ];
  for (const [t, want] of cases) assert.equal(parseJwt(t), want, t);
  assert.equal(Status.JwtHeaderNotImplementedAlg, 'Jwt header [alg] is not supported');
  assert.equal(Status.JwtBadFormat, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
});

test('time constraints: exp and nbf with the clock skew on both sides', () => {
  const j = parsed(token({ alg: 'RS256' }, { exp: 1000, nbf: 500 }));
  assert.equal(verifyTimeConstraint(j, 800, 60), Status.Ok);
  assert.equal(verifyTimeConstraint(j, 1060, 60), Status.Ok, 'within the skew after exp');
  assert.equal(verifyTimeConstraint(j, 1061, 60), Status.JwtExpired);
  assert.equal(verifyTimeConstraint(j, 440, 60), Status.Ok, 'within the skew before nbf');
  assert.equal(verifyTimeConstraint(j, 439, 60), Status.JwtNotYetValid);
  assert.equal(verifyTimeConstraint(parsed(token({ alg: 'RS256' }, {})), 1e10, 0), Status.Ok, 'no exp: never expires');
});

test('audiences: any listed one passes, scheme and trailing slash ignored; none configured allows all', () => {
  const a = new AudienceChecker(['https://api.example.com/', 'other']);
  assert.equal(a.allows(['api.example.com']), true);
  assert.equal(a.allows(['http://api.example.com']), true);
  assert.equal(a.allows(['x', 'other']), true);
  assert.equal(a.allows(['x']), false);
  assert.equal(a.allows([]), false);
  assert.equal(new AudienceChecker([]).allows([]), true);
});
