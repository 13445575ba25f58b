import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { inspectClientHello, inspectHttp, MAX_CLIENT_HELLO, MAX_HTTP_INSPECT } from './tls-inspector.js';

/** The first bytes a real client sends, read from a raw TCP socket before anything answers. */
async function captureFirstBytes(connect: (port: number) => { destroy(): void }, enough: (b: Buffer) => boolean): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no bytes within 3s')), 3000);
      let client: { destroy(): void } | undefined;
      server.once('connection', (s) => {
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (!enough(buf)) return;
          clearTimeout(timer);
          s.destroy();
          client?.destroy();
          resolve(buf);
        });
      });
      client = connect(port);
    });
  } finally {
    server.close();
  }
}

function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  return captureFirstBytes(
    (port) => {
      const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
      c.on('error', () => {});
      return c;
    },
    (b) => b.length >= 5 && b.length >= 5 + b.readUInt16BE(3),
  );
}

test('reads SNI (lowercased) and ALPN from a real ClientHello', async () => {
  const hello = await captureClientHello({ servername: 'API.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(inspectClientHello(hello), { result: 'tls', sni: 'api.example.com', alpn: ['h2', 'http/1.1'] });
});

test('a ClientHello without SNI or ALPN is still TLS', async () => {
  const hello = await captureClientHello({});
  assert.deepEqual(inspectClientHello(hello), { result: 'tls', alpn: [] });
});

test('asks for more bytes until the ClientHello is complete, whatever the split', async () => {
  const hello = await captureClientHello({ servername: 'split.example.com', ALPNProtocols: ['h2'] });
  for (const cut of [1, 2, 5, 6, 9, 40, hello.length - 1]) {
    assert.deepEqual(inspectClientHello(hello.subarray(0, cut)), { result: 'need-more' }, `cut at ${cut}`);
  }
  // bytes read one at a time, as a slow peer would deliver them
  let answer = inspectClientHello(hello.subarray(0, 0));
  for (let n = 1; n <= hello.length && answer.result === 'need-more'; n++) answer = inspectClientHello(hello.subarray(0, n));
  assert.deepEqual(answer, { result: 'tls', sni: 'split.example.com', alpn: ['h2'] });
  // bytes after the ClientHello (a pipelined record) do not matter
  assert.equal(inspectClientHello(Buffer.concat([hello, Buffer.from([0x17, 3, 3, 0, 1, 0])])).result, 'tls');
});

test('a ClientHello fragmented over several TLS records is reassembled', async () => {
  const hello = await captureClientHello({ servername: 'frag.example.com', ALPNProtocols: ['http/1.1'] });
  const handshake = hello.subarray(5);
  const record = (frag: Buffer) => Buffer.concat([Buffer.from([0x16, 3, 1, frag.length >> 8, frag.length & 0xff]), frag]);
  const refragmented = Buffer.concat([record(handshake.subarray(0, 3)), record(handshake.subarray(3, 100)), record(handshake.subarray(100))]);
  assert.deepEqual(inspectClientHello(refragmented.subarray(0, 8 + 3)), { result: 'need-more' });
  assert.deepEqual(inspectClientHello(refragmented), { result: 'tls', sni: 'frag.example.com', alpn: ['http/1.1'] });
});

test('plaintext and malformed starts are not TLS', () => {
  assert.deepEqual(inspectClientHello(Buffer.from('G')), { result: 'not-tls' });
  assert.deepEqual(inspectClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { result: 'not-tls' });
  assert.deepEqual(inspectClientHello(Buffer.from([0x16, 0x02])), { result: 'not-tls' }, 'record version 2.x');
  assert.deepEqual(inspectClientHello(Buffer.from([0x16, 3, 1, 0, 0])), { result: 'not-tls' }, 'empty record');
  assert.deepEqual(inspectClientHello(Buffer.from([0x16, 3, 1, 0, 4, 0x02, 0, 0, 0])), { result: 'not-tls' }, 'ServerHello, not ClientHello');
  const garbage = Buffer.from([0x16, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0]);
  assert.deepEqual(inspectClientHello(garbage), { result: 'not-tls' }, 'body too short');
});

test('gives up on a ClientHello larger than the limit', () => {
  const huge = Buffer.from([0x16, 3, 1, 0x40, 0, 1, 0x01, 0x00, 0x00]); // claims a 65536-byte ClientHello
  assert.deepEqual(inspectClientHello(huge), { result: 'too-large' });
  assert.equal(MAX_CLIENT_HELLO, 65536);
  // with a smaller limit: an announced length above it, and a buffer reaching it before the hello completes
  assert.deepEqual(inspectClientHello(Buffer.from([0x16, 3, 1, 0, 10, 1, 0, 0, 200]), 64), { result: 'too-large' });
  const first = Buffer.from([0x16, 3, 1, 0, 10, 1, 0, 0, 60, 3, 3, 0, 0, 0, 0]);
  const second = Buffer.concat([Buffer.from([0x16, 3, 1, 0, 100]), Buffer.alloc(50)]);
  assert.deepEqual(inspectClientHello(Buffer.concat([first, second.subarray(0, 20)]), 64), { result: 'need-more' });
  assert.deepEqual(inspectClientHello(Buffer.concat([first, second]), 64), { result: 'too-large' });
});

test('http inspector: HTTP/1.x request lines from a real client', async () => {
  const bytes = await captureFirstBytes(
    (port) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/hello?x=1', method: 'POST', headers: { 'content-length': '0' } });
      req.on('error', () => {});
      req.end();
      return req;
    },
    (b) => b.includes('\r\n\r\n'),
  );
  assert.equal(inspectHttp(bytes), 'http/1.1');
  for (const cut of [0, 1, 4, 5, 11, 20]) assert.equal(inspectHttp(bytes.subarray(0, cut)), 'need-more', `cut at ${cut}`);
  assert.equal(inspectHttp(Buffer.from('GET / HTTP/1.0\r\n')), 'http/1.0');
  assert.equal(inspectHttp(Buffer.from('GET / HTTP/1.0\n')), 'http/1.0', 'bare LF');
  assert.equal(inspectHttp(Buffer.from('OPTIONS * HTTP/1.1\r')), 'need-more');
});

test('http inspector: the HTTP/2 preface of a real h2c client', async () => {
  const bytes = await captureFirstBytes(
    (port) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      return session;
    },
    (b) => b.length >= 24,
  );
  assert.equal(inspectHttp(bytes), 'h2c');
  assert.equal(inspectHttp(bytes.subarray(0, 23)), 'need-more');
  assert.equal(inspectHttp(bytes.subarray(0, 3)), 'need-more');
});

test('http inspector: not HTTP, and too long a request line', async () => {
  const hello = await captureClientHello({ servername: 'x.test' });
  assert.equal(inspectHttp(hello), 'unknown');
  assert.equal(inspectHttp(Buffer.from('\r\n')), 'unknown');
  assert.equal(inspectHttp(Buffer.from('GET /\r\n')), 'unknown', 'HTTP/0.9 simple request');
  assert.equal(inspectHttp(Buffer.from('GET  / HTTP/1.1\r\n')), 'unknown', 'empty target');
  assert.equal(inspectHttp(Buffer.from('GET / HTTX')), 'unknown');
  assert.equal(inspectHttp(Buffer.from('GET / HTTP/1.1 \r\n')), 'unknown');
  assert.equal(inspectHttp(Buffer.from('G{T / HTTP/1.1\r\n')), 'unknown');
  const long = Buffer.from(`GET /${'a'.repeat(MAX_HTTP_INSPECT)}`);
  assert.equal(inspectHttp(long), 'too-large');
  assert.equal(inspectHttp(long.subarray(0, 100)), 'need-more');
});
