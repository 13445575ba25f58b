// Routing through a real `meshwork proxy` process: virtual host selection, route matching, every route action
// (cluster, weighted clusters, cluster_header, redirect, direct response, rewrites, timeouts) and header
// mutations at the three configuration levels, observed from real upstreams, clients and the access log.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';
import { accessLines, httpBootstrap, rawExchange, request, startUpstream, staticCluster, stdoutAccessLog, type Upstream } from './helpers/http-semantics.js';

let proxy: RunningProxy;
let port: number;
let A: Upstream, B: Upstream, C: Upstream, slow: Upstream;

const direct = (body: string, status = 200) => ({ direct_response: { status, body: { inline_string: body } } });
const vhost = (name: string, domains: string[]) => ({ name, domains, routes: [{ match: { prefix: '/' }, ...direct(`vh:${name}`) }] });
const hdrRoute = (body: string, headers: object[]) => ({ match: { path: '/hm', headers }, ...direct(body) });
const overwrite = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });

before(async () => {
  [A, B, C] = await Promise.all([startUpstream('A'), startUpstream('B'), startUpstream('C')]);
  // never answers: only the route timeout ends these requests
  slow = await startUpstream('slow', () => {});
  const routeConfig = {
    name: 'rc',
    request_headers_to_add: [overwrite('x-level', 'rc'), { header: { key: 'x-rc', value: 'rc' } }],
    response_headers_to_add: [{ header: { key: 'x-resp-rc', value: 'rc' } }],
    virtual_hosts: [
      vhost('exact', ['api.example.com', 'api.example.com:8443']),
      vhost('ported', ['ported.example.com:9000']),
      vhost('suffix-long', ['*.foo.example.com']),
      vhost('suffix', ['*.example.com']),
      vhost('prefix', ['api.*']),
      { name: 'noroute', domains: ['noroute.test'], routes: [{ match: { path: '/only' }, ...direct('only') }] },
      {
        name: 'main',
        domains: ['*'],
        request_headers_to_add: [overwrite('x-level', 'vhost'), { header: { key: 'x-vh', value: 'vh' } }],
        response_headers_to_add: [{ header: { key: 'x-resp-vh', value: 'vh' } }],
        routes: [
          { match: { path: '/grpc.Svc/Call', grpc: {} }, ...direct('m:grpc') },
          { match: { path: '/grpc.Svc/Call' }, ...direct('m:not-grpc') },
          { match: { path: '/exact' }, ...direct('m:path') },
          { match: { safe_regex: { regex: '^/re/[0-9]+$' } }, ...direct('m:regex') },
          { match: { path_separated_prefix: '/sep' }, ...direct('m:sep') },
          { match: { prefix: '/ci/', case_sensitive: false }, ...direct('m:ci') },
          hdrRoute('h:exact', [{ name: 'x-exact', string_match: { exact: 'v1' } }]),
          hdrRoute('h:prefix', [{ name: 'x-prefix', string_match: { prefix: 'pre' } }]),
          hdrRoute('h:suffix', [{ name: 'x-suffix', string_match: { suffix: 'fix' } }]),
          hdrRoute('h:contains', [{ name: 'x-contains', string_match: { contains: 'mid' } }]),
          hdrRoute('h:regex', [{ name: 'x-re', safe_regex_match: { regex: '^[a-z]{3}$' } }]),
          hdrRoute('h:present', [{ name: 'x-present', present_match: true }]),
          hdrRoute('h:range', [{ name: 'x-range', range_match: { start: 10, end: 20 } }]),
          hdrRoute('h:invert', [{ name: 'x-inv', string_match: { exact: 'no' }, invert_match: true }]),
          hdrRoute('h:both', [
            { name: 'x-one', string_match: { exact: '1' } },
            { name: 'x-two', string_match: { exact: '2' } },
          ]),
          { match: { path: '/hm' }, ...direct('h:none') },
          { match: { prefix: '/q', query_parameters: [{ name: 'debug', string_match: { exact: '1' } }] }, ...direct('q:debug') },
          { match: { prefix: '/q', query_parameters: [{ name: 'flag', present_match: true }] }, ...direct('q:present') },
          { match: { prefix: '/q' }, ...direct('q:none') },
          { match: { prefix: '/p/' }, route: { cluster: 'A' } },
          {
            match: { prefix: '/wc/' },
            route: { weighted_clusters: { clusters: [{ name: 'A', weight: 50 }, { name: 'B', weight: 30 }, { name: 'C', weight: 20 }] } },
          },
          { match: { prefix: '/ch/' }, route: { cluster_header: 'x-target' } },
          { match: { path: '/r/https' }, redirect: { https_redirect: true } },
          { match: { path: '/r/scheme' }, redirect: { scheme_redirect: 'https', port_redirect: 8443 } },
          { match: { path: '/r/host' }, redirect: { host_redirect: 'new.example.com', response_code: 'FOUND' } },
          { match: { path: '/r/port' }, redirect: { port_redirect: 9999, response_code: 'SEE_OTHER' } },
          { match: { path: '/r/path' }, redirect: { path_redirect: '/new/path', response_code: 'TEMPORARY_REDIRECT' } },
          { match: { prefix: '/r/prefix/' }, redirect: { prefix_rewrite: '/moved/', response_code: 'PERMANENT_REDIRECT' } },
          { match: { path: '/r/strip' }, redirect: { host_redirect: 'h.example', strip_query: true } },
          { match: { path: '/direct' }, ...direct('teapot', 418) },
          { match: { path: '/direct-empty' }, direct_response: { status: 503 } },
          { match: { prefix: '/rw/prefix/' }, route: { cluster: 'A', prefix_rewrite: '/new/' } },
          { match: { prefix: '/rw/re/' }, route: { cluster: 'A', regex_rewrite: { pattern: { regex: '^/rw/re/(\\w+)/(\\w+)$' }, substitution: '/\\2/\\1' } } },
          { match: { prefix: '/host-literal' }, route: { cluster: 'A', host_rewrite_literal: 'rewritten.example' } },
          { match: { prefix: '/auto-host' }, route: { cluster: 'dns', auto_host_rewrite: true } },
          { match: { prefix: '/slow' }, route: { cluster: 'slow', timeout: '0.3s' } },
          {
            match: { prefix: '/hdr/' },
            route: { cluster: 'A' },
            request_headers_to_add: [
              overwrite('x-level', 'route'),
              { header: { key: 'x-client-addr', value: '%DOWNSTREAM_REMOTE_ADDRESS%' } },
              { header: { key: 'x-copied', value: '%REQ(x-source)%' } },
              { header: { key: 'x-copied-missing', value: '%REQ(x-not-sent)%' } },
              { header: { key: 'x-append', value: 'added' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
              { header: { key: 'x-absent', value: 'added' }, append_action: 'ADD_IF_ABSENT' },
              { header: { key: 'x-absent2', value: 'added' }, append_action: 'ADD_IF_ABSENT' },
              { header: { key: 'x-over', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
              { header: { key: 'x-over-if', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS' },
              { header: { key: 'x-over-if2', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS' },
            ],
            request_headers_to_remove: ['x-remove-me'],
            response_headers_to_add: [{ header: { key: 'x-resp-route', value: '%REQ(x-source)%' } }],
            response_headers_to_remove: ['x-upstream'],
          },
        ],
      },
    ],
  };
  proxy = await startProxy(
    httpBootstrap({
      hcm: { route_config: routeConfig, access_log: [stdoutAccessLog('%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%')] },
      clusters: [
        staticCluster('A', A.port),
        staticCluster('B', B.port),
        staticCluster('C', C.port),
        staticCluster('slow', slow.port),
        {
          name: 'dns',
          connect_timeout: '1s',
          type: 'STRICT_DNS',
          dns_lookup_family: 'V4_ONLY',
          load_assignment: {
            cluster_name: 'dns',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: A.port } } } }] }],
          },
        },
      ],
    }),
  );
  port = await listenerPort(proxy, 'main');
});

after(async () => {
  await proxy?.stop();
  await Promise.all([A, B, C, slow].map((u) => u?.close()));
});

const get = (path: string, headers: http.OutgoingHttpHeaders = {}) => request(port, { path, headers });

async function logLine(path: string): Promise<string> {
  return waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`${path} `)), `access log line for ${path}`);
}

