import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../http/headers.js';
import {
  compileHeaderMatcher,
  compileQueryParameterMatcher,
  compileRegex,
  compileRouteMatch,
  compileStringMatcher,
  isGrpcRequest,
  parseQueryString,
  RouteMatchInput,
  type HeaderMatcherConfig,
  type RouteMatchConfig,
} from './matchers.js';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;
const errPath = (c: string, path: string) => (err: unknown) => {
  const e = err as { code?: string; path?: string; message: string };
  assert.equal(e.code, c, e.message);
  assert.equal(e.path, path, e.message);
  return true;
};

test('StringMatcher: exact, prefix, suffix, contains, with and without ignore_case', () => {
  const m = (cfg: object) => compileStringMatcher(cfg, 'm');
  assert.ok(m({ exact: 'Abc' }).match('Abc'));
  assert.ok(!m({ exact: 'Abc' }).match('abc'));
  assert.ok(m({ exact: 'Abc', ignore_case: true }).match('aBC'));
  assert.ok(!m({ exact: 'Abc', ignore_case: true }).match('aBCd'));
  assert.ok(m({ exact: '' }).match(''));
  assert.ok(m({ prefix: '/Api' }).match('/Api/x'));
  assert.ok(!m({ prefix: '/Api' }).match('/api/x'));
  assert.ok(m({ prefix: '/Api', ignore_case: true }).match('/API/x'));
  assert.ok(!m({ prefix: '/Api', ignore_case: true }).match('/Ap'));
  assert.ok(m({ suffix: '.JPG' }).match('a.JPG'));
  assert.ok(m({ suffix: '.JPG', ignore_case: true }).match('a.jpg'));
  assert.ok(!m({ suffix: '.JPG' }).match('a.jpg'));
  assert.ok(m({ contains: 'Mid' }).match('aMidb'));
  assert.ok(!m({ contains: 'Mid' }).match('amidb'));
  assert.ok(m({ contains: 'Mid', ignore_case: true }).match('aMIDb'));
  // ignore_case folds ASCII only, like absl::EqualsIgnoreCase
  assert.ok(!m({ exact: 'é', ignore_case: true }).match('É'));
});

test('StringMatcher: safe_regex is a full match; config errors', () => {
  const re = compileStringMatcher({ safe_regex: { regex: 'foo.*' } }, 'm');
  assert.ok(re.match('foo'));
  assert.ok(re.match('foobar'));
  assert.ok(!re.match('xfoo'));
  assert.throws(() => compileStringMatcher({ safe_regex: { regex: 'a' }, ignore_case: true }, 'm'), errPath('MW_CONFIG_INVALID', 'm.ignore_case'));
  assert.throws(() => compileStringMatcher({ prefix: '' }, 'm'), errPath('MW_CONFIG_INVALID', 'm.prefix'));
  assert.throws(() => compileStringMatcher({}, 'm'), code('MW_CONFIG_INVALID'));
  assert.throws(() => compileStringMatcher({ exact: 'a', prefix: 'b' }, 'm'), code('MW_CONFIG_INVALID'));
  assert.throws(
    () => compileStringMatcher({ safe_regex: { regex: '(a' } }, 'x.y'),
    (e: Error & { path?: string }) => e.path === 'x.y.safe_regex.regex' && /invalid regular expression/.test(e.message),
  );
});

test('RE2 translation: syntax JS spells differently', () => {
  const full = (re: string, s: string) => compileRegex(re, 'r').fullMatch(s);
  assert.ok(full('(?i)/api/v\\d+', '/API/V12'));
  assert.ok(full('(?P<id>\\d+)-x', '42-x'));
  assert.equal(compileRegex('(?P<id>\\d+)-(x)(?:y)?', 'r').groupCount, 2);
  assert.ok(full('[[:alpha:]]+[[:digit:]]', 'abC7'));
  assert.ok(!full('[[:alpha:]]+', 'ab-'));
  assert.ok(full('\\x{41}\\x42', 'AB'));
  assert.ok(full('\\101', 'A')); // octal
  assert.ok(full('\\Qa.b*\\E', 'a.b*'));
  assert.ok(!full('\\Qa.b\\E', 'axb'));
  assert.ok(full('[]a]+', ']a]')); // RE2 reads a leading ] as a literal
  assert.ok(full('\\Aab\\z', 'ab'));
  assert.ok(full('a\\-b\\.c', 'a-b.c'));
  assert.ok(full('x{2,3}', 'xxx'));
  assert.ok(full('a{,2}', 'a{,2}')); // not a repetition in RE2
  // RE2's '.' excludes only \n; (?s) lets it match \n
  assert.ok(full('a.b', 'a\rb'));
  assert.ok(!full('a.b', 'a\nb'));
  assert.ok(full('(?s)a.b', 'a\nb'));
  // RE2's \s is [\t\n\f\r ] (no \v)
  assert.ok(!full('\\s', '\v'));
  assert.ok(full('\\S', '\v'));
  // (?m): ^ and $ at \n boundaries only
  assert.ok(compileRegex('(?m)^b$', 'r').global.test('a\nb\nc'));
  assert.ok(!compileRegex('^b$', 'r').global.test('a\nb\nc'));
});

