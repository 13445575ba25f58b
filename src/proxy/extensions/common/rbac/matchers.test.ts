import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import { HeaderMap } from '../../../http/headers.js';
import type { TlsInfo } from '../../../stream-info.js';
import { compileCidr, compilePermission, compilePrincipal, ipv4ToInt, NO_HEADERS, portOf, type RbacConnection } from './matchers.js';

// Configs go through the real decoder, so the support table and Envoy's validation rules apply as in a bootstrap.
const permission = (p: object) => compilePermission(decodeMessage('envoy.config.rbac.v3.Permission', p), 'p');
const principal = (p: object) => compilePrincipal(decodeMessage('envoy.config.rbac.v3.Principal', p), 'p');

const conn = (o: Partial<RbacConnection> = {}): RbacConnection => ({
  downstreamDirectRemoteAddress: '10.1.2.3:40000',
  downstreamRemoteAddress: '10.1.2.3:40000',
  downstreamLocalAddress: '127.0.0.1:8080',
  requestedServerName: undefined,
  downstreamTls: undefined,
  ...o,
});
const req = (h: Record<string, string | string[]>) => HeaderMap.from(h);

test('and_rules / or_rules / not_rule / any compose as Envoy', () => {
  const admin = { url_path: { path: { prefix: '/admin' } } };
  const get = { header: { name: ':method', string_match: { exact: 'GET' } } };
  const and = permission({ and_rules: { rules: [admin, get] } });
  const or = permission({ or_rules: { rules: [admin, get] } });
  const not = permission({ not_rule: admin });
  const h1 = req({ ':method': 'GET', ':path': '/admin/x' });
  const h2 = req({ ':method': 'POST', ':path': '/admin' });
  const h3 = req({ ':method': 'POST', ':path': '/public' });
  assert.deepEqual([h1, h2, h3].map((h) => and(h, conn())), [true, false, false]);
  assert.deepEqual([h1, h2, h3].map((h) => or(h, conn())), [true, true, false]);
  assert.deepEqual([h1, h2, h3].map((h) => not(h, conn())), [false, false, true]);
  assert.equal(permission({ any: true })(NO_HEADERS, conn()), true);
});

test('header: every HeaderMatcher form; several values of one header are matched joined with ","', () => {
  const h = req({ ':authority': 'api.example.com', 'x-role': ['user', 'admin'], 'x-n': '42' });
  const m = (hm: object) => permission({ header: hm })(h, conn());
  assert.equal(m({ name: 'x-role', string_match: { exact: 'user,admin' } }), true);
  assert.equal(m({ name: 'x-role', string_match: { exact: 'admin' } }), false, 'no value-by-value match: the joined value is compared');
  assert.equal(m({ name: 'x-role', string_match: { contains: 'admin' } }), true);
  assert.equal(m({ name: 'x-role', exact_match: 'user,admin' }), true);
  assert.equal(m({ name: 'x-role', prefix_match: 'user' }), true);
  assert.equal(m({ name: 'x-role', suffix_match: 'admin' }), true);
  assert.equal(m({ name: 'x-role', safe_regex_match: { regex: 'user,.*' } }), true);
  assert.equal(m({ name: 'x-n', range_match: { start: 40, end: 43 } }), true);
  assert.equal(m({ name: 'x-n', range_match: { start: 43, end: 50 } }), false);
  assert.equal(m({ name: 'x-missing', present_match: true }), false);
  assert.equal(m({ name: 'x-missing', present_match: true, invert_match: true }), true);
  assert.equal(m({ name: 'x-missing', string_match: { exact: '' }, treat_missing_header_as_empty: true }), true);
  assert.equal(m({ name: 'x-missing', string_match: { exact: 'a' }, invert_match: true }), false, 'a missing header never matches, inverted or not');
  // host names: case-sensitive unless the rule says ignore_case (Istio's translation does)
  assert.equal(permission({ header: { name: ':authority', string_match: { exact: 'API.example.com' } } })(h, conn()), false);
  assert.equal(permission({ header: { name: ':authority', string_match: { exact: 'API.example.com', ignore_case: true } } })(h, conn()), true);
  assert.equal(permission({ header: { name: 'host', string_match: { exact: 'api.example.com' } } })(h, conn()), true, '"host" reads :authority');
  // on a connection there are no headers
  assert.equal(permission({ header: { name: ':authority', present_match: true } })(NO_HEADERS, conn()), false);
});

