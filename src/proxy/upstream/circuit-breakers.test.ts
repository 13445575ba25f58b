import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap } from '../http/headers.js';
import { StatsStore } from '../observability/stats.js';
import { CircuitBreakers, RequestSlot } from './circuit-breakers.js';
import { Cluster } from './cluster.js';
import { Host } from './host.js';
import type { UpstreamCallbacks, UpstreamResetReason } from './pool.js';

function breakers(config: any) {
  const store = new StatsStore();
  const cb = new CircuitBreakers(config, store.scope('cluster.c.'));
  const g = (n: string) => store.gauge(`cluster.c.${n}`).value;
  const c = (n: string) => store.counter(`cluster.c.${n}`).value;
  return { cb, g, c, store };
}

test('defaults per priority: 1024 connections, pending and requests, 3 retries; first entry of a priority wins', () => {
  const { cb } = breakers({ thresholds: [{ priority: 'HIGH', max_requests: 7 }, { priority: 'HIGH', max_requests: 9 }] });
  assert.deepEqual(cb.default.thresholds, { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 });
  assert.equal(cb.high.requests.max(), 7);
  assert.equal(cb.forPriority(undefined), cb.default);
  assert.equal(breakers(undefined).cb.high.connections.max(), 1024);
});

test('open gauges read 1 at the limit; remaining_* only with track_remaining', () => {
  const { cb, g, store } = breakers({ thresholds: [{ max_pending_requests: 2, track_remaining: true }] });
  const r = cb.default.pendingRequests;
  assert.equal(g('circuit_breakers.default.remaining_pending'), 2);
  r.inc();
  assert.equal(g('circuit_breakers.default.rq_pending_open'), 0);
  assert.equal(g('circuit_breakers.default.remaining_pending'), 1);
  r.inc();
  assert.equal(r.canCreate(), false);
  assert.equal(g('circuit_breakers.default.rq_pending_open'), 1);
  assert.equal(g('circuit_breakers.default.remaining_pending'), 0);
  r.dec();
  assert.equal(g('circuit_breakers.default.rq_pending_open'), 0);
  assert.ok(!store.gauges().some((x) => x.name === 'cluster.c.circuit_breakers.high.remaining_pending'), 'HIGH has no track_remaining');
});

test('max_retries: tryRetry claims, overflow is counted, releaseRetry frees', () => {
  const { cb, c, g } = breakers({ thresholds: [{ max_retries: 1 }] });
  assert.equal(cb.tryRetry('DEFAULT'), true);
  assert.equal(g('circuit_breakers.default.rq_retry_open'), 1);
  assert.equal(cb.tryRetry('DEFAULT'), false);
  assert.equal(c('upstream_rq_retry_overflow'), 1);
  cb.releaseRetry('DEFAULT');
  assert.equal(cb.tryRetry('DEFAULT'), true);
  assert.equal(cb.tryRetry('HIGH'), true, 'HIGH has its own default of 3');
});

test('retry budget: budget_percent of active + pending requests, at least min_retry_concurrency', () => {
  const { cb } = breakers({ thresholds: [{ max_retries: 100, retry_budget: {} }] });
  const d = cb.default;
  assert.equal(d.retries.max(), 3, 'defaults: 20%, min 3');
  for (let i = 0; i < 30; i++) d.requests.inc();
  for (let i = 0; i < 10; i++) d.pendingRequests.inc();
  assert.equal(d.retries.max(), 8); // 20% of 40
  const b = breakers({ thresholds: [{ retry_budget: { budget_percent: { value: 50 }, min_retry_concurrency: 1 } }] }).cb.default;
  assert.equal(b.retries.max(), 1);
  b.requests.inc();
  b.requests.inc();
  b.requests.inc();
  assert.equal(b.retries.max(), 1); // floor(1.5)
});

test('RequestSlot: pending then active, released once whatever the path', () => {
  const { cb, c, g } = breakers({ thresholds: [{ max_pending_requests: 1, max_requests: 1 }] });
  const a = new RequestSlot(cb.default);
  const b = new RequestSlot(cb.default);
  assert.equal(a.tryPending(), true);
  assert.equal(b.tryPending(), false);
  assert.equal(c('upstream_rq_pending_overflow'), 1);
  assert.equal(g('upstream_rq_pending_active'), 1);
  assert.equal(a.tryActivate(), true);
  assert.equal(g('upstream_rq_pending_active'), 0);
  assert.equal(b.tryPending(), true);
  assert.equal(b.tryActivate(), false, 'max_requests reached');
  assert.equal(c('upstream_rq_pending_overflow'), 2);
  assert.equal(cb.default.pendingRequests.count, 0);
  a.release();
  a.release();
  assert.equal(cb.default.requests.count, 0);
  assert.equal(c('upstream_rq_pending_total'), 2);
});

// ---- the HTTP/1 pool's pending queue, against a real upstream

interface Result {
  status?: number;
  reset?: UpstreamResetReason;
  body: string;
}

