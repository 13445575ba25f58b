import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2_64, toHex64, xxh64, xxh64List } from './hash.js';

// Published reference vectors (xxHash's own sanity list as repeated by many ports) plus the values Envoy's
// test/common/common/hash_test.cc asserts, so that our hashes are the ones Envoy computes.
test('xxh64 matches published vectors (seed 0)', () => {
  assert.equal(toHex64(xxh64('')), 'ef46db3751d8e999');
  assert.equal(toHex64(xxh64('a')), 'd24ec4f1a98c6e5b');
  assert.equal(toHex64(xxh64('abc')), '44bc2cf5ad770999');
  assert.equal(toHex64(xxh64('abcdefghijklmnopqrstuvwxyz')), 'cfe1f278fa89835c');
  // 32 bytes exactly: one stripe, no tail
  assert.equal(toHex64(xxh64('12345678901234567890123456789012')), '40fd1aa52d98274c');
  // 43 bytes: a stripe, an 8-byte lane and single bytes
  assert.equal(toHex64(xxh64('The quick brown fox jumps over the lazy dog')), '0b242d361fda71bc');
  // 39 bytes: a stripe, no 8-byte lane, a 4-byte word and 3 single bytes
  assert.equal(toHex64(xxh64('Nobody inspects the spammish repetition')), 'fbcea83c8a378bf1');
  // 256 bytes 0..255: several stripes
  assert.equal(toHex64(xxh64(Uint8Array.from({ length: 256 }, (_, i) => i))), '1facbe8406cd904b');
});

test('xxh64 honours the seed', () => {
  assert.equal(toHex64(xxh64('', 1n)), 'd5afba1336a3be4b');
  assert.equal(toHex64(xxh64('', 0x9e3779b1n)), 'ac75fda2929b17ef');
  assert.equal(toHex64(xxh64('Nobody inspects the spammish repetition', 123n)), 'a8ba45551f24b7ae');
});

test('xxh64 agrees with Envoy HashUtil::xxHash64', () => {
  assert.equal(xxh64('foo'), 3728699739546630719n);
  assert.equal(xxh64('bar'), 5234164152756840025n);
  assert.equal(xxh64('foo\nbar'), 8917841378505826757n);
  assert.equal(xxh64('lyft'), 4400747396090729504n);
  assert.equal(xxh64(''), 17241709254077376921n);
  // a list of strings is hashed by chaining seeds, not as the concatenation
  assert.equal(xxh64List(['foo', 'bar']), 17745830980996999794n);
  assert.notEqual(xxh64('foobar'), 17745830980996999794n);
  assert.equal(xxh64List(['foo']), xxh64('foo'));
});

test('xxh64 hashes a string as its UTF-8 bytes and reads subarrays correctly', () => {
  assert.equal(xxh64('é'), xxh64(Uint8Array.of(0xc3, 0xa9)));
  const big = Buffer.from('xxThe quick brown fox jumps over the lazy dogyy');
  assert.equal(toHex64(xxh64(big.subarray(2, big.length - 2))), '0b242d361fda71bc');
});

test('murmur2_64 agrees with Envoy MurmurHash::murmurHash2 (libstdc++ std::hash)', () => {
  assert.equal(murmur2_64('foo'), 9631199822919835226n);
  assert.equal(murmur2_64('bar'), 11474628671133349555n);
  assert.equal(murmur2_64('foo\nbar'), 16306510975912980159n);
  assert.equal(murmur2_64('lyft'), 12847078931730529320n);
  assert.equal(murmur2_64(''), 6142509188972423790n);
  // 8-byte blocks plus a tail
  assert.notEqual(murmur2_64('0123456789'), murmur2_64('0123456788'));
});

test('toHex64 pads to 16 digits', () => {
  assert.equal(toHex64(0xabcn), '0000000000000abc');
});