test('url_path: the PathMatcher on :path without query and fragment; no :path never matches', () => {
  const admin = permission({ url_path: { path: { prefix: '/admin' } } });
  const exact = permission({ url_path: { path: { exact: '/admin' } } });
  assert.equal(admin(req({ ':path': '/admin?x=1' }), conn()), true);
  assert.equal(exact(req({ ':path': '/admin?x' }), conn()), true);
  assert.equal(exact(req({ ':path': '/admin#frag' }), conn()), true);
  assert.equal(admin(req({ ':path': '/Admin' }), conn()), false);
  assert.equal(permission({ url_path: { path: { prefix: '/ADMIN', ignore_case: true } } })(req({ ':path': '/admin' }), conn()), true);
  assert.equal(admin(NO_HEADERS, conn()), false);
  assert.equal(principal({ url_path: { path: { prefix: '/admin' } } })(req({ ':path': '/admin' }), conn()), true);
});

test('destination_ip / destination_port / destination_port_range read the local address', () => {
  const c = conn({ downstreamLocalAddress: '192.168.1.10:8443' });
  assert.equal(permission({ destination_ip: { address_prefix: '192.168.0.0', prefix_len: 16 } })(NO_HEADERS, c), true);
  assert.equal(permission({ destination_ip: { address_prefix: '192.168.2.0', prefix_len: 24 } })(NO_HEADERS, c), false);
  assert.equal(permission({ destination_port: 8443 })(NO_HEADERS, c), true);
  assert.equal(permission({ destination_port: 8080 })(NO_HEADERS, c), false);
  assert.equal(permission({ destination_port_range: { start: 8000, end: 8443 } })(NO_HEADERS, c), false, 'end is exclusive');
  assert.equal(permission({ destination_port_range: { start: 8443, end: 8444 } })(NO_HEADERS, c), true);
  assert.throws(() => permission({ destination_port_range: { start: 10, end: 10 } }), /range start 10 cannot be greater or equal than range end 10/);
  assert.throws(() => permission({ destination_port_range: { start: 1, end: 70000 } }), /range end 70000 is out of bounds/);
});

test('requested_server_name matches the SNI, "" without one', () => {
  const sni = permission({ requested_server_name: { suffix: '.example.com' } });
  assert.equal(sni(NO_HEADERS, conn({ requestedServerName: 'api.example.com' })), true);
  assert.equal(sni(NO_HEADERS, conn()), false);
  assert.equal(permission({ requested_server_name: { exact: '' } })(NO_HEADERS, conn()), true);
});

test('source_ip and direct_remote_ip read the peer, remote_ip the address after XFF', () => {
  const c = conn({ downstreamDirectRemoteAddress: '127.0.0.1:5555', downstreamRemoteAddress: '203.0.113.7:0' });
  const loop = { address_prefix: '127.0.0.0', prefix_len: 8 };
  const ext = { address_prefix: '203.0.113.0', prefix_len: 24 };
  assert.equal(principal({ direct_remote_ip: loop })(NO_HEADERS, c), true);
  assert.equal(principal({ source_ip: loop })(NO_HEADERS, c), true);
  assert.equal(principal({ remote_ip: loop })(NO_HEADERS, c), false);
  assert.equal(principal({ remote_ip: ext })(NO_HEADERS, c), true);
  const v6 = conn({ downstreamDirectRemoteAddress: '[2001:db8::5]:443' });
  assert.equal(principal({ direct_remote_ip: { address_prefix: '2001:db8::', prefix_len: 32 } })(NO_HEADERS, v6), true);
  assert.equal(principal({ direct_remote_ip: { address_prefix: '0.0.0.0', prefix_len: 0 } })(NO_HEADERS, v6), false, 'an IPv6 peer is never in an IPv4 range');
});

