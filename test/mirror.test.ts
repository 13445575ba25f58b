// Request mirroring through a real proxy process and chaos upstreams: the copy reaches the shadow cluster with
// the "-shadow" host (body included), runtime_fraction samples, and a shadow that refuses, resets, fails or
// hangs never changes the primary response. Routes come from examples/resilience/mirror.yaml.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { startChaosUpstream } from './helpers/chaos-upstream.js';
import { listenerPort, startProxy, stat, tmpDir, waitFor } from './helpers/proxy.js';
import { cluster, example, listener, request } from './helpers/router-resilience.js';

const [primary, shadow, audit] = await Promise.all(['primary', 'shadow', 'audit'].map((n) => startChaosUpstream(n)));
const logFile = path.join(tmpDir(), 'access.log');
const proxy = await startProxy({
  static_resources: {
    listeners: [listener('main', [example('mirror')], logFile)],
    clusters: [cluster('backend', [primary!.port]), cluster('backend-shadow', [shadow!.port]), cluster('audit', [audit!.port])],
  },
});
after(async () => {
  await proxy.stop();
  await Promise.all([primary, shadow, audit].map((u) => u!.close()));
});
const port = await listenerPort(proxy, 'main');
const reset = () => {
  for (const u of [primary!, shadow!, audit!]) {
    u.requests.length = 0;
    u.behavior = {};
  }
};

test('the mirror gets a copy of the request, body included, with the -shadow host', async () => {
  reset();
  const body = JSON.stringify({ order: 42, items: 'z'.repeat(5000) });
  const res = await request(port, { path: '/orders', method: 'POST', host: 'api.local:8080', body, headers: { 'x-request-id': 'm1', 'content-type': 'application/json' } });
  assert.equal(res.status, 200);
  assert.equal(JSON.parse(res.body).server, 'primary');
  const copy = await waitFor(() => shadow!.requests[0], 'the shadow copy');
  assert.equal(copy.headers.host, 'api.local-shadow:8080');
  assert.equal(copy.method, 'POST');
  assert.equal(copy.path, '/orders');
  assert.equal(copy.body, body);
  assert.equal(copy.headers['x-request-id'], 'm1');
  assert.equal(primary!.requests[0]!.headers.host, 'api.local:8080');
  // a host without a port gets the suffix at the end
  await request(port, { path: '/plain-host', host: 'orders' });
  await waitFor(() => shadow!.requests.find((r) => r.path === '/plain-host')?.headers.host === 'orders-shadow', 'suffixed host');
  await waitFor(async () => (await stat(proxy, 'cluster.backend-shadow.upstream_rq_2xx')) === 2, 'shadow stats');
});

test('a failing or hanging shadow leaves the primary untouched', async () => {
  for (const [what, apply] of [
    ['5xx', () => (shadow!.behavior = { status: 500 })],
    ['reset', () => (shadow!.behavior = { reset: true })],
    ['hang', () => (shadow!.behavior = { hang: true })],
    ['slow', () => (shadow!.behavior = { delay: 1500 })],
  ] as const) {
    reset();
    apply();
    for (let i = 0; i < 3; i++) {
      const res = await request(port, { path: `/${what}/${i}`, method: 'POST', body: 'payload', timeoutMs: 5000 });
      assert.equal(res.status, 200, `${what}: ${res.body}`);
      assert.equal(JSON.parse(res.body).server, 'primary');
    }
    await waitFor(() => shadow!.requests.length === 3, `${what}: three shadow copies`);
  }
  // the hanging copies are reset when they outlive the route's 2 s timeout
  await waitFor(async () => ((await stat(proxy, 'cluster.backend-shadow.upstream_rq_timeout')) ?? 0) >= 3, 'shadow timeouts', 8000);
  assert.ok((await stat(proxy, 'cluster.backend-shadow.upstream_rq_5xx'))! >= 6);
});

test('a refused shadow leaves the primary untouched', async () => {
  reset();
  await shadow!.refuse();
  try {
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 5; i++) {
      const res = await request(port, { path: `/refused/${i}`, agent });
      assert.equal(res.status, 200);
    }
    agent.destroy();
    await waitFor(async () => ((await stat(proxy, 'cluster.backend-shadow.upstream_cx_connect_fail')) ?? 0) >= 5, 'shadow connect failures');
    assert.equal(primary!.requests.length, 5);
  } finally {
    await shadow!.accept();
  }
});

test('runtime_fraction samples the mirror; disable_shadow_host_suffix_append keeps the host', async () => {
  reset();
  const n = 200;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  await Promise.all(Array.from({ length: n }, (_, i) => request(port, { path: `/sampled/${i}`, host: 'api.local', agent })));
  agent.destroy();
  await waitFor(() => shadow!.requests.length === n, 'every request at the 100% mirror');
  // 25% of 200: 50 expected, standard deviation about 6
  await new Promise((r) => setTimeout(r, 200));
  const sampled = audit!.requests.length;
  assert.ok(sampled >= 25 && sampled <= 80, `${sampled} of ${n} sampled`);
  for (const r of audit!.requests) assert.equal(r.headers.host, 'api.local');
  assert.equal(primary!.requests.length, n);
});
