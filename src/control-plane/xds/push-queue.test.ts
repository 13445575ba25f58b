import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PushQueue } from './push-queue.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('a burst of requests runs once, with every distinct reason', async () => {
  const runs: string[][] = [];
  const q = new PushQueue(async (reasons) => void runs.push(reasons), 30, 1000);
  q.request('a');
  q.request('b');
  q.request('a');
  await until(() => runs.length === 1, 'the push');
  await sleep(60);
  assert.deepEqual(runs, [['a', 'b']]);
  q.close();
});

test('a steady trickle cannot postpone a push past maxDelayMs', async () => {
  let runs = 0;
  const q = new PushQueue(async () => void runs++, 50, 100);
  // A request every 10 ms for 300 ms: with only the 50 ms quiet period nothing would run before the end.
  for (let i = 0; i < 30; i++) {
    q.request(`tick ${i}`);
    await sleep(10);
  }
  const runsDuringTrickle = runs;
  q.close();
  assert.ok(runsDuringTrickle >= 1, `pushed ${runsDuringTrickle} times during the trickle`);
});

test('pushes never overlap; requests during a push start the next one after it', async () => {
  let running = 0;
  let overlapped = false;
  const runs: string[][] = [];
  let release: () => void = () => {};
  const q = new PushQueue(
    async (reasons) => {
      overlapped ||= running > 0;
      running++;
      runs.push(reasons);
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
      running--;
    },
    0,
    1000,
  );
  q.request('first');
  await until(() => runs.length === 1, 'the first push');
  q.request('during');
  await sleep(30);
  assert.equal(runs.length, 1, 'the second push waits for the first');
  release();
  await until(() => runs.length === 2, 'the second push');
  assert.deepEqual(runs, [['first'], ['during']]);
  assert.equal(overlapped, false);
  q.close();
});

test('close() cancels a pending push', async () => {
  let runs = 0;
  const q = new PushQueue(async () => void runs++, 20, 1000);
  q.request('x');
  q.close();
  await sleep(60);
  assert.equal(runs, 0);
});