test('RE2 translation: rejects what RE2 rejects and what JS cannot run', () => {
  for (const bad of ['(a)\\1', '(?=a)', '(?!a)', '(?<=a)b', '(?<!a)b', 'a{1001}', '\\i', '[a', '\\8', '*']) {
    assert.throws(() => compileRegex(bad, 'r'), code('MW_CONFIG_INVALID'), bad);
  }
  for (const cannot of ['\\pL', '\\p{Greek}', 'a\\C', 'a(?i)b', '(?i:a)', '(?U)a+', '[[:^alpha:]]', '\\x{1F600}']) {
    assert.throws(() => compileRegex(cannot, 'r'), code('MW_CONFIG_UNSUPPORTED'), cannot);
  }
});

test('HeaderMatcher: every specifier, inverted and not', () => {
  const h = HeaderMap.from({ 'x-v': 'Hello', 'x-n': '42', 'x-e': '' });
  const m = (cfg: HeaderMatcherConfig) => compileHeaderMatcher(cfg, 'h').matches(h);
  const both = (cfg: HeaderMatcherConfig, expect: boolean) => {
    assert.equal(m(cfg), expect, JSON.stringify(cfg));
    assert.equal(m({ ...cfg, invert_match: true }), !expect, `inverted ${JSON.stringify(cfg)}`);
  };
  both({ name: 'x-v', exact_match: 'Hello' }, true);
  both({ name: 'X-V', exact_match: 'hello' }, false);
  both({ name: 'x-v', exact_match: '' }, true); // empty exact matches any value
  both({ name: 'x-v', prefix_match: 'He' }, true);
  both({ name: 'x-v', suffix_match: 'lo' }, true);
  both({ name: 'x-v', contains_match: 'ell' }, true);
  both({ name: 'x-v', contains_match: 'xyz' }, false);
  both({ name: 'x-v', safe_regex_match: { regex: 'H.*o' } }, true);
  both({ name: 'x-v', safe_regex_match: { regex: 'ell' } }, false); // full match
  both({ name: 'x-v', string_match: { exact: 'hello', ignore_case: true } }, true);
  both({ name: 'x-v', present_match: true }, true);
  both({ name: 'x-v', present_match: false }, false);
  both({ name: 'x-v' }, true); // no specifier: presence
  both({ name: 'x-e', exact_match: '' }, true);
});

test('HeaderMatcher: range_match is [start, end) over int64', () => {
  const r = (v: string, invert = false) =>
    compileHeaderMatcher({ name: 'x', range_match: { start: -10, end: 11 }, invert_match: invert }, 'h').matches(HeaderMap.from({ x: v }));
  assert.ok(r('-10'));
  assert.ok(r('10'));
  assert.ok(!r('11'));
  assert.ok(!r('-11'));
  assert.ok(r(' +5 '));
  assert.ok(!r('5.0'));
  assert.ok(!r('abc'));
  assert.ok(!r('99999999999999999999')); // overflows int64
  assert.ok(r('11', true));
  assert.ok(!r('3', true));
});

