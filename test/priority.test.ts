// Load balancing under failure through a real proxy: priority failover with Envoy's overprovisioning
// formula, panic mode, locality weights, and the docs/resilience.md examples of these sections loading.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startProxy, listenerPort, stat, tmpDir, ROOT, MESHWORK } from './helpers/proxy.js';
import { httpListener } from './helpers/robustness.js';
import { startChaosUpstream, type ChaosUpstream } from './helpers/chaos-upstream.js';

const ups: ChaosUpstream[] = [];
for (const n of ['p0a', 'p0b', 'p1a', 'p1b', 'za', 'zb', 'zc']) ups.push(await startChaosUpstream(n));
const [p0a, p0b, p1a, p1b, za, zb, zc] = ups as [ChaosUpstream, ChaosUpstream, ChaosUpstream, ChaosUpstream, ChaosUpstream, ChaosUpstream, ChaosUpstream];
after(async () => {
  for (const u of ups) await u.close();
});

const ep = (u: ChaosUpstream, health_status?: string) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: u.port } } }, ...(health_status ? { health_status } : {}) });
const cluster = (name: string, endpoints: any[], extra: object = {}) => ({
  name,
  connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints, ...((extra as any).policy ? { policy: (extra as any).policy } : {}) },
  ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'policy')),
});
const route = (prefix: string, c: string) => ({ match: { prefix }, route: { cluster: c } });

const proxy = await startProxy({
  static_resources: {
    listeners: [
      httpListener('in', {
        routes: [route('/half', 'half'), route('/down', 'down'), route('/even', 'even'), route('/panic', 'panic'), route('/strict', 'strict'), route('/zones', 'zones')],
      }),
    ],
    clusters: [
      // one of two P0 hosts unhealthy: 70% stays on P0, 30% spills to P1
      cluster('half', [{ priority: 0, lb_endpoints: [ep(p0a), ep(p0b, 'UNHEALTHY')] }, { priority: 1, lb_endpoints: [ep(p1a), ep(p1b)] }]),
      // all of P0 unhealthy: P1 takes everything
      cluster('down', [{ priority: 0, lb_endpoints: [ep(p0a, 'UNHEALTHY'), ep(p0b, 'UNHEALTHY')] }, { priority: 1, lb_endpoints: [ep(p1a)] }]),
      // overprovisioning_factor 100: the same half-healthy P0 keeps only 50%
      cluster('even', [{ priority: 0, lb_endpoints: [ep(p0a), ep(p0b, 'UNHEALTHY')] }, { priority: 1, lb_endpoints: [ep(p1a)] }], { policy: { overprovisioning_factor: 100 } }),
      // 1 of 3 healthy, single level: panic spreads over all three
      cluster('panic', [{ lb_endpoints: [ep(p0a), ep(p0b, 'UNHEALTHY'), ep(p1a, 'UNHEALTHY')] }]),
      // panic disabled and nothing healthy: 503 UH
      cluster('strict', [{ lb_endpoints: [ep(p0a, 'UNHEALTHY')] }], { common_lb_config: { healthy_panic_threshold: { value: 0 } } }),
      // locality weights 1 : 3, and an unweighted locality that gets nothing
      cluster(
        'zones',
        [
          { locality: { zone: 'a' }, load_balancing_weight: 1, lb_endpoints: [ep(za)] },
          { locality: { zone: 'b' }, load_balancing_weight: 3, lb_endpoints: [ep(zb)] },
          { locality: { zone: 'c' }, lb_endpoints: [ep(zc)] },
        ],
        { common_lb_config: { locality_weighted_lb_config: {} } },
      ),
    ],
  },
});
after(() => proxy.stop());
const port = await listenerPort(proxy, 'in');

async function spread(p: string, n: number): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await fetch(`http://127.0.0.1:${port}${p}`);
    const who = r.headers.get('x-upstream') ?? `${r.status} ${r.headers.get('x-envoy-response-flags') ?? ''}`.trim();
    await r.arrayBuffer();
    by.set(who, (by.get(who) ?? 0) + 1);
  }
  return by;
}
const show = (m: Map<string, number>) => JSON.stringify(Object.fromEntries(m));

test('priority spill-over: half-healthy P0 keeps 70% (factor 1.4), 50% with factor 1.0; a dead P0 fails over', async () => {
  const n = 300;
  const half = await spread('/half', n);
  assert.equal(half.get('p0b'), undefined, show(half));
  const p0 = (half.get('p0a') ?? 0) / n;
  assert.ok(p0 > 0.6 && p0 < 0.8, `P0 share ${p0} should be ~0.70: ${show(half)}`);
  assert.ok((half.get('p1a') ?? 0) > 0 && (half.get('p1b') ?? 0) > 0, show(half));

  const even = await spread('/even', n);
  const e0 = (even.get('p0a') ?? 0) / n;
  assert.ok(e0 > 0.4 && e0 < 0.6, `P0 share ${e0} should be ~0.50: ${show(even)}`);

  const down = await spread('/down', 40);
  assert.deepEqual(Object.fromEntries(down), { p1a: 40 });
});

test('panic mode spreads over unhealthy hosts; with panic disabled nothing healthy means 503', async () => {
  const panic = await spread('/panic', 90);
  for (const n of ['p0a', 'p0b', 'p1a']) assert.ok((panic.get(n) ?? 0) > 10, `${n} in panic: ${show(panic)}`);
  const r = await fetch(`http://127.0.0.1:${port}/strict`);
  assert.equal(r.status, 503);
  assert.equal(await r.text(), 'no healthy upstream');
  assert.ok((await stat(proxy, 'cluster.strict.upstream_cx_none_healthy'))! >= 1);
});

test('locality weights are honoured; a locality without a weight gets nothing', async () => {
  const n = 400;
  const z = await spread('/zones', n);
  assert.equal(z.get('zc'), undefined, show(z));
  const a = (z.get('za') ?? 0) / n;
  assert.ok(a > 0.15 && a < 0.35, `zone a share ${a} should be ~0.25: ${show(z)}`);
  assert.equal((z.get('za') ?? 0) + (z.get('zb') ?? 0), n);
});

test('docs/resilience.md examples for health checks, priorities and localities pass `meshwork proxy --mode validate`', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/resilience.md'), 'utf8');
  const sections = ['Active health checking', 'Health check filter and `/healthcheck/fail`', 'Priorities, overprovisioning and panic mode', 'Locality-weighted balancing'];
  const dir = tmpDir();
  for (const title of sections) {
    const start = doc.indexOf(`\n## ${title}\n`);
    assert.ok(start >= 0, `section "${title}" exists`);
    const end = doc.indexOf('\n## ', start + 4);
    const body = doc.slice(start, end < 0 ? undefined : end);
    const blocks = [...body.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length > 0, `section "${title}" has an example`);
    for (const [i, yaml] of blocks.entries()) {
      const file = path.join(dir, `example-${sections.indexOf(title)}-${i}.yaml`);
      fs.writeFileSync(file, yaml);
      const r = spawnSync(process.execPath, [MESHWORK, 'proxy', '--mode', 'validate', '-c', file], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, `${title} example ${i}: ${r.stderr}`);
    }
  }
});
