import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DebugServer, parseHostPort, type DebugTarget } from './debug-server.js';
import { formatPrometheus, type MetricFamily } from './prometheus.js';

test('debug HTTP: /ready follows the target, config_dump answers 400/404/200, unknown paths and methods are refused', async () => {
  let ready = false;
  const target: DebugTarget = {
    ready: () => ready,
    syncz: () => [{ proxy: 'a' }],
    configDump: (id) => (id === 'a' ? { node: { id } } : undefined),
    resources: () => {
      throw new Error('source broke');
    },
    metrics: () => [{ name: 'x_total', help: 'x', type: 'counter', samples: [{ value: 3 }] }],
  };
  const server = new DebugServer(target);
  const { port } = await server.listen('127.0.0.1:0');
  const get = (p: string, init?: RequestInit) => fetch(`http://127.0.0.1:${port}${p}`, init);
  try {
    assert.equal((await get('/ready')).status, 503);
    ready = true;
    assert.equal((await get('/ready')).status, 200);
    assert.deepEqual(await (await get('/debug/syncz')).json(), [{ proxy: 'a' }]);
    assert.deepEqual(await (await get('/debug/config_dump?proxy=a')).json(), { node: { id: 'a' } });
    const missing = await get('/debug/config_dump?proxy=b');
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as any).error, /"b"/);
    assert.equal((await get('/debug/config_dump')).status, 400);
    const broken = await get('/debug/resources');
    assert.equal(broken.status, 500);
    assert.deepEqual(await broken.json(), { error: 'source broke' });
    const m = await get('/metrics');
    assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await m.text(), '# HELP x_total x\n# TYPE x_total counter\nx_total 3\n');
    assert.equal((await get('/debug/syncz', { method: 'POST' })).status, 405);
    const unknown = await get('/nope');
    assert.equal(unknown.status, 404);
    assert.ok(((await unknown.json()) as any).endpoints.includes('/debug/syncz'));
  } finally {
    await server.close();
  }
  // a second server cannot take the same port: a coded error
  const a = new DebugServer(target);
  const { port: taken } = await a.listen('127.0.0.1:0');
  await assert.rejects(new DebugServer(target).listen(`127.0.0.1:${taken}`), (e: any) => e.code === 'MW_LISTEN_FAILED' && /EADDRINUSE/.test(e.message));
  await a.close();
});

test('parseHostPort: host:port and [v6]:port; anything else is a usage error', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:15014'), { host: '127.0.0.1', port: 15014 });
  assert.deepEqual(parseHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseHostPort('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['15014', '::1:80', 'host:', 'host:99999', ':80']) assert.throws(() => parseHostPort(bad), (e: any) => e.code === 'MW_CLI_USAGE', bad);
});

test('Prometheus text: labels and help escaped, families merged by name, accepted by promtool', () => {
  const families: MetricFamily[] = [
    { name: 'meshwork_things', help: 'Things\nwith a \\ in help', type: 'gauge', samples: [{ labels: { file: 'a "b"\\c\nd' }, value: 1 }] },
    { name: 'meshwork_things', help: 'ignored', type: 'gauge', samples: [{ labels: { file: 'e' }, value: 2.5 }] },
    { name: 'meshwork_events_total', help: 'Events', type: 'counter', samples: [{ value: Infinity }] },
  ];
  const text = formatPrometheus(families);
  assert.equal(
    text,
    '# HELP meshwork_things Things\\nwith a \\\\ in help\n# TYPE meshwork_things gauge\n' +
      'meshwork_things{file="a \\"b\\"\\\\c\\nd"} 1\nmeshwork_things{file="e"} 2.5\n' +
      '# HELP meshwork_events_total Events\n# TYPE meshwork_events_total counter\nmeshwork_events_total +Inf\n',
  );
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  assert.throws(() => formatPrometheus([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }]), /invalid metric name/);
  assert.throws(() => formatPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }]), /invalid label name/);
});
