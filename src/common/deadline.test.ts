import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadline } from './deadline.js';

// keeps the process alive while deadlines are pending (the shared timers are unref'd)
const hold = (ms: number) => sleep(ms);

test('deadlines of one duration fire in order, each about `ms` after its start', async () => {
  const fired: [string, number][] = [];
  const t0 = performance.now();
  const a = new Deadline((n: string) => fired.push([n, performance.now() - t0]), 'a');
  const b = new Deadline((n: string) => fired.push([n, performance.now() - t0]), 'b');
  a.start(60);
  await sleep(30);
  b.start(60);
  await hold(200);
  assert.deepEqual(fired.map((f) => f[0]), ['a', 'b']);
  assert.ok(fired[0]![1] >= 59, `a fired at ${fired[0]![1]}`);
  assert.ok(fired[1]![1] >= 89, `b fired at ${fired[1]![1]}`);
  assert.equal(a.armed, false);
});

test('a stopped deadline never fires, and the others still do', async () => {
  const fired: string[] = [];
  const a = new Deadline((n: string) => fired.push(n), 'a');
  const b = new Deadline((n: string) => fired.push(n), 'b');
  const c = new Deadline((n: string) => fired.push(n), 'c');
  a.start(40);
  b.start(40);
  c.start(40);
  assert.equal(a.armed, true);
  a.stop(); // the head: the timer armed for it finds nothing due and re-arms
  c.stop(); // the tail
  await hold(150);
  assert.deepEqual(fired, ['b']);
});

test('restarting moves the deadline; a deadline may be started again after firing', async () => {
  let n = 0;
  const d = new Deadline(() => n++, null);
  const t0 = performance.now();
  d.start(50);
  await sleep(30);
  d.start(50); // now due ~80 ms after t0
  await sleep(35);
  assert.equal(n, 0, `fired early at ${performance.now() - t0}`);
  await hold(100);
  assert.equal(n, 1);
  d.start(20);
  await hold(100);
  assert.equal(n, 2);
});

test('deadlines of different durations are independent', async () => {
  const fired: string[] = [];
  new Deadline((n: string) => fired.push(n), 'long').start(120);
  new Deadline((n: string) => fired.push(n), 'short').start(30);
  await hold(250);
  assert.deepEqual(fired, ['short', 'long']);
});

test('a deadline started from a firing callback does not delay the ones already waiting', async () => {
  const fired: string[] = [];
  const t0 = performance.now();
  const late = new Deadline((n: string) => fired.push(n), 'late');
  const second = new Deadline((n: string) => fired.push(`${n}@${Math.round(performance.now() - t0)}`), 'second');
  const first = new Deadline(() => {
    fired.push('first');
    late.start(80);
  }, null);
  first.start(80);
  await sleep(20);
  second.start(80); // due ~100 ms after t0, not 80 ms after 'first' fired
  await hold(250);
  assert.equal(fired[0], 'first');
  const at = Number(fired[1]!.split('@')[1]);
  assert.ok(fired[1]!.startsWith('second@') && at < 150, `second fired at ${at}`);
  assert.equal(fired[2], 'late');
});
