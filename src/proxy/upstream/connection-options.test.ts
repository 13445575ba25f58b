// A cluster's connection options, through its real pools against real servers: max_requests_per_connection
// (common_http_protocol_options, or the Cluster's deprecated field) drains an HTTP/1 connection or an HTTP/2
// session after that many requests, counted by upstream_cx_max_requests; upstream_connection_options.
// tcp_keepalive puts SO_KEEPALIVE with keepalive_time on the upstream sockets, which the kernel shows (`ss -o`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { HeaderMap } from '../http/headers.js';
import { StatsStore } from '../observability/stats.js';
import { Cluster } from './cluster.js';
import { compileConnectionOptions } from './connection-options.js';
import { Host } from './host.js';
import type { UpstreamCallbacks, UpstreamStream } from './pool.js';

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function makeCluster(extra: object): { cluster: Cluster; store: StatsStore } {
  const store = new StatsStore();
  const lb = () => ({ update() {}, chooseHost: () => null });
  return { cluster: new Cluster({ name: 'c', ...extra }, lb as any, store, 'clusters[0]'), store };
}

interface Result {
  status?: number;
  reset?: string;
  body: string;
  stream: UpstreamStream;
}

function request(pool: ReturnType<Cluster['pool']>, path: string): Promise<Result> {
  return new Promise((resolve) => {
    const r = { body: '' } as Result;
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
    r.stream = pool.newStream(cb, { method: 'GET', upgrade: false });
    r.stream.sendHeaders(new HeaderMap([':method', 'GET', ':path', path, ':authority', 'x', ':scheme', 'http']), true);
  });
}

/** An HTTP/1.1 server answering with the id of the connection it came on, after `delayMs`. */
async function h1Server(delayMs = 0) {
  let conns = 0;
  const server = http.createServer((req, res) => {
    const id = (req.socket as any).__id;
    setTimeout(() => res.end(`conn${id}`), delayMs);
  });
  server.on('connection', (s) => ((s as any).__id = ++conns));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    conns: () => conns,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

test('compileConnectionOptions: protocol options win over the deprecated Cluster field; nothing set, nothing to do', () => {
  assert.deepEqual(compileConnectionOptions({}), { maxRequestsPerConnection: 0 });
  assert.equal(compileConnectionOptions({ max_requests_per_connection: 3 }).maxRequestsPerConnection, 3);
  assert.equal(compileConnectionOptions({ max_requests_per_connection: 3, typed_extension_protocol_options: { [HPO]: { common_http_protocol_options: { max_requests_per_connection: 5 } } } }).maxRequestsPerConnection, 5);
  assert.deepEqual(compileConnectionOptions({ upstream_connection_options: { tcp_keepalive: {} } }).keepalive, { delayMs: 0 });
  assert.deepEqual(compileConnectionOptions({ upstream_connection_options: { tcp_keepalive: { keepalive_time: 30, keepalive_probes: 3 } } }).keepalive, { delayMs: 30_000 });
});

test('HTTP/1: max_requests_per_connection 2 closes each connection after its second response', async () => {
  const srv = await h1Server();
  try {
    const { cluster, store } = makeCluster({ typed_extension_protocol_options: { [HPO]: { '@type': `type.googleapis.com/${HPO}`, common_http_protocol_options: { max_requests_per_connection: 2 }, explicit_http_config: { http_protocol_options: {} } } } });
    const pool = cluster.pool(new Host('127.0.0.1', srv.port));
    const bodies: string[] = [];
    for (let i = 0; i < 6; i++) bodies.push((await request(pool, `/${i}`)).body);
    assert.deepEqual(bodies, ['conn1', 'conn1', 'conn2', 'conn2', 'conn3', 'conn3']);
    assert.equal(srv.conns(), 3);
    assert.equal(store.counter('cluster.c.upstream_cx_max_requests').value, 3);
    assert.equal(store.counter('cluster.c.upstream_cx_total').value, 3);
    cluster.destroy();

    // without the limit every request reuses the one keep-alive connection
    const plain = makeCluster({});
    const pool2 = plain.cluster.pool(new Host('127.0.0.1', srv.port));
    const again: string[] = [];
    for (let i = 0; i < 4; i++) again.push((await request(pool2, `/${i}`)).body);
    assert.equal(new Set(again).size, 1, again.join(' '));
    assert.equal(plain.store.counter('cluster.c.upstream_cx_max_requests').value, 0);
    plain.cluster.destroy();
  } finally {
    await srv.close();
  }
});

test('HTTP/1: the deprecated Cluster.max_requests_per_connection 1 gives every request a new connection', async () => {
  const srv = await h1Server();
  try {
    const { cluster, store } = makeCluster({ max_requests_per_connection: 1 });
    const pool = cluster.pool(new Host('127.0.0.1', srv.port));
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await request(pool, '/')).body);
    assert.deepEqual(bodies, ['conn1', 'conn2', 'conn3', 'conn4']);
    assert.equal(store.counter('cluster.c.upstream_cx_max_requests').value, 4);
    cluster.destroy();
  } finally {
    await srv.close();
  }
});

