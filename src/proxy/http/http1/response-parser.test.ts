import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { normalize, prng, randomSplits, responseHarness, type ResponseHarness } from './test-util.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function respond(method: string, input: string, upgrade = false): ResponseHarness {
  const h = responseHarness();
  h.parser.expectResponse(method, upgrade);
  h.parser.execute(b(input));
  return h;
}

const heads = (h: ResponseHarness) => h.events.flatMap((e) => (e.kind === 'response' ? [e.head] : []));
const errors = (h: ResponseHarness) => h.events.flatMap((e) => (e.kind === 'error' ? [e.reason] : []));

describe('ResponseParser: framing', () => {
  const withLength = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world!';

  test('status line, headers and a Content-Length body', () => {
    const h = respond('GET', withLength);
    const [head] = heads(h);
    assert.ok(head);
    assert.equal(head.status, 200);
    assert.equal(head.reason, 'OK');
    assert.equal(head.versionMinor, 1);
    assert.deepEqual(head.headers.raw, ['content-type', 'text/plain', 'content-length', '12']);
    assert.equal(head.bodyKind, 'length');
    assert.equal(head.contentLength, 12);
    assert.equal(head.keepAlive, true);
    assert.equal(h.body(), 'hello world!');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: undefined });
  });

  test('a Content-Length response split at every byte boundary gives the same events', () => {
    const whole = normalize(respond('GET', withLength).events);
    const data = b(withLength);
    for (let i = 1; i < data.length; i++) {
      const h = responseHarness();
      h.parser.expectResponse('GET');
      h.parser.execute(data.subarray(0, i));
      h.parser.execute(data.subarray(i));
      assert.deepEqual(normalize(h.events), whole, `split at ${i}`);
    }
  });

  const chunked =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n' +
    '4\r\nWiki\r\n6;x=y\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n';

  test('chunked body with trailers, whole, byte by byte and in random splits', () => {
    const h = respond('POST', chunked);
    assert.equal(heads(h)[0]!.bodyKind, 'chunked');
    assert.equal(h.body(), 'Wikipedia in \r\n\r\nchunks.');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: ['grpc-status', '0', 'grpc-message', 'ok'] });
    const whole = normalize(h.events);
    const one = responseHarness();
    one.parser.expectResponse('POST');
    for (const c of b(chunked)) one.parser.execute(Buffer.from([c]));
    assert.deepEqual(normalize(one.events), whole);
    const rnd = prng(5);
    for (let round = 0; round < 100; round++) {
      const r = responseHarness();
      r.parser.expectResponse('POST');
      for (const piece of randomSplits(b(chunked), rnd)) r.parser.execute(piece);
      assert.deepEqual(normalize(r.events), whole, `round ${round}`);
    }
  });

  test('no length and not chunked: the body runs until the upstream closes', () => {
    const h = respond('GET', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome');
    const head = heads(h)[0]!;
    assert.equal(head.bodyKind, 'close');
    assert.equal(head.keepAlive, false);
    h.parser.execute(b(' more'));
    assert.equal(h.events.filter((e) => e.kind === 'complete').length, 0);
    assert.equal(h.parser.end(), true);
    assert.equal(h.body(), 'some more');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: undefined });
  });

  test('end() before a response completes reports a truncated response', () => {
    const midBody = respond('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    assert.equal(midBody.parser.end(), false);
    assert.equal(midBody.events.filter((e) => e.kind === 'complete').length, 0);
    const midHead = respond('GET', 'HTTP/1.1 200 OK\r\nContent-');
    assert.equal(midHead.parser.end(), false);
    const nothing = respond('GET', '');
    assert.equal(nothing.parser.end(), false);
    const idle = responseHarness();
    assert.equal(idle.parser.end(), true);
  });

  test('HEAD responses have no body whatever Content-Length or Transfer-Encoding say; the connection is reused', () => {
    const h = responseHarness();
    h.parser.expectResponse('HEAD');
    h.parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'));
    assert.equal(heads(h)[0]!.bodyKind, 'none');
    assert.equal(heads(h)[0]!.contentLength, 100);
    assert.deepEqual(h.events.map((e) => e.kind), ['response', 'complete']);
    h.parser.expectResponse('HEAD');
    h.parser.execute(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
    h.parser.expectResponse('GET');
    h.parser.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    assert.deepEqual(h.events.map((e) => e.kind), ['response', 'complete', 'response', 'complete', 'response', 'body', 'complete']);
    assert.equal(h.body(), 'ok');
  });

  test('304 and 204 have no body; 204 drops "Content-Length: 0"', () => {
    const nm = respond('GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: "x"\r\n\r\n');
    assert.equal(heads(nm)[0]!.bodyKind, 'none');
    assert.deepEqual(nm.events.map((e) => e.kind), ['response', 'complete']);
    const nc = respond('DELETE', 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
    assert.equal(heads(nc)[0]!.bodyKind, 'none');
    assert.deepEqual(heads(nc)[0]!.headers.raw, []);
  });

  test('Content-Length: 0 completes at once', () => {
    const h = respond('GET', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.equal(heads(h)[0]!.bodyKind, 'none');
    assert.deepEqual(h.events.map((e) => e.kind), ['response', 'complete']);
  });

  test('keep-alive: 1.1 default, Connection: close, HTTP/1.0 default and keep-alive', () => {
    const ka = (s: string): boolean => heads(respond('GET', s))[0]!.keepAlive;
    assert.equal(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), true);
    assert.equal(ka('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'), false);
    assert.equal(ka('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'), false);
    assert.equal(ka('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n'), true);
  });

  test('after a Connection: close response nothing more is parsed', () => {
    const h = respond('GET', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nxjunk');
    assert.deepEqual(errors(h), []);
    assert.ok(h.parser.isDead);
  });

  test('a status line without reason phrase is accepted', () => {
    assert.equal(heads(respond('GET', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n'))[0]!.reason, '');
    assert.equal(heads(respond('GET', 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n'))[0]!.reason, '');
    assert.equal(heads(respond('GET', 'HTTP/1.1 599 Custom\tthing\r\nContent-Length: 0\r\n\r\n'))[0]!.reason, 'Custom\tthing');
  });
});

describe('ResponseParser: interim responses and upgrades', () => {
  test('100 Continue is reported, then the final response is parsed', () => {
    const h = respond('POST', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual(h.events.map((e) => e.kind), ['info', 'response', 'body', 'complete']);
    assert.deepEqual(h.events[0], { kind: 'info', status: 100, headers: [] });
    assert.equal(heads(h)[0]!.status, 201);
  });

  test('several 1xx (103 Early Hints with fields), across reads', () => {
    const h = responseHarness();
    h.parser.expectResponse('GET');
    h.parser.execute(b('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 10'));
    h.parser.execute(b('2 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual(h.events.slice(0, 2), [
      { kind: 'info', status: 103, headers: ['link', '</a.css>; rel=preload'] },
      { kind: 'info', status: 102, headers: [] },
    ]);
    assert.equal(heads(h)[0]!.status, 200);
  });

  test('101 to an upgrade request: tunnel, with the remainder kept', () => {
    const h = respond('GET', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi', true);
    const head = heads(h)[0]!;
    assert.equal(head.upgrade, true);
    assert.equal(head.keepAlive, false);
    assert.deepEqual(h.events.map((e) => e.kind), ['response']);
    h.parser.execute(b('more'));
    assert.equal(h.parser.takeRemainder().toString('latin1'), '\x81\x02himore');
  });

  test('2xx to CONNECT is a tunnel; a refusal is an ordinary response', () => {
    const ok = respond('CONNECT', 'HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01');
    assert.equal(heads(ok)[0]!.upgrade, true);
    assert.equal(ok.parser.takeRemainder().toString('latin1'), '\x16\x03\x01');
    const no = respond('CONNECT', 'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nnope');
    assert.equal(heads(no)[0]!.upgrade, false);
    assert.equal(no.body(), 'nope');
  });
});

describe('ResponseParser: malformed upstream responses', () => {
  const cases: [string, string, string][] = [
    ['CL + TE', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'http1.content_length_and_chunked_not_allowed'],
    ['duplicate CL', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n', 'http1.multiple_content_length'],
    ['CL list', 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n', 'http1.invalid_content_length'],
    ['CL garbage', 'HTTP/1.1 200 OK\r\nContent-Length: three\r\n\r\n', 'http1.invalid_content_length'],
    ['TE gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'http1.invalid_transfer_encoding'],
    ['TE gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'http1.invalid_transfer_encoding'],
    ['TE in HTTP/1.0', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'http1.transfer_encoding_in_http10'],
    ['TE on 204', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n', 'http1.transfer_encoding_not_allowed'],
    ['CL on 204', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', 'http1.content_length_not_allowed'],
    ['CL on 100', 'HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n', 'http1.content_length_not_allowed'],
    ['101 nobody asked for', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'http1.unexpected_101'],
    ['4-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'http1.invalid_status'],
    ['2-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'http1.invalid_status'],
    ['status 099', 'HTTP/1.1 099 Odd\r\n\r\n', 'http1.invalid_status'],
    ['status 600', 'HTTP/1.1 600 Odd\r\n\r\n', 'http1.invalid_status'],
    ['no status', 'HTTP/1.1\r\n\r\n', 'http1.invalid_status'],
    ['HTTP/2 status line', 'HTTP/2 200 OK\r\n\r\n', 'http1.invalid_version'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'http1.unsupported_version'],
    ['not HTTP', 'ICY 200 OK\r\n\r\n', 'http1.invalid_version'],
    ['control char in reason', 'HTTP/1.1 200 O\x01K\r\n\r\n', 'http1.invalid_characters'],
    ['bare LF status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'http1.bare_lf'],
    ['bare LF field', 'HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n', 'http1.bare_lf'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n', 'http1.obs_fold'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', 'http1.whitespace_before_colon'],
    ['NUL in value', 'HTTP/1.1 200 OK\r\nX: a\x00\r\nContent-Length: 0\r\n\r\n', 'http1.invalid_characters'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n', 'http1.invalid_chunk_size'],
    ['bytes after a complete response', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n', 'http1.unexpected_data'],
  ];
  for (const [name, input, reason] of cases) {
    test(`${name} → ${reason}`, () => {
      for (const split of [false, true]) {
        const h = responseHarness();
        h.parser.expectResponse('GET');
        if (split) for (const c of b(input)) h.parser.execute(Buffer.from([c]));
        else h.parser.execute(b(input));
        assert.deepEqual(errors(h), [reason], `${name} (${split ? 'byte by byte' : 'one chunk'})`);
        assert.ok(h.parser.isDead);
      }
    });
  }

  test('bytes while no response is expected are an error', () => {
    const h = responseHarness();
    h.parser.execute(b('HTTP/1.1 200 OK\r\n\r\n'));
    assert.deepEqual(errors(h), ['http1.unexpected_data']);
  });

  test('expecting a second response while one is pending is a bug', () => {
    const h = responseHarness();
    h.parser.expectResponse('GET');
    assert.throws(() => h.parser.expectResponse('GET'), { code: 'MW_INTERNAL' });
  });

  test('header limits apply to responses too', () => {
    let s = 'HTTP/1.1 200 OK\r\n';
    for (let i = 0; i < 101; i++) s += `X-${i}: v\r\n`;
    assert.deepEqual(errors(respond('GET', s + '\r\n')), ['http1.too_many_headers']);
    const big = responseHarness({ maxHeadersKb: 1 });
    big.parser.expectResponse('GET');
    big.parser.execute(b('HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(1100) + '\r\n\r\n'));
    assert.deepEqual(errors(big), ['http1.headers_too_large']);
  });
});
