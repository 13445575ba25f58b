// Fault injection (envoy.filters.http.fault) through a real `meshwork proxy` process and the chaos upstream:
// the seed 002 delay (exact config, then a short copy scoped to one route), aborts with HTTP and gRPC
// statuses, header-controlled faults, the abort percentage over many requests, max_active_faults, the
// response bandwidth limit, and bad configs refused at load. Time is only checked as a lower bound.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startChaosUpstream, type ChaosUpstream } from './helpers/chaos-upstream.js';
import { accessLines, loggedListener as listener, request, ROUTER, staticCluster } from './helpers/http-semantics.js';
import { listenerPort, ROOT, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';
import { example } from './helpers/router-resilience.js';

const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const fault = (cfg: object) => ({ 'envoy.filters.http.fault': { '@type': FAULT_TYPE, ...cfg } });
const pct = (numerator: number) => ({ numerator, denominator: 'HUNDRED' });

let up: ChaosUpstream;
let proxy: RunningProxy;
const ports: Record<string, number> = {};

before(async () => {
  up = await startChaosUpstream('backend');
  // 'seed': seed 002 exactly as the example file has it (7 s on the only route)
  const seed = example('fault-seed-002');
  // 'routes': the same shape with a 400 ms delay on /slow only, plus abort routes
  const routes = example('fault-seed-002');
  const delayed = routes.route_config.virtual_hosts[0].routes[0];
  delayed.match = { prefix: '/slow' };
  delayed.typed_per_filter_config['envoy.filters.http.fault'].delay.fixed_delay = '0.4s';
  routes.route_config.virtual_hosts[0].routes = [
    delayed,
    { match: { prefix: '/abort' }, route: { cluster: 'ratings-v2' }, typed_per_filter_config: fault({ abort: { http_status: 503, percentage: pct(100) } }) },
    { match: { prefix: '/half' }, route: { cluster: 'ratings-v2' }, typed_per_filter_config: fault({ abort: { http_status: 503, percentage: pct(50) } }) },
    { match: { prefix: '/grpc' }, route: { cluster: 'ratings-v2' }, typed_per_filter_config: fault({ abort: { grpc_status: 8, percentage: pct(100) } }) },
    { match: { prefix: '/' }, route: { cluster: 'ratings-v2' } },
  ];
  // 'hdr': the client-driven fault filter from the examples, with room for only two faults at once
  const hdrFilter = example('fault-filter');
  hdrFilter.typed_config.max_active_faults = 2;
  proxy = await startProxy({
    static_resources: {
      listeners: [
        listener('seed', seed),
        listener('routes', routes),
        listener('hdr', {
          http_filters: [hdrFilter, ROUTER],
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'ratings-v2' } }] }] },
        }),
      ],
      clusters: [staticCluster('ratings-v2', up.port)],
    },
  });
  for (const l of ['seed', 'routes', 'hdr']) ports[l] = await listenerPort(proxy, l);
});

after(async () => {
  await proxy?.stop();
  await up?.close();
});

const logLine = (listenerName: string, pathname: string) =>
  waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`${listenerName} ${pathname} `)), `access log line for ${pathname}`);
const received = (pathname: string) => up.requests.filter((r) => r.path === pathname).length;

test('seed 002: the exact 7 s / 100 % delay config loads and holds the request back', async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const pending = fetch(`http://127.0.0.1:${ports.seed}/ratings`, { signal: ac.signal }).then(
    () => performance.now() - t0,
    () => undefined,
  );
  await waitFor(async () => (await stat(proxy, 'http.seed.fault.delays_injected')) === 1, 'delays_injected');
  assert.equal(await stat(proxy, 'http.seed.fault.active_faults'), 1);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(received('/ratings'), 0, 'the upstream must not see a delayed request early');
  ac.abort();
  const elapsed = await pending;
  assert.equal(elapsed, undefined, 'the response must not arrive before the 7 s delay');
  // the aborted stream releases its active fault
  await waitFor(async () => (await stat(proxy, 'http.seed.fault.active_faults')) === 0, 'active_faults back to 0');
});

