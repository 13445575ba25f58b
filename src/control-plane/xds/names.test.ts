import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_NAMES, NamedPicks, internNames } from './names.js';

test('internNames: one shared, sorted, unchangeable set per distinct subscription, whatever the order', () => {
  const a = internNames(['b', 'a', 'c']);
  assert.deepEqual(a.list, ['a', 'b', 'c']);
  assert.equal(internNames(['c', 'b', 'a', 'a']), a);
  assert.notEqual(internNames(['a', 'b']), a);
  assert.equal(internNames([]), NO_NAMES);
  // Names with the key's separator in them are not mistaken for others.
  assert.notEqual(internNames(['a\nb']), internNames(['a', 'b']));
  assert.deepEqual(internNames(['a\nb']).list, ['a\nb']);
  assert.throws(() => a.add('d'), TypeError);
  assert.throws(() => a.delete('a'), TypeError);
  assert.throws(() => a.clear(), TypeError);
  assert.deepEqual([...a], ['a', 'b', 'c']);
});

test('NameSet.equals: same names in any order and with repeats; not a subset, superset or other names', () => {
  const s = internNames(['x', 'y', 'z']);
  assert.ok(s.equals(['x', 'y', 'z']));
  assert.ok(s.equals(['z', 'x', 'y']));
  assert.ok(s.equals(['z', 'x', 'y', 'x']));
  assert.ok(!s.equals(['x', 'y']));
  assert.ok(!s.equals(['x', 'y', 'z', 'w']));
  assert.ok(!s.equals(['x', 'y', 'y']));
  assert.ok(!s.equals(['x', 'y', 'w']));
  assert.ok(NO_NAMES.equals([]));
  assert.ok(!NO_NAMES.equals(['x']));
});

test('frozen lists (as the codec hands out for a repeated subscription) are remembered, and still compared right', () => {
  const list = Object.freeze(['q', 'p']);
  const s = internNames(list);
  assert.equal(internNames(list), s);
  assert.equal(internNames(['p', 'q']), s);
  assert.ok(s.equals(list));
  assert.ok(s.equals(list), 'again, from memory');
  const other = Object.freeze(['p', 'r']);
  assert.ok(!s.equals(other));
  assert.ok(!s.equals(other));
});

test('changed(): the set with names added and removed, the same shared set for the same change', () => {
  const s = internNames(['a', 'b', 'c']);
  const t = s.changed(['d'], ['a']);
  assert.deepEqual(t.list, ['b', 'c', 'd']);
  assert.equal(s.changed(['d'], ['a']), t);
  assert.equal(t, internNames(['d', 'c', 'b']));
  assert.equal(s.changed([], []), s);
  assert.equal(s.changed(['x'], ['x']).list.includes('x'), false);
  assert.deepEqual([...s], ['a', 'b', 'c'], 'unchanged');
});

test('NamedPicks: one Map per set and names (by the names object, else by content), dropped with the set', () => {
  const picks = new NamedPicks<number>();
  const all = new Map([['a', 1], ['b', 2], ['c', 3]]);
  const names = internNames(['c', 'a', 'zz']);
  const first = picks.pick(all, names);
  assert.deepEqual([...first], [['a', 1], ['c', 3]]);
  assert.equal(picks.pick(all, names), first, 'same names object');
  assert.equal(picks.pick(all, new Set(['zz', 'a', 'c'])), first, 'same names, another object');
  const replaced = new Map(all);
  assert.notEqual(picks.pick(replaced, names), first, 'a new set gets picks of its own');
  assert.deepEqual([...picks.pick(all, new Set(['b']))], [['b', 2]]);
});
