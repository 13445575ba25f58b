// Pipelined HTTP/1.1 beyond the connection's buffer limit: the proxy holds the waiting requests, stops reading
// once they exceed per_connection_buffer_limit_bytes, and still answers every one, in order, on one connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { listenerPort, startProxy } from './helpers/proxy.js';
import { hcmListener, routerFilter, staticCluster } from './helpers/bootstrap.js';

test('300 pipelined requests past a 4 KiB buffer limit are all answered in order', async () => {
  // a slow upstream: each answer waits 2 ms, so requests pile up in the proxy while earlier ones are served
  const upstream = http.createServer((req, res) => setTimeout(() => res.end(`#${req.url!.slice(1)}`), 2));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upPort = (upstream.address() as net.AddressInfo).port;
  const listener = hcmListener('pipe', {
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
    http_filters: [routerFilter()],
  });
  listener.per_connection_buffer_limit_bytes = 4096;
  const proxy = await startProxy({ static_resources: { listeners: [listener], clusters: [staticCluster('up', [upPort])] } });
  try {
    const port = await listenerPort(proxy, 'pipe');
    const n = 300;
    const req = (i: number) => `GET /${i} HTTP/1.1\r\nhost: pipelined.example\r\nx-padding: ${'p'.repeat(40)}\r\n\r\n`;
    // ~100 bytes each. The first 200 (~20 KB, five times the limit) arrive in one write, so the proxy pauses
    // reading; the last 100 are sent once the first answer is back, and are only read if the proxy resumes.
    let first = '';
    for (let i = 0; i < 200; i++) first += req(i);
    let second = '';
    for (let i = 200; i < n; i++) second += req(i);
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      const firstAnswer = text.length === 0;
      text += d;
      if (firstAnswer) sock.write(second);
    });
    sock.write(first);
    const bodies = await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got ${(text.match(/HTTP\/1\.1 /g) ?? []).length} responses`)), 30_000);
      sock.on('data', () => {
        const got = text.match(/#\d+/g) ?? [];
        if (got.length >= n) {
          clearTimeout(timer);
          resolve(got);
        }
      });
      sock.on('error', reject);
    });
    assert.deepEqual(bodies, Array.from({ length: n }, (_, i) => `#${i}`));
    assert.equal((text.match(/HTTP\/1\.1 200 OK/g) ?? []).length, n);
    assert.equal(sock.destroyed, false, 'the connection stays open');
    sock.destroy();
  } finally {
    await proxy.stop();
    upstream.close();
  }
});
