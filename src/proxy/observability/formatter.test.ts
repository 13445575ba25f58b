import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { HeaderMap } from '../http/headers.js';
import { ResponseFlag, StreamInfo } from '../stream-info.js';
import {
  compileFormatString,
  compileJsonFormat,
  compileStrftime,
  compileSubstitutionFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  isoTime,
} from './formatter.js';

const START = Date.UTC(2024, 0, 1, 0, 0, 0, 123); // 2024-01-01T00:00:00.123Z, a Monday

/** A finished HTTP request with every field set. */
function httpInfo(): StreamInfo {
  const i = new StreamInfo({ remote: '192.168.1.5:4321', local: '10.0.0.2:8080', id: 77 }, START, 1000);
  i.protocol = 'HTTP/1.1';
  i.requestHeaders = HeaderMap.from({
    ':method': 'GET',
    ':path': '/foo?x=1',
    ':authority': 'example.com',
    'x-envoy-original-path': '/orig',
    'x-forwarded-for': '10.0.0.1',
    'user-agent': 'curl/8.0',
    'x-request-id': 'abc-123',
  });
  i.responseHeaders = HeaderMap.from({ ':status': '200', 'x-envoy-upstream-service-time': '7', 'content-type': 'text/plain' });
  i.responseTrailers = HeaderMap.from({ 'grpc-status': '0' });
  i.responseCode = 200;
  i.responseCodeDetails = 'via_upstream';
  i.bytesReceived = 5;
  i.bytesSent = 12;
  i.upstreamCluster = 'service_a';
  i.upstreamHost = '10.1.2.3:9000';
  i.upstreamLocalAddress = '10.0.0.2:50000';
  i.upstreamRequestAttemptCount = 1;
  i.routeName = 'r1';
  i.virtualClusterName = 'vc1';
  i.downstreamRemoteAddress = '10.0.0.1:0';
  i.requestedServerName = 'example.com';
  i.lastDownstreamRxByteReceived = 1.9;
  i.lastUpstreamTxByteSent = 2.2;
  i.firstUpstreamRxByteReceived = 30.5;
  i.lastDownstreamTxByteSent = 42.7;
  i.downstreamTls = {
    version: 'TLSv1.3',
    cipher: 'TLS_AES_128_GCM_SHA256',
    peerSubject: 'CN=client',
    peerUriSan: ['spiffe://mesh/ns/a/sa/x', 'spiffe://mesh/ns/a/sa/y'],
    peerFingerprint256: 'ab12',
    peerSerial: '0f',
    localUriSan: ['spiffe://mesh/ns/b/sa/z'],
    localSubject: 'CN=server',
  };
  i.upstreamTls = { peerUriSan: ['spiffe://mesh/ns/c/sa/u'], version: 'TLSv1.2' };
  i.dynamicMetadata = { 'com.test.my_filter': { test_key: 'foo', n: 5, test_object: { inner_key: 'bar' } } };
  return i;
}

/** A TCP connection: no request/response headers, nothing HTTP. */
function tcpInfo(): StreamInfo {
  const i = new StreamInfo({ remote: '[::1]:4321', local: '127.0.0.1:10000', id: 3 }, START, 1000);
  i.bytesReceived = 10;
  i.bytesSent = 20;
  i.upstreamHost = '10.1.2.3:9000';
  i.lastDownstreamTxByteSent = 42.7;
  return i;
}

const fmt = (f: string, info: StreamInfo, opts?: { omitEmptyValues?: boolean }): string => compileFormatString(f, opts).format(info);

test("Envoy's default format renders exactly for an HTTP request", () => {
  assert.equal(
    fmt(DEFAULT_ACCESS_LOG_FORMAT, httpInfo()),
    '[2024-01-01T00:00:00.123Z] "GET /orig HTTP/1.1" 200 - 5 12 42 7 "10.0.0.1" "curl/8.0" "abc-123" "example.com" "10.1.2.3:9000"\n',
  );
});

test('the default format string is the one documented by Envoy', () => {
  assert.equal(
    DEFAULT_ACCESS_LOG_FORMAT,
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n',
  );
});

test('the default format on a TCP connection prints "-" for every HTTP field and 0 for the response code', () => {
  assert.equal(fmt(DEFAULT_ACCESS_LOG_FORMAT, tcpInfo()), '[2024-01-01T00:00:00.123Z] "- - -" 0 - 10 20 42 - "-" "-" "-" "-" "10.1.2.3:9000"\n');
});

