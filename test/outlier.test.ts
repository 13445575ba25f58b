// Outlier detection through a real `meshwork proxy`: hosts answering consecutive 5xx (or refusing connections)
// leave the balancer and come back after base_ejection_time, max_ejection_percent bounds how many may be out,
// and /clusters and the outlier_detection.* stats show it. The main cluster uses the documented example
// (examples/resilience/outlier-detection.yaml, shown in docs/resilience.md).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { startChaosUpstream, type ChaosUpstream } from './helpers/chaos-upstream.js';
import { httpBootstrap, request } from './helpers/http-semantics.js';
import { freePort, listenerPort, ROOT, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

const EXAMPLE = path.join(ROOT, 'examples/resilience/outlier-detection.yaml');
let proxy: RunningProxy;
let port: number;
let A: ChaosUpstream, B: ChaosUpstream, C: ChaosUpstream;
let deadPort: number;

function cluster(name: string, ports: number[], extra: object): object {
  return {
    name,
    connect_timeout: '1s',
    type: 'STATIC',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] },
    ...extra,
  };
}

const route = (prefix: string, c: string) => ({ match: { prefix }, route: { cluster: c } });

before(async () => {
  [A, B, C] = await Promise.all([startChaosUpstream('A'), startChaosUpstream('B'), startChaosUpstream('C')]);
  deadPort = await freePort(); // nothing listens there: every connection is refused
  const example = parse(fs.readFileSync(EXAMPLE, 'utf8'));
  const ports = [A.port, B.port, C.port];
  proxy = await startProxy(
    httpBootstrap({
      hcm: { route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [route('/od', 'od'), route('/pct', 'pct'), route('/def', 'def'), route('/lo', 'lo')] }] } },
      clusters: [
        cluster('od', ports, example),
        cluster('pct', ports, { outlier_detection: { max_ejection_percent: 50, base_ejection_time: '60s' } }),
        cluster('def', ports, { outlier_detection: {} }),
        cluster('lo', [A.port, deadPort], { outlier_detection: { consecutive_5xx: 3, max_ejection_percent: 50, base_ejection_time: '60s' } }),
      ],
    }),
  );
  port = await listenerPort(proxy, 'main');
});

after(async () => {
  await proxy?.stop();
  await Promise.all([A, B, C].map((u) => u?.close()));
});

async function healthFlags(clusterName: string, p: number): Promise<string> {
  const text = await (await proxy.admin('/clusters')).text();
  const m = new RegExp(`^${clusterName}::127\\.0\\.0\\.1:${p}::health_flags::(.*)$`, 'm').exec(text);
  assert.ok(m, `no health_flags line for ${clusterName} ${p} in:\n${text}`);
  return m[1]!;
}

test('the documented example is what docs/resilience.md shows', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/resilience.md'), 'utf8');
  const body = fs.readFileSync(EXAMPLE, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n').trim();
  assert.ok(doc.includes(body), 'docs/resilience.md must include examples/resilience/outlier-detection.yaml');
});