test('authenticated: TLS only; principal_name against URI SANs, then DNS SANs, then the subject', () => {
  const tls = (t: Partial<TlsInfo>): RbacConnection => conn({ downstreamTls: { peerCertificatePresented: true, ...t } });
  const spiffe = principal({ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/default/sa/sleep' } } });
  const anyTls = principal({ authenticated: {} });
  const withSans = tls({ peerUriSan: ['spiffe://cluster.local/ns/default/sa/sleep'], peerDnsSan: ['sleep.default'], peerSubject: 'CN=sleep,O=Mesh' });
  assert.equal(spiffe(NO_HEADERS, withSans), true);
  assert.equal(spiffe(NO_HEADERS, tls({ peerUriSan: ['spiffe://cluster.local/ns/default/sa/other'] })), false);
  assert.equal(spiffe(NO_HEADERS, conn()), false, 'plaintext is never authenticated');
  assert.equal(principal({ authenticated: { principal_name: { exact: 'sleep.default' } } })(NO_HEADERS, withSans), true, 'DNS SANs after URI SANs');
  assert.equal(principal({ authenticated: { principal_name: { exact: 'CN=sleep,O=Mesh' } } })(NO_HEADERS, withSans), true, 'the subject last');
  assert.equal(anyTls(NO_HEADERS, tls({ peerCertificatePresented: false })), true, 'no principal_name: any TLS connection');
  assert.equal(anyTls(NO_HEADERS, conn()), false);
  // no certificate: the subject is ""
  assert.equal(principal({ authenticated: { principal_name: { exact: '' } } })(NO_HEADERS, tls({ peerCertificatePresented: false })), true);
  // a literal identity is never a pattern
  assert.equal(principal({ authenticated: { principal_name: { exact: 'spiffe://cluster.local/ns/*/sa/sleep' } } })(NO_HEADERS, withSans), false);
});

test('what Meshwork cannot evaluate is rejected at load, never ignored', () => {
  assert.throws(() => principal({ filter_state: { key: 'k', string_match: { exact: 'v' } } }), /not supported/);
  assert.throws(() => permission({ uri_template: { name: 'x', typed_config: { '@type': 'type.googleapis.com/google.protobuf.Empty' } } }), /not supported/);
  // and straight to the compiler (the network filter's compile path without the decoder)
  assert.throws(() => compilePermission({ matcher: {} }, 'p'), (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'p.matcher');
  assert.throws(() => compilePermission({ metadata: {} }, 'p'), (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'p.metadata.filter');
  assert.throws(() => compilePrincipal({ any: true, header: { name: 'a' } }, 'p'), /only one of/);
  assert.throws(() => compilePrincipal({ and_ids: { ids: [] } }, 'p'), (e: any) => e.path === 'p.and_ids.ids');
  assert.throws(() => compilePermission({ destination_ip: { address_prefix: '10.0.0.300', prefix_len: 8 } }, 'p'), /malformed IP address/);
  assert.throws(() => compilePermission({ destination_ip: { address_prefix: '10.0.0.0', prefix_len: 33 } }, 'p'), /out of range/);
});

test('metadata: permissions and principals read the stream\'s dynamic metadata (the JWT payload jwt_authn wrote)', () => {
  const sub = (exact: string) => ({
    metadata: { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'https://issuer.example.com' }, { key: 'sub' }], value: { string_match: { exact } } },
  });
  const md = { 'envoy.filters.http.jwt_authn': { 'https://issuer.example.com': { iss: 'https://issuer.example.com', sub: 'alice' } } };
  assert.equal(principal(sub('alice'))(NO_HEADERS, conn({ dynamicMetadata: md })), true);
  assert.equal(principal(sub('bob'))(NO_HEADERS, conn({ dynamicMetadata: md })), false);
  assert.equal(permission(sub('alice'))(NO_HEADERS, conn({ dynamicMetadata: md })), true);
  // no metadata at all (a request without a token; a connection)
  assert.equal(principal(sub('alice'))(NO_HEADERS, conn()), false);
  assert.equal(principal({ not_id: sub('alice') })(NO_HEADERS, conn()), true);
});

test('CIDR and address helpers', () => {
  assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff);
  assert.equal(ipv4ToInt('1.2.3'), -1);
  assert.equal(ipv4ToInt('1.2.3.256'), -1);
  assert.equal(ipv4ToInt('::1'), -1);
  const r = compileCidr({ address_prefix: '10.1.2.3', prefix_len: 8 }, 'r');
  assert.deepEqual(['10.255.0.1', '11.0.0.0', 'x'].map(r), [true, false, false]);
  assert.equal(compileCidr({ address_prefix: '0.0.0.0', prefix_len: 0 }, 'r')('8.8.8.8'), true);
  assert.equal(compileCidr({ address_prefix: '1.2.3.4', prefix_len: 32 }, 'r')('1.2.3.4'), true);
  assert.equal(portOf('[::1]:8080'), 8080);
  assert.equal(portOf('-'), -1);
});
