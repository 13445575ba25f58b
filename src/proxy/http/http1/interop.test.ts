// The codec against real HTTP implementations over real sockets: Node's http client and undici (with
// pipelining) talking to a server built on RequestParser + writeResponseHead, and ResponseParser +
// writeRequestHead talking to a node:http upstream. What the unit tests cannot show: that other stacks accept
// what we write and that we accept what they write.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { HeaderMap } from '../headers.js';
import { RequestParser, type RequestHead } from './request-parser.js';
import { ResponseParser } from './response-parser.js';
import { CONTINUE_100, LAST_CHUNK, encodeChunk, encodeTrailers, writeRequestHead, writeResponseHead } from './serializer.js';

const TIMEOUT = { timeout: 5000 };

/** A server answering every request with a JSON echo of what the parser delivered. Responses are written a
 * tick later, so pipelined requests really wait in the paused parser. Paths containing "chunked" are answered
 * with a chunked body and trailers. */
function echoServer(): net.Server {
  return net.createServer((socket) => {
    let head: RequestHead | undefined;
    let body: Buffer[] = [];
    const parser = new RequestParser({
      onRequestHead: (h) => {
        head = h;
        body = [];
        if (h.expectContinue) socket.write(CONTINUE_100);
      },
      onBody: (c) => body.push(c),
      onMessageComplete: (trailers) => {
        const h = head!;
        const json = JSON.stringify({
          method: h.method,
          path: h.path,
          authority: h.authority,
          headers: h.headers.raw,
          body: Buffer.concat(body).toString(),
          trailers: trailers?.raw,
        });
        setImmediate(() => {
          const out = new HeaderMap(['content-type', 'application/json']);
          if (h.path.includes('chunked')) {
            out.add('trailer', 'x-done');
            const enc = writeResponseHead(200, out, { endStream: false, requestMethod: h.method });
            socket.write(enc.head, 'latin1');
            socket.write(encodeChunk(Buffer.from(json.slice(0, 10))));
            socket.write(encodeChunk(Buffer.from(json.slice(10))));
            socket.write(encodeTrailers(new HeaderMap(['x-done', 'yes'])), 'latin1');
          } else {
            out.add('content-length', String(Buffer.byteLength(json)));
            socket.write(writeResponseHead(200, out, { endStream: false, requestMethod: h.method }).head, 'latin1');
            socket.write(json);
          }
          if (!h.keepAlive) socket.end();
          else parser.resume();
        });
      },
      onError: (status) => socket.end(`HTTP/1.1 ${status} Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`),
    });
    socket.on('data', (d: Buffer) => parser.execute(d));
    socket.on('error', () => {});
  });
}

async function listen(server: net.Server | http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('our server side with real clients', () => {
  let server: net.Server;
  let port: number;
  before(async () => {
    server = echoServer();
    port = await listen(server);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function nodeRequest(agent: http.Agent, opts: http.RequestOptions, body?: (req: http.ClientRequest) => void) {
    return new Promise<{ status: number; json: Record<string, unknown>; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, agent, ...opts }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(data), trailers: res.trailers }));
      });
      req.on('error', reject);
      if (body) body(req);
      else req.end();
    });
  }

  test('node:http keep-alive: GET, chunked POST, sized PUT, 100-continue, chunked response with trailers', TIMEOUT, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const sockets = new Set<net.Socket>();
      agent.on('free', (s: net.Socket) => sockets.add(s));
      const get = await nodeRequest(agent, { path: '/hello?x=1', headers: { 'X-Custom': '  v  ' } });
      assert.equal(get.status, 200);
      assert.equal(get.json.method, 'GET');
      assert.equal(get.json.path, '/hello?x=1');
      assert.equal(get.json.authority, `127.0.0.1:${port}`);
      assert.ok((get.json.headers as string[]).includes('x-custom'));
      const post = await nodeRequest(agent, { method: 'POST', path: '/chunked-upload' }, (req) => {
        req.write('first,');
        setTimeout(() => req.end('second'), 10);
      });
      assert.equal(post.json.body, 'first,second');
      assert.equal(post.trailers['x-done'], 'yes');
      const put = await nodeRequest(agent, { method: 'PUT', path: '/p', headers: { 'content-length': '5' } }, (req) => req.end('12345'));
      assert.equal(put.json.body, '12345');
      const cont = await nodeRequest(agent, { method: 'POST', path: '/c', headers: { expect: '100-continue', 'content-length': '2' } }, (req) =>
        req.on('continue', () => req.end('ok')),
      );
      assert.equal(cont.json.body, 'ok');
      assert.equal(sockets.size, 1, 'all requests used one keep-alive connection');
    } finally {
      agent.destroy();
    }
  });

  test('undici pipelining: 20 requests in flight on one connection come back in order', TIMEOUT, async () => {
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1, pipelining: 20 });
    try {
      const paths = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `/chunked/${i}` : `/r/${i}`));
      const results = await Promise.all(
        paths.map(async (path) => {
          const res = await pool.request({ path, method: 'GET' });
          return (await res.body.json()) as { path: string };
        }),
      );
      assert.deepEqual(results.map((r) => r.path), paths);
    } finally {
      await pool.close();
    }
  });

  test('raw pipelined bytes: responses in request order, then close on Connection: close', TIMEOUT, async () => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.write(
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
        'GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    await closed;
    const paths = [...data.matchAll(/"path":"([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(paths, ['/a', '/b', '/c']);
    assert.ok(data.includes('"body":"abc"'));
  });

  test('a smuggling attempt gets 400 and the connection is closed', TIMEOUT, async () => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
    sock.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    assert.match(data, /^HTTP\/1\.1 400 /);
    assert.ok(!data.includes('/admin'));
  });
});

