import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdfScheduler } from './edf.js';

const w = (x: { w: number }) => x.w;

function run(s: EdfScheduler<{ name: string; w: number }>, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += s.pickAndAdd(w)!.name;
  return out;
}

test('EDF picks in proportion to weight and interleaves smoothly', () => {
  const a = { name: 'A', w: 2 };
  const b = { name: 'B', w: 1 };
  // A's deadlines 0.5, 1, 1.5, ...; B's 1, 2, ...; equal deadlines go to the earlier insertion.
  assert.equal(run(EdfScheduler.create([a, b], w), 9), 'ABAABAABA');
});

test('EDF with equal weights is a plain rotation in insertion order', () => {
  const items = ['A', 'B', 'C'].map((name) => ({ name, w: 5 }));
  assert.equal(run(EdfScheduler.create(items, w), 7), 'ABCABCA');
});

test('EDF re-reads the weight when an entry is re-inserted', () => {
  const a = { name: 'A', w: 1 };
  const b = { name: 'B', w: 1 };
  const s = EdfScheduler.create([a, b], w);
  a.w = 10; // takes effect once A is picked and re-inserted
  const seq = run(s, 24);
  assert.equal(seq.slice(0, 2), 'AB');
  assert.ok((seq.match(/A/g) ?? []).length >= 20, seq);
});

test('create(picks) reaches the same state as running the picks', () => {
  const mk = () => [
    { name: 'A', w: 3 },
    { name: 'B', w: 1 },
    { name: 'C', w: 7 },
    { name: 'D', w: 2 },
  ];
  for (const picks of [0, 1, 5, 13, 26, 1000, 12345]) {
    const fresh = EdfScheduler.create(mk(), w);
    run(fresh, picks);
    const seeded = EdfScheduler.create(mk(), w, picks);
    // The next picks agree as multisets over a full cycle (tie order may differ, as in Envoy).
    const count = (s: string) => [...'ABCD'].map((c) => s.split(c).length - 1).join(',');
    assert.equal(count(run(seeded, 13)), count(run(fresh, 13)), `picks=${picks}`);
    assert.equal(count(run(seeded, 13)), '3,1,7,2');
  }
});

test('empty scheduler picks nothing', () => {
  assert.equal(EdfScheduler.create<{ w: number }>([], w).pickAndAdd(w), undefined);
});