test('HTTP/2: a session that opened max_requests_per_connection streams takes no more; its streams finish, then it closes', async () => {
  let sessions = 0;
  const closed: number[] = [];
  const server = http2.createServer();
  server.on('session', (s) => {
    const id = ++sessions;
    (s as any).__id = id;
    s.on('close', () => closed.push(id));
  });
  server.on('stream', (stream, headers) => {
    const id = (stream.session as any).__id;
    // slow enough that the first two are still in flight when the third opens
    setTimeout(() => {
      stream.respond({ ':status': 200 });
      stream.end(`session${id} ${headers[':path']}`);
    }, 80);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const { cluster, store } = makeCluster({ typed_extension_protocol_options: { [HPO]: { '@type': `type.googleapis.com/${HPO}`, common_http_protocol_options: { max_requests_per_connection: 2 }, explicit_http_config: { http2_protocol_options: {} } } } });
    const pool = cluster.pool(new Host('127.0.0.1', port));
    const results = await Promise.all([request(pool, '/a'), request(pool, '/b'), request(pool, '/c')]);
    // all three complete: the draining session's streams were not cut
    assert.deepEqual(results.map((r) => r.body), ['session1 /a', 'session1 /b', 'session2 /c']);
    assert.equal(store.counter('cluster.c.upstream_cx_max_requests').value, 1);
    // the drained session closes once its streams are done; the second stays open for its next stream
    for (let i = 0; i < 50 && !closed.includes(1); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(closed, [1]);
    assert.equal((await request(pool, '/d')).body, 'session2 /d');
    assert.equal((await request(pool, '/e')).body, 'session3 /e');
    assert.equal(store.counter('cluster.c.upstream_cx_max_requests').value, 2);
    cluster.destroy();
  } finally {
    server.close();
  }
});

/** The kernel's keepalive timer of the local socket `localAddress` ("ip:port"), from `ss -o`: seconds left, or null. */
function keepaliveTimer(localAddress: string): number | null {
  const port = localAddress.slice(localAddress.lastIndexOf(':') + 1);
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', 'sport', '=', `:${port}`]).toString();
  const m = /timer:\(keepalive,(\d+)(?:min(\d+))?sec/.exec(out);
  if (!m) return null;
  return m[2] !== undefined ? Number(m[1]) * 60 + Number(m[2]) : Number(m[1]);
}

test('upstream_connection_options.tcp_keepalive: SO_KEEPALIVE with keepalive_time on HTTP/1 and HTTP/2 upstream sockets', async () => {
  const srv = await h1Server();
  const h2 = http2.createServer();
  h2.on('stream', (stream) => (stream.respond({ ':status': 200 }), stream.end('ok')));
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  try {
    const ka = { upstream_connection_options: { tcp_keepalive: { keepalive_time: 137, keepalive_probes: 3, keepalive_interval: 5 } } };
    for (const [label, extra, port] of [
      ['HTTP/1', ka, srv.port],
      ['HTTP/2', { ...ka, typed_extension_protocol_options: { [HPO]: { '@type': `type.googleapis.com/${HPO}`, explicit_http_config: { http2_protocol_options: {} } } } }, (h2.address() as AddressInfo).port],
    ] as const) {
      const { cluster } = makeCluster(extra);
      const pool = cluster.pool(new Host('127.0.0.1', port));
      // after the response the connection stays open (HTTP/1 keep-alive, the HTTP/2 session)
      const pending = request(pool, '/');
      const r = await pending;
      assert.equal(r.status, 200, label);
      const addr = r.stream.localAddress;
      assert.ok(addr, `${label}: no local address`);
      const left = keepaliveTimer(addr!);
      assert.ok(left !== null && left > 120 && left <= 137, `${label}: keepalive timer ${left}`);
      cluster.destroy();
    }
    // without it: no keepalive timer
    const { cluster } = makeCluster({});
    const r = await request(cluster.pool(new Host('127.0.0.1', srv.port)), '/');
    assert.equal(keepaliveTimer(r.stream.localAddress!), null);
    cluster.destroy();
  } finally {
    await srv.close();
    h2.close();
  }
});