describe('our client side against a node:http upstream', () => {
  let upstream: http.Server;
  let port: number;
  before(async () => {
    upstream = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('one ');
          setTimeout(() => res.end('two'), 5);
        } else if (req.url === '/not-modified') {
          res.writeHead(304, { etag: '"v1"' });
          res.end();
        } else {
          res.setHeader('x-method', req.method!);
          res.end(`${req.method} ${req.url} host=${req.headers.host} body=${body}`);
        }
      });
    });
    upstream.on('checkContinue', (req, res) => {
      res.writeContinue();
      upstream.emit('request', req, res);
    });
    port = await listen(upstream);
  });
  after(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  interface Result {
    status: number;
    headers: HeaderMap;
    body: string;
    infos: number[];
    keepAlive: boolean;
  }

  /** One upstream connection driven by our codec, requests sent one after another. */
  function connection(): { request(method: string, path: string, headers: string[], body?: string[]): Promise<Result>; close(): void } {
    const socket = net.connect(port, '127.0.0.1');
    let pending: { resolve: (r: Result) => void; reject: (e: Error) => void; r: Result } | undefined;
    const parser = new ResponseParser({
      onInformational: (status) => pending!.r.infos.push(status),
      onResponseHead: (head) => {
        pending!.r.status = head.status;
        pending!.r.headers = head.headers;
        pending!.r.keepAlive = head.keepAlive;
      },
      onBody: (c) => (pending!.r.body += c.toString()),
      onMessageComplete: () => {
        const p = pending!;
        pending = undefined;
        p.resolve(p.r);
      },
      onError: (reason) => pending?.reject(new Error(reason)),
    });
    socket.on('data', (d: Buffer) => parser.execute(d));
    return {
      request(method, path, headers, body) {
        return new Promise<Result>((resolve, reject) => {
          pending = { resolve, reject, r: { status: 0, headers: new HeaderMap(), body: '', infos: [], keepAlive: false } };
          parser.expectResponse(method);
          const h = new HeaderMap([':authority', `127.0.0.1:${port}`, ...headers]);
          const enc = writeRequestHead(method, path, h, body === undefined);
          socket.write(enc.head, 'latin1');
          if (body) {
            for (const piece of body) socket.write(enc.framing === 'chunked' ? encodeChunk(Buffer.from(piece)) : piece);
            if (enc.framing === 'chunked') socket.write(LAST_CHUNK);
          }
        });
      },
      close: () => socket.destroy(),
    };
  }

  test('keep-alive sequence: sized, chunked, HEAD, 304, chunked upload, 100-continue', TIMEOUT, async () => {
    const c = connection();
    try {
      const get = await c.request('GET', '/a?b=1', ['accept', '*/*']);
      assert.equal(get.status, 200);
      assert.equal(get.body, `GET /a?b=1 host=127.0.0.1:${port} body=`);
      assert.equal(get.headers.get('x-method'), 'GET');
      assert.equal(get.keepAlive, true);
      const stream = await c.request('GET', '/stream', []);
      assert.equal(stream.body, 'one two');
      const head = await c.request('HEAD', '/a', []);
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers.get('x-method'), 'HEAD'); // no body read: the next responses still line up
      const nm = await c.request('GET', '/not-modified', []);
      assert.equal(nm.status, 304);
      const up = await c.request('POST', '/up', [], ['chunk-1,', 'chunk-2']);
      assert.equal(up.body, `POST /up host=127.0.0.1:${port} body=chunk-1,chunk-2`);
      const cont = await c.request('PUT', '/cont', ['expect', '100-continue', 'content-length', '3'], ['xyz']);
      assert.deepEqual(cont.infos, [100]);
      assert.equal(cont.body, `PUT /cont host=127.0.0.1:${port} body=xyz`);
    } finally {
      c.close();
    }
  });

  test('a body delimited by connection close ends with end()', TIMEOUT, async () => {
    const raw = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'));
    });
    const rawPort = await listen(raw);
    try {
      const socket = net.connect(rawPort, '127.0.0.1');
      let body = '';
      const done = new Promise<boolean>((resolve) => {
        const parser = new ResponseParser({
          onInformational: () => {},
          onResponseHead: (h) => assert.equal(h.bodyKind, 'close'),
          onBody: (c) => (body += c.toString()),
          onMessageComplete: () => resolve(true),
          onError: () => resolve(false),
        });
        parser.expectResponse('GET');
        socket.on('data', (d: Buffer) => parser.execute(d));
        socket.on('end', () => parser.end());
        socket.write(writeRequestHead('GET', '/', new HeaderMap(['host', 'x']), true).head, 'latin1');
      });
      assert.equal(await done, true);
      assert.equal(body, 'until the end');
      socket.destroy();
    } finally {
      raw.close();
    }
  });
});
