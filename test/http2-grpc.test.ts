// End to end: HTTP/2 and gRPC through a real `meshwork proxy` process.
// Downstream: h2c with prior knowledge (node:http2 and curl), codec_type AUTO / HTTP1 / HTTP2, h2 over TLS
// by ALPN. Upstream: HTTP/1 (node:http) and HTTP/2 (node:http2, selected by explicit_http_config), so both
// protocol translations run. Then streams, large bodies and trailers, and a real @grpc/grpc-js server and
// client for the four call kinds, statuses, metadata and the no-route case.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { DOWNSTREAM_TLS, makePki, tlsCertificate } from './helpers/certs.js';
import { bootstrap, curl, hcmFilter, listener, staticCluster } from './helpers/protocols.js';
import { listenerPort, startProxy, type RunningProxy } from './helpers/proxy.js';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

// ---- upstreams ----

/** What an upstream saw of one request: the proxy's translation is checked against this. */
interface Seen {
  version: string;
  method: string;
  path: string;
  headers: Record<string, unknown>;
  len: number;
  sha: string;
  trailers: Record<string, unknown>;
}

let h1Server: http.Server;
let h2Server: http2.Http2Server;
let h2Sessions = 0;
let grpcServer: grpc.Server;
let proxy: RunningProxy;
const ports: Record<string, number> = {};

function bigBody(n: number): Buffer {
  // deterministic and not all-equal bytes, so reordering or truncation shows in the hash
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

function startH1(): Promise<void> {
  h1Server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const big = /^\/big\/(\d+)$/.exec(req.url ?? '');
      if (big) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(bigBody(Number(big[1])));
        return;
      }
      const body = Buffer.concat(chunks);
      const seen: Seen = { version: req.httpVersion, method: req.method!, path: req.url!, headers: req.headers, len: body.length, sha: sha(body), trailers: req.trailers };
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'h1' });
      res.end(JSON.stringify(seen));
    });
  });
  return new Promise((r) => h1Server.listen(0, '127.0.0.1', r));
}

function startH2(): Promise<void> {
  h2Server = http2.createServer();
  h2Server.on('session', () => h2Sessions++);
  h2Server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    stream.on('trailers', (t) => (trailers = { ...t }));
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('error', () => {});
    stream.on('end', () => {
      const p = String(headers[':path']);
      const big = /^\/big\/(\d+)$/.exec(p);
      if (big) {
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
        stream.end(bigBody(Number(big[1])));
        return;
      }
      const body = Buffer.concat(chunks);
      const seen: Seen = { version: '2.0', method: String(headers[':method']), path: p, headers: { ...headers }, len: body.length, sha: sha(body), trailers };
      const withTrailers = headers['x-want-trailers'] !== undefined;
      stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2' }, { waitForTrailers: withTrailers });
      if (withTrailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'x-trailer-one': 'v1', 'x-body-sha': seen.sha }));
      stream.end(JSON.stringify(seen));
    });
  });
  return new Promise((r) => h2Server.listen(0, '127.0.0.1', r));
}

// ---- gRPC service (generic, JSON-serialized messages) ----

type Msg = { text?: string; n?: number; fail?: boolean };
const ser = (m: Msg) => Buffer.from(JSON.stringify(m));
const de = (b: Buffer) => JSON.parse(b.toString()) as Msg;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: ser,
  requestDeserialize: de,
  responseSerialize: ser,
  responseDeserialize: de,
});
const ECHO: grpc.ServiceDefinition = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
};
const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'test.Echo');

function failStatus(): Partial<grpc.StatusObject> {
  const md = new grpc.Metadata();
  md.set('x-detail', 'detail value');
  md.set('x-detail-bin', Buffer.from([0, 1, 2, 255]));
  return { code: grpc.status.INVALID_ARGUMENT, details: 'bad input: fail=true', metadata: md };
}

