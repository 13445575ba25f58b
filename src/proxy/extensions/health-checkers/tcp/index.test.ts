import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import { containsInOrder, decodePayload } from './index.js';

test('receive blocks match in order, not necessarily adjacent (Envoy fuzzy match)', () => {
  const b = (s: string) => Buffer.from(s);
  assert.equal(containsInOrder(b('xxPOyyNG'), [b('PO'), b('NG')]), true);
  assert.equal(containsInOrder(b('NGxxPO'), [b('PO'), b('NG')]), false);
  assert.equal(containsInOrder(b('PONG'), []), true);
  assert.equal(containsInOrder(b('PO'), [b('PO'), b('PO')]), false);
});

test('payloads: text is hex, binary is raw; bad hex is rejected with its path', () => {
  assert.deepEqual(decodePayload({ text: '50494E47' }, 'p'), Buffer.from('PING'));
  assert.deepEqual(decodePayload({ binary: Buffer.from([1, 2]) }, 'p'), Buffer.from([1, 2]));
  assert.throws(() => decodePayload({ text: 'abc' }, 'p.send'), (e: ConfigError) => e.path === 'p.send.text');
  assert.throws(() => decodePayload({}, 'p.send'), (e: ConfigError) => e.path === 'p.send');
});