test('a route-scoped delay delays exactly that route (DI), and a body streamed meanwhile arrives whole and in order', async () => {
  const t0 = performance.now();
  const slow = await request(ports.routes!, { path: '/slow/a' });
  const slowMs = performance.now() - t0;
  assert.equal(slow.status, 200);
  assert.ok(slowMs >= 395, `the delayed route answered after ${slowMs} ms, before its 400 ms delay`);
  assert.match(await logLine('routes', '/slow/a'), / 200 DI$/);

  const fast = await request(ports.routes!, { path: '/other' });
  assert.equal(fast.status, 200);
  assert.match(await logLine('routes', '/other'), / 200 -$/);
  assert.equal(await stat(proxy, 'http.routes.fault.delays_injected'), 1);

  // stream a request body while the headers are held by the delay
  const chunks = Array.from({ length: 8 }, (_, i) => `chunk-${i}-${'x'.repeat(1000 + i)};`);
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ports.routes, method: 'POST', path: '/slow/body', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
    });
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === chunks.length) return req.end();
      req.write(chunks[i++]);
      setTimeout(next, 60);
    };
    next();
  });
  assert.equal(body, '200');
  const seen = up.requests.find((r) => r.path === '/slow/body');
  assert.ok(seen, 'the upstream got the delayed POST');
  assert.equal(seen.body, chunks.join(''));
});

test('abort 503 at 100 %: fault filter abort with FI, never reaching the upstream', async () => {
  const r = await request(ports.routes!, { path: '/abort/x' });
  assert.equal(r.status, 503);
  assert.equal(r.text, 'fault filter abort');
  assert.match(await logLine('routes', '/abort/x'), / 503 FI$/);
  assert.equal(received('/abort/x'), 0);
  assert.equal(await stat(proxy, 'http.routes.fault.aborts_injected'), 1);
});

test('abort at 50 % aborts about half of 400 requests', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let aborted = 0;
  const before = received('/half');
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < 400) {
        next++;
        const r = await request(ports.routes!, { path: '/half', agent });
        if (r.status === 503) aborted++;
        else assert.equal(r.status, 200);
      }
    }),
  );
  agent.destroy();
  // binomial(400, 0.5): standard deviation 10; ±60 fails once in ~10^9 runs, yet catches 0 %, 100 % or a 25/75 split
  assert.ok(aborted >= 140 && aborted <= 260, `${aborted} of 400 aborted`);
  assert.equal(received('/half') - before, 400 - aborted, 'every request not aborted reached the upstream');
});

test('a gRPC abort answers a gRPC request with that grpc-status (trailers-only) and a plain request with HTTP 200', async () => {
  const client = http2.connect(`http://127.0.0.1:${ports.routes}`);
  try {
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const s = client.request({ ':method': 'POST', ':path': '/grpc/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
      s.on('response', (h) => resolve(h));
      s.on('error', reject);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
      s.resume();
    });
    assert.equal(headers[':status'], 200);
    assert.equal(headers['grpc-status'], '8');
  } finally {
    client.close();
  }
  const plain = await request(ports.routes!, { path: '/grpc/plain' });
  assert.equal(plain.status, 200);
  assert.equal(plain.text, 'fault filter abort');
  assert.equal(received('/grpc/plain'), 0);
});

