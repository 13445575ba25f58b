import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { StatsStore } from '../../../observability/stats.js';
import { networkLocalRateLimit } from './index.js';

const create = (cfg: object, stats = new StatsStore()) =>
  networkLocalRateLimit.create({ stat_prefix: 'l4', token_bucket: { max_tokens: 2, fill_interval: 60_000 }, ...cfg }, { stats, path: 'f', clusterManager: undefined as never, perConnectionBufferLimit: 0 });

/** Run `n` real accepted connections through the filter; report which ones it passed on. */
async function through(filter: ReturnType<typeof create>, n: number): Promise<{ passed: number; destroyed: number }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    clients.push(c);
  }
  const deadline = Date.now() + 5000;
  while (accepted.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  let passed = 0;
  for (const s of accepted) filter.onConnection({ socket: s } as never, () => passed++);
  const destroyed = accepted.filter((s) => s.destroyed).length;
  for (const c of clients) c.destroy();
  for (const s of accepted) s.destroy();
  await new Promise((r) => server.close(r));
  return { passed, destroyed };
}

test('connections beyond the bucket are closed and counted; the rest go on', async () => {
  const stats = new StatsStore();
  const r = await through(create({}, stats), 4);
  assert.deepEqual(r, { passed: 2, destroyed: 2 });
  assert.equal(stats.counter('local_ratelimit.l4.rate_limited').value, 2);
});

test('runtime_enabled default_value false turns the filter off', async () => {
  assert.deepEqual(await through(create({ runtime_enabled: { default_value: false } }), 3), { passed: 3, destroyed: 0 });
});

test('config errors carry the field path', () => {
  assert.throws(() => create({ token_bucket: { max_tokens: 1, fill_interval: 10 } }), /f\.token_bucket\.fill_interval/);
  assert.throws(() => create({ stat_prefix: '' }), /f\.stat_prefix/);
});