function startGrpc(): Promise<number> {
  grpcServer = new grpc.Server();
  grpcServer.addService(ECHO, {
    Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      const initial = new grpc.Metadata();
      initial.set('x-initial', `saw ${call.metadata.get('x-client')[0] ?? 'none'}`);
      call.sendMetadata(initial);
      if (call.request.fail) return cb(failStatus() as grpc.ServiceError);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'unary-done');
      cb(null, { text: `echo:${call.request.text}` }, trailer);
    },
    ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
      const n = call.request.n ?? 0;
      for (let i = 0; i < n; i++) call.write({ n: i, text: 'x'.repeat(1000) });
      if (call.request.fail) call.emit('error', failStatus());
      else call.end();
    },
    ClientStream(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
      let sum = 0;
      let count = 0;
      call.on('data', (m: Msg) => {
        sum += m.n ?? 0;
        count++;
      });
      call.on('end', () => cb(null, { n: sum, text: `count=${count}` }));
    },
    Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
      call.on('data', (m: Msg) => call.write({ text: `re:${m.text}` }));
      call.on('end', () => call.end());
    },
  });
  return new Promise((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

before(async () => {
  const pki = makePki();
  const server = pki.leaf('server', { cn: 'proxy.test', dns: ['proxy.test'] });
  await Promise.all([startH1(), startH2()]);
  const grpcPort = await startGrpc();
  const h1Port = (h1Server.address() as net.AddressInfo).port;
  const h2Port = (h2Server.address() as net.AddressInfo).port;
  const tlsChain = {
    filters: [hcmFilter({ statPrefix: 'tls', cluster: 'h1' })],
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: { tls_certificates: [tlsCertificate(server)], alpn_protocols: ['h2', 'http/1.1'] } },
    },
  };
  proxy = await startProxy(
    bootstrap(
      [
        // AUTO → HTTP/1 upstream: exercises h2 → h1 translation
        listener('auto', [{ filters: [hcmFilter({ statPrefix: 'auto', cluster: 'h1' })] }]),
        // AUTO → HTTP/2 upstream
        listener('auto_h2', [{ filters: [hcmFilter({ statPrefix: 'auto_h2', cluster: 'h2' })] }]),
        listener('only_h1', [{ filters: [hcmFilter({ statPrefix: 'only_h1', codecType: 'HTTP1', cluster: 'h2' })] }]),
        listener('only_h2', [{ filters: [hcmFilter({ statPrefix: 'only_h2', codecType: 'HTTP2', cluster: 'h2' })] }]),
        listener('tls', [tlsChain]),
        listener('grpc', [{ filters: [hcmFilter({ statPrefix: 'grpc', routes: [{ match: { prefix: '/test.Echo/' }, route: { cluster: 'grpc' } }] })] }]),
      ],
      [staticCluster('h1', h1Port), staticCluster('h2', h2Port, { h2: true }), staticCluster('grpc', grpcPort, { h2: true })],
    ),
  );
  for (const n of ['auto', 'auto_h2', 'only_h1', 'only_h2', 'tls', 'grpc']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  h1Server?.closeAllConnections();
  h1Server?.close();
  h2Server?.close();
  grpcServer?.forceShutdown();
});

// ---- HTTP/2 client helper ----

interface H2Response {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  endedWithHeaders: boolean;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer, trailers?: http2.OutgoingHttpHeaders): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined && trailers === undefined, waitForTrailers: trailers !== undefined });
    const timer = setTimeout(() => {
      req.close();
      reject(new Error(`no response to ${headers[':path']} within 15 s`));
    }, 15_000);
    if (trailers) req.once('wantTrailers', () => req.sendTrailers(trailers));
    let resHeaders: http2.IncomingHttpHeaders = {};
    let resTrailers: http2.IncomingHttpHeaders | undefined;
    let endedWithHeaders = false;
    const chunks: Buffer[] = [];
    req.on('response', (h, flags) => {
      resHeaders = h;
      endedWithHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (t) => (resTrailers = t));
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      clearTimeout(timer);
      resolve({ headers: resHeaders, body: Buffer.concat(chunks), trailers: resTrailers, endedWithHeaders });
    });
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (body !== undefined) req.end(body);
    else if (trailers) req.end();
  });
}