test('HeaderMatcher: missing headers, treat_missing_header_as_empty, multiple values, Host', () => {
  const empty = new HeaderMap();
  const m = (cfg: HeaderMatcherConfig, h = empty) => compileHeaderMatcher(cfg, 'h').matches(h);
  // a missing header fails every value matcher, inverted or not
  assert.equal(m({ name: 'x', exact_match: 'a' }), false);
  assert.equal(m({ name: 'x', exact_match: 'a', invert_match: true }), false);
  // ...unless read as ""
  assert.equal(m({ name: 'x', exact_match: '', treat_missing_header_as_empty: true }), true);
  assert.equal(m({ name: 'x', safe_regex_match: { regex: '.+' }, treat_missing_header_as_empty: true, invert_match: true }), true);
  assert.equal(m({ name: 'x', prefix_match: 'a', treat_missing_header_as_empty: true }), false);
  // presence: absent matches present_match:false, and present_match:true inverted
  assert.equal(m({ name: 'x', present_match: false }), true);
  assert.equal(m({ name: 'x', present_match: true }), false);
  assert.equal(m({ name: 'x', present_match: true, invert_match: true }), true);
  assert.equal(m({ name: 'x', present_match: false, invert_match: true }), false);
  // several values are matched joined with ','
  const multi = new HeaderMap(['x', 'a', 'x', 'b']);
  assert.equal(m({ name: 'x', exact_match: 'a,b' }, multi), true);
  assert.equal(m({ name: 'x', exact_match: 'a' }, multi), false);
  // "host" resolves to :authority
  assert.equal(m({ name: 'host', exact_match: 'example.com' }, new HeaderMap([':authority', 'example.com'])), true);
  assert.throws(() => compileHeaderMatcher({ name: 'x', prefix_match: '' }, 'h'), errPath('MW_CONFIG_INVALID', 'h.prefix_match'));
  assert.throws(() => compileHeaderMatcher({ exact_match: 'a' }, 'h'), errPath('MW_CONFIG_INVALID', 'h.name'));
});

test('query parameters: parsed raw, first value wins; string and present matchers', () => {
  const q = parseQueryString('/p?a=1&b=%41&a=2&flag&e=#frag');
  assert.equal(q.get('a'), '1');
  assert.equal(q.get('b'), '%41'); // not decoded, as Envoy
  assert.equal(q.get('flag'), '');
  assert.equal(q.get('e'), '#frag'); // the query runs to the end of :path
  assert.equal(parseQueryString('/p').size, 0);
  const qm = (cfg: object) => compileQueryParameterMatcher(cfg, 'q').matches(q);
  assert.ok(qm({ name: 'a', string_match: { exact: '1' } }));
  assert.ok(!qm({ name: 'a', string_match: { exact: '2' } }));
  assert.ok(qm({ name: 'flag', present_match: true }));
  assert.ok(qm({ name: 'flag', present_match: false })); // Envoy: any present_match means "present"
  assert.ok(!qm({ name: 'nope', present_match: true }));
  assert.ok(qm({ name: 'flag' }));
  assert.ok(!qm({ name: 'nope', string_match: { exact: '' } }));
});

test('grpc matcher: application/grpc exactly or application/grpc+...', () => {
  const g = (ct?: string) => isGrpcRequest(HeaderMap.from(ct === undefined ? {} : { 'content-type': ct }));
  assert.ok(g('application/grpc'));
  assert.ok(g('application/grpc+proto'));
  assert.ok(!g('application/grpc-web'));
  assert.ok(!g('application/json'));
  assert.ok(!g());
});

const input = (path: string, headers: Record<string, string> = {}, random = () => 0.5, ignoreParams = false) =>
  new RouteMatchInput(path, HeaderMap.from(headers), random, ignoreParams);
const rm = (m: RouteMatchConfig, path: string, headers: Record<string, string> = {}) => compileRouteMatch(m, 'match').matches(input(path, headers));

test('route path matchers ignore query and fragment', () => {
  assert.ok(rm({ prefix: '/api' }, '/api/x?y=1'));
  assert.ok(rm({ prefix: '/api' }, '/apiary'));
  assert.ok(!rm({ prefix: '/api?x' }, '/api?x')); // the query is not part of what prefixes see
  assert.ok(!rm({ prefix: '/b' }, '/a?/b'));
  assert.ok(rm({ prefix: '' }, '/anything'));
  assert.ok(rm({ path: '/exact' }, '/exact?q'));
  assert.ok(rm({ path: '/exact' }, '/exact#frag'));
  assert.ok(!rm({ path: '/exact' }, '/exact/'));
  assert.ok(rm({ safe_regex: { regex: '/items/\\d+' } }, '/items/12?x=y'));
  assert.ok(!rm({ safe_regex: { regex: '/items/\\d+' } }, '/items/12/more'));
  assert.ok(!rm({ safe_regex: { regex: '/items' } }, '/items/1')); // full match only
});

test('case_sensitive applies to prefix, path and path_separated_prefix but not regex', () => {
  assert.ok(!rm({ prefix: '/API' }, '/api/x'));
  assert.ok(rm({ prefix: '/API', case_sensitive: false }, '/api/x'));
  assert.ok(rm({ path: '/Exact', case_sensitive: false }, '/EXACT'));
  assert.ok(rm({ path_separated_prefix: '/Foo', case_sensitive: false }, '/fOO/bar'));
  assert.ok(!rm({ safe_regex: { regex: '/abc' }, case_sensitive: false }, '/ABC'));
});