test('every operator, one by one, on an HTTP request', () => {
  const i = httpInfo();
  const cases: [string, string][] = [
    ['%START_TIME%', '2024-01-01T00:00:00.123Z'],
    ['%REQ(:PATH)%', '/foo?x=1'],
    ['%REQ(user-agent)%', 'curl/8.0'],
    ['%RESP(CONTENT-TYPE)%', 'text/plain'],
    ['%TRAILER(GRPC-STATUS)%', '0'],
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%RESPONSE_CODE%', '200'],
    ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
    ['%CONNECTION_TERMINATION_DETAILS%', '-'],
    ['%RESPONSE_FLAGS%', '-'],
    ['%RESPONSE_FLAGS_LONG%', '-'],
    ['%BYTES_RECEIVED%', '5'],
    ['%BYTES_SENT%', '12'],
    ['%DURATION%', '42'],
    ['%REQUEST_DURATION%', '1'],
    ['%REQUEST_TX_DURATION%', '2'],
    ['%RESPONSE_DURATION%', '30'],
    ['%RESPONSE_TX_DURATION%', '12'],
    ['%UPSTREAM_HOST%', '10.1.2.3:9000'],
    ['%UPSTREAM_CLUSTER%', 'service_a'],
    ['%UPSTREAM_LOCAL_ADDRESS%', '10.0.0.2:50000'],
    ['%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.0.0.2'],
    ['%UPSTREAM_LOCAL_PORT%', '50000'],
    ['%UPSTREAM_REMOTE_ADDRESS%', '10.1.2.3:9000'],
    ['%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.1.2.3'],
    ['%UPSTREAM_REMOTE_PORT%', '9000'],
    ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', '-'],
    ['%UPSTREAM_REQUEST_ATTEMPT_COUNT%', '1'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '10.0.0.1:0'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '10.0.0.1'],
    ['%DOWNSTREAM_REMOTE_PORT%', '0'],
    ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%', '192.168.1.5:4321'],
    ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%', '192.168.1.5'],
    ['%DOWNSTREAM_DIRECT_REMOTE_PORT%', '4321'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '10.0.0.2:8080'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '10.0.0.2'],
    ['%DOWNSTREAM_LOCAL_PORT%', '8080'],
    ['%REQUESTED_SERVER_NAME%', 'example.com'],
    ['%ROUTE_NAME%', 'r1'],
    ['%VIRTUAL_CLUSTER_NAME%', 'vc1'],
    ['%CONNECTION_ID%', '77'],
    ['%HOSTNAME%', hostname()],
    ['%DOWNSTREAM_PEER_URI_SAN%', 'spiffe://mesh/ns/a/sa/x,spiffe://mesh/ns/a/sa/y'],
    ['%DOWNSTREAM_PEER_SUBJECT%', 'CN=client'],
    ['%DOWNSTREAM_LOCAL_URI_SAN%', 'spiffe://mesh/ns/b/sa/z'],
    ['%DOWNSTREAM_LOCAL_SUBJECT%', 'CN=server'],
    ['%DOWNSTREAM_TLS_VERSION%', 'TLSv1.3'],
    ['%DOWNSTREAM_TLS_CIPHER%', 'TLS_AES_128_GCM_SHA256'],
    ['%DOWNSTREAM_PEER_FINGERPRINT_256%', 'ab12'],
    ['%DOWNSTREAM_PEER_SERIAL%', '0f'],
    ['%UPSTREAM_PEER_URI_SAN%', 'spiffe://mesh/ns/c/sa/u'],
    ['%UPSTREAM_TLS_VERSION%', 'TLSv1.2'],
    ['%UPSTREAM_TLS_CIPHER%', '-'],
    ['%DYNAMIC_METADATA(com.test.my_filter)%', '{"test_key":"foo","n":5,"test_object":{"inner_key":"bar"}}'],
    ['%DYNAMIC_METADATA(com.test.my_filter:test_key)%', 'foo'],
    ['%DYNAMIC_METADATA(com.test.my_filter:n)%', '5'],
    ['%DYNAMIC_METADATA(com.test.my_filter:test_object)%', '{"inner_key":"bar"}'],
    ['%DYNAMIC_METADATA(com.test.my_filter:test_object:inner_key)%', 'bar'],
    ['%DYNAMIC_METADATA(com.unknown_filter)%', '-'],
    ['%DYNAMIC_METADATA(com.test.my_filter:unknown_key)%', '-'],
    ['%DYNAMIC_METADATA(com.test.my_filter):25%', '{"test_key":"foo","n":5,"'],
    ['%UPSTREAM_SERVICE_TIME%', '7'],
    ['100%% done', '100% done'],
    ['%%PROTOCOL%%', '%PROTOCOL%'],
    ['no operators', 'no operators'],
    ['', ''],
  ];
  for (const [f, want] of cases) assert.equal(fmt(f, i), want, f);
});

