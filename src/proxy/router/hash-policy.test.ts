import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../common/errors.js';
import { toHex64, xxh64, xxh64List } from '../../common/hash.js';
import { HeaderMap } from '../http/headers.js';
import { compileHashPolicy, type HashRequest } from './hash-policy.js';

const rotl1 = (h: bigint) => ((h << 1n) | (h >> 63n)) & 0xffff_ffff_ffff_ffffn;

function req(headers: Record<string, string | string[]> = {}, extra: Partial<HashRequest> = {}): HashRequest {
  return { headers: HeaderMap.from(headers), sourceIp: '10.1.2.3', query: undefined, ...extra };
}

function hashOf(policies: unknown[], r: HashRequest) {
  return compileHashPolicy(policies)!(r);
}

test('header: the value hashed with xxHash64; absent → no hash', () => {
  const p = [{ header: { header_name: 'X-User' } }];
  assert.deepEqual(hashOf(p, req({ 'x-user': 'alice' })), { hash: xxh64('alice') });
  assert.equal(hashOf(p, req()).hash, undefined);
  // pseudo-headers live in the same map
  assert.equal(hashOf([{ header: { header_name: ':authority' } }], req({ ':authority': 'a.example' })).hash, xxh64('a.example'));
});

test('header: several values are sorted, then hashed as Envoy hashes a list', () => {
  const p = [{ header: { header_name: 'x-v' } }];
  const h = hashOf(p, req({ 'x-v': ['b', 'a'] })).hash;
  assert.equal(h, xxh64List(['a', 'b']));
  assert.equal(hashOf(p, req({ 'x-v': ['a', 'b'] })).hash, h);
  assert.equal(hashOf(p, req({ 'x-v': ['foo', 'bar'] })).hash, xxh64List(['bar', 'foo']));
  assert.notEqual(hashOf(p, req({ 'x-v': 'foo,bar' })).hash, hashOf(p, req({ 'x-v': ['foo', 'bar'] })).hash);
});

test('header: regex_rewrite applies to each value before hashing', () => {
  const p = [{ header: { header_name: ':path', regex_rewrite: { pattern: { regex: '^/users/([^/]+)/.*$' }, substitution: '\\1' } } }];
  assert.equal(hashOf(p, req({ ':path': '/users/bob/photos' })).hash, xxh64('bob'));
  assert.equal(hashOf(p, req({ ':path': '/users/bob/videos' })).hash, xxh64('bob'));
  // no match leaves the value as it is
  assert.equal(hashOf(p, req({ ':path': '/other' })).hash, xxh64('/other'));
});

test('cookie: an existing cookie is hashed; quotes are stripped; the first one wins', () => {
  const p = [{ cookie: { name: 'sid', ttl: 60_000 } }];
  assert.deepEqual(hashOf(p, req({ cookie: 'a=1; sid="abc"; b=2' })), { hash: xxh64('abc') });
  assert.equal(hashOf(p, req({ cookie: ['x=1', 'sid=first', 'sid=second'] })).hash, xxh64('first'));
  // a cookie whose name merely ends in "sid" is not it
  assert.equal(hashOf([{ cookie: { name: 'sid' } }], req({ cookie: 'xsid=1' })).hash, undefined);
});

test('cookie without ttl: an absent cookie gives no hash and sets nothing', () => {
  const r = hashOf([{ cookie: { name: 'sid' } }], req({ cookie: 'other=1' }));
  assert.deepEqual(r, { hash: undefined });
});

test('cookie with ttl: an absent cookie is generated from the connection addresses and set', () => {
  const p = [{ cookie: { name: 'sid', ttl: 3_600_500, path: '/app' } }];
  const r = hashOf(p, req({}, { remoteAddress: '10.1.2.3:51000', localAddress: '10.0.0.1:80' }));
  const value = toHex64(xxh64('10.1.2.3:51000' + '10.0.0.1:80'));
  assert.equal(r.hash, xxh64(value));
  assert.deepEqual(r.setCookies, [`sid="${value}"; Max-Age=3600; Path=/app; HttpOnly`]);
  // the client sends it back: same hash, nothing set
  assert.deepEqual(hashOf(p, req({ cookie: `sid="${value}"` })), { hash: r.hash });
  // without connection addresses the source IP alone is used
  assert.equal(hashOf(p, req()).setCookies![0], `sid="${toHex64(xxh64('10.1.2.3'))}"; Max-Age=3600; Path=/app; HttpOnly`);
});

test('cookie with ttl 0 and attributes: a session cookie carrying the attributes', () => {
  const p = [{ cookie: { name: 's', ttl: 0, attributes: [{ name: 'SameSite', value: 'Strict' }, { name: 'Secure' }] } }];
  const r = hashOf(p, req());
  assert.match(r.setCookies![0]!, /^s="[0-9a-f]{16}"; SameSite=Strict; Secure; HttpOnly$/);
});