test('a host answering 5 consecutive 503s is ejected, gets no traffic, and returns after base_ejection_time', async () => {
  B.behavior = { status: 503 };
  let ejectedSentAt = 0;
  for (let i = 0; i < 40 && B.requests.length < 5; i++) {
    const sentAt = Date.now();
    const r = await request(port, { path: '/od' });
    assert.equal(r.status, r.headers['x-upstream'] === 'B' ? 503 : 200);
    ejectedSentAt = sentAt;
  }
  assert.equal(B.requests.length, 5);
  assert.equal(await healthFlags('od', B.port), '/failed_outlier_check');
  assert.equal(await stat(proxy, 'cluster.od.outlier_detection.ejections_active'), 1);
  assert.equal(await stat(proxy, 'cluster.od.outlier_detection.ejections_enforced_consecutive_5xx'), 1);
  assert.equal(await stat(proxy, 'cluster.od.outlier_detection.ejections_enforced_total'), 1);
  assert.equal(await stat(proxy, 'cluster.od.outlier_detection.ejections_detected_consecutive_5xx'), 1);
  assert.equal(await stat(proxy, 'cluster.od.membership_healthy'), 2);

  // while it is out, traffic goes to the two others only
  for (let i = 0; i < 10; i++) assert.equal((await request(port, { path: '/od' })).status, 200);
  assert.equal(B.requests.length, 5, 'the ejected host received traffic');

  B.behavior = {};
  await waitFor(async () => (await healthFlags('od', B.port)) === 'healthy', 'B to return', 15_000);
  assert.ok(Date.now() - ejectedSentAt >= 2000, `B came back ${Date.now() - ejectedSentAt} ms after the ejecting request, before base_ejection_time (2 s)`);
  assert.equal(await stat(proxy, 'cluster.od.outlier_detection.ejections_active'), 0);
  for (let i = 0; i < 6; i++) assert.equal((await request(port, { path: '/od' })).status, 200);
  assert.ok(B.requests.length >= 6, 'the returned host gets traffic again');
});

test('max_ejection_percent: with 3 failing hosts and 50%, only one is ejected; with the default 10%, none', async () => {
  const failing = { 'x-chaos': 'status=500' }; // 500: a 5xx that is not a gateway error, so only the 5xx detector runs
  for (let i = 0; i < 30; i++) assert.equal((await request(port, { path: '/pct', headers: failing })).status, 500);
  assert.equal(await stat(proxy, 'cluster.pct.outlier_detection.ejections_active'), 1);
  assert.ok((await stat(proxy, 'cluster.pct.outlier_detection.ejections_overflow'))! >= 2, 'the other hosts reached the threshold but overflowed');
  const flags = await Promise.all([A, B, C].map((u) => healthFlags('pct', u.port)));
  assert.equal(flags.filter((f) => f === '/failed_outlier_check').length, 1, flags.join(' '));

  // Envoy's rule is 100·(ejected+1)/hosts ≤ max_ejection_percent: one host of three is already 33% > 10%
  for (let i = 0; i < 15; i++) assert.equal((await request(port, { path: '/def', headers: failing })).status, 500);
  assert.equal(await stat(proxy, 'cluster.def.outlier_detection.ejections_active'), 0);
  assert.equal(await stat(proxy, 'cluster.def.outlier_detection.ejections_overflow'), 3);
  assert.equal(await stat(proxy, 'cluster.def.outlier_detection.ejections_detected_consecutive_5xx'), 3);
});

test('connection failures count as 5xx (local origin, not split): a refusing host is ejected', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await request(port, { path: '/lo' })).status);
  // round robin: the dead host fails 3 times (503 UF) and is then out; everything after goes to A
  assert.equal(statuses.filter((s) => s === 503).length, 3, statuses.join(','));
  assert.deepEqual(statuses.slice(-6), [200, 200, 200, 200, 200, 200]);
  assert.equal(await healthFlags('lo', deadPort), '/failed_outlier_check');
  assert.equal(await healthFlags('lo', A.port), 'healthy');
});

test('bad outlier_detection values are rejected at load time with the field path', async () => {
  for (const [od, pathRe] of [
    [{ max_ejection_percent: 101 }, /outlier_detection\.max_ejection_percent/],
    [{ base_ejection_time: '10s', max_ejection_time: '5s' }, /outlier_detection\.max_ejection_time.*cannot be smaller than base_ejection_time/],
    [{ interval: '-1s' }, /outlier_detection\.interval/],
  ] as const) {
    const p = await startProxy(httpBootstrap({ hcm: { route_config: { virtual_hosts: [] } }, clusters: [cluster('bad', [A.port], { outlier_detection: od })] }), { waitReady: false });
    const code = await Promise.race([p.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
    if (code === 'running') await p.stop('SIGKILL');
    assert.notEqual(code, 'running', `proxy accepted ${JSON.stringify(od)}`);
    assert.notEqual(code, 0);
    assert.match(p.stderr(), pathRe);
  }
});