test('every operator on a TCP connection prints "-" (or its number) without throwing', () => {
  const i = tcpInfo();
  assert.equal(fmt('%REQ(:PATH)% %RESP(X)% %TRAILER(Y)% %PROTOCOL% %RESPONSE_CODE%', i), '- - - - 0');
  assert.equal(fmt('%REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %UPSTREAM_SERVICE_TIME%', i), '- - - -');
  assert.equal(fmt('%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_PEER_URI_SAN% %UPSTREAM_PEER_URI_SAN% %DYNAMIC_METADATA(a:b)%', i), '- - - -');
  assert.equal(fmt('%ROUTE_NAME% %UPSTREAM_CLUSTER% %REQUESTED_SERVER_NAME%', i), '- - -');
  // IPv6 peers are written with brackets; WITHOUT_PORT drops them like Envoy
  assert.equal(fmt('%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%', i), '[::1]:4321 ::1 4321');
  assert.equal(fmt('%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %CONNECTION_ID%', i), '10 20 42 3');
});

test('DURATION falls back to the time elapsed so far while the stream is still open', () => {
  const i = new StreamInfo({ remote: '1.1.1.1:1', local: '2.2.2.2:2', id: 1 }, START, performance.now() - 5000);
  assert.ok(Number(fmt('%DURATION%', i)) >= 5000);
});

test('RESPONSE_FLAGS prints short names in Envoy order, RESPONSE_FLAGS_LONG the long names', () => {
  const i = httpInfo();
  i.setFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  i.setFlag(ResponseFlag.NoHealthyUpstream);
  assert.equal(fmt('%RESPONSE_FLAGS%', i), 'UH,URX');
  assert.equal(fmt('%RESPONSE_FLAGS_LONG%', i), 'NoHealthyUpstream,UpstreamRetryLimitExceeded');
});

test('REQ(X?Y) falls back to the second header, :Z truncates, "-" is never truncated', () => {
  const i = httpInfo();
  assert.equal(fmt('%REQ(X-MISSING?USER-AGENT)%', i), 'curl/8.0');
  assert.equal(fmt('%REQ(USER-AGENT?:PATH)%', i), 'curl/8.0');
  assert.equal(fmt('%REQ(X-MISSING?X-ALSO-MISSING)%', i), '-');
  assert.equal(fmt('%REQ(USER-AGENT):4%', i), 'curl');
  assert.equal(fmt('%REQ(X-MISSING?:PATH):4%', i), '/foo');
  assert.equal(fmt('%REQ(USER-AGENT):100%', i), 'curl/8.0');
  assert.equal(fmt('%REQ(X-MISSING):0%', i), '-');
  assert.equal(fmt('%REQ(:PATH):0%', i), '');
});

test('omit_empty_values prints "" instead of "-"', () => {
  assert.equal(fmt('a=%REQ(X-MISSING)% b=%ROUTE_NAME%', tcpInfo(), { omitEmptyValues: true }), 'a= b=');
  assert.equal(fmt('a=%REQ(X-MISSING)%', tcpInfo()), 'a=-');
});

test('ENVIRONMENT(X) is read once, at compile time, and truncates with :Z', () => {
  process.env.MW_FORMATTER_TEST = 'value-123';
  const f = compileFormatString('%ENVIRONMENT(MW_FORMATTER_TEST)% %ENVIRONMENT(MW_FORMATTER_TEST):5% %ENVIRONMENT(MW_NOT_SET_ANYWHERE)%');
  process.env.MW_FORMATTER_TEST = 'changed';
  assert.equal(f.format(httpInfo()), 'value-123 value -');
  delete process.env.MW_FORMATTER_TEST;
});

test('START_TIME with custom strftime formats, in UTC, with %s and %Nf', () => {
  const i = httpInfo();
  const cases: [string, string][] = [
    ['%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%', '2024-01-01T00:00:00.123Z'],
    ['%START_TIME()%', '2024-01-01T00:00:00.123Z'],
    ['%START_TIME(%s)%', '1704067200'],
    ['%START_TIME(%s.%3f)%', '1704067200.123'],
    ['%START_TIME(%s.%6f)%', '1704067200.123000'],
    ['%START_TIME(%s.%9f)%', '1704067200.123000000'],
    ['%START_TIME(%f)%', '123000000'],
    ['%START_TIME(%1f)%', '1'],
    ['%START_TIME(%Y/%m/%dT%H:%M:%S%z %s)%', '2024/01/01T00:00:00+0000 1704067200'],
    ['%START_TIME(%a %A %b %B %e %j %y %C %u %w)%', 'Mon Monday Jan January  1 001 24 20 1 1'],
    ['%START_TIME(%F %T %D %R %I%p %Z)%', '2024-01-01 00:00:00 01/01/24 00:00 12AM UTC'],
    ['%START_TIME(100%% %Q)%', '100% %Q'],
  ];
  for (const [f, want] of cases) assert.equal(fmt(f, i), want, f);
});

