// Circuit breakers through a real `meshwork proxy`: with the documented example
// (examples/resilience/circuit-breakers.yaml, shown in docs/resilience.md) a cluster allows one connection and
// one waiting request on DEFAULT-priority routes, so a burst against a slow upstream is answered 503 UO at once
// for everything beyond those two; HIGH-priority routes have their own max_requests. The upstream holds every
// response until the test releases it, so "at once" is checked by order, never by speed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { accessLines, httpBootstrap, request, staticCluster, stdoutAccessLog, type Reply } from './helpers/http-semantics.js';
import { listenerPort, ROOT, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

const EXAMPLE = path.join(ROOT, 'examples/resilience/circuit-breakers.yaml');
let proxy: RunningProxy;
let port: number;

/** An upstream that answers nothing until release(); counts what it received and on how many connections. */
const held: http.ServerResponse[] = [];
let received = 0;
let connections = 0;
const upstream = http.createServer((req, res) => {
  received++;
  req.resume();
  req.on('end', () => held.push(res));
});
upstream.on('connection', () => connections++);
function release(): void {
  for (const r of held.splice(0)) r.end('done');
}

before(async () => {
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const up = (upstream.address() as AddressInfo).port;
  const example = parse(fs.readFileSync(EXAMPLE, 'utf8'));
  const routes = [
    { match: { prefix: '/high' }, route: { cluster: 'cb', priority: 'HIGH', timeout: '30s' } },
    { match: { prefix: '/plain' }, route: { cluster: 'plain', timeout: '30s' } },
    { match: { prefix: '/' }, route: { cluster: 'cb', timeout: '30s' } },
  ];
  proxy = await startProxy(
    httpBootstrap({
      hcm: { route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, access_log: [stdoutAccessLog('%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%')] },
      clusters: [staticCluster('cb', up, example), staticCluster('plain', up, { circuit_breakers: { thresholds: [{ max_requests: 5 }] } })],
    }),
  );
  port = await listenerPort(proxy, 'main');
});

after(async () => {
  release();
  await proxy?.stop();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

test('the documented example is what docs/resilience.md shows', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/resilience.md'), 'utf8');
  const body = fs.readFileSync(EXAMPLE, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n').trim();
  assert.ok(doc.includes(body), 'docs/resilience.md must include examples/resilience/circuit-breakers.yaml');
});

test('max_connections 1 + max_pending_requests 1: of 20 concurrent requests to a slow upstream, 18 get 503 UO at once', async () => {
  const g = (n: string) => stat(proxy, `cluster.cb.circuit_breakers.default.${n}`);
  assert.equal(await g('remaining_pending'), 1);
  const replies: Reply[] = [];
  const all = Array.from({ length: 20 }, (_, i) => request(port, { path: `/burst/${i}`, timeoutMs: 30_000 }).then((r) => (replies.push(r), r)));
  // every overflow is answered while the upstream still holds the one request it received
  await waitFor(() => replies.length >= 18, '18 overflow replies', 20_000);
  assert.equal(received, 1, 'only one request reached the upstream');
  assert.equal(replies.length, 18, 'a request was answered although the upstream answered nothing yet');
  for (const r of replies) {
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-envoy-overloaded'], 'true');
    assert.match(r.text, /reset reason: overflow/);
  }
  assert.equal(await stat(proxy, 'cluster.cb.upstream_rq_pending_overflow'), 18);
  assert.ok((await stat(proxy, 'cluster.cb.upstream_cx_overflow'))! >= 1);
  assert.equal(await g('cx_open'), 1);
  assert.equal(await g('rq_pending_open'), 1);
  assert.equal(await g('remaining_cx'), 0);
  assert.equal(await g('remaining_pending'), 0);
  assert.equal(await g('remaining_rq'), 99);

  // the waiting request is served on the same connection once the first one is done
  release();
  await waitFor(() => received === 2 && held.length === 1, 'the waiting request to reach the upstream', 10_000);
  release();
  const final = await Promise.all(all);
  assert.equal(final.filter((r) => r.status === 200).length, 2);
  assert.equal(connections, 1, 'max_connections: 1 means one upstream connection');
  assert.equal(await g('rq_pending_open'), 0);
  assert.equal(await g('remaining_pending'), 1);
  assert.equal(await g('remaining_rq'), 100);
  const lines = await waitFor(() => {
    const l = accessLines(proxy.stdout()).filter((x) => x.startsWith('/burst/'));
    return l.length === 20 && l;
  }, '20 access log lines');
  assert.equal(lines.filter((l) => l.endsWith(' 503 UO')).length, 18, lines.join('\n'));
  assert.equal(lines.filter((l) => l.endsWith(' 200 -')).length, 2, lines.join('\n'));
});

test('max_requests: a HIGH-priority route has its own limit (2) and its own connections', async () => {
  const before = (await stat(proxy, 'cluster.cb.upstream_rq_pending_overflow'))!;
  const start = received;
  const replies: Reply[] = [];
  const all = Array.from({ length: 6 }, (_, i) => request(port, { path: `/high/${i}`, timeoutMs: 30_000 }).then((r) => (replies.push(r), r)));
  await waitFor(() => replies.length >= 4 && received - start === 2, '4 overflow replies and 2 requests upstream', 20_000);
  assert.deepEqual(replies.map((r) => r.status), [503, 503, 503, 503]);
  assert.equal(await stat(proxy, 'cluster.cb.upstream_rq_pending_overflow'), before + 4);
  assert.equal(await stat(proxy, 'cluster.cb.circuit_breakers.high.rq_open'), 1);
  assert.equal(await stat(proxy, 'cluster.cb.circuit_breakers.high.remaining_rq'), 0);
  // DEFAULT is not affected by HIGH being full
  assert.equal(await stat(proxy, 'cluster.cb.circuit_breakers.default.rq_open'), 0);
  const dflt = request(port, { path: '/default-while-high-full', timeoutMs: 30_000 });
  await waitFor(() => received - start === 3, 'the DEFAULT request to reach the upstream', 10_000);
  release();
  assert.equal((await dflt).status, 200);
  assert.deepEqual((await Promise.all(all)).map((r) => r.status).sort(), [200, 200, 503, 503, 503, 503]);
  assert.equal(await stat(proxy, 'cluster.cb.circuit_breakers.high.rq_open'), 0);
  assert.equal(await stat(proxy, 'cluster.cb.circuit_breakers.high.remaining_rq'), 2);
});

test('without track_remaining there are no remaining_* gauges; the *_open gauges are always there', async () => {
  assert.equal(await stat(proxy, 'cluster.plain.circuit_breakers.default.rq_open'), 0);
  assert.equal(await stat(proxy, 'cluster.plain.circuit_breakers.default.remaining_rq'), undefined);
  const text = await (await proxy.admin('/clusters')).text();
  assert.match(text, /^plain::default_priority::max_requests::5$/m);
  assert.match(text, /^plain::high_priority::max_requests::1024$/m);
  assert.match(text, /^cb::default_priority::max_connections::1$/m);
});

test('bad circuit breaker values are rejected at load time with the field path', async () => {
  const p = await startProxy(
    httpBootstrap({ hcm: { route_config: { virtual_hosts: [] } }, clusters: [staticCluster('bad', 1, { circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }] } })] }),
    { waitReady: false },
  );
  const code = await Promise.race([p.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
  if (code === 'running') await p.stop('SIGKILL');
  assert.notEqual(code, 'running', 'a budget_percent of 150 was accepted');
  assert.match(p.stderr(), /circuit_breakers\.thresholds\[0\]\.retry_budget\.budget_percent\.value/);
});