test('connection_properties.source_ip hashes the peer IP; source_ip false configures nothing', () => {
  assert.equal(hashOf([{ connection_properties: { source_ip: true } }], req({}, { sourceIp: '::1' })).hash, xxh64('::1'));
  assert.equal(compileHashPolicy([{ connection_properties: { source_ip: false } }]), undefined);
});

test('query_parameter: the first value, not decoded; a bare name hashes ""', () => {
  const p = [{ query_parameter: { name: 'user' } }];
  assert.equal(hashOf(p, req({}, { query: 'a=1&user=ann&user=bob' })).hash, xxh64('ann'));
  assert.equal(hashOf(p, req({}, { query: 'user=%41+b' })).hash, xxh64('%41+b'));
  assert.equal(hashOf(p, req({}, { query: 'x=1&user' })).hash, xxh64(''));
  assert.equal(hashOf(p, req({}, { query: 'username=ann' })).hash, undefined);
  assert.equal(hashOf(p, req()).hash, undefined);
});

test('filter_state: an object that can hash itself', () => {
  const p = [{ filter_state: { key: 'k' } }];
  assert.equal(hashOf(p, req({}, { filterState: new Map([['k', { hash: () => 99n }]]) })).hash, 99n);
  assert.equal(hashOf(p, req({}, { filterState: new Map([['k', { value: 1 }]]) })).hash, undefined);
  assert.equal(hashOf(p, req()).hash, undefined);
});

test('several policies combine as rotl(hash, 1) ^ next; missing inputs are skipped', () => {
  const p = [{ header: { header_name: 'x-a' } }, { connection_properties: { source_ip: true } }];
  const a = xxh64('1');
  const ip = xxh64('10.1.2.3');
  assert.equal(hashOf(p, req({ 'x-a': '1' })).hash, rotl1(a) ^ ip);
  assert.equal(hashOf(p, req()).hash, ip);
  // the same policy twice does not cancel itself out
  const twice = [{ header: { header_name: 'x-a' } }, { header: { header_name: 'x-a' } }];
  assert.equal(hashOf(twice, req({ 'x-a': '1' })).hash, rotl1(a) ^ a);
  // high bit carried round by the rotation
  const hi = hashOf([{ filter_state: { key: 'k' } }, { filter_state: { key: 'k' } }], req({}, { filterState: new Map([['k', { hash: () => 1n << 63n }]]) }));
  assert.equal(hi.hash, 1n ^ (1n << 63n));
});

test('terminal stops the list once a hash exists', () => {
  const p = [{ header: { header_name: 'x-a' }, terminal: true }, { connection_properties: { source_ip: true } }];
  assert.equal(hashOf(p, req({ 'x-a': '1' })).hash, xxh64('1'));
  // the terminal policy found nothing: go on
  assert.equal(hashOf(p, req()).hash, xxh64('10.1.2.3'));
  // terminal also stops on a hash from earlier policies (Envoy checks the accumulated hash)
  const q = [{ header: { header_name: 'x-a' } }, { header: { header_name: 'x-b' }, terminal: true }, { connection_properties: { source_ip: true } }];
  assert.equal(hashOf(q, req({ 'x-a': '1' })).hash, xxh64('1'));
  // and a cookie after a terminal hit is never generated
  const c = [{ header: { header_name: 'x-a' }, terminal: true }, { cookie: { name: 's', ttl: 1000 } }];
  assert.deepEqual(hashOf(c, req({ 'x-a': '1' })), { hash: xxh64('1') });
});

test('empty or absent lists compile to undefined', () => {
  assert.equal(compileHashPolicy(undefined), undefined);
  assert.equal(compileHashPolicy([]), undefined);
});

test('config errors name the field', () => {
  const err = (path: string) => (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_INVALID' && e.path === path;
  assert.throws(() => compileHashPolicy([{ terminal: true }]), err('hash_policy[0]'));
  assert.throws(() => compileHashPolicy([{ header: {}, cookie: { name: 'a' } }]), err('hash_policy[0]'));
  assert.throws(() => compileHashPolicy([{ header: { header_name: '' } }]), err('hash_policy[0].header.header_name'));
  assert.throws(() => compileHashPolicy([{ source_ip: true }, { cookie: {} }]), err('hash_policy[0]'));
  assert.throws(() => compileHashPolicy([{ cookie: { name: 's' } }, { cookie: {} }], 'routes[0].route.hash_policy'), err('routes[0].route.hash_policy[1].cookie.name'));
  assert.throws(() => compileHashPolicy([{ query_parameter: {} }]), err('hash_policy[0].query_parameter.name'));
  assert.throws(() => compileHashPolicy([{ filter_state: { key: '' } }]), err('hash_policy[0].filter_state.key'));
  assert.throws(() => compileHashPolicy([{ header: { header_name: 'x', regex_rewrite: { pattern: { regex: '(' }, substitution: '' } } }]), (e: unknown) => e instanceof ConfigError && e.path.startsWith('hash_policy[0].header.regex_rewrite'));
});
