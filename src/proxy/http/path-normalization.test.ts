import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalizePath, canonicalizePathAndQuery, mergeSlashes, normalizeRequestPath, unescapeSlashes, type PathNormalizationOptions } from './path-normalization.js';

test('canonicalizePath: dot segments as RFC 3986, never above the root (Envoy path_utility cases)', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['', '/'],
    ['/plain/path-1_~x', '/plain/path-1_~x'],
    ['/index.html', '/index.html'],
    ['/a/../admin', '/admin'],
    ['/a/b/../../c/../d', '/d'],
    ['/../', '/'],
    ['/..', '/'],
    ['/../../admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/xyz/.//abc/', '/xyz//abc/'],
    ['/%2e%2E/admin', '/admin'],
    ['/a/%2e/b', '/a/b'],
    ['/a/.%2e/b', '/b'],
    ['/a.b/c..d/...', '/a.b/c..d/...'],
    ['/a%2eb', '/a.b'], // an escaped dot is a dot, in a segment too
    ['/..;/admin', '/..;/admin'], // ';' is an ordinary character: "..;" is not a dot segment
    ['/a;x=1/b', '/a;x=1/b'],
    ['/a\\b\\..\\c', '/a/c'], // backslash is a slash
    ['\\admin', '/admin'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalizePath(input), want, input);
});

test('canonicalizePath: unreserved escapes are decoded, reserved ones kept as sent, unsafe characters escaped', () => {
  const cases: [string, string][] = [
    ['/%61dmin', '/admin'],
    ['/%41%5A%30%2D%5F%7E', '/AZ0-_~'],
    ['/%2Fadmin', '/%2Fadmin'],
    ['/%2fadmin', '/%2fadmin'], // hex case kept
    ['/%5cadmin', '/%5cadmin'],
    ['/%3F%23', '/%3F%23'],
    ['/a b', '/a%20b'],
    ['/a"<>`{|}^', '/a%22%3C%3E%60%7B%7C%7D%5E'],
    ['/\x01\x7f', '/%01%7F'],
    ['/caf\xe9', '/caf%E9'], // latin1 code unit (the codecs' byte view)
    ['/\u20ac', '/%E2%82%AC'], // a wider character: its UTF-8 bytes
    ['/%zz%4', '/%zz%4'], // not escapes: kept
    ['/%%30%30', '/%2500'], // Chromium's nested-escape guard: the output never reads as %00
    ["/!$&'()*+,;=:@[]", "/!$&'()*+,;=:@[]"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalizePath(input), want, JSON.stringify(input));
});

test('canonicalizePath: a NUL, raw or escaped, fails', () => {
  assert.equal(canonicalizePath('/admin%00'), null);
  assert.equal(canonicalizePath('/admin%00.html'), null);
  assert.equal(canonicalizePath('/a\0b'), null);
  assert.equal(canonicalizePath('/%01'), '/%01');
});

test('canonicalizePathAndQuery leaves the query as sent', () => {
  assert.equal(canonicalizePathAndQuery('/a/../b?x=/../%61&y'), '/b?x=/../%61&y');
  assert.equal(canonicalizePathAndQuery('/a%00?q'), null);
  assert.equal(canonicalizePathAndQuery('/ok?%00'), '/ok?%00');
});

test('mergeSlashes as Envoy: non-empty segments joined, leading and trailing slash kept, query untouched', () => {
  assert.equal(mergeSlashes('//admin'), '/admin');
  assert.equal(mergeSlashes('/a//b///c/'), '/a/b/c/');
  assert.equal(mergeSlashes('/a/b'), '/a/b');
  assert.equal(mergeSlashes('/a//b?x=//y'), '/a/b?x=//y');
  assert.equal(mergeSlashes('//'), '//'); // Envoy's own quirk: no segments, both slashes kept
});

test('unescapeSlashes: %2F/%2f and %5C/%5c in the path part only', () => {
  assert.equal(unescapeSlashes('/%2Fadmin'), '//admin');
  assert.equal(unescapeSlashes('/a%2fb%5Cc%5cd'), '/a/b\\c\\d');
  assert.equal(unescapeSlashes('/a?x=%2F'), '/a?x=%2F');
  assert.equal(unescapeSlashes('/a%20b'), '/a%20b');
});

test('normalizeRequestPath: fragments rejected; escaped slashes per action; then canonicalized and merged', () => {
  const opts = (escapedSlashes: PathNormalizationOptions['escapedSlashes'], normalize = true, mergeSlashes = true): PathNormalizationOptions => ({ normalize, mergeSlashes, escapedSlashes });
  assert.deepEqual(normalizeRequestPath('/admin#x', opts('KEEP_UNCHANGED', false, false)), { action: 'reject' });
  assert.deepEqual(normalizeRequestPath('/a/../admin', opts('KEEP_UNCHANGED')), { action: 'continue', path: '/admin' });
  assert.deepEqual(normalizeRequestPath('//admin', opts('KEEP_UNCHANGED')), { action: 'continue', path: '/admin' });
  assert.deepEqual(normalizeRequestPath('/%2Fadmin', opts('KEEP_UNCHANGED')), { action: 'continue', path: '/%2Fadmin' });
  assert.deepEqual(normalizeRequestPath('/%2Fadmin', opts('REJECT_REQUEST')), { action: 'reject' });
  assert.deepEqual(normalizeRequestPath('/%2Fadmin?q=1', opts('UNESCAPE_AND_REDIRECT')), { action: 'redirect', path: '/admin?q=1' });
  assert.deepEqual(normalizeRequestPath('/%5Cadmin', opts('UNESCAPE_AND_FORWARD')), { action: 'continue', path: '/admin' });
  assert.deepEqual(normalizeRequestPath('/plain', opts('UNESCAPE_AND_REDIRECT')), { action: 'continue', path: '/plain' });
  assert.deepEqual(normalizeRequestPath('/x?y=%2F', opts('REJECT_REQUEST')), { action: 'continue', path: '/x?y=%2F' });
  assert.deepEqual(normalizeRequestPath('/admin%00', opts('KEEP_UNCHANGED')), { action: 'reject' });
  // merge_slashes alone does not decode or canonicalize
  assert.deepEqual(normalizeRequestPath('//a/../b', opts('KEEP_UNCHANGED', false, true)), { action: 'continue', path: '/a/../b' });
});