test('compileStrftime handles afternoon, leap-year day of year and pre-epoch fractions', () => {
  const t = Date.UTC(2024, 11, 31, 15, 4, 5, 9);
  assert.equal(compileStrftime('%j %I:%M:%S %p %r .%3f')(t), '366 03:04:05 PM 03:04:05 PM .009');
  assert.equal(compileStrftime('%Y-%m-%d %H:%M:%S.%3f')(-1), '1969-12-31 23:59:59.999');
});

test('json_format: single operators keep their type, unset is null, mixed values are strings', () => {
  const f = compileJsonFormat({
    protocol: '%PROTOCOL%',
    duration: '%DURATION%',
    code: '%RESPONSE_CODE%',
    bytes: '%BYTES_SENT%',
    missing: '%REQ(X-MISSING)%',
    mixed: '%DURATION%.0',
    mixedMissing: 'id=%REQ(X-MISSING)%',
    start: '%START_TIME%',
    service_time: '%UPSTREAM_SERVICE_TIME%',
    port: '%DOWNSTREAM_LOCAL_PORT%',
    flags: '%RESPONSE_FLAGS%',
    md: '%DYNAMIC_METADATA(com.test.my_filter:test_object)%',
    mdKey: '%DYNAMIC_METADATA(com.test.my_filter:test_key):1%',
    mdNum: '%DYNAMIC_METADATA(com.test.my_filter:n)%',
    ua: '%REQ(USER-AGENT):4%',
    literal: 'plain',
    constNumber: 3,
    nested: { method: '%REQ(:METHOD)%', deeper: { cluster: '%UPSTREAM_CLUSTER%' } },
  });
  const line = f.format(httpInfo());
  assert.ok(line.endsWith('}\n'), 'one JSON object per line');
  assert.deepEqual(JSON.parse(line), {
    protocol: 'HTTP/1.1',
    duration: 42,
    code: 200,
    bytes: 12,
    missing: null,
    mixed: '42.0',
    mixedMissing: 'id=-',
    start: '2024-01-01T00:00:00.123Z',
    service_time: 7,
    port: 8080,
    flags: '-',
    md: { inner_key: 'bar' },
    mdKey: 'foo', // typed JSON ignores :len for metadata, as Envoy documents
    mdNum: 5,
    ua: 'curl',
    literal: 'plain',
    constNumber: 3,
    nested: { method: 'GET', deeper: { cluster: 'service_a' } },
  });
  // key order is the configured order
  assert.deepEqual(Object.keys(JSON.parse(line)).slice(0, 3), ['protocol', 'duration', 'code']);
});

test('json_format on a TCP connection: HTTP fields are null, counters are numbers', () => {
  const line = compileJsonFormat({ method: '%REQ(:METHOD)%', protocol: '%PROTOCOL%', code: '%RESPONSE_CODE%', rx: '%BYTES_RECEIVED%' }).format(tcpInfo());
  assert.equal(line, '{"method":null,"protocol":null,"code":0,"rx":10}\n');
});

test('json_format with omit_empty_values drops unset keys and emptied objects; sort_properties sorts', () => {
  const f = compileJsonFormat(
    { b: '%REQ(:METHOD)%', a: '%BYTES_RECEIVED%', inner: { x: '%ROUTE_NAME%' }, s: 'p=%ROUTE_NAME%' },
    { omitEmptyValues: true, sortProperties: true },
  );
  assert.equal(f.format(tcpInfo()), '{"a":10,"s":"p="}\n');
  assert.equal(f.format(httpInfo()), '{"a":5,"b":"GET","inner":{"x":"r1"},"s":"p=r1"}\n');
});

test('untyped json (the deprecated FileAccessLog.json_format) renders every value as a string', () => {
  const f = compileJsonFormat({ duration: '%DURATION%', missing: '%REQ(X-MISSING)%' }, { typed: false });
  assert.equal(f.format(httpInfo()), '{"duration":"42","missing":"-"}\n');
});

