// HTTP/1.1 semantics through a real proxy process: connection reuse on both sides, large streamed bodies in
// both directions, 100-continue, pipelining, HTTP/1.0, HEAD/204/304 framing, header limits and timeouts, an
// upstream that closes idle keep-alive connections, and request body flow control (memory stays bounded).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { listenerPort, stat, startProxy, tmpDir, waitFor, type RunningProxy } from './helpers/proxy.js';
import { curl, httpBootstrap, httpListener, rawExchange, request, startUpstream, staticCluster, statusLines, type Upstream } from './helpers/http-semantics.js';

let proxy: RunningProxy;
let up: Upstream;
let closer: Upstream;
const ports: Record<string, number> = {};

// A deterministic body pattern: 64 KiB of pseudo-random bytes, repeated.
const BLOCK = createHash('sha512').update('meshwork').digest().toString('hex').repeat(512).slice(0, 65536);
const BLOCK_BUF = Buffer.from(BLOCK);

function patternSha(total: number): string {
  const h = createHash('sha256');
  for (let sent = 0; sent < total; sent += BLOCK_BUF.length) h.update(BLOCK_BUF.subarray(0, Math.min(BLOCK_BUF.length, total - sent)));
  return h.digest('hex');
}

/** Read `r` to its end 1 MiB at a time with a 20 ms pause after each (far slower than a sender on loopback),
 * hashing what arrives. */
function slowRead(r: NodeJS.ReadableStream): Promise<{ length: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let n = 0;
    let sinceBreak = 0;
    r.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
      sinceBreak += d.length;
      if (sinceBreak >= 1 << 20) {
        sinceBreak = 0;
        r.pause();
        setTimeout(() => r.resume(), 20);
      }
    });
    r.on('end', () => resolve({ length: n, sha: h.digest('hex') }));
    r.on('error', reject);
  });
}

/** Run `fn` while sampling the proxy's resident memory every 50 ms; how far the peak rose above the start. */
async function peakRssGrowth(fn: () => Promise<void>): Promise<number> {
  const pid = proxy.child.pid!;
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  const baseline = rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 50);
  try {
    await fn();
  } finally {
    clearInterval(sampler);
  }
  return peak - baseline;
}

/** Write `total` pattern bytes to `w`, honouring backpressure. */
async function writePattern(w: NodeJS.WritableStream, total: number): Promise<void> {
  for (let sent = 0; sent < total; sent += BLOCK_BUF.length) {
    const piece = BLOCK_BUF.subarray(0, Math.min(BLOCK_BUF.length, total - sent));
    if (!w.write(piece)) await new Promise((r) => w.once('drain', r));
  }
}

before(async () => {
  up = await startUpstream('up', (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const [, kind, arg] = url.pathname.split('/');
    if (kind === 'delay') {
      req.resume();
      setTimeout(() => res.end(`delayed ${arg}`), Number(arg));
    } else if (kind === 'download') {
      // chunked (no content-length), streamed with backpressure
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void writePattern(res, Number(arg)).then(() => res.end());
    } else if (kind === 'status') {
      req.resume();
      res.writeHead(Number(arg), { etag: '"v1"' });
      res.end();
    } else if (kind === 'hang') {
      req.resume();
    } else if (kind === 'slowread') {
      // a request the proxy resets has nobody to answer
      slowRead(req).then((got) => res.end(JSON.stringify(got)), () => {});
    } else if (req.method === 'HEAD') {
      req.resume();
      res.writeHead(200, { 'content-length': '1234', 'x-head': 'yes' });
      res.end();
    } else return false;
  });
  // closes its side of every connection 100 ms after each response, without announcing it (no Connection: close)
  closer = await startUpstream('closer', (req, res) => {
    res.on('finish', () => setTimeout(() => req.socket.end(), 100));
    return false;
  });

  const routes = {
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { prefix: '/closer/' }, route: { cluster: 'closer' } },
          { match: { path: '/direct' }, direct_response: { status: 200, body: { inline_string: 'direct body' } } },
          { match: { prefix: '/' }, route: { cluster: 'up', timeout: '60s' } },
        ],
      },
    ],
  };
  proxy = await startProxy(
    httpBootstrap({
      listeners: [
        httpListener('main', { route_config: routes }),
        httpListener('h10', { route_config: routes, http_protocol_options: { accept_http_10: true, default_host_for_http_10: 'legacy.example' } }),
        httpListener('short', {
          route_config: routes,
          request_headers_timeout: '0.3s',
          max_request_headers_kb: 8,
          stream_idle_timeout: '0.5s',
          common_http_protocol_options: { idle_timeout: '0.5s' },
        }),
      ],
      clusters: [staticCluster('up', up.port), staticCluster('closer', closer.port)],
    }),
  );
  for (const name of ['main', 'h10', 'short']) ports[name] = await listenerPort(proxy, name);
});

