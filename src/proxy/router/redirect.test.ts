import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../http/headers.js';
import { compileRedirect, newUri, sslRedirectLocation, type RedirectActionConfig } from './redirect.js';

const req = (authority: string, path: string, scheme = 'http', headers: Record<string, string> = {}) => ({
  authority,
  path,
  scheme,
  headers: HeaderMap.from(headers),
});
const loc = (cfg: RedirectActionConfig, r = req('example.com', '/old/x?q=1'), matchedLength = 4) =>
  compileRedirect(cfg, 'redirect').location(r, matchedLength);

test('response codes', () => {
  assert.equal(compileRedirect({}, 'r').responseCode, 301);
  assert.equal(compileRedirect({ response_code: 'FOUND' }, 'r').responseCode, 302);
  assert.equal(compileRedirect({ response_code: 'SEE_OTHER' }, 'r').responseCode, 303);
  assert.equal(compileRedirect({ response_code: 'TEMPORARY_REDIRECT' }, 'r').responseCode, 307);
  assert.equal(compileRedirect({ response_code: 'PERMANENT_REDIRECT' }, 'r').responseCode, 308);
});

test('scheme: https_redirect / scheme_redirect drop the old default port only', () => {
  assert.equal(loc({ https_redirect: true }), 'https://example.com/old/x?q=1');
  assert.equal(loc({ https_redirect: true }, req('example.com:80', '/a')), 'https://example.com/a');
  assert.equal(loc({ https_redirect: true }, req('example.com:8080', '/a')), 'https://example.com:8080/a');
  assert.equal(loc({ scheme_redirect: 'http' }, req('example.com:443', '/a', 'https')), 'http://example.com/a');
  // same scheme as the request: the port stays, even the default one
  assert.equal(loc({ host_redirect: '' }, req('example.com:80', '/a')), 'http://example.com:80/a');
  // x-forwarded-proto, not :scheme, tells which default port the request used
  assert.equal(loc({ https_redirect: true }, req('example.com:443', '/a', 'http', { 'x-forwarded-proto': 'https' })), 'https://example.com:443/a');
  assert.equal(loc({ https_redirect: true }, req('[::1]:80', '/a')), 'https://[::1]/a');
  assert.equal(loc({ https_redirect: true }, req('[::1]', '/a')), 'https://[::1]/a');
});

test('host and port', () => {
  assert.equal(loc({ host_redirect: 'new.example.org' }, req('example.com:8080', '/a?b')), 'http://new.example.org/a?b');
  assert.equal(loc({ port_redirect: 8443 }, req('example.com:80', '/a')), 'http://example.com:8443/a');
  assert.equal(loc({ port_redirect: 8443, https_redirect: true }, req('example.com', '/a')), 'https://example.com:8443/a');
  assert.equal(loc({ host_redirect: 'h', port_redirect: 1 }, req('x:2', '/a')), 'http://h:1/a');
});

test('path_redirect keeps the request query unless it brings its own; strip_query', () => {
  assert.equal(loc({ path_redirect: '/new' }), 'http://example.com/new?q=1');
  assert.equal(loc({ path_redirect: '/new?z=9' }), 'http://example.com/new?z=9');
  assert.equal(loc({ path_redirect: '/new', strip_query: true }), 'http://example.com/new');
  assert.equal(loc({ path_redirect: '/new?z=9', strip_query: true }), 'http://example.com/new?z=9');
  assert.equal(loc({ path_redirect: 'rel' }), 'http://example.com/rel?q=1');
  assert.equal(loc({ strip_query: true }), 'http://example.com/old/x');
  assert.equal(loc({ host_redirect: 'h', path_redirect: '/p', https_redirect: true, strip_query: true }), 'https://h/p');
});

test('prefix_rewrite and regex_rewrite rewrite the request path first', () => {
  assert.equal(loc({ prefix_rewrite: '/new' }), 'http://example.com/new/x?q=1');
  assert.equal(loc({ prefix_rewrite: '/new', strip_query: true }), 'http://example.com/new/x');
  assert.equal(
    loc({ regex_rewrite: { pattern: { regex: '^/old/(.*)$' }, substitution: '/v2/\\1' }, https_redirect: true }),
    'https://example.com/v2/x?q=1',
  );
  // an empty regex result means "no rewrite" in Envoy
  assert.equal(loc({ regex_rewrite: { pattern: { regex: '.*' }, substitution: '' } }), 'http://example.com/old/x?q=1');
});

test('config errors', () => {
  const code = (c: string, p: string) => (e: Error & { code?: string; path?: string }) => e.code === c && e.path === p;
  assert.throws(() => compileRedirect({ path_redirect: '/a', prefix_rewrite: '/b' }, 'r'), code('MW_CONFIG_INVALID', 'r'));
  assert.throws(() => compileRedirect({ https_redirect: true, scheme_redirect: 'x' }, 'r'), code('MW_CONFIG_INVALID', 'r'));
  assert.throws(() => compileRedirect({ host_redirect: 'a\r\nb' }, 'r'), code('MW_CONFIG_INVALID', 'r.host_redirect'));
  assert.throws(
    () => compileRedirect({ regex_rewrite: { pattern: { regex: '(' }, substitution: '' } }, 'r'),
    code('MW_CONFIG_INVALID', 'r.regex_rewrite.pattern.regex'),
  );
});

test('request URL without a redirect config, and the require_tls redirect', () => {
  assert.equal(newUri(req('example.com:80', '/a?b')), 'http://example.com:80/a?b');
  assert.equal(sslRedirectLocation(req('example.com:80', '/a?b')), 'https://example.com:80/a?b');
});