test('virtual hosts: exact, then longest suffix wildcard, then prefix wildcard, then *; port is part of the host', async () => {
  const cases: [string, string][] = [
    ['api.example.com', 'vh:exact'],
    ['API.Example.COM', 'vh:exact'],
    ['api.example.com:8443', 'vh:exact'],
    // a port that no domain lists: the exact and suffix entries miss; "api.*" still covers it
    ['api.example.com:1234', 'vh:prefix'],
    ['ported.example.com:9000', 'vh:ported'],
    ['ported.example.com', 'vh:suffix'],
    ['a.foo.example.com', 'vh:suffix-long'],
    ['x.example.com', 'vh:suffix'],
    ['api.example.org', 'vh:prefix'],
    // "*.example.com" needs at least one character before the suffix
    ['.example.com', 'm:path'],
    ['other.test', 'm:path'],
  ];
  for (const [host, want] of cases) {
    const r = await get('/exact', { host });
    assert.equal(r.status, 200, host);
    assert.equal(r.text, want, `Host: ${host}`);
  }
});

test('path matchers: path, safe_regex, path_separated_prefix, case-insensitive prefix, grpc', async () => {
  const cases: [string, string, http.OutgoingHttpHeaders?][] = [
    ['/exact', 'm:path'],
    ['/exact?x=1', 'm:path'],
    ['/re/123', 'm:regex'],
    ['/sep', 'm:sep'],
    ['/sep/x', 'm:sep'],
    ['/sep?q=1', 'm:sep'],
    ['/CI/thing', 'm:ci'],
    ['/ci/thing', 'm:ci'],
    ['/grpc.Svc/Call', 'm:grpc', { 'content-type': 'application/grpc' }],
    ['/grpc.Svc/Call', 'm:grpc', { 'content-type': 'application/grpc+proto' }],
    ['/grpc.Svc/Call', 'm:not-grpc', { 'content-type': 'application/json' }],
  ];
  for (const [path, want, headers] of cases) {
    const r = await get(path, headers);
    assert.equal(r.text, want, path);
  }
  // near misses fall through to no route at all
  for (const path of ['/exact/more', '/EXACT', '/re/12a', '/separate', '/Sep']) {
    const r = await get(path);
    assert.equal(r.status, 404, path);
  }
});