after(async () => {
  await proxy?.stop();
  await Promise.all([up?.close(), closer?.close()]);
});

async function assertAlive(): Promise<void> {
  assert.equal(proxy.child.exitCode, null, 'the proxy is still running');
  assert.equal((await proxy.admin('/ready')).status, 200);
  assert.equal((await request(ports.main!, { path: '/alive' })).status, 200);
}

test('keep-alive: sequential requests share one downstream and one upstream connection', async () => {
  const before = (await stat(proxy, 'http.main.downstream_cx_total')) ?? 0;
  const upBefore = up.connections();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 30; i++) {
      const r = await request(ports.main!, { path: `/ka/${i}`, agent });
      assert.equal(r.status, 200);
    }
  } finally {
    agent.destroy();
  }
  assert.equal((await stat(proxy, 'http.main.downstream_cx_total'))! - before, 1);
  assert.equal(up.connections() - upBefore, 1, 'the upstream connection was reused');
  const seen = up.requests.filter((r) => r.url.startsWith('/ka/'));
  assert.equal(seen.length, 30);
  assert.equal(new Set(seen.map((r) => r.conn)).size, 1);
});

test('large chunked request body streams through intact', async () => {
  const total = 8 * 1024 * 1024 + 123;
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ports.main, method: 'POST', path: '/upload', agent: false }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode!, body }));
    });
    req.on('error', reject);
    // no content-length: node sends transfer-encoding: chunked
    void writePattern(req, total).then(() => req.end());
  });
  assert.equal(res.status, 200);
  const j = JSON.parse(res.body);
  assert.equal(j.bodyLength, total);
  assert.equal(j.bodySha256, patternSha(total));
  assert.deepEqual(j.headers['transfer-encoding'], ['chunked']);
});

test('large chunked response body streams through intact', async () => {
  const total = 6 * 1024 * 1024 + 7;
  const { status, sha, length, te } = await new Promise<{ status: number; sha: string; length: number; te: string | undefined }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: ports.main, path: `/download/${total}`, agent: false }, (r) => {
        const h = createHash('sha256');
        let n = 0;
        r.on('data', (d: Buffer) => {
          n += d.length;
          h.update(d);
        });
        r.on('end', () => resolve({ status: r.statusCode!, sha: h.digest('hex'), length: n, te: r.headers['transfer-encoding'] }));
      })
      .on('error', reject);
  });
  assert.equal(status, 200);
  assert.equal(te, 'chunked');
  assert.equal(length, total);
  assert.equal(sha, patternSha(total));
});

test('Expect: 100-continue (curl): the proxy answers 100 and the body arrives', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'body.bin');
  fs.writeFileSync(file, Buffer.alloc(300_000, 'z'));
  const r = await curl(['-v', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, `http://127.0.0.1:${ports.main}/continue`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /HTTP\/1\.1 100 Continue/);
  const j = JSON.parse(r.stdout);
  assert.equal(j.bodyLength, 300_000);
  assert.equal(j.bodySha256, createHash('sha256').update(Buffer.alloc(300_000, 'z')).digest('hex'));
  // the proxy consumed the expectation; the upstream is not asked again
  assert.equal(j.headers.expect, undefined);
});

