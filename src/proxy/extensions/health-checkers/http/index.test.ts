import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { Host } from '../../../upstream/host.js';
import { httpHealthChecker } from './index.js';

const transport = { connectTimeoutMs: 1000, idleTimeoutMs: 60_000, perConnectionBufferLimit: 1 << 20, h2MaxConcurrentStreams: 100, onConnectFail: () => {} } as any;
const ctx = (reuseConnection: boolean) => ({ clusterName: 'svc', transport, reuseConnection, path: 'hc' });

test('HTTP/1: expected, retriable and other statuses; one kept-alive connection with reuse_connection', async () => {
  const statuses = [200, 204, 429, 503];
  let i = 0;
  const conns = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    conns.add(req.socket);
    assert.equal(req.method, 'GET');
    assert.equal(req.headers['user-agent'], undefined, 'removed by request_headers_to_remove');
    res.writeHead(statuses[i++]!).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const newSession = httpHealthChecker.compile(
    { path: '/h', method: 'GET', expected_statuses: [{ start: 200, end: 205 }], retriable_statuses: [{ start: 429, end: 430 }], request_headers_to_remove: ['user-agent'] },
    ctx(true),
  );
  const s = newSession(new Host('127.0.0.1', port));
  assert.deepEqual(await s.check(), { ok: true });
  assert.deepEqual(await s.check(), { ok: true });
  assert.deepEqual(await s.check(), { ok: false, network: false, retriable: true, reason: 'status 429' });
  assert.deepEqual(await s.check(), { ok: false, network: false, retriable: false, reason: 'status 503' });
  assert.equal(conns.size, 1);
  s.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test('HTTP/2 codec: status judged on a kept session; a closed port is a network failure', async () => {
  let streams = 0;
  const sessions = new Set<unknown>();
  const server = http2.createServer();
  server.on('stream', (st, h) => {
    streams++;
    sessions.add(st.session);
    st.respond({ ':status': h[':path'] === '/ok' ? 200 : 500 });
    st.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const ok = httpHealthChecker.compile({ path: '/ok', codec_client_type: 'HTTP2', host: 'example' }, ctx(true))(new Host('127.0.0.1', port));
  assert.deepEqual(await ok.check(), { ok: true });
  assert.deepEqual(await ok.check(), { ok: true });
  assert.equal(sessions.size, 1);
  const bad = httpHealthChecker.compile({ path: '/bad', codec_client_type: 'HTTP2' }, ctx(false))(new Host('127.0.0.1', port));
  assert.equal((await bad.check()).ok, false);
  assert.equal(streams, 3);
  ok.close();
  bad.close();
  await new Promise<void>((r) => server.close(() => r()));
  const gone = httpHealthChecker.compile({ path: '/ok' }, ctx(true))(new Host('127.0.0.1', port));
  const r = await gone.check();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.network, true);
  gone.close();
});
