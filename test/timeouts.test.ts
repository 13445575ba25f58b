// Timeouts through a real proxy process and chaos upstreams: per-try timeout then success on the retry, the
// route timeout covering all attempts (504 UT), per_try_idle_timeout, the route idle_timeout replacing the
// connection manager's stream_idle_timeout, max_stream_duration driven by grpc-timeout, and the connection
// manager's request_timeout and request_headers_timeout. Routes come from examples/resilience/timeouts.yaml.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { startChaosUpstream, type ChaosBehavior, type ChaosUpstream, type ReceivedRequest } from './helpers/chaos-upstream.js';
import { listenerPort, startProxy, stat, tmpDir, waitFor } from './helpers/proxy.js';
import { cluster, example, listener, logLines, request } from './helpers/router-resilience.js';

const up = await startChaosUpstream('t');
const logFile = path.join(tmpDir(), 'access.log');
const vhost = example('timeouts');
vhost.routes.unshift(
  { match: { prefix: '/global' }, route: { cluster: 'backend', timeout: '1s', retry_policy: { retry_on: '5xx', num_retries: 5, per_try_timeout: '0.4s' } } },
  { match: { prefix: '/idle-try' }, route: { cluster: 'backend', timeout: '5s', retry_policy: { retry_on: 'connect-failure', per_try_idle_timeout: '0.3s' } } },
);
const proxy = await startProxy({
  static_resources: {
    listeners: [
      listener('main', [vhost], logFile),
      listener('hcm', [{
        name: 'all',
        domains: ['*'],
        routes: [
          // the route's idle_timeout replaces the connection manager's shorter one
          { match: { prefix: '/long-idle' }, route: { cluster: 'backend', timeout: '0s', idle_timeout: '1.5s' } },
          { match: { prefix: '/' }, route: { cluster: 'backend', timeout: '0s' } },
        ],
      }], logFile, {
        request_timeout: '0.5s',
        request_headers_timeout: '0.3s',
        stream_idle_timeout: '0.4s',
      }),
    ],
    clusters: [cluster('backend', [up.port])],
  },
});
after(async () => {
  await proxy.stop();
  await up.close();
});
const port = await listenerPort(proxy, 'main');
const hcmPort = await listenerPort(proxy, 'hcm');
const log = (p: string) => waitFor(() => logLines(logFile, p)[0], `access log line for ${p}`);

function behave(b: ChaosBehavior | ((r: ReceivedRequest, n: number) => ChaosBehavior)): ChaosUpstream {
  up.requests.length = 0;
  up.behavior = b;
  return up;
}

test('per_try_timeout: a slow first attempt is abandoned and the retry answers', async () => {
  behave((_r, n) => (n === 1 ? { delay: 3000 } : {}));
  const before = (await stat(proxy, 'cluster.backend.upstream_rq_per_try_timeout')) ?? 0;
  const res = await request(port, { path: '/api/slow-first' });
  assert.equal(res.status, 200, res.body);
  assert.equal(up.requests.length, 2);
  // the upstream is told the per-try budget, not the route's
  assert.equal(up.requests[0]!.headers['x-envoy-expected-rq-timeout-ms'], '300');
  assert.equal(await stat(proxy, 'cluster.backend.upstream_rq_per_try_timeout'), before + 1);
  assert.equal(await log('/api/slow-first'), '/api/slow-first 200 - 2');
});

test('per-try timeouts on every attempt: 504 UT once retries are used up', async () => {
  behave({ delay: 3000 });
  const res = await request(port, { path: '/api/always-slow' });
  assert.equal(res.status, 504);
  assert.equal(res.body, 'upstream request timeout');
  assert.equal(up.requests.length, 2);
  assert.equal(await log('/api/always-slow'), '/api/always-slow 504 UT,URX 2');
});