test('header matchers: exact, prefix, suffix, contains, regex, present, range, invert, all must match', async () => {
  const cases: [http.OutgoingHttpHeaders, string][] = [
    [{ 'x-exact': 'v1' }, 'h:exact'],
    [{ 'x-exact': 'v10' }, 'h:none'],
    [{ 'x-prefix': 'prefixed' }, 'h:prefix'],
    [{ 'x-prefix': 'xpre' }, 'h:none'],
    [{ 'x-suffix': 'a-suffix' }, 'h:suffix'],
    [{ 'x-contains': 'amidst' }, 'h:contains'],
    [{ 'x-re': 'abc' }, 'h:regex'],
    [{ 'x-re': 'abcd' }, 'h:none'],
    [{ 'x-present': '' }, 'h:present'],
    [{ 'x-range': '10' }, 'h:range'],
    [{ 'x-range': '19' }, 'h:range'],
    // the range's end is exclusive; non-numbers never match
    [{ 'x-range': '20' }, 'h:none'],
    [{ 'x-range': 'ten' }, 'h:none'],
    [{ 'x-inv': 'yes' }, 'h:invert'],
    [{ 'x-inv': 'no' }, 'h:none'],
    [{ 'x-one': '1', 'x-two': '2' }, 'h:both'],
    [{ 'x-one': '1' }, 'h:none'],
    [{}, 'h:none'],
  ];
  for (const [headers, want] of cases) {
    const r = await get('/hm', headers);
    assert.equal(r.text, want, JSON.stringify(headers));
  }
});

test('query parameter matchers', async () => {
  assert.equal((await get('/q?debug=1')).text, 'q:debug');
  assert.equal((await get('/q?a=b&debug=1')).text, 'q:debug');
  assert.equal((await get('/q?debug=10')).text, 'q:none');
  assert.equal((await get('/q?flag')).text, 'q:present');
  assert.equal((await get('/q?flag=anything')).text, 'q:present');
  assert.equal((await get('/q')).text, 'q:none');
});

