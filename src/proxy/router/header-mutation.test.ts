import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../http/headers.js';
import { StreamInfo } from '../stream-info.js';
import { chainHeaderMutations, compileHeaderMutationBlock, updateAuthority, type HeaderValueOptionConfig } from './header-mutation.js';

const info = () => new StreamInfo({ remote: '10.0.0.1:1234', local: '10.0.0.2:80', id: 1 });
const opt = (key: string, value: string, extra: Partial<HeaderValueOptionConfig> = {}): HeaderValueOptionConfig => ({ header: { key, value }, ...extra });
const run = (headers: HeaderMap, add: HeaderValueOptionConfig[], remove: string[] = []) => {
  chainHeaderMutations([compileHeaderMutationBlock(add, remove, 'add', 'remove')]).apply(headers, info());
  return headers.raw;
};

test('append actions', () => {
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('X', '1')]), ['x', '0', 'x', '1']); // default: append
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1', { append: true })]), ['x', '0', 'x', '1']);
  assert.deepEqual(run(new HeaderMap(['x', '0', 'x', '9']), [opt('x', '1', { append: false })]), ['x', '1']);
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1', { append_action: 'ADD_IF_ABSENT' })]), ['x', '0']);
  assert.deepEqual(run(new HeaderMap(), [opt('x', '1', { append_action: 'ADD_IF_ABSENT' })]), ['x', '1']);
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })]), ['x', '1']);
  assert.deepEqual(run(new HeaderMap(), [opt('x', '1', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })]), ['x', '1']);
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1', { append_action: 'OVERWRITE_IF_EXISTS' })]), ['x', '1']);
  assert.deepEqual(run(new HeaderMap(), [opt('x', '1', { append_action: 'OVERWRITE_IF_EXISTS' })]), []);
  // append: true with the default append_action is accepted
  assert.deepEqual(run(new HeaderMap(), [opt('x', '1', { append: true, append_action: 'APPEND_IF_EXISTS_OR_ADD' })]), ['x', '1']);
});

test('within one level: removes first, conditions see the headers before this level writes, overwrites before appends', () => {
  // ADD_IF_ABSENT does not see the append listed before it
  assert.deepEqual(run(new HeaderMap(), [opt('x', 'a'), opt('x', 'b', { append_action: 'ADD_IF_ABSENT' })]), ['x', 'a', 'x', 'b']);
  // the overwrite is applied first, then the append, whatever the listed order
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1'), opt('x', '2', { append: false })]), ['x', '2', 'x', '1']);
  // removal happens before conditions are checked
  assert.deepEqual(run(HeaderMap.from({ x: '0' }), [opt('x', '1', { append_action: 'ADD_IF_ABSENT' })], ['X']), ['x', '1']);
  // a remove and an add of the same name: remove, then add
  assert.deepEqual(run(HeaderMap.from({ x: '0', y: 'keep' }), [opt('x', '1')], ['x']), ['y', 'keep', 'x', '1']);
});

test('levels run in the order given: a later level overrides an earlier one', () => {
  const a = compileHeaderMutationBlock([opt('x', 'route', { append: false })], undefined, 'a', 'r');
  const b = compileHeaderMutationBlock([opt('x', 'vhost', { append: false })], undefined, 'a', 'r');
  const h = new HeaderMap();
  chainHeaderMutations([a, undefined, b]).apply(h, info());
  assert.deepEqual(h.raw, ['x', 'vhost']);
  assert.equal(chainHeaderMutations([undefined, undefined]).empty, true);
  assert.equal(compileHeaderMutationBlock([], [], 'a', 'r'), undefined);
});

test('empty values are dropped unless keep_empty_value; values are format strings', () => {
  const h = new HeaderMap();
  const i = info();
  i.requestHeaders = HeaderMap.from({ 'x-in': 'abc' });
  chainHeaderMutations([
    compileHeaderMutationBlock(
      [
        opt('empty', ''),
        opt('kept', '', { keep_empty_value: true }),
        opt('missing', '%REQ(x-nope)%'),
        opt('missing-kept', '%REQ(x-nope)%', { keep_empty_value: true }),
        opt('copied', 'v=%REQ(x-in)%'),
        { header: { key: 'raw', raw_value: Buffer.from([0x61, 0xe9]) } },
      ],
      undefined,
      'a',
      'r',
    ),
  ]).apply(h, i);
  assert.deepEqual(h.raw, ['kept', '', 'missing-kept', '', 'copied', 'v=abc', 'raw', 'a\u00e9']);
});

test('config errors name the field', () => {
  const fails = (add: HeaderValueOptionConfig[] | undefined, remove: string[] | undefined, path: string) =>
    assert.throws(() => compileHeaderMutationBlock(add, remove, 'rc.request_headers_to_add', 'rc.request_headers_to_remove'), (e: Error & { code?: string; path?: string }) => {
      assert.equal(e.code, 'MW_CONFIG_INVALID', e.message);
      assert.equal(e.path, path);
      return true;
    });
  fails([opt(':path', '/x')], undefined, 'rc.request_headers_to_add[0].header.key');
  fails([opt('ok', '1'), opt('Host', 'h')], undefined, 'rc.request_headers_to_add[1].header.key');
  fails(undefined, ['x', ':authority'], 'rc.request_headers_to_remove[1]');
  fails(undefined, ['HOST'], 'rc.request_headers_to_remove[0]');
  fails([opt('x', '1', { append: false, append_action: 'ADD_IF_ABSENT' })], undefined, 'rc.request_headers_to_add[0]');
  fails([{ header: { value: 'v' } }], undefined, 'rc.request_headers_to_add[0].header.key');
  fails([opt('x', 'a\r\nb')], undefined, 'rc.request_headers_to_add[0].header.value');
  fails([opt('x', '%BOGUS%')], undefined, 'rc.request_headers_to_add[0].header.value');
});

test('updateAuthority records the old host in x-forwarded-host once', () => {
  const h = HeaderMap.from({ ':authority': 'a.example' });
  updateAuthority(h, 'b.internal', true);
  assert.equal(h.get(':authority'), 'b.internal');
  assert.equal(h.get('x-forwarded-host'), 'a.example');
  updateAuthority(h, 'c.internal', true);
  assert.equal(h.get('x-forwarded-host'), 'a.example,b.internal');
  const same = HeaderMap.from({ ':authority': 'a', 'x-forwarded-host': 'z, a' });
  updateAuthority(same, 'b', true);
  assert.equal(same.get('x-forwarded-host'), 'z, a');
  const off = HeaderMap.from({ ':authority': 'a' });
  updateAuthority(off, 'b', false);
  assert.equal(off.get('x-forwarded-host'), undefined);
});
