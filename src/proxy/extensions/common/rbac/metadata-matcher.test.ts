import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import { compileMetadataMatcher, compileValueMatcher, metadataValue } from './metadata-matcher.js';

// Through the real decoder, so the support table and the protos' shapes apply as in a bootstrap.
const value = (v: object) => compileValueMatcher(decodeMessage('envoy.type.matcher.v3.ValueMatcher', v), 'v');
const metadata = (m: object) => compileMetadataMatcher(decodeMessage('envoy.type.matcher.v3.MetadataMatcher', m), 'm');

const JWT = 'envoy.filters.http.jwt_authn';
const md = {
  [JWT]: {
    issuer: { iss: 'issuer', sub: 'alice', aud: ['a', 'b'], azp: 'web', n: 3, admin: true, none: null, nested: { group: ['eng'], level: { deep: 'x' } } },
  },
};

test('metadataValue walks struct keys only, and only own keys', () => {
  assert.equal(metadataValue(md, JWT, ['issuer', 'sub']), 'alice');
  assert.deepEqual(metadataValue(md, JWT, ['issuer', 'nested', 'group']), ['eng']);
  assert.equal(metadataValue(md, JWT, ['issuer', 'nested', 'level', 'deep']), 'x');
  assert.equal(metadataValue(md, JWT, ['issuer', 'sub', 'length']), undefined, 'a string is not a struct');
  assert.equal(metadataValue(md, JWT, ['issuer', 'aud', '0']), undefined, 'a list is not a struct');
  assert.equal(metadataValue(md, JWT, ['issuer', 'constructor']), undefined, 'never the prototype');
  assert.equal(metadataValue(md, JWT, ['issuer', 'missing']), undefined);
  assert.equal(metadataValue(md, 'other', ['issuer']), undefined);
  assert.equal(metadataValue(undefined, JWT, ['issuer']), undefined);
  assert.equal(metadataValue(md, JWT, ['issuer', 'none']), null);
});

test('value matchers, as Envoy\'s matchers.cc', () => {
  assert.deepEqual(['alice', 'bob', 3, undefined].map(value({ string_match: { exact: 'alice' } })), [true, false, false, false]);
  assert.deepEqual(['Alice', 'x'].map(value({ string_match: { prefix: 'al', ignore_case: true } })), [true, false]);
  assert.deepEqual([3, 4, '3'].map(value({ double_match: { exact: 3 } })), [true, false, false]);
  assert.deepEqual([1, 2, 2.5, 3].map(value({ double_match: { range: { start: 1, end: 3 } } })), [true, true, true, false], '[start, end)');
  assert.deepEqual([true, false, 'true'].map(value({ bool_match: true })), [true, false, false]);
  assert.deepEqual([null, undefined, 0].map(value({ null_match: {} })), [true, false, false]);
  // present: any set value, lists and structs included; present_match false matches nothing
  assert.deepEqual(['', 0, false, null, [], {}, undefined].map(value({ present_match: true })), [true, true, true, true, true, true, false]);
  assert.deepEqual(['x', undefined].map(value({ present_match: false })), [false, false]);
  const oneOf = value({ list_match: { one_of: { string_match: { exact: 'b' } } } });
  assert.deepEqual([['a', 'b'], ['a'], 'b', []].map(oneOf), [true, false, false, false], 'a list holding a match; a bare string is not a list');
  // Istio's claim matcher: a list holding the value, or the value itself
  const claim = value({ or_match: { value_matchers: [{ list_match: { one_of: { string_match: { exact: 'b' } } } }, { string_match: { exact: 'b' } }] } });
  assert.deepEqual([['a', 'b'], 'b', 'c', undefined].map(claim), [true, true, false, false]);
});

test('metadata matcher: filter, path, value, invert', () => {
  const sub = (exact: string, invert = false) => metadata({ filter: JWT, path: [{ key: 'issuer' }, { key: 'sub' }], value: { string_match: { exact } }, invert });
  assert.equal(sub('alice')(md), true);
  assert.equal(sub('bob')(md), false);
  assert.equal(sub('alice')(undefined), false);
  assert.equal(sub('alice', true)(md), false);
  assert.equal(sub('alice', true)(undefined), true, 'inverted: no metadata matches');
  const group = metadata({ filter: JWT, path: [{ key: 'issuer' }, { key: 'nested' }, { key: 'group' }], value: { list_match: { one_of: { string_match: { exact: 'eng' } } } } });
  assert.equal(group(md), true);
});

test('invalid metadata matchers are refused at load with their path', () => {
  assert.throws(() => compileMetadataMatcher({ filter: '', path: [{ key: 'a' }], value: { present_match: true } }, 'm'), (e: any) => e.path === 'm.filter');
  assert.throws(() => compileMetadataMatcher({ filter: 'f', path: [], value: { present_match: true } }, 'm'), (e: any) => e.path === 'm.path');
  assert.throws(() => compileMetadataMatcher({ filter: 'f', path: [{ key: '' }], value: { present_match: true } }, 'm'), (e: any) => e.path === 'm.path[0].key');
  assert.throws(() => compileMetadataMatcher({ filter: 'f', path: [{ key: 'a' }] }, 'm'), (e: any) => e.path === 'm.value');
  assert.throws(() => compileValueMatcher({}, 'v'), /one of/);
  assert.throws(() => compileValueMatcher({ or_match: { value_matchers: [{ present_match: true }] } }, 'v'), (e: any) => e.path === 'v.or_match.value_matchers');
  assert.throws(() => compileValueMatcher({ string_match: { prefix: '' } }, 'v'), (e: any) => e.path === 'v.string_match.prefix');
});