test('cluster action forwards to the cluster with the original path', async () => {
  const r = await get('/p/some/thing?x=1');
  assert.equal(r.status, 200);
  const j = r.json();
  assert.equal(j.upstream, 'A');
  assert.equal(j.url, '/p/some/thing?x=1');
  assert.equal(j.headers.host[0], `127.0.0.1:${port}`);
});

test('weighted clusters split traffic by weight', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const counts: Record<string, number> = { A: 0, B: 0, C: 0 };
  try {
    const N = 400;
    for (let i = 0; i < N; i += 20) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => request(port, { path: '/wc/x', agent })));
      for (const r of batch) counts[r.json().upstream]++;
    }
    // 50/30/20 of 400: expected 200/120/80, standard deviations ~10/9/8; ±45 is beyond 4.5 of them
    assert.ok(Math.abs(counts.A! - 200) <= 45, JSON.stringify(counts));
    assert.ok(Math.abs(counts.B! - 120) <= 45, JSON.stringify(counts));
    assert.ok(Math.abs(counts.C! - 80) <= 45, JSON.stringify(counts));
  } finally {
    agent.destroy();
  }
});

test('cluster_header picks the cluster from the request; missing or unknown → 503 NC', async () => {
  assert.equal((await get('/ch/a', { 'x-target': 'B' })).json().upstream, 'B');
  assert.equal((await get('/ch/b', { 'x-target': 'C' })).json().upstream, 'C');
  const missing = await get('/ch/missing');
  assert.equal(missing.status, 503);
  assert.match(await logLine('/ch/missing'), /^\/ch\/missing 503 NC /);
  const unknown = await get('/ch/unknown', { 'x-target': 'nope' });
  assert.equal(unknown.status, 503);
  assert.match(await logLine('/ch/unknown'), /^\/ch\/unknown 503 NC nope$/);
});

test('redirects: scheme, host, port, path, prefix rewrite, response codes, strip_query', async () => {
  const host = { host: 'site.example.org:8080' };
  const cases: [string, number, string][] = [
    // a scheme change drops the port only when it is the default one of the original scheme
    ['/r/https?a=1', 301, 'https://site.example.org:8080/r/https?a=1'],
    ['/r/scheme', 301, 'https://site.example.org:8443/r/scheme'],
    // host_redirect replaces host and port
    ['/r/host?a=1', 302, 'http://new.example.com/r/host?a=1'],
    ['/r/port', 303, 'http://site.example.org:9999/r/port'],
    ['/r/path?x=1', 307, 'http://site.example.org:8080/new/path?x=1'],
    ['/r/prefix/rest/of?y=2', 308, 'http://site.example.org:8080/moved/rest/of?y=2'],
    ['/r/strip?secret=1', 301, 'http://h.example/r/strip'],
  ];
  for (const [path, status, location] of cases) {
    const r = await get(path, host);
    assert.equal(r.status, status, path);
    assert.equal(r.headers.location, location, path);
    assert.equal(r.body.length, 0, path);
  }
  const r = await get('/r/https', { host: 'site.example.org:80' });
  assert.equal(r.headers.location, 'https://site.example.org/r/https');
  assert.match(await logLine('/r/https'), /^\/r\/https 301 - -$/);
});

test('direct responses carry status, body and the route-level response headers', async () => {
  const r = await get('/direct');
  assert.equal(r.status, 418);
  assert.equal(r.text, 'teapot');
  assert.equal(r.headers['content-length'], '6');
  assert.equal(r.headers['x-resp-vh'], 'vh');
  assert.equal(r.headers['x-resp-rc'], 'rc');
  const e = await get('/direct-empty');
  assert.equal(e.status, 503);
  assert.equal(e.body.length, 0);
});

test('prefix_rewrite and regex_rewrite change the upstream path, keeping the query', async () => {
  const p = (await get('/rw/prefix/a/b?q=1')).json();
  assert.equal(p.url, '/new/a/b?q=1');
  assert.equal(p.headers['x-envoy-original-path'][0], '/rw/prefix/a/b?q=1');
  const r = (await get('/rw/re/one/two?z=9')).json();
  assert.equal(r.url, '/two/one?z=9');
});