test('JSON output escapes quotes and control characters in header values', () => {
  const i = httpInfo();
  i.requestHeaders!.set('user-agent', 'a "quoted"\nvalue\\');
  const line = compileJsonFormat({ ua: '%REQ(USER-AGENT)%', mixed: 'ua: %REQ(USER-AGENT)%' }).format(i);
  assert.deepEqual(JSON.parse(line), { ua: 'a "quoted"\nvalue\\', mixed: 'ua: a "quoted"\nvalue\\' });
  assert.equal(line.indexOf('\n'), line.length - 1);
});

test('an unknown operator is a ConfigError MW_CONFIG_INVALID naming it', () => {
  assert.throws(
    () => compileFormatString('[%START_TIME%] %NOT_A_THING%', { path: 'access_log[0].format' }),
    (e: any) => e.name === 'ConfigError' && e.code === 'MW_CONFIG_INVALID' && /%NOT_A_THING%/.test(e.message) && e.path === 'access_log[0].format',
  );
  assert.throws(() => compileJsonFormat({ a: { b: '%BOGUS(x)%' } }), (e: any) => e.code === 'MW_CONFIG_INVALID' && /%BOGUS%/.test(e.message) && e.path === 'json_format.a.b');
});

test('an Envoy operator Meshwork does not implement is MW_CONFIG_UNSUPPORTED', () => {
  assert.throws(() => compileFormatString('%GRPC_STATUS%'), (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && /%GRPC_STATUS%/.test(e.message));
});

test('malformed commands are rejected at compile time', () => {
  const bad = ['100% done', '%REQ%', '%REQ()%', '%REQ(A?B?C)%', '%PROTOCOL(x)%', '%PROTOCOL:3%', '%DYNAMIC_METADATA%', '%ENVIRONMENT%', '%req(x)%', 'trailing %'];
  for (const f of bad) assert.throws(() => compileFormatString(f), (e: any) => e.code === 'MW_CONFIG_INVALID', f);
});

test('SubstitutionFormatString: text_format_source, json_format and their content types', () => {
  const text = compileSubstitutionFormat({ text_format_source: { inline_string: '%RESPONSE_CODE% %ROUTE_NAME%\n' }, omit_empty_values: true }, 'log_format');
  assert.equal(text.format(tcpInfo()), '0 \n');
  assert.equal(text.contentType, 'text/plain');
  const bytes = compileSubstitutionFormat({ text_format_source: { inline_bytes: Buffer.from('%PROTOCOL%') } }, 'log_format');
  assert.equal(bytes.format(httpInfo()), 'HTTP/1.1');
  const json = compileSubstitutionFormat({ json_format: { code: '%RESPONSE_CODE%' }, json_format_options: { sort_properties: false } }, 'log_format');
  assert.equal(json.format(httpInfo()), '{"code":200}\n');
  assert.equal(json.contentType, 'application/json');
  const typed = compileSubstitutionFormat({ text_format: 'x', content_type: 'text/html' }, 'log_format');
  assert.equal(typed.contentType, 'text/html');
  assert.throws(() => compileSubstitutionFormat({ text_format: 'a', json_format: {} }, 'lf'), (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'lf');
  assert.throws(() => compileSubstitutionFormat({}, 'lf'), (e: any) => e.code === 'MW_CONFIG_INVALID');
  assert.throws(
    () => compileSubstitutionFormat({ text_format: 'a', formatters: [{ name: 'x' }] }, 'lf'),
    (e: any) => e.code === 'MW_CONFIG_UNSUPPORTED' && e.path === 'lf.formatters',
  );
  assert.throws(
    () => compileSubstitutionFormat({ text_format_source: { filename: '/nonexistent/meshwork/format.txt' } }, 'lf'),
    (e: any) => e.code === 'MW_CONFIG_INVALID' && e.path === 'lf.text_format_source.filename',
  );
});

test('a compiled formatter is reusable across many requests and does not keep state between them', () => {
  const f = compileFormatString('%REQ(:METHOD)% %RESPONSE_CODE%');
  assert.equal(f.format(httpInfo()), 'GET 200');
  assert.equal(f.format(tcpInfo()), '- 0');
  assert.equal(f.format(httpInfo()), 'GET 200');
});

test('isoTime (the default START_TIME) is Date#toISOString, across seconds, years and before 1970', () => {
  const samples = [0, 1, 999, 1000, 1704067200123, 1704067200999, 1704067201000, -1, -1001, 253402300799999, 253402300800000, -62167219200001, 1704067200123.7];
  for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 4e12) - 1e12);
  // in order and shuffled, so the per-second cache is hit and missed
  for (const ms of [...samples, ...samples.slice().reverse(), 5000, 5001, 5999, 6000]) assert.equal(isoTime(ms), new Date(Math.floor(ms)).toISOString(), String(ms));
});