test('path_separated_prefix: exact or followed by / (query ignored); invalid prefixes rejected', () => {
  const m = { path_separated_prefix: '/foo' };
  assert.ok(rm(m, '/foo'));
  assert.ok(rm(m, '/foo/'));
  assert.ok(rm(m, '/foo/bar'));
  assert.ok(rm(m, '/foo?x=1'));
  assert.ok(rm(m, '/foo#f'));
  assert.ok(!rm(m, '/foobar'));
  assert.ok(!rm(m, '/fo'));
  assert.ok(!rm(m, '/FOO'));
  for (const bad of ['/foo/', '/', '', '/a?b', '/a#b']) {
    assert.throws(() => compileRouteMatch({ path_separated_prefix: bad }, 'match'), errPath('MW_CONFIG_INVALID', 'match.path_separated_prefix'), bad);
  }
});

test('ignore_path_parameters_in_path_matching strips ;params before matching', () => {
  const m = compileRouteMatch({ path: '/a' }, 'match');
  assert.ok(!m.matches(input('/a;v=1?q')));
  assert.ok(m.matches(input('/a;v=1?q', {}, () => 0, true)));
});

test('route match combines headers, query parameters, grpc and runtime_fraction', () => {
  const m = compileRouteMatch(
    {
      prefix: '/',
      headers: [{ name: ':method', exact_match: 'POST' }],
      query_parameters: [{ name: 'debug', present_match: true }],
      grpc: {},
    },
    'match',
  );
  const grpcPost = { ':method': 'POST', 'content-type': 'application/grpc' };
  assert.ok(m.matches(input('/svc/M?debug', grpcPost)));
  assert.ok(!m.matches(input('/svc/M', grpcPost)));
  assert.ok(!m.matches(input('/svc/M?debug', { ...grpcPost, ':method': 'GET' })));
  assert.ok(!m.matches(input('/svc/M?debug', { ':method': 'POST', 'content-type': 'application/json' })));

  const frac = compileRouteMatch({ prefix: '/', runtime_fraction: { default_value: { numerator: 25, denominator: 'HUNDRED' } } }, 'match');
  assert.ok(frac.matches(input('/', {}, () => 0.2499)));
  assert.ok(!frac.matches(input('/', {}, () => 0.25)));
  const million = compileRouteMatch({ prefix: '/', runtime_fraction: { default_value: { numerator: 1, denominator: 'MILLION' } } }, 'match');
  assert.ok(million.matches(input('/', {}, () => 0.0000009)));
  assert.ok(!million.matches(input('/', {}, () => 0.000001)));
});

test('route match: unsupported and invalid specifiers', () => {
  assert.throws(() => compileRouteMatch({}, 'match'), code('MW_CONFIG_INVALID'));
  assert.throws(() => compileRouteMatch({ prefix: '/', path: '/a' }, 'match'), code('MW_CONFIG_INVALID'));
  assert.throws(() => compileRouteMatch({ prefix: '/', tls_context: { presented: true } }, 'match'), code('MW_CONFIG_UNSUPPORTED'));
  assert.throws(
    () => compileRouteMatch({ prefix: '/', headers: [{ name: 'x' }, { name: 'y', safe_regex_match: { regex: '(' } }] }, 'match'),
    errPath('MW_CONFIG_INVALID', 'match.headers[1].safe_regex_match.regex'),
  );
});

test('connect_matcher matches CONNECT requests only, and no path matcher matches a CONNECT', () => {
  const m = compileRouteMatch({ connect_matcher: {} }, 'match');
  const req = (method: string, path: string) => input(path, { ':method': method });
  assert.ok(m.matches(req('CONNECT', '')));
  assert.ok(!m.matches(req('GET', '/')));
  assert.ok(!compileRouteMatch({ prefix: '/' }, 'match').matches(req('CONNECT', '')));
  // other conditions still apply
  const h = compileRouteMatch({ connect_matcher: {}, headers: [{ name: 'x', present_match: true }] }, 'match');
  assert.ok(!h.matches(req('CONNECT', '')));
});

test('matchedLength: the configured prefix, or the whole path without query for regex routes', () => {
  assert.equal(compileRouteMatch({ prefix: '/api/' }, 'm').matchedLength('/API/x?q'), 5);
  assert.equal(compileRouteMatch({ safe_regex: { regex: '/.*' } }, 'm').matchedLength('/a/b?q=1'), 4);
});
