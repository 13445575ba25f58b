// Malformed and ambiguous HTTP/1.1 through a real proxy process: every vector goes over a raw socket, the proxy
// must answer it with the status Envoy's codec picks, close the connection, and forward NOTHING to the upstream
// (a raw TCP server recording every byte). Afterwards the proxy still serves, and each rejection is counted.
//
// Statuses follow the codec (src/proxy/http/http1/request-parser.ts): 400 for syntax and framing errors, 501
// for a Transfer-Encoding other than exactly "chunked", 505 for an HTTP version other than 1.0/1.1, 431 for a
// head (request line included) above max_request_headers_kb.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, listenerPort, stat } from './helpers/proxy.js';
import { httpListener, staticCluster, recordingUpstream, rawExchange, get, sleep } from './helpers/robustness.js';

const H = 'Host: example.com\r\n';
const POST_CHUNKED = `POST /upload HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;

interface Vector {
  name: string;
  bytes: string;
  status: number;
}

const VECTORS: Vector[] = [
  // framing conflicts (RFC 9112 §6.3): the classic CL.TE / TE.CL smuggling setups
  { name: 'Content-Length and Transfer-Encoding', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  { name: 'Transfer-Encoding before Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`, status: 400 },
  { name: 'duplicate differing Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, status: 400 },
  { name: 'Content-Length list with differing values', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!`, status: 400 },
  { name: 'negative Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, status: 400 },
  { name: 'non-numeric Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, status: 400 },
  // chunked body syntax
  { name: 'non-hex chunk size', bytes: `${POST_CHUNKED}zz\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'overflowing chunk size', bytes: `${POST_CHUNKED}fffffffffffffffffff\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'chunk data without its CRLF', bytes: `${POST_CHUNKED}5\r\nhelloXX0\r\n\r\n`, status: 400 },
  { name: 'empty chunk size line', bytes: `${POST_CHUNKED}\r\nhello\r\n0\r\n\r\n`, status: 400 },
  // bare LF / bare CR line endings
  { name: 'bare LF after the request line', bytes: `GET / HTTP/1.1\n${H}\r\n`, status: 400 },
  { name: 'bare LF after a header line', bytes: `GET / HTTP/1.1\r\nHost: example.com\nX-A: 1\r\n\r\n`, status: 400 },
  { name: 'bare LF after a chunk size', bytes: `${POST_CHUNKED}5\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'bare CR inside a header value', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, status: 400 },
  // header syntax
  { name: 'obs-fold continuation line', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\r\n  folded\r\n\r\n`, status: 400 },
  { name: 'whitespace before the colon', bytes: `GET / HTTP/1.1\r\nHost : example.com\r\n\r\n`, status: 400 },
  { name: 'NUL in a header value', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, status: 400 },
  { name: 'header line without a colon', bytes: `GET / HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`, status: 400 },
  { name: 'missing Host in HTTP/1.1', bytes: `GET / HTTP/1.1\r\nX-A: 1\r\n\r\n`, status: 400 },
  { name: 'two Host headers', bytes: `GET / HTTP/1.1\r\n${H}Host: other.example\r\n\r\n`, status: 400 },
  // request line
  { name: 'invalid method characters', bytes: `G@T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'unknown method', bytes: `FROB / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'two spaces in the request line', bytes: `GET  / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'HTTP/1.2', bytes: `GET / HTTP/1.2\r\n${H}\r\n`, status: 505 },
  { name: 'HTTP/2.0 request line', bytes: `GET / HTTP/2.0\r\n${H}\r\n`, status: 505 },
  { name: 'garbage version', bytes: `GET / HTXP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'oversized request line (70 KiB)', bytes: `GET /${'a'.repeat(70 * 1024)} HTTP/1.1\r\n${H}\r\n`, status: 431 },
  // Transfer-Encoding obfuscation: anything but exactly one "chunked" is refused, never guessed at
  { name: "'Transfer-Encoding : chunked'", bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  { name: "'Transfer-Encoding: xchunked'", bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, status: 501 },
  { name: "'Transfer-Encoding: chunked, identity'", bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, status: 501 },
  { name: 'Transfer-Encoding: chunked twice', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 501 },
  { name: "'Transfer-Encoding: identity'", bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, status: 501 },
  { name: 'Transfer-Encoding in HTTP/1.0', bytes: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  // a smuggled request with a valid one pipelined behind it: neither may reach the upstream
  {
    name: 'CL.TE smuggle with a pipelined GET',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\nGET /next HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  // TE.CL with an obfuscated coding: the Content-Length + Transfer-Encoding conflict is checked first (400)
  {
    name: 'obfuscated TE.CL smuggle with a pipelined GET',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n0\r\n\r\nGET /next HTTP/1.1\r\n${H}\r\n`,
    status: 400,
  },
  {
    name: 'obfuscated TE with a pipelined GET',
    bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n0\r\n\r\nGET /next HTTP/1.1\r\n${H}\r\n`,
    status: 501,
  },
  // a valid chunked head, then a broken chunk, then a pipelined request: the head must not leak upstream
  { name: 'broken chunk after a valid head with a pipelined GET', bytes: `${POST_CHUNKED}5\r\nhello\r\nzz\r\n\r\nGET /next HTTP/1.1\r\n${H}\r\n`, status: 400 },
];

const upstream = await recordingUpstream();
const proxy = await startProxy({
  static_resources: {
    listeners: [httpListener('ingress', { statPrefix: 'ingress_http' })],
    clusters: [staticCluster('backend', [upstream.port])],
  },
});
const port = await listenerPort(proxy, 'ingress');
after(async () => {
  await proxy.stop();
  await upstream.close();
});

/** A valid request works, which also leaves a warm upstream connection a malformed request could leak over. */
async function assertStillServing(): Promise<void> {
  const r = await get(port, '/ok');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'upstream');
}

test('a valid request is proxied before the malformed ones', async () => {
  await assertStillServing();
});

for (const v of VECTORS) {
  test(`rejects ${v.name} with ${v.status}, closes, forwards nothing`, async () => {
    // a warm upstream connection makes a leak possible at all: without one the rejection wins the connect race
    await assertStillServing();
    const before = upstream.received().length;
    const r = await rawExchange(port, v.bytes);
    assert.ok(r.closed, `the proxy kept the connection open; got:\n${r.data}`);
    const statusLines = r.data.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];
    assert.deepEqual(statusLines, [`HTTP/1.1 ${v.status}`], `expected exactly one ${v.status} reply, got:\n${r.data}`);
    assert.match(r.data, /\r\nconnection: close\r\n/i);
    // give a (wrongly) forwarded request time to arrive before concluding none did
    await sleep(50);
    const got = upstream.received().subarray(before).toString('latin1');
    assert.equal(got, '', `the upstream received bytes of a rejected request:\n${got}`);
  });
}

test('the proxy still serves valid requests afterwards and counted every protocol error', async () => {
  await assertStillServing();
  assert.equal(await stat(proxy, 'http.ingress_http.downstream_cx_protocol_error'), VECTORS.length);
  const seen = upstream.received().toString('latin1');
  assert.doesNotMatch(seen, /smuggled|\/next|\/upload/);
  assert.equal(proxy.child.exitCode, null);
});