test('pipelined requests on one socket are answered in order', async () => {
  const reqs = ['/delay/300', '/delay/0', '/delay/100', '/delay/0'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
  reqs.push('GET /delay/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const { text, closed } = await rawExchange(ports.main!, reqs.join(''));
  assert.ok(closed, 'Connection: close on the last request closes the connection');
  assert.deepEqual(statusLines(text), [200, 200, 200, 200, 200]);
  const bodies = [...text.matchAll(/delayed (\d+)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ['300', '0', '100', '0', '1']);
});

test('HTTP/1.0 is refused with 426 unless accept_http_10', async () => {
  const refused = await rawExchange(ports.main!, 'GET /old HTTP/1.0\r\nHost: x\r\n\r\n');
  assert.deepEqual(statusLines(refused.text), [426]);
  assert.ok(refused.closed);
  // HTTP/1.0 keep-alive is honoured
  const ka = await rawExchange(ports.h10!, 'GET /old-ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /old-ka2 HTTP/1.0\r\n\r\n');
  assert.deepEqual(statusLines(ka.text), [200, 200]);
  assert.match(ka.text, /^connection: keep-alive\r$/im);
  const ok = await rawExchange(ports.h10!, 'GET /old HTTP/1.0\r\n\r\n');
  assert.match(ok.text, /^HTTP\/1\.[01] 200 /);
  assert.ok(ok.closed, 'HTTP/1.0 without keep-alive closes after the response');
  const j = JSON.parse(ok.text.slice(ok.text.indexOf('\r\n\r\n') + 4));
  // default_host_for_http_10 stands in for the missing Host
  assert.deepEqual(j.headers.host, ['legacy.example']);
  await assertAlive();
});

test('HEAD, 204 and 304 responses carry no body (the next pipelined response parses)', async () => {
  const reqs = [
    'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /status/304 HTTP/1.1\r\nHost: x\r\n\r\n',
    'HEAD /direct HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /delay/0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ];
  const { text } = await rawExchange(ports.main!, reqs.join(''));
  assert.deepEqual(statusLines(text), [200, 204, 304, 200, 200]);
  const parts = text.split(/(?=^HTTP\/1\.1 )/m);
  assert.equal(parts.length, 5, text);
  const [head, noContent, notModified, headDirect, last] = parts as [string, string, string, string, string];
  assert.match(head, /^content-length: 1234\r$/im);
  assert.ok(head.endsWith('\r\n\r\n'), 'HEAD: headers only');
  // a local reply to HEAD describes its body without sending it
  assert.match(headDirect, /^content-length: 11\r$/im);
  assert.ok(headDirect.endsWith('\r\n\r\n'), headDirect);
  for (const p of [noContent, notModified]) {
    assert.ok(p.endsWith('\r\n\r\n'), p);
    assert.doesNotMatch(p, /^transfer-encoding:/im);
  }
  assert.doesNotMatch(noContent, /^content-length:/im);
  assert.match(last, /delayed 0$/);
});

test('oversized headers → 431 and a closed connection, never a crash', async () => {
  const big = await rawExchange(ports.main!, `GET /big HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(61 * 1024)}\r\n\r\n`);
  assert.deepEqual(statusLines(big.text), [431]);
  assert.ok(big.closed);
  // just under the default 60 KiB passes
  const under = await request(ports.main!, { path: '/under', headers: { 'x-big': 'a'.repeat(50 * 1024) } });
  assert.equal(under.status, 200);
  assert.equal(under.json().headers['x-big'][0].length, 50 * 1024);
  // many small header lines add up the same way
  const many = Array.from({ length: 70 }, (_, i) => `x-h${i}: ${'b'.repeat(1000)}\r\n`).join('');
  const sum = await rawExchange(ports.main!, `GET /sum HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
  assert.deepEqual(statusLines(sum.text), [431]);
  assert.ok(sum.closed);
  await assertAlive();
});

test('max_request_headers_kb lowers the limit', async () => {
  const over = await rawExchange(ports.short!, `GET /kb HTTP/1.1\r\nHost: x\r\nx-big: ${'a'.repeat(9 * 1024)}\r\n\r\n`);
  assert.deepEqual(statusLines(over.text), [431]);
  assert.ok(over.closed);
  const under = await request(ports.short!, { path: '/kb', headers: { 'x-big': 'a'.repeat(6 * 1024) } });
  assert.equal(under.status, 200);
});

test('more than 100 headers → 431; exactly 100 pass', async () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `x-n${i}: v\r\n`).join('');
  const over = await rawExchange(ports.main!, `GET /count HTTP/1.1\r\nHost: x\r\n${lines(100)}\r\n`);
  assert.deepEqual(statusLines(over.text), [431]);
  assert.ok(over.closed);
  const atLimit = await rawExchange(ports.main!, `GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${lines(98)}\r\n`);
  assert.deepEqual(statusLines(atLimit.text), [200]);
  await assertAlive();
});

test('request_headers_timeout → 408 and close when the headers never finish', async () => {
  const before = (await stat(proxy, 'http.short.downstream_rq_header_timeout')) ?? 0;
  const r = await rawExchange(ports.short!, 'GET /partial HTTP/1.1\r\nHost: x\r\nx-still-typing: ', 5000);
  assert.ok(r.closed, 'the proxy closed the connection');
  assert.deepEqual(statusLines(r.text), [408]);
  assert.equal((await stat(proxy, 'http.short.downstream_rq_header_timeout'))! - before, 1);
});

test('stream_idle_timeout: 504 when the upstream goes quiet, 408 when the client does', async () => {
  const hang = await request(ports.short!, { path: '/hang/1' });
  assert.equal(hang.status, 504);
  assert.equal(hang.text, 'stream timeout');
  // the client promised 100 bytes and sent 10
  const r = await rawExchange(ports.short!, 'POST /partial-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', 5000);
  assert.deepEqual(statusLines(r.text), [408]);
  assert.match(r.text, /stream timeout$/);
  assert.ok((await stat(proxy, 'http.short.downstream_rq_idle_timeout'))! >= 2);
});

test('idle_timeout closes a downstream connection with no request in flight', async () => {
  const before = (await stat(proxy, 'http.short.downstream_cx_idle_timeout')) ?? 0;
  const sock = net.connect(ports.short!, '127.0.0.1');
  let got = '';
  sock.on('data', (d) => (got += d));
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('error', () => {});
  sock.write('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => statusLines(got).length === 1, 'the response');
  await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('connection not closed by idle_timeout')), 5000))]);
  assert.equal((await stat(proxy, 'http.short.downstream_cx_idle_timeout'))! - before, 1);
});

test('idle_timeout counts from the end of the last request: a connection busy past the timeout stays open, then closes once idle', async () => {
  const before = (await stat(proxy, 'http.short.downstream_cx_idle_timeout')) ?? 0;
  const sock = net.connect(ports.short!, '127.0.0.1');
  let got = '';
  sock.on('data', (d) => (got += d));
  let closedAt = 0;
  const closed = new Promise<void>((r) => sock.on('close', () => r(void (closedAt = performance.now()))));
  sock.on('error', () => {});
  // idle_timeout is 0.5 s: requests 0.3 s apart for 1.5 s keep the connection open throughout
  for (let i = 1; i <= 5; i++) {
    sock.write('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => statusLines(got).length === i, `response ${i}`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(closedAt, 0, `closed after request ${i} although it came within the idle timeout`);
  }
  const idleFrom = performance.now() - 300;
  await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('connection not closed by idle_timeout')), 5000))]);
  assert.ok(closedAt - idleFrom >= 450, `closed ${Math.round(closedAt - idleFrom)} ms after going idle, before the 0.5 s timeout`);
  assert.equal((await stat(proxy, 'http.short.downstream_cx_idle_timeout'))! - before, 1);
});

test('an upstream closing idle keep-alive connections does not fail the next request', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < 4; i++) {
      const r = await request(ports.main!, { path: `/closer/${i}`, agent });
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      assert.equal(r.json().upstream, 'closer');
      // long enough for the upstream to close the connection and the FIN to reach the proxy
      await new Promise((res) => setTimeout(res, 300));
    }
  } finally {
    agent.destroy();
  }
  // every request found its previous connection closed
  assert.equal(closer.connections(), 4);
});

test('request body flow control: a slow upstream reader does not make the proxy buffer the body', async () => {
  const total = 200 * 1024 * 1024;
  const growth = await peakRssGrowth(async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: ports.main, method: 'POST', path: '/slowread', agent: false, headers: { 'content-length': total } },
        (r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error('upload timed out')));
      void writePattern(req, total).then(() => req.end());
    });
    assert.equal(res.status, 200, res.body);
    const j = JSON.parse(res.body);
    assert.equal(j.length, total);
    assert.equal(j.sha, patternSha(total));
  });
  assert.ok(growth < 100 * 1024 * 1024, `proxy RSS grew by ${(growth / 1048576).toFixed(1)} MiB while streaming 200 MiB`);
});

test('response body flow control: a slow downstream reader does not make the proxy buffer the response', async () => {
  const total = 200 * 1024 * 1024;
  const growth = await peakRssGrowth(async () => {
    const { length, sha } = await new Promise<{ length: number; sha: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: ports.main, path: `/download/${total}`, agent: false }, (r) => slowRead(r).then(resolve, reject));
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error('download timed out')));
    });
    assert.equal(length, total);
    assert.equal(sha, patternSha(total));
  });
  assert.ok(growth < 100 * 1024 * 1024, `proxy RSS grew by ${(growth / 1048576).toFixed(1)} MiB while streaming 200 MiB`);
});