function h2connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// ---- downstream codecs ----

test('h2c prior knowledge (node:http2) on an AUTO listener is translated to an HTTP/1 upstream', async () => {
  const s = await h2connect(ports.auto!);
  try {
    const body = Buffer.from('hello over h2c');
    const r = await h2request(s, { ':method': 'POST', ':path': '/echo?q=1', 'x-custom': 'abc', cookie: 'a=1' }, body);
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['x-upstream'], 'h1');
    const seen = JSON.parse(r.body.toString()) as Seen;
    assert.equal(seen.version, '1.1');
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/echo?q=1');
    assert.equal(seen.headers['x-custom'], 'abc');
    assert.equal(seen.headers.host, `127.0.0.1:${ports.auto}`, ':authority becomes Host');
    assert.equal(seen.len, body.length);
    assert.equal(seen.sha, sha(body));
  } finally {
    s.close();
  }
});

test('curl --http2-prior-knowledge and plain HTTP/1.1 curl both work on an AUTO listener', async () => {
  const h2 = await curl(['--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${ports.auto}/echo`]);
  assert.equal(h2.code, 0, h2.stderr);
  assert.equal(h2.stdout, '2 200');
  const h1 = await curl(['--http1.1', '-w', ' %{http_version} %{http_code}', `http://127.0.0.1:${ports.auto_h2}/echo`]);
  assert.equal(h1.code, 0, h1.stderr);
  assert.match(h1.stdout, / 1\.1 200$/);
  // HTTP/1 downstream, HTTP/2 upstream
  const seen = JSON.parse(h1.stdout.replace(/ 1\.1 200$/, '')) as Seen;
  assert.equal(seen.version, '2.0');
  assert.equal(seen.headers[':authority'], `127.0.0.1:${ports.auto_h2}`);
});

test('codec_type HTTP1 serves HTTP/1.1 and refuses the HTTP/2 preface', async () => {
  const ok = await curl(['--http1.1', '-w', ' %{http_version}', `http://127.0.0.1:${ports.only_h1}/echo`]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, / 1\.1$/);
  assert.equal((JSON.parse(ok.stdout.replace(/ 1\.1$/, '')) as Seen).version, '2.0');
  const h2 = await curl(['--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${ports.only_h1}/echo`]);
  assert.ok(h2.code !== 0 || !h2.stdout.startsWith('2 200'), `HTTP/2 must not be served by an HTTP1 codec: ${h2.stdout}`);
});

test('codec_type HTTP2 serves h2c and does not answer HTTP/1.1', async () => {
  const h2 = await curl(['--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${ports.only_h2}/echo`]);
  assert.equal(h2.code, 0, h2.stderr);
  assert.equal(h2.stdout, '2 200');
  const h1 = await curl(['--http1.1', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${ports.only_h2}/echo`], 5000);
  assert.ok(h1.code !== 0 || h1.stdout !== '200', `HTTP/1.1 must not get a 200 from an HTTP2 codec: ${h1.stdout}`);
});

test('TLS ALPN picks h2 or http/1.1 per client', async () => {
  const h2 = await curl(['-k', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--resolve', `proxy.test:${ports.tls}:127.0.0.1`, `https://proxy.test:${ports.tls}/echo`]);
  assert.equal(h2.code, 0, h2.stderr);
  assert.equal(h2.stdout, '2 200');
  const h1 = await curl(['-k', '--http1.1', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `https://127.0.0.1:${ports.tls}/echo`]);
  assert.equal(h1.code, 0, h1.stderr);
  assert.equal(h1.stdout, '1.1 200');
  // the negotiated protocol itself, seen by a TLS client
  const sock = tls.connect({ host: '127.0.0.1', port: ports.tls!, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
  assert.equal(sock.alpnProtocol, 'h2');
  sock.destroy();
});

test('many concurrent streams on one downstream connection share one upstream HTTP/2 connection', async () => {
  const before = h2Sessions;
  const s = await h2connect(ports.auto_h2!);
  try {
    const n = 100;
    const rs = await Promise.all(
      Array.from({ length: n }, (_, i) => h2request(s, { ':method': 'POST', ':path': `/echo/${i}` }, Buffer.from(`body-${i}`))),
    );
    rs.forEach((r, i) => {
      assert.equal(r.headers[':status'], 200);
      const seen = JSON.parse(r.body.toString()) as Seen;
      assert.equal(seen.path, `/echo/${i}`, 'each response belongs to its own stream');
      assert.equal(seen.sha, sha(Buffer.from(`body-${i}`)));
    });
    // The pool multiplexes: one session from the proxy (it may have existed before this test).
    assert.ok(h2Sessions - before <= 1, `expected at most one new upstream session, got ${h2Sessions - before}`);
  } finally {
    s.close();
  }
});

test('large bodies both ways: h2→h2, h2→h1, h1→h2', async () => {
  const up = bigBody(6 * 1024 * 1024 + 7);
  const s = await h2connect(ports.auto_h2!);
  const s1 = await h2connect(ports.auto!);
  try {
    // upload h2 → h2
    const r1 = await h2request(s, { ':method': 'PUT', ':path': '/echo' }, up);
    assert.equal((JSON.parse(r1.body.toString()) as Seen).sha, sha(up));
    // download h2 → h2 and h2 → h1
    const n = 5 * 1024 * 1024 + 3;
    const r2 = await h2request(s, { ':method': 'GET', ':path': `/big/${n}` });
    assert.equal(r2.body.length, n);
    assert.equal(sha(r2.body), sha(bigBody(n)));
    const r3 = await h2request(s1, { ':method': 'GET', ':path': `/big/${n}` });
    assert.equal(sha(r3.body), sha(bigBody(n)));
    // upload h2 → h1
    const r4 = await h2request(s1, { ':method': 'POST', ':path': '/echo' }, up);
    const seen4 = JSON.parse(r4.body.toString()) as Seen;
    assert.equal(seen4.version, '1.1');
    assert.equal(seen4.sha, sha(up));
  } finally {
    s.close();
    s1.close();
  }
  // HTTP/1 downstream → HTTP/2 upstream, via fetch
  const res = await fetch(`http://127.0.0.1:${ports.only_h1}/echo`, { method: 'POST', body: new Uint8Array(up) });
  const seen = (await res.json()) as Seen;
  assert.equal(seen.version, '2.0');
  assert.equal(seen.len, up.length);
  assert.equal(seen.sha, sha(up));
  const big = Buffer.from(await (await fetch(`http://127.0.0.1:${ports.only_h1}/big/3000001`)).arrayBuffer());
  assert.equal(sha(big), sha(bigBody(3000001)));
});

test('request and response trailers pass through HTTP/2 on both sides', async () => {
  const s = await h2connect(ports.auto_h2!);
  try {
    const body = Buffer.from('payload with trailers');
    const r = await h2request(s, { ':method': 'POST', ':path': '/echo', 'x-want-trailers': '1', 'content-type': 'text/plain' }, body, { 'x-req-trailer': 'rt-value' });
    assert.equal(r.headers[':status'], 200);
    const seen = JSON.parse(r.body.toString()) as Seen;
    assert.equal(seen.trailers['x-req-trailer'], 'rt-value', 'request trailers reach the upstream');
    assert.equal(seen.sha, sha(body));
    assert.ok(r.trailers, 'response trailers reach the client');
    assert.equal(r.trailers['x-trailer-one'], 'v1');
    assert.equal(r.trailers['x-body-sha'], sha(body));
  } finally {
    s.close();
  }
});

// ---- gRPC ----

function grpcClient(): grpc.Client & Record<string, any> {
  return new EchoClient(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
}

test('gRPC unary: response, initial metadata and trailing metadata pass through', async () => {
  const c = grpcClient();
  try {
    const md = new grpc.Metadata();
    md.set('x-client', 'abc');
    let initial: grpc.Metadata | undefined;
    let status: grpc.StatusObject | undefined;
    const res = await new Promise<Msg>((resolve, reject) => {
      const call = c.Unary({ text: 'hi' }, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, r: Msg) => (err ? reject(err) : resolve(r)));
      call.on('metadata', (m: grpc.Metadata) => (initial = m));
      call.on('status', (s: grpc.StatusObject) => (status = s));
    });
    assert.deepEqual(res, { text: 'echo:hi' });
    assert.equal(initial?.get('x-initial')[0], 'saw abc');
    await new Promise((r) => setImmediate(r));
    assert.equal(status?.code, grpc.status.OK);
    assert.equal(status?.metadata.get('x-trailer')[0], 'unary-done');
  } finally {
    c.close();
  }
});

test('gRPC error status, message and custom trailing metadata (text and -bin) arrive intact', async () => {
  const c = grpcClient();
  try {
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      c.Unary({ fail: true }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('expected an error'))));
    });
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err.details, 'bad input: fail=true');
    assert.equal(err.metadata.get('x-detail')[0], 'detail value');
    assert.deepEqual(err.metadata.get('x-detail-bin')[0], Buffer.from([0, 1, 2, 255]));
  } finally {
    c.close();
  }
});

test('gRPC server streaming, client streaming and bidi', async () => {
  const c = grpcClient();
  try {
    // server streaming: 200 messages of ~1 KB
    const got: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = c.ServerStream({ n: 200 }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
      call.on('data', (m: Msg) => got.push(m));
      call.on('error', reject);
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))));
    });
    assert.equal(got.length, 200);
    assert.deepEqual(got.map((m) => m.n), Array.from({ length: 200 }, (_, i) => i));
    // a stream that fails after some messages ends with the error status
    const partial: Msg[] = [];
    const streamErr = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const call = c.ServerStream({ n: 3, fail: true }, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
      call.on('data', (m: Msg) => partial.push(m));
      call.on('error', resolve);
      call.on('end', () => setTimeout(() => reject(new Error('expected an error status')), 100));
    });
    assert.equal(partial.length, 3);
    assert.equal(streamErr.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(streamErr.metadata.get('x-detail')[0], 'detail value');
    // client streaming
    const sum = await new Promise<Msg>((resolve, reject) => {
      const call = c.ClientStream(new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r)));
      for (let i = 1; i <= 50; i++) call.write({ n: i });
      call.end();
    });
    assert.deepEqual(sum, { n: 1275, text: 'count=50' });
    // bidi: each message answered before the next is sent
    const call = c.Bidi(new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const replies: string[] = [];
    for (const word of ['one', 'two', 'three']) {
      const reply = new Promise<Msg>((resolve) => call.once('data', resolve));
      call.write({ text: word });
      replies.push((await reply).text!);
    }
    const ended = new Promise<void>((resolve, reject) => {
      call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve() : reject(new Error(s.details))));
      call.on('error', reject);
    });
    call.end();
    await ended;
    assert.deepEqual(replies, ['re:one', 're:two', 're:three']);
  } finally {
    c.close();
  }
});

test('a gRPC request without a route gets a trailers-only UNIMPLEMENTED, not an HTTP error page', async () => {
  // grpc-js view
  const Other = grpc.makeGenericClientConstructor({ Nope: { ...method('Nope', false, false), path: '/other.Svc/Nope' } }, 'other.Svc');
  const c = new Other(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  try {
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      c.Nope({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('expected an error'))));
    });
    assert.equal(err.code, grpc.status.UNIMPLEMENTED);
  } finally {
    c.close();
  }
  // wire view: HTTP 200, application/grpc, grpc-status in the headers frame that ends the stream
  const s = await h2connect(ports.grpc!);
  try {
    const r = await h2request(s, { ':method': 'POST', ':path': '/other.Svc/Nope', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.from([0, 0, 0, 0, 2, 123, 125]));
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['content-type'], 'application/grpc');
    assert.equal(r.headers['grpc-status'], '12');
    assert.equal(r.endedWithHeaders, true, 'trailers-only response');
    assert.equal(r.body.length, 0);
  } finally {
    s.close();
  }
});