test('host_rewrite_literal and auto_host_rewrite set the upstream Host', async () => {
  const lit = (await get('/host-literal', { host: 'client.example' })).json();
  assert.equal(lit.headers.host[0], 'rewritten.example');
  const auto = await get('/auto-host', { host: 'client.example' });
  assert.equal(auto.status, 200, auto.text);
  const j = auto.json();
  assert.equal(j.upstream, 'A');
  // the STRICT_DNS host's name, as Envoy uses it: the DNS name without the port
  assert.equal(j.headers.host[0], 'localhost');
});

test('route timeout answers 504 with UT and resets the upstream request', async () => {
  const r = await get('/slow/1');
  assert.equal(r.status, 504);
  assert.equal(r.text, 'upstream request timeout');
  assert.match(await logLine('/slow/1'), /^\/slow\/1 504 UT slow$/);
  // the upstream was told how long it had
  const seen = slow.requests.find((q) => q.url === '/slow/1');
  assert.ok(seen, 'the slow upstream got the request');
  assert.deepEqual(seen.headers['x-envoy-expected-rq-timeout-ms'], ['300']);
});

test('no matching route → 404 NR', async () => {
  const r = await get('/other', { host: 'noroute.test' });
  assert.equal(r.status, 404);
  assert.equal(r.body.length, 0);
  assert.match(await logLine('/other'), /^\/other 404 NR -$/);
  assert.equal((await get('/only', { host: 'noroute.test' })).text, 'only');
});

test('request and response header mutations at route, virtual host and route configuration level', async () => {
  const r = await request(port, {
    path: '/hdr/x',
    headers: [
      ['x-source', 'from-client'],
      ['x-append', 'orig'],
      ['x-absent', 'orig'],
      ['x-over', 'old'],
      ['x-over-if2', 'old'],
      ['x-remove-me', 'gone'],
      ['x-level', 'client'],
    ],
  });
  assert.equal(r.status, 200);
  const h = r.json().headers as Record<string, string[]>;
  assert.match(h['x-client-addr']![0]!, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(h['x-copied'], ['from-client']);
  // a formatter that yields nothing adds no header
  assert.equal(h['x-copied-missing'], undefined);
  assert.deepEqual(h['x-append'], ['orig', 'added']);
  assert.deepEqual(h['x-absent'], ['orig']);
  assert.deepEqual(h['x-absent2'], ['added']);
  assert.deepEqual(h['x-over'], ['new']);
  assert.equal(h['x-over-if'], undefined);
  assert.deepEqual(h['x-over-if2'], ['new']);
  assert.equal(h['x-remove-me'], undefined);
  assert.deepEqual(h['x-vh'], ['vh']);
  assert.deepEqual(h['x-rc'], ['rc']);
  // route, then virtual host, then route configuration: the least specific level is applied last and wins
  assert.deepEqual(h['x-level'], ['rc']);
  // the client sees the response mutations of all three levels
  assert.equal(r.headers['x-resp-route'], 'from-client');
  assert.equal(r.headers['x-resp-vh'], 'vh');
  assert.equal(r.headers['x-resp-rc'], 'rc');
  assert.equal(r.headers['x-upstream'], undefined);
  // routes without their own mutations still get the virtual host's and route configuration's
  const plain = await get('/p/plain');
  assert.equal(plain.headers['x-upstream'], 'A');
  assert.equal(plain.headers['x-resp-vh'], 'vh');
  assert.equal(plain.json().headers['x-level'][0], 'rc');
});

test('local replies (direct response, redirect, 404) keep the connection reusable', async () => {
  const before = (await stat(proxy, 'http.main.downstream_cx_total')) ?? 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const statuses = [];
    for (const path of ['/direct', '/r/https', '/nowhere', '/p/after-local-replies', '/direct']) statuses.push((await request(port, { path, agent })).status);
    assert.deepEqual(statuses, [418, 301, 404, 200, 418]);
  } finally {
    agent.destroy();
  }
  assert.equal((await stat(proxy, 'http.main.downstream_cx_total'))! - before, 1);
  // a local reply that comes before the request body is complete closes the connection, and says so
  const { text, closed } = await rawExchange(port, 'POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial');
  assert.match(text, /^HTTP\/1\.1 418 /);
  assert.match(text, /^connection: close\r$/im);
  assert.ok(closed);
});
