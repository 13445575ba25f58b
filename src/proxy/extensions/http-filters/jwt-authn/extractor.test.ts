import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderMap } from '../../../http/headers.js';
import { Extractor, removeQueryParam, type ProviderLocations } from './extractor.js';

const loc = (o: Partial<ProviderLocations> = {}): ProviderLocations => ({ issuer: '', fromHeaders: [], fromParams: [], fromCookies: [], sanitize: [], ...o });
const req = (path: string, pairs: [string, string][] = []) => HeaderMap.from({ ':path': path, ...Object.fromEntries(pairs.map(([k, v]) => [k, v])) });

test('default locations: Authorization Bearer and the access_token query parameter', () => {
  const x = new Extractor([loc()]);
  assert.deepEqual(x.extract(req('/', [['authorization', 'Bearer a.b.c']])).map((l) => l.token), ['a.b.c']);
  assert.deepEqual(x.extract(req('/p?x=1&access_token=d.e.f')).map((l) => l.token), ['d.e.f']);
  assert.deepEqual(x.extract(req('/', [['authorization', 'Basic dXNlcjpwdw==']])), [], 'another scheme is not a token');
  // the token is the run of base64url/dot characters after the prefix
  assert.deepEqual(x.extract(req('/', [['authorization', 'Bearer   a.b.c, other']])).map((l) => l.token), ['a.b.c']);
});

test('every value of a repeated header is a token of its own', () => {
  const x = new Extractor([loc({ fromHeaders: [{ name: 'x-jwt', valuePrefix: '' }] })]);
  const h = new HeaderMap();
  h.add(':path', '/');
  h.add('x-jwt', 'one.a.b');
  h.add('x-jwt', 'two.a.b');
  assert.deepEqual(x.extract(h).map((l) => l.token), ['one.a.b', 'two.a.b']);
});

test('explicit locations replace the defaults; params are decoded, cookies parsed', () => {
  const x = new Extractor([loc({ fromHeaders: [{ name: 'x-token', valuePrefix: 'JWT ' }], fromParams: ['jwt'], fromCookies: ['session'] })]);
  assert.deepEqual(x.extract(req('/?access_token=a.b.c', [['authorization', 'Bearer a.b.c']])), []);
  const h = req('/?jwt=p%2Eq.r', [['x-token', 'JWT h.i.j'], ['cookie', 'a=1; session="c.d.e"; b=2']]);
  assert.deepEqual(x.extract(h).map((l) => l.token).sort(), ['c.d.e', 'h.i.j', 'p.q.r']);
});

test('removing a token: the header goes, the query parameter goes (others stay), cookies stay', () => {
  const x = new Extractor([loc({ fromHeaders: [{ name: 'authorization', valuePrefix: 'Bearer ' }], fromParams: ['t'], fromCookies: ['c'] })]);
  const h = req('/a?x=1&t=a.b.c&y=2#frag', [['authorization', 'Bearer a.b.c'], ['cookie', 'c=a.b.c']]);
  for (const l of x.extract(h)) l.remove(h);
  assert.equal(h.get('authorization'), undefined);
  assert.equal(h.get(':path'), '/a?x=1&y=2#frag');
  assert.equal(h.get('cookie'), 'c=a.b.c');
  assert.equal(removeQueryParam('/a?t=1', 't'), '/a');
  assert.equal(removeQueryParam('/a', 't'), '/a');
});

test('merged locations remember which issuers named them; an empty issuer allows any', () => {
  const x = new Extractor([
    loc({ issuer: 'one', fromHeaders: [{ name: 'x-a', valuePrefix: '' }] }),
    loc({ issuer: 'two', fromHeaders: [{ name: 'x-a', valuePrefix: '' }, { name: 'x-b', valuePrefix: '' }] }),
  ]);
  const [a, b] = x.extract(req('/', [['x-a', 'a.a.a'], ['x-b', 'b.b.b']]));
  assert.equal(a!.isIssuerAllowed('one'), true);
  assert.equal(a!.isIssuerAllowed('two'), true);
  assert.equal(a!.isIssuerAllowed('three'), false);
  assert.equal(b!.isIssuerAllowed('one'), false);
  const any = new Extractor([loc({ issuer: '' })]).extract(req('/', [['authorization', 'Bearer z.z.z']]));
  assert.equal(any[0]!.isIssuerAllowed('whoever'), true);
});
