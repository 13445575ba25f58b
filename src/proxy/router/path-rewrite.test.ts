import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePathRewriter, compileRegexRewrite } from './path-rewrite.js';

const rr = (regex: string, substitution: string) => compileRegexRewrite({ pattern: { regex }, substitution }, 'rw');
const onPath = (regex: string, substitution: string) => compilePathRewriter(undefined, rr(regex, substitution))!;

test("regex_rewrite: Envoy's documented examples, query kept", () => {
  const rw = onPath('^/service/([^/]+)(/.*)$', '\\2/instance/\\1');
  assert.equal(rw('/service/foo/v1/api', 0), '/v1/api/instance/foo');
  assert.equal(rw('/service/foo/v1/api?x=1#f', 0), '/v1/api/instance/foo?x=1#f');
  assert.equal(onPath('one', 'two')('/xxx/one/yyy/one/zzz', 0), '/xxx/two/yyy/two/zzz');
  assert.equal(onPath('^(.*?)one(.*)$', '\\1two\\2')('/xxx/one/yyy/one/zzz', 0), '/xxx/two/yyy/one/zzz');
  assert.equal(onPath('(?i)/xxx/', '/yyy/')('/aaa/XxX/bbb', 0), '/aaa/yyy/bbb');
  // no match: unchanged
  assert.equal(onPath('nomatch', 'x')('/a?nomatch', 0), '/a?nomatch');
});

test('regex_rewrite: RE2 substitution syntax', () => {
  assert.equal(rr('(a)(b)?', '[\\0|\\1|\\2]').replaceAll('xax'), 'x[a|a|]x'); // a group that did not take part is ""
  assert.equal(rr('a', '\\\\').replaceAll('bab'), 'b\\b');
  assert.equal(rr('a', '$1$&').replaceAll('a'), '$1$&'); // no JS replacement patterns
  assert.throws(() => rr('(a)', '\\2'), (e: Error & { path?: string; code?: string }) => e.code === 'MW_CONFIG_INVALID' && e.path === 'rw.substitution');
  assert.throws(() => rr('a', '\\n'), (e: Error & { code?: string }) => e.code === 'MW_CONFIG_INVALID');
  assert.throws(() => rr('(', 'x'), (e: Error & { path?: string }) => e.path === 'rw.pattern.regex');
});

test('regex_rewrite: empty matches follow RE2::GlobalReplace, not String.replace', () => {
  // RE2 refuses an empty match where the previous match ended; JS would give "-a--c-"
  assert.equal(rr('b*', '-').replaceAll('abc'), '-a-c-');
  assert.equal(rr('x*', '-').replaceAll('abc'), '-a-b-c-');
  assert.equal(rr('', '-').replaceAll(''), '-');
  assert.equal(rr('x*', '-').replaceAll('a\u{1F600}'), '-a-\u{1F600}-'); // never splits a surrogate pair
});

test('prefix_rewrite swaps the matched length of the full path; empty means unset', () => {
  const rw = compilePathRewriter('/v2/', undefined)!;
  assert.equal(rw('/api/users?id=1', 5), '/v2/users?id=1');
  assert.equal(compilePathRewriter('/', undefined)!('/prefix/etc', 7), '//etc'); // Envoy's documented pitfall
  assert.equal(compilePathRewriter('', undefined), undefined);
  assert.equal(compilePathRewriter(undefined, undefined), undefined);
});