function request(pool: ReturnType<Cluster['pool']>, path: string): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { body: '' };
    const cb: UpstreamCallbacks = {
      onHeaders: (h, end) => {
        r.status = Number(h.get(':status'));
        if (end) resolve(r);
      },
      onData: (d, end) => {
        r.body += d.toString();
        if (end) resolve(r);
      },
      onTrailers: () => resolve(r),
      onReset: (reason) => {
        r.reset = reason;
        resolve(r);
      },
    };
    const s = pool.newStream(cb, { method: 'GET', upgrade: false });
    s.sendHeaders(new HeaderMap([':method', 'GET', ':path', path, ':authority', 'x', ':scheme', 'http']), true);
  });
}

async function withUpstream(fn: (port: number, seen: { conns: number; inFlight: number; maxInFlight: number }) => Promise<void>) {
  const seen = { conns: 0, inFlight: 0, maxInFlight: 0 };
  const server = http.createServer((req, res) => {
    seen.inFlight++;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    setTimeout(() => {
      seen.inFlight--;
      res.end(req.url);
    }, 30);
  });
  server.on('connection', () => seen.conns++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function cluster(cb: any): { cluster: Cluster; store: StatsStore } {
  const store = new StatsStore();
  const lb = () => ({ update() {}, chooseHost: () => null });
  return { cluster: new Cluster({ name: 'c', circuit_breakers: cb }, lb as any, store, 'clusters[0]'), store };
}

test('HTTP/1 pool at max_connections queues requests and serves them in order on freed connections', async () => {
  await withUpstream(async (port, seen) => {
    const { cluster: c, store } = cluster({ thresholds: [{ max_connections: 1, max_pending_requests: 10 }] });
    const pool = c.pool(new Host('127.0.0.1', port));
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => request(pool, `/${i}`)));
    assert.deepEqual(results.map((r) => r.body), ['/0', '/1', '/2', '/3', '/4']);
    assert.equal(seen.conns, 1);
    assert.equal(seen.maxInFlight, 1);
    assert.equal(store.counter('cluster.c.upstream_cx_overflow').value, 4);
    assert.equal(store.counter('cluster.c.upstream_rq_pending_overflow').value, 0);
    assert.equal(store.gauge('cluster.c.upstream_rq_pending_active').value, 0);
    assert.equal(c.breakers.default.requests.count, 0);
    c.destroy();
  });
});

test('HTTP/1 pool: max_pending_requests overflow fails at once with overflow', async () => {
  await withUpstream(async (port) => {
    const { cluster: c, store } = cluster({ thresholds: [{ max_connections: 1, max_pending_requests: 2 }] });
    const pool = c.pool(new Host('127.0.0.1', port));
    const all = Array.from({ length: 6 }, (_, i) => request(pool, `/${i}`));
    const results = await Promise.all(all);
    // the first takes the one connection (and is active), two wait, the rest are over max_pending_requests
    assert.deepEqual(results.map((r) => r.reset ?? r.status), [200, 200, 200, 'overflow', 'overflow', 'overflow']);
    assert.equal(store.counter('cluster.c.upstream_rq_pending_overflow').value, 3);
    c.destroy();
  });
});

test('HTTP/1 pool: max_requests overflow', async () => {
  await withUpstream(async (port) => {
    const { cluster: c, store } = cluster({ thresholds: [{ max_requests: 2 }] });
    const pool = c.pool(new Host('127.0.0.1', port));
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => request(pool, `/${i}`)));
    assert.deepEqual(results.map((r) => r.reset ?? r.status), [200, 200, 'overflow', 'overflow']);
    assert.equal(store.counter('cluster.c.upstream_rq_pending_overflow').value, 2);
    assert.equal(c.breakers.default.requests.count, 0);
    assert.equal(c.breakers.default.connections.count, 2);
    c.destroy();
  });
});

test('HTTP/1 pool: a waiting request that is reset leaves the queue and frees its pending slot', async () => {
  await withUpstream(async (port) => {
    const { cluster: c } = cluster({ thresholds: [{ max_connections: 1, max_pending_requests: 1 }] });
    const pool = c.pool(new Host('127.0.0.1', port));
    const first = request(pool, '/a');
    let called = false;
    const waiting = pool.newStream({ onHeaders: () => (called = true), onData: () => {}, onTrailers: () => {}, onReset: () => (called = true) }, { method: 'GET', upgrade: false });
    waiting.sendHeaders(new HeaderMap([':method', 'GET', ':path', '/b', ':authority', 'x', ':scheme', 'http']), true);
    assert.equal(c.breakers.default.pendingRequests.count, 1);
    waiting.reset();
    assert.equal(c.breakers.default.pendingRequests.count, 0);
    const third = request(pool, '/c');
    assert.deepEqual([(await first).body, (await third).body], ['/a', '/c']);
    assert.equal(called, false);
    c.destroy();
  });
});
