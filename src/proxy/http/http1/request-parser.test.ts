import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isH2Preface, RequestParser } from './request-parser.js';
import { normalize, prng, randomSplits, requestHarness, type RequestHarness } from './test-util.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function parseAll(input: string | Buffer, opts = {}): RequestHarness {
  const h = requestHarness(opts, true);
  h.parser.execute(typeof input === 'string' ? b(input) : input);
  return h;
}

/** The request must be rejected with exactly this status and reason, and no head may have been delivered. */
function rejects(input: string, status: number, reason: string, opts = {}): void {
  for (const split of [false, true]) {
    const h = requestHarness(opts, true);
    if (split) for (const c of b(input)) h.parser.execute(Buffer.from([c]));
    else h.parser.execute(b(input));
    assert.deepEqual(h.errors(), [{ status, reason }], `${JSON.stringify(input)} (${split ? 'byte by byte' : 'one chunk'})`);
    assert.equal(h.heads().length, 0, `no head may be delivered for ${JSON.stringify(input)}`);
    assert.ok(h.parser.isDead);
  }
}

describe('RequestParser: heads', () => {
  test('a GET: method, path, version, headers lowercased and trimmed, in order', () => {
    const h = parseAll('GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Foo:  bar \t\r\nx-empty:\r\nX-Foo: second\r\n\r\n');
    assert.deepEqual(h.errors(), []);
    const [head] = h.heads();
    assert.ok(head);
    assert.equal(head.method, 'GET');
    assert.equal(head.path, '/a/b?c=d');
    assert.equal(head.versionMinor, 1);
    assert.equal(head.authority, 'example.com');
    assert.equal(head.scheme, undefined);
    assert.deepEqual(head.headers.raw, ['host', 'example.com', 'x-foo', 'bar', 'x-empty', '', 'x-foo', 'second']);
    assert.equal(head.keepAlive, true);
    assert.equal(head.upgrade, false);
    assert.equal(head.expectContinue, false);
    assert.equal(head.bodyKind, 'none');
    assert.equal(head.contentLength, undefined);
    assert.deepEqual(h.events.map((e) => e.kind), ['head', 'complete']);
  });

  test('underscores and obs-text are accepted (headers_with_underscores_action is the HCM’s business)', () => {
    const h = parseAll('GET / HTTP/1.1\r\nHost: a\r\nx_under_score: caf\xe9\r\n\r\n');
    assert.deepEqual(h.heads()[0]!.headers.raw, ['host', 'a', 'x_under_score', 'caf\xe9']);
  });

  test('keep-alive: 1.1 default, Connection: close, 1.0 default and keep-alive, token lists', () => {
    const ka = (req: string): boolean => parseAll(req).heads()[0]!.keepAlive;
    assert.equal(ka('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), true);
    assert.equal(ka('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), false);
    assert.equal(ka('GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n'), false);
    assert.equal(ka('GET / HTTP/1.0\r\n\r\n'), false);
    assert.equal(ka('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'), true);
    assert.equal(ka('GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n'), true);
  });

  test('HTTP/1.0 without Host is accepted (the connection manager applies default_host_for_http_10)', () => {
    const head = parseAll('GET / HTTP/1.0\r\n\r\n').heads()[0]!;
    assert.equal(head.versionMinor, 0);
    assert.equal(head.authority, undefined);
  });

  test('Expect: 100-continue (case-insensitive), only for HTTP/1.1', () => {
    const ec = (req: string): boolean => parseAll(req).heads()[0]!.expectContinue;
    assert.equal(ec('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\nx'), true);
    assert.equal(ec('POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx'), false);
    assert.equal(ec('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: something\r\n\r\nx'), false);
  });

  test('empty lines before the request line are ignored (RFC 9112 §2.2)', () => {
    const h = parseAll('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(h.heads()[0]!.path, '/');
  });

  test('absolute-form is rewritten to origin-form; its authority replaces Host (Envoy handlePath)', () => {
    const head = parseAll('GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n').heads()[0]!;
    assert.equal(head.path, '/p?q=1');
    assert.equal(head.authority, 'example.com:8080');
    assert.equal(head.scheme, 'http');
    assert.deepEqual(head.headers.getAll('host'), ['example.com:8080']);
    const bare = parseAll('GET HTTPS://Example.com HTTP/1.1\r\n\r\n').heads()[0]!;
    assert.equal(bare.path, '/');
    assert.equal(bare.scheme, 'https');
    assert.equal(bare.authority, 'Example.com');
    assert.deepEqual(bare.headers.raw, ['host', 'Example.com']);
    assert.equal(parseAll('GET http://h?x=1 HTTP/1.1\r\n\r\n').heads()[0]!.path, '/?x=1');
  });

  test('allowAbsoluteUrl: false passes the URL through as the path (Envoy allow_absolute_url)', () => {
    const head = parseAll('GET http://example.com/p HTTP/1.1\r\nHost: h\r\n\r\n', { allowAbsoluteUrl: false }).heads()[0]!;
    assert.equal(head.path, 'http://example.com/p');
    assert.equal(head.authority, 'h');
  });

  test('OPTIONS * is accepted', () => {
    assert.equal(parseAll('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').heads()[0]!.path, '*');
  });

  test('methods: Envoy’s known list by default, any token with allowCustomMethods', () => {
    for (const m of ['PURGE', 'PROPFIND', 'MKCALENDAR', 'UNSUBSCRIBE']) {
      assert.equal(parseAll(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`).heads()[0]!.method, m);
    }
    const custom = parseAll('FROB /x HTTP/1.1\r\nHost: a\r\n\r\n', { allowCustomMethods: true }).heads()[0]!;
    assert.equal(custom.method, 'FROB');
  });
});

describe('RequestParser: bodies and framing', () => {
  const post = 'POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world';

  test('Content-Length body', () => {
    const h = parseAll(post);
    assert.equal(h.heads()[0]!.bodyKind, 'length');
    assert.equal(h.heads()[0]!.contentLength, 11);
    assert.equal(h.body(), 'hello world');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: undefined });
  });

  test('Content-Length: 0 has no body', () => {
    const h = parseAll('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n');
    assert.equal(h.heads()[0]!.bodyKind, 'none');
    assert.equal(h.heads()[0]!.contentLength, 0);
    assert.deepEqual(h.events.map((e) => e.kind), ['head', 'complete']);
  });

  test('a Content-Length request split at every byte boundary gives the same events', () => {
    const whole = normalize(parseAll(post).events);
    const data = b(post);
    for (let i = 1; i < data.length; i++) {
      const h = requestHarness({}, true);
      h.parser.execute(data.subarray(0, i));
      h.parser.execute(data.subarray(i));
      assert.deepEqual(normalize(h.events), whole, `split at ${i}`);
    }
  });

  const chunked =
    'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n' +
    '5\r\nhello\r\n' +
    '1;ext=val;flag\r\n \r\n' +
    'A ; q="a \\"quoted\\" \\\\ value"\r\n0123456789\r\n' +
    '000\r\nX-Checksum: abc\r\nX-Other:  d \r\n\r\n';

  test('chunked body with extensions and trailers', () => {
    const h = parseAll(chunked);
    assert.deepEqual(h.errors(), []);
    assert.equal(h.heads()[0]!.bodyKind, 'chunked');
    assert.equal(h.body(), 'hello 0123456789');
    assert.deepEqual(h.events.at(-1), { kind: 'complete', trailers: ['x-checksum', 'abc', 'x-other', 'd'] });
  });

  test('a chunked request fed one byte at a time and in random splits gives the same events', () => {
    const whole = normalize(parseAll(chunked).events);
    const data = b(chunked);
    const h = requestHarness({}, true);
    for (const c of data) h.parser.execute(Buffer.from([c]));
    assert.deepEqual(normalize(h.events), whole);
    const rnd = prng(42);
    for (let round = 0; round < 200; round++) {
      const r = requestHarness({}, true);
      for (const piece of randomSplits(data, rnd)) r.parser.execute(piece);
      assert.deepEqual(normalize(r.events), whole, `round ${round}`);
    }
  });

  test('a chunked request split at every byte boundary gives the same events', () => {
    const whole = normalize(parseAll(chunked).events);
    const data = b(chunked);
    for (let i = 1; i < data.length; i++) {
      const h = requestHarness({}, true);
      h.parser.execute(data.subarray(0, i));
      h.parser.execute(data.subarray(i));
      assert.deepEqual(normalize(h.events), whole, `split at ${i}`);
    }
  });

  test('allowChunkedLength: chunked wins and Content-Length is removed (Envoy allow_chunked_length)', () => {
    const req = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    const h = parseAll(req, { allowChunkedLength: true });
    const head = h.heads()[0]!;
    assert.equal(head.bodyKind, 'chunked');
    assert.equal(head.headers.has('content-length'), false);
    assert.equal(h.body(), 'abc');
  });
});

describe('RequestParser: pipelining', () => {
  const three =
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc' +
    'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n';

  test('delivers one request at a time; resume() continues with the buffered bytes', () => {
    const h = requestHarness();
    h.parser.execute(b(three));
    assert.deepEqual(h.heads().map((x) => x.path), ['/1']);
    assert.ok(h.parser.isPaused);
    assert.ok(h.parser.bufferedBytes > 0);
    // bytes arriving while paused are only buffered
    h.parser.execute(b('GET /4 HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.deepEqual(h.heads().map((x) => x.path), ['/1']);
    h.parser.resume();
    assert.deepEqual(h.heads().map((x) => x.path), ['/1', '/2']);
    assert.equal(h.body(), 'abc');
    h.parser.resume();
    h.parser.resume();
    assert.deepEqual(h.heads().map((x) => x.path), ['/1', '/2', '/3', '/4']);
    assert.equal(h.parser.bufferedBytes, 0);
    h.parser.resume(); // nothing left: a no-op until more bytes come
    h.parser.execute(b('GET /5 HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.deepEqual(h.heads().map((x) => x.path), ['/1', '/2', '/3', '/4', '/5']);
    assert.deepEqual(
      h.events.map((e) => e.kind),
      ['head', 'complete', 'head', 'body', 'complete', 'head', 'complete', 'head', 'complete', 'head', 'complete'],
    );
  });

  test('resume() from inside onMessageComplete continues synchronously', () => {
    const h = parseAll(three);
    assert.deepEqual(h.heads().map((x) => x.path), ['/1', '/2', '/3']);
  });

  test('a malformed pipelined request is only reported once the owner resumes to it', () => {
    const h = requestHarness();
    h.parser.execute(b('GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost : a\r\n\r\n'));
    assert.deepEqual(h.errors(), []);
    h.parser.resume();
    assert.deepEqual(h.errors(), [{ status: 400, reason: 'http1.whitespace_before_colon' }]);
    assert.deepEqual(h.heads().map((x) => x.path), ['/ok']);
  });

  test('nothing is parsed after a Connection: close request', () => {
    const h = parseAll('GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.deepEqual(h.heads().map((x) => x.path), ['/1']);
    assert.ok(h.parser.isDead);
  });

  test('body views handed out stay intact while later requests are parsed from the same buffers', () => {
    const h = requestHarness({}, true);
    const rnd = prng(7);
    let all = '';
    for (let i = 0; i < 50; i++) all += `POST /${i} HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nbody-${String(i).padStart(5, '0')}`;
    for (const piece of randomSplits(b(all), rnd, 40)) h.parser.execute(piece);
    const expected = Array.from({ length: 50 }, (_, i) => `body-${String(i).padStart(5, '0')}`).join('');
    assert.equal(h.body(), expected);
  });
});

describe('RequestParser: upgrades', () => {
  const ws =
    'GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n';

  test('an upgrade head stops HTTP parsing; takeRemainder() returns the bytes after the head', () => {
    const h = requestHarness();
    h.parser.execute(b(ws + '\x81\x05hello'));
    const head = h.heads()[0]!;
    assert.equal(head.upgrade, true);
    assert.equal(head.bodyKind, 'none');
    assert.deepEqual(h.events.map((e) => e.kind), ['head']); // no message completion: what follows is not HTTP
    h.parser.execute(b('GET / HTTP/1.1\r\n')); // still raw payload, not a request
    assert.equal(h.heads().length, 1);
    assert.throws(() => h.parser.resume(), { code: 'MW_INTERNAL' });
    assert.equal(h.parser.takeRemainder().toString('latin1'), '\x81\x05helloGET / HTTP/1.1\r\n');
    assert.ok(h.parser.isDead);
  });

  test('takeRemainder() works from inside onRequestHead', () => {
    let rest: Buffer | undefined;
    const p: RequestParser = new RequestParser({
      onRequestHead: () => (rest = p.takeRemainder()),
      onBody: () => assert.fail('no body'),
      onMessageComplete: () => assert.fail('no completion'),
      onError: () => assert.fail('no error'),
    });
    p.execute(b(ws + 'raw'));
    assert.equal(rest?.toString(), 'raw');
  });

  test('CONNECT: authority-form target becomes the authority and Host; upgrade', () => {
    const h = requestHarness();
    h.parser.execute(b('CONNECT example.com:443 HTTP/1.1\r\nHost: ignored\r\nContent-Length: 0\r\n\r\n\x16\x03'));
    const head = h.heads()[0]!;
    assert.equal(head.upgrade, true);
    assert.equal(head.path, '');
    assert.equal(head.authority, 'example.com:443');
    assert.deepEqual(head.headers.raw, ['host', 'example.com:443']); // Content-Length: 0 dropped, as Envoy does
    assert.equal(h.parser.takeRemainder().toString('latin1'), '\x16\x03');
    const v6 = parseAll('CONNECT [::1]:8443 HTTP/1.1\r\n\r\n').heads()[0]!;
    assert.equal(v6.authority, '[::1]:8443');
  });

  test('h2c upgrade offers are stripped and served as HTTP/1.1 (as Envoy does)', () => {
    const h = parseAll(
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, keep-alive\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    const head = h.heads()[0]!;
    assert.equal(head.upgrade, false);
    assert.deepEqual(head.headers.raw, ['host', 'a', 'connection', 'keep-alive']);
    assert.deepEqual(h.events.map((e) => e.kind), ['head', 'complete']);
  });

  test('Upgrade without the Connection token, or in HTTP/1.0, is not an upgrade', () => {
    assert.equal(parseAll('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').heads()[0]!.upgrade, false);
    assert.equal(parseAll('GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n').heads()[0]!.upgrade, false);
  });
});

describe('RequestParser: rejections (status, reason, and no head delivered)', () => {
  const H = 'Host: a\r\n';
  const cases: [string, string, number, string][] = [
    // framing
    ['CL + TE', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`, 400, 'http1.content_length_and_chunked_not_allowed'],
    ['TE + CL', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`, 400, 'http1.content_length_and_chunked_not_allowed'],
    ['duplicate identical CL', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\n`, 400, 'http1.multiple_content_length'],
    ['duplicate differing CL', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\n`, 400, 'http1.multiple_content_length'],
    ['CL list "5, 5"', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL non-digit', `POST / HTTP/1.1\r\n${H}Content-Length: 1a\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL negative', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL plus sign', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL empty', `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL hex', `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['CL overflow', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, 400, 'http1.invalid_content_length'],
    ['TE gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE gzip, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE chunked, gzip', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE chunked, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE empty', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n\r\n`, 501, 'http1.invalid_transfer_encoding'],
    ['TE on CONNECT', 'CONNECT a:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', 501, 'http1.invalid_transfer_encoding'],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'http1.transfer_encoding_in_http10'],
    ['CONNECT with a body', 'CONNECT a:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\n', 400, 'http1.body_disallowed'],
    // line endings and folding
    ['bare LF in request line', `GET / HTTP/1.1\n${H}\r\n`, 400, 'http1.bare_lf'],
    ['bare LF after a field', `GET / HTTP/1.1\r\nHost: a\n\r\n`, 400, 'http1.bare_lf'],
    ['bare LF as the blank line', `GET / HTTP/1.1\r\n${H}\n`, 400, 'http1.bare_lf'],
    ['bare LF only', 'GET / HTTP/1.1\nHost: a\n\n', 400, 'http1.bare_lf'],
    ['bare CR in request line', `GET / HTTP/1.1\rX\n${H}\r\n`, 400, 'http1.bare_cr'],
    ['bare CR in a value', `GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n`, 400, 'http1.bare_cr'],
    ['bare CR as the blank line', `GET / HTTP/1.1\r\n${H}\rX`, 400, 'http1.bare_cr'],
    ['bare CR first', '\rGET / HTTP/1.1\r\n\r\n', 400, 'http1.bare_cr'],
    ['obs-fold', `GET / HTTP/1.1\r\n${H}X: a\r\n  continued\r\n\r\n`, 400, 'http1.obs_fold'],
    ['obs-fold with HTAB', `GET / HTTP/1.1\r\n${H}X: a\r\n\tcontinued\r\n\r\n`, 400, 'http1.obs_fold'],
    ['whitespace before the first field', `GET / HTTP/1.1\r\n ${H}\r\n`, 400, 'http1.obs_fold'],
    // field names and values
    ['SP before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400, 'http1.whitespace_before_colon'],
    ['HTAB before colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n', 400, 'http1.whitespace_before_colon'],
    ['empty name', `GET / HTTP/1.1\r\n${H}: x\r\n\r\n`, 400, 'http1.invalid_header_name'],
    ['no colon', `GET / HTTP/1.1\r\n${H}NoColon\r\n\r\n`, 400, 'http1.missing_colon'],
    ['"(" in name', `GET / HTTP/1.1\r\n${H}X(Y: z\r\n\r\n`, 400, 'http1.invalid_header_name'],
    ['quote in name', `GET / HTTP/1.1\r\n${H}X"Y: z\r\n\r\n`, 400, 'http1.invalid_header_name'],
    ['non-ASCII in name', `GET / HTTP/1.1\r\n${H}X\xe9: z\r\n\r\n`, 400, 'http1.invalid_header_name'],
    ['NUL in value', `GET / HTTP/1.1\r\n${H}X: a\x00b\r\n\r\n`, 400, 'http1.invalid_characters'],
    ['control char in value', `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`, 400, 'http1.invalid_characters'],
    ['DEL in value', `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400, 'http1.invalid_characters'],
    ['LF inside a value', `GET / HTTP/1.1\r\n${H}X: a\nb\r\n\r\n`, 400, 'http1.bare_lf'],
    // request line
    ['invalid method char', `G@T / HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_method'],
    ['unknown method', `FROB / HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_method'],
    ['lowercase method', `get / HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_method'],
    ['leading space', ` GET / HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_method'],
    ['double space', `GET  / HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['space in target', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_version'],
    ['control char in target', `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['HTAB in target', `GET /a\tb HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['non-ASCII in target', `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['no version', `GET /\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['lowercase version', `GET / http/1.1\r\n${H}\r\n`, 400, 'http1.invalid_version'],
    ['short version', `GET / HTTP/1\r\n${H}\r\n`, 400, 'http1.invalid_version'],
    ['version with trailing space', `GET / HTTP/1.1 \r\n${H}\r\n`, 400, 'http1.invalid_version'],
    ['two-digit minor', `GET / HTTP/1.10\r\n${H}\r\n`, 400, 'http1.invalid_version'],
    ['HTTP/1.2', `GET / HTTP/1.2\r\n${H}\r\n`, 505, 'http1.unsupported_version'],
    ['HTTP/2.0', `GET / HTTP/2.0\r\n${H}\r\n`, 505, 'http1.unsupported_version'],
    ['HTTP/0.9', `GET / HTTP/0.9\r\n${H}\r\n`, 505, 'http1.unsupported_version'],
    ['h2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505, 'http1.h2_preface'],
    ['relative target', `GET foo HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['* for GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400, 'http1.invalid_url'],
    ['ftp scheme', 'GET ftp://a/ HTTP/1.1\r\n\r\n', 400, 'http1.invalid_scheme'],
    ['absolute-form without authority', 'GET http:///x HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    ['userinfo in absolute-form', 'GET http://user@evil.example/ HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    ['CONNECT without port', 'CONNECT example.com HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    ['CONNECT with a path', 'CONNECT /x HTTP/1.1\r\n\r\n', 400, 'http1.invalid_url'],
    // Host
    ['missing Host in 1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400, 'missing_host_header'],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'http1.multiple_host'],
    ['invalid Host', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400, 'http.invalid_authority'],
    ['Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'http.invalid_authority'],
  ];
  for (const [name, input, status, reason] of cases) {
    test(`${name} → ${status}`, () => rejects(input, status, reason));
  }
});

describe('RequestParser: chunked body errors (after the head, before completion)', () => {
  const head = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
  const cases: [string, string, number, string][] = [
    ['non-hex size', 'zz\r\n', 400, 'http1.invalid_chunk_size'],
    ['empty size', '\r\n', 400, 'http1.invalid_chunk_size'],
    ['negative size', '-1\r\nx\r\n', 400, 'http1.invalid_chunk_size'],
    ['0x prefix', '0x5\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['size overflow', 'fffffffffffffff\r\n', 400, 'http1.invalid_chunk_size'],
    ['missing CRLF after data', '5\r\nhelloX\r\n0\r\n\r\n', 400, 'http1.invalid_chunk_end'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n', 400, 'http1.invalid_chunk_end'],
    ['bare LF in size line', '5\nhello\r\n', 400, 'http1.bare_lf'],
    ['control char in extension', '5;a=\x01\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['extension without name', '5;\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['extension without ";"', '5 a\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['whitespace after size', '5 \r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['unterminated quoted extension', '5;a="x\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['lone CR in extension', '5;a=b\rc\r\nhello\r\n', 400, 'http1.invalid_chunk_extension'],
    ['bad trailer', '0\r\nX : y\r\n\r\n', 400, 'http1.whitespace_before_colon'],
    ['trailer with bare LF', '0\r\nX: y\n\r\n', 400, 'http1.bare_lf'],
    ['extension too long', `1;${'a'.repeat(17000)}\r\nx\r\n`, 413, 'http1.chunk_extension_too_large'],
    ['extension too long, never ending', `1;${'a'.repeat(17000)}`, 413, 'http1.chunk_extension_too_large'],
  ];
  for (const [name, body, status, reason] of cases) {
    test(`${name} → ${status}`, () => {
      for (const split of [false, true]) {
        const h = requestHarness({}, true);
        const data = b(head + body);
        if (split) for (const piece of randomSplits(data, prng(3))) h.parser.execute(piece);
        else h.parser.execute(data);
        assert.deepEqual(h.errors(), [{ status, reason }], name);
        assert.equal(h.events.filter((e) => e.kind === 'complete').length, 0);
      }
    });
  }

  test('valid extension forms are accepted (BWS, quoted-string, bare names)', () => {
    const h = parseAll(head + '3 ; a ; b = c ;d="x;y"\r\nabc\r\n0;last\r\n\r\n');
    assert.deepEqual(h.errors(), []);
    assert.equal(h.body(), 'abc');
  });
});

describe('RequestParser: limits', () => {
  /** A request whose head (request line .. blank line) is exactly `size` bytes. */
  function headOfSize(size: number): string {
    const start = 'GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ';
    const end = '\r\n\r\n';
    return start + 'p'.repeat(size - start.length - end.length) + end;
  }

  test('head of exactly 60 KiB is accepted; 60 KiB + 1 is 431', () => {
    const ok = headOfSize(60 * 1024);
    assert.equal(ok.length, 61440);
    assert.equal(parseAll(ok).heads().length, 1);
    rejects(headOfSize(60 * 1024 + 1), 431, 'http1.headers_too_large');
  });

  test('the limit counts the whole head, split anywhere, and a head that cannot finish in time is 431 at once', () => {
    const ok = b(headOfSize(61440));
    const rnd = prng(11);
    const h = requestHarness({}, true);
    for (const piece of randomSplits(ok, rnd, 3000)) h.parser.execute(piece);
    assert.equal(h.heads().length, 1);
    const never = requestHarness({}, true);
    never.parser.execute(b('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(61440)));
    assert.deepEqual(never.errors(), [{ status: 431, reason: 'http1.headers_too_large' }]);
  });

  test('a huge request-target counts into the same budget (431, as Envoy)', () => {
    rejects(`GET /${'a'.repeat(61440)} HTTP/1.1\r\nHost: a\r\n\r\n`, 431, 'http1.headers_too_large');
  });

  test('maxHeadersKb is configurable', () => {
    assert.equal(parseAll(headOfSize(1024), { maxHeadersKb: 1 }).heads().length, 1);
    rejects(headOfSize(1025), 431, 'http1.headers_too_large', { maxHeadersKb: 1 });
  });

  const withFields = (n: number): string => {
    let s = 'GET / HTTP/1.1\r\nHost: a\r\n';
    for (let i = 1; i < n; i++) s += `X-${i}: v\r\n`;
    return s + '\r\n';
  };

  test('100 fields are accepted; 101 are 431', () => {
    assert.equal(parseAll(withFields(100)).heads()[0]!.headers.size, 100);
    rejects(withFields(101), 431, 'http1.too_many_headers');
    assert.equal(parseAll(withFields(3), { maxHeadersCount: 3 }).heads().length, 1);
    rejects(withFields(4), 431, 'http1.too_many_headers', { maxHeadersCount: 3 });
  });

  test('trailers have the same count limit', () => {
    let t = '';
    for (let i = 0; i < 101; i++) t += `T-${i}: v\r\n`;
    const h = parseAll('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' + t + '\r\n');
    assert.deepEqual(h.errors(), [{ status: 431, reason: 'http1.too_many_trailers' }]);
  });

  test('maxRequestLineBytes: at the limit ok, one more → 414, also before the line is complete', () => {
    const line = (len: number): string => 'GET /' + 'a'.repeat(len - 'GET / HTTP/1.1'.length) + ' HTTP/1.1';
    assert.equal(line(100).length, 100);
    assert.equal(parseAll(line(100) + '\r\nHost: a\r\n\r\n', { maxRequestLineBytes: 100 }).heads().length, 1);
    rejects(line(101) + '\r\nHost: a\r\n\r\n', 414, 'http1.request_line_too_long', { maxRequestLineBytes: 100 });
    const partial = requestHarness({ maxRequestLineBytes: 100 });
    partial.parser.execute(b('GET /' + 'a'.repeat(200)));
    assert.deepEqual(partial.errors(), [{ status: 414, reason: 'http1.request_line_too_long' }]);
  });
});

describe('RequestParser: lifecycle', () => {
  test('after an error the parser is dead and ignores input', () => {
    const h = requestHarness();
    h.parser.execute(b('GET / HTTP/1.1\r\nHost : a\r\n\r\n'));
    h.parser.execute(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(h.errors().length, 1);
    assert.equal(h.heads().length, 0);
  });

  test('destroy() inside onRequestHead stops every later callback', () => {
    const seen: string[] = [];
    const p: RequestParser = new RequestParser({
      onRequestHead: () => {
        seen.push('head');
        p.destroy();
      },
      onBody: () => seen.push('body'),
      onMessageComplete: () => seen.push('complete'),
      onError: () => seen.push('error'),
    });
    p.execute(b('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc'));
    assert.deepEqual(seen, ['head']);
  });

  test('feeding the parser from its own callback is refused', () => {
    const p: RequestParser = new RequestParser({
      onRequestHead: () => p.execute(b('x')),
      onBody: () => {},
      onMessageComplete: () => {},
      onError: () => {},
    });
    assert.throws(() => p.execute(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), { code: 'MW_INTERNAL' });
  });

  test('isH2Preface tells the HTTP/2 preface apart, and says when it needs more bytes', () => {
    assert.equal(isH2Preface(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), true);
    assert.equal(isH2Preface(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04')), true);
    assert.equal(isH2Preface(b('PRI * HT')), undefined);
    assert.equal(isH2Preface(b('GET / HTTP/1.1\r\n')), false);
    assert.equal(isH2Preface(b('PRX')), false);
  });
});