test('header-controlled faults: abort status, gRPC status, delay, and a percentage header that can only lower the share', async () => {
  const p = ports.hdr!;
  const a = await request(p, { path: '/h1', headers: { 'x-envoy-fault-abort-request': '418' } });
  assert.equal(a.status, 418);
  assert.equal(received('/h1'), 0);
  const g = await request(p, { method: 'POST', path: '/hg', headers: { 'content-type': 'application/grpc', 'x-envoy-fault-abort-grpc-request': '14' }, body: Buffer.alloc(5) });
  assert.equal(g.status, 200);
  assert.equal(g.headers['grpc-status'], '14');
  assert.equal(received('/hg'), 0);
  // an out-of-range status is no abort
  const bad = await request(p, { path: '/h2', headers: { 'x-envoy-fault-abort-request': '99' } });
  assert.equal(bad.status, 200);
  const none = await request(p, { path: '/h3', headers: { 'x-envoy-fault-abort-request': '500', 'x-envoy-fault-abort-request-percentage': '0' } });
  assert.equal(none.status, 200);
  const t0 = performance.now();
  const d = await request(p, { path: '/h4', headers: { 'x-envoy-fault-delay-request': '300' } });
  assert.equal(d.status, 200);
  assert.ok(performance.now() - t0 >= 295, 'delayed by the header');
  assert.match(await logLine('hdr', '/h4'), / 200 DI$/);
  const plain = await request(p, { path: '/h5' });
  assert.equal(plain.status, 200);
  assert.match(await logLine('hdr', '/h5'), / 200 -$/);
});

test('max_active_faults: a third concurrent fault overflows and passes untouched', async () => {
  const p = ports.hdr!;
  const delay = { 'x-envoy-fault-delay-request': '1500' };
  const first = [request(p, { path: '/m1', headers: delay }), request(p, { path: '/m2', headers: delay })];
  await waitFor(async () => (await stat(proxy, 'http.hdr.fault.active_faults')) === 2, 'two active faults');
  const third = await request(p, { path: '/m3', headers: delay });
  assert.equal(third.status, 200);
  assert.match(await logLine('hdr', '/m3'), / 200 -$/);
  assert.equal(await stat(proxy, 'http.hdr.fault.faults_overflow'), 1);
  assert.equal(received('/m1') + received('/m2'), 0, 'the first two are still delayed');
  for (const r of await Promise.all(first)) assert.equal(r.status, 200);
  await waitFor(async () => (await stat(proxy, 'http.hdr.fault.active_faults')) === 0, 'faults released');
});

test('response_rate_limit from x-envoy-fault-throughput-response paces a 64 KiB body, intact', async () => {
  const body = 'abcdefghijklmnop'.repeat(4096);
  up.behavior = (req) => (req.path === '/big' ? { body } : {});
  const t0 = performance.now();
  const r = await request(ports.hdr!, { path: '/big', headers: { 'x-envoy-fault-throughput-response': '64' } });
  const ms = performance.now() - t0;
  up.behavior = {};
  assert.equal(r.status, 200);
  assert.equal(r.text, body);
  // 64 KiB at 64 KiB/s, the first 1/16 s slice sent at once: at least ~0.94 s
  assert.ok(ms >= 850, `64 KiB at 64 KiB/s took only ${ms} ms`);
  assert.equal(await stat(proxy, 'http.hdr.fault.response_rl_injected'), 1);
});

test('bad fault configs are refused at load with the field path', async () => {
  const bad = async (cfg: object, expect: RegExp) => {
    const b = {
      static_resources: {
        listeners: [listener('bad', { http_filters: [{ name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT_TYPE, ...cfg } }, ROUTER], route_config: { virtual_hosts: [] } })],
        clusters: [],
      },
    };
    await assert.rejects(startProxy(b), expect);
  };
  await bad({ abort: { http_status: 503, percentage: { numerator: 150, denominator: 'HUNDRED' } } }, /abort\.percentage\.numerator.*over 100/s);
  await bad({ delay: { fixed_delay: '-1s', percentage: pct(10) } }, /delay\.fixed_delay/);
  await bad({ response_rate_limit: { fixed_limit: { limit_kbps: 0 } } }, /limit_kbps/);
});

test('docs/resilience.md shows these examples verbatim', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/resilience.md'), 'utf8');
  for (const f of ['fault-seed-002.yaml', 'fault-filter.yaml']) assert.ok(doc.includes(fs.readFileSync(path.join(ROOT, 'examples/resilience', f), 'utf8').trimEnd()), `docs/resilience.md lacks examples/resilience/${f}`);
});