test('the route timeout covers all attempts: 504 UT before the retries run out', async () => {
  behave({ delay: 5000 });
  const before = (await stat(proxy, 'cluster.backend.upstream_rq_timeout')) ?? 0;
  const res = await request(port, { path: '/global/x' });
  assert.equal(res.status, 504);
  // 1 s over 0.4 s attempts: two or three of the six allowed
  assert.ok(up.requests.length >= 2 && up.requests.length <= 3, `${up.requests.length} attempts`);
  assert.equal(await stat(proxy, 'cluster.backend.upstream_rq_timeout'), before + 1);
  const line = await log('/global/x');
  assert.match(line, /^\/global\/x 504 UT [23]$/);
});

test('per_try_idle_timeout: an attempt that stays silent is abandoned (504 UT)', async () => {
  const before = (await stat(proxy, 'cluster.backend.upstream_rq_per_try_idle_timeout')) ?? 0;
  behave({ hang: true });
  const stalled = await request(port, { path: '/idle-try/hang' }).then((r) => r.status, (e: Error) => e.message);
  assert.equal(stalled, 504);
  assert.equal(await stat(proxy, 'cluster.backend.upstream_rq_per_try_idle_timeout'), before + 1);
  assert.equal(await log('/idle-try/hang'), '/idle-try/hang 504 UT 1');
});

test('route idle_timeout replaces stream_idle_timeout, shorter or longer', async () => {
  // /stream: 0.5 s instead of the connection manager's default 5 minutes
  behave({ delay: 3000 });
  const r = await request(port, { path: '/stream/slow' });
  assert.equal(r.status, 504);
  assert.equal(r.body, 'stream timeout');
  assert.match(await log('/stream/slow'), /^\/stream\/slow 504 SI/);
  behave({ delay: 100 });
  assert.equal((await request(port, { path: '/stream/ok' })).status, 200);
  // /long-idle: 1.5 s instead of the connection manager's 0.4 s
  behave({ delay: 700 });
  assert.equal((await request(hcmPort, { path: '/long-idle' })).status, 200);
});

test('max_stream_duration: grpc-timeout sets the deadline (DEADLINE_EXCEEDED, DT) and is passed on', async () => {
  behave({ delay: 3000 });
  const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
  const res = await request(port, { path: '/grpc/pkg.Svc/Call', method: 'POST', headers: { ...grpc, 'grpc-timeout': '300m' }, body: Buffer.alloc(5) });
  assert.equal(res.status, 200);
  assert.equal(res.headers['grpc-status'], '4');
  assert.equal(up.requests[0]!.headers['grpc-timeout'], '300m');
  assert.match(await log('/grpc/pkg.Svc/Call'), /^\S+ 200 DT/);
  // capped by grpc_timeout_header_max (2 s): the upstream learns the capped deadline
  behave({});
  const capped = await request(port, { path: '/grpc/pkg.Svc/Fast', method: 'POST', headers: { ...grpc, 'grpc-timeout': '30S' }, body: Buffer.alloc(5) });
  assert.equal(capped.status, 200);
  assert.equal(up.requests[0]!.headers['grpc-timeout'], '2000m');
});

function raw(portNo: number, first: string): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(portNo, '127.0.0.1', () => s.write(first));
    let data = '';
    s.on('data', (d) => (data += d));
    const t = setTimeout(() => {
      s.destroy();
      resolve({ data, closed: false });
    }, 5000);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data, closed: true });
    });
    s.on('error', () => {});
  });
}

test('request_headers_timeout: a request head that never completes gets 408 and the connection closed', async () => {
  const r = await raw(hcmPort, 'GET /headers HTTP/1.1\r\nhost: x\r\n');
  assert.ok(r.closed);
  assert.match(r.data, /^HTTP\/1\.1 408 /);
});

test('request_timeout: a request body that never completes gets 408', async () => {
  behave({});
  const r = await raw(hcmPort, 'POST /body HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc');
  assert.match(r.data, /^HTTP\/1\.1 408 /);
  assert.match(await log('/body'), /^\/body 408 /);
});

test('stream_idle_timeout: an upstream silent for longer answers 504 SI', async () => {
  behave({ delay: 2000 });
  const res = await request(hcmPort, { path: '/idle' });
  assert.equal(res.status, 504);
  assert.match(await log('/idle'), /^\/idle 504 SI/);
});
