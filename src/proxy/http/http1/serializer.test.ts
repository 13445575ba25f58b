import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../headers.js';
import {
  CONTINUE_100,
  LAST_CHUNK,
  chunkHeader,
  encodeChunk,
  encodeTrailers,
  statusLine,
  writeRequestHead,
  writeResponseHead,
} from './serializer.js';
import { requestHarness, responseHarness } from './test-util.js';

const hm = (...kv: string[]): HeaderMap => new HeaderMap(kv);

describe('writeRequestHead', () => {
  test('pseudo-headers are not fields; :authority is written as host and replaces a plain host', () => {
    const h = hm(':method', 'GET', ':path', '/x', ':authority', 'svc.local', ':scheme', 'http', 'host', 'stale', 'accept', '*/*');
    const enc = writeRequestHead('GET', '/x?y=1', h, true);
    assert.equal(enc.head, 'GET /x?y=1 HTTP/1.1\r\nhost: svc.local\r\naccept: */*\r\n\r\n');
    assert.equal(enc.framing, 'none');
  });

  test('framing: bodiless methods get nothing, others content-length: 0; streams are chunked; a length is kept', () => {
    assert.equal(writeRequestHead('DELETE', '/', hm('host', 'a'), true).head, 'DELETE / HTTP/1.1\r\nhost: a\r\n\r\n');
    const empty = writeRequestHead('POST', '/', hm('host', 'a'), true);
    assert.equal(empty.head, 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n');
    assert.equal(empty.framing, 'none');
    const stream = writeRequestHead('POST', '/', hm('host', 'a', 'transfer-encoding', 'gzip'), false);
    assert.equal(stream.head, 'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n');
    assert.equal(stream.framing, 'chunked');
    const sized = writeRequestHead('PUT', '/', hm('host', 'a', 'content-length', '5'), false);
    assert.equal(sized.head, 'PUT / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n');
    assert.equal(sized.framing, 'length');
  });

  test('tunnels: CONNECT targets the authority, upgrades are never chunked', () => {
    const c = writeRequestHead('CONNECT', '', hm(':authority', 'db:5432'), false);
    assert.equal(c.head, 'CONNECT db:5432 HTTP/1.1\r\nhost: db:5432\r\n\r\n');
    assert.equal(c.framing, 'close');
    assert.throws(() => writeRequestHead('CONNECT', '', hm(), false), { code: 'MW_INTERNAL' });
    const ws = writeRequestHead('GET', '/ws', hm('host', 'a', 'connection', 'Upgrade', 'upgrade', 'websocket'), false);
    assert.equal(ws.framing, 'close');
    assert.ok(!ws.head.includes('transfer-encoding'));
  });
});

describe('writeResponseHead', () => {
  test('status line with the standard reason, or a given one, or Unknown', () => {
    assert.equal(statusLine(200), 'HTTP/1.1 200 OK\r\n');
    assert.equal(statusLine(200), 'HTTP/1.1 200 OK\r\n'); // cached path
    assert.equal(statusLine(503), 'HTTP/1.1 503 Service Unavailable\r\n');
    assert.equal(statusLine(299), 'HTTP/1.1 299 Unknown\r\n');
    assert.equal(statusLine(200, 1, 'Fine'), 'HTTP/1.1 200 Fine\r\n');
    assert.equal(statusLine(404, 0), 'HTTP/1.0 404 Not Found\r\n');
    assert.equal(CONTINUE_100, statusLine(100) + '\r\n');
  });

  test('framing like Envoy: empty body gets content-length: 0, streams chunked, HTTP/1.0 peers close-delimited', () => {
    const h = (): HeaderMap => hm(':status', '200', 'content-type', 'text/plain', 'transfer-encoding', 'chunked');
    const empty = writeResponseHead(200, h(), { endStream: true });
    assert.equal(empty.head, 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n');
    assert.equal(empty.framing, 'none');
    const stream = writeResponseHead(200, h(), { endStream: false });
    assert.equal(stream.head, 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n');
    assert.equal(stream.framing, 'chunked');
    const old = writeResponseHead(200, h(), { endStream: false, peerMinor: 0 });
    assert.equal(old.head, 'HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\n');
    assert.equal(old.framing, 'close');
    const sized = writeResponseHead(200, hm('content-length', '3'), { endStream: false });
    assert.equal(sized.framing, 'length');
  });

  test('no body for 1xx, 204, 304 and HEAD; tunnels for 101 and 2xx to CONNECT', () => {
    for (const [status, method] of [[100, 'GET'], [204, 'GET'], [304, 'GET'], [200, 'HEAD']] as const) {
      const enc = writeResponseHead(status, hm('etag', '"x"'), { endStream: false, requestMethod: method });
      assert.equal(enc.framing, 'none', `${status} ${method}`);
      assert.ok(!enc.head.includes('content-length') && !enc.head.includes('transfer-encoding'));
    }
    assert.equal(writeResponseHead(101, hm('upgrade', 'websocket'), { endStream: false }).framing, 'close');
    assert.equal(writeResponseHead(200, hm(), { endStream: false, requestMethod: 'CONNECT' }).framing, 'close');
    assert.equal(writeResponseHead(403, hm(), { endStream: true, requestMethod: 'CONNECT' }).framing, 'none');
  });
});

describe('chunks and trailers', () => {
  test('chunk framing', () => {
    assert.equal(chunkHeader(255), 'ff\r\n');
    assert.equal(encodeChunk(Buffer.from('hello')).toString(), '5\r\nhello\r\n');
    assert.equal(LAST_CHUNK, '0\r\n\r\n');
    assert.equal(encodeTrailers(hm('grpc-status', '0', 'grpc-message', 'ok')), '0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n');
  });
});

describe('round trip through our parsers', () => {
  test('a chunked request written by writeRequestHead parses back to the same request', () => {
    const headers = hm(':authority', 'svc', 'x-a', 'one', 'x-a', 'two', 'user-agent', 'meshwork');
    const enc = writeRequestHead('POST', '/upload?x=1', headers, false);
    const wire = Buffer.concat([
      Buffer.from(enc.head, 'latin1'),
      encodeChunk(Buffer.from('part1-')),
      encodeChunk(Buffer.from('part2')),
      Buffer.from(encodeTrailers(hm('x-sum', 'abc')), 'latin1'),
    ]);
    const h = requestHarness({}, true);
    h.parser.execute(wire);
    assert.deepEqual(h.errors(), []);
    const head = h.heads()[0]!;
    assert.equal(head.method, 'POST');
    assert.equal(head.path, '/upload?x=1');
    assert.deepEqual(head.headers.raw, ['host', 'svc', 'x-a', 'one', 'x-a', 'two', 'user-agent', 'meshwork', 'transfer-encoding', 'chunked']);
    assert.equal(h.body(), 'part1-part2');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: ['x-sum', 'abc'] });
  });

  test('a response written by writeResponseHead parses back to the same response', () => {
    const enc = writeResponseHead(404, hm(':status', '404', 'content-type', 'text/html'), { endStream: false });
    const h = responseHarness();
    h.parser.expectResponse('GET');
    h.parser.execute(Buffer.concat([Buffer.from(enc.head, 'latin1'), encodeChunk(Buffer.from('<p>gone</p>')), Buffer.from(LAST_CHUNK)]));
    const head = h.events.flatMap((e) => (e.kind === 'response' ? [e.head] : []))[0]!;
    assert.equal(head.status, 404);
    assert.equal(head.reason, 'Not Found');
    assert.equal(h.body(), '<p>gone</p>');
  });
});
