// The headers the connection manager and router manage themselves, through a real proxy process:
// x-request-id, x-forwarded-for/-proto with use_remote_address and xff_num_trusted_hops, internal vs external
// clients (internal_address_config) and the x-envoy-* headers an external client may not set, hop-by-hop
// headers in both directions, x-envoy-upstream-service-time, server and via.
//
// Every client here is on loopback. Current Envoy (1.33+) trusts no address unless internal_address_config
// says so, so loopback clients are external by default; the `int` listener lists 127.0.0.0/8, and `legacy`
// sets an empty internal_address_config, which selects the old RFC 1918 + 127.0.0.1 set (so 127.0.0.2 is
// external there).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { listenerPort, startProxy, waitFor, type RunningProxy } from './helpers/proxy.js';
import { accessLines, httpBootstrap, httpListener, rawExchange, request, startUpstream, staticCluster, stdoutAccessLog, type Upstream } from './helpers/http-semantics.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let proxy: RunningProxy;
let echo: Upstream;
let special: Upstream;
const ports: Record<string, number> = {};

before(async () => {
  echo = await startUpstream('echo');
  special = await startUpstream('special', (req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/slow') {
        // answers after 300 ms: a 50 ms x-envoy-upstream-rq-timeout-ms, if honoured, turns this into a 504
        setTimeout(() => res.end('late'), 300);
      } else if (req.url === '/hop') {
        res.setHeader('keep-alive', 'timeout=99');
        res.setHeader('proxy-connection', 'keep-alive');
        res.setHeader('upgrade', 'foo');
        res.setHeader('server', 'upstream-server');
        res.setHeader('via', '1.1 upstream');
        res.setHeader('x-kept', 'yes');
        // no content-length: node frames this with transfer-encoding: chunked
        res.write('chunk-1,');
        res.end('chunk-2');
      } else res.end('ok');
    });
  });
  const routeConfig = {
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [
          { match: { path: '/slow' }, route: { cluster: 'special' } },
          { match: { path: '/hop' }, route: { cluster: 'special' } },
          { match: { path: '/direct' }, direct_response: { status: 200, body: { inline_string: 'direct' } } },
          { match: { prefix: '/' }, route: { cluster: 'echo' } },
        ],
      },
    ],
  };
  const log = [stdoutAccessLog('%REQ(:PATH)% %DOWNSTREAM_REMOTE_ADDRESS%')];
  const hcm = (extra: Record<string, unknown>) => ({ route_config: routeConfig, access_log: log, ...extra });
  proxy = await startProxy(
    httpBootstrap({
      listeners: [
        httpListener('ext', hcm({ use_remote_address: true })),
        httpListener('int', hcm({ use_remote_address: true, internal_address_config: { cidr_ranges: [{ address_prefix: '127.0.0.0', prefix_len: 8 }] }, server_name: 'edge-x', via: 'mesh-hop' })),
        httpListener('legacy', hcm({ use_remote_address: true, internal_address_config: {} })),
        httpListener('hops', hcm({ use_remote_address: true, xff_num_trusted_hops: 1, preserve_external_request_id: true, server_name: 'edge-y', server_header_transformation: 'APPEND_IF_ABSENT' })),
        httpListener('noura', hcm({ use_remote_address: false, xff_num_trusted_hops: 1, server_header_transformation: 'PASS_THROUGH' })),
      ],
      clusters: [staticCluster('echo', echo.port), staticCluster('special', special.port)],
    }),
  );
  for (const name of ['ext', 'int', 'legacy', 'hops', 'noura']) ports[name] = await listenerPort(proxy, name);
});

after(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), special?.close()]);
});

/** What the echo upstream saw for a request through `listener`. */
async function seen(listener: string, headers: http.OutgoingHttpHeaders = {}, path = '/echo', localAddress?: string): Promise<Record<string, string[]>> {
  const r = await request(ports[listener]!, { path, headers, localAddress });
  assert.equal(r.status, 200, r.text);
  return r.json().headers;
}

async function remoteLogged(path: string): Promise<string> {
  const line = await waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`${path} `)), `access log line for ${path}`);
  return line.slice(path.length + 1);
}

test('x-request-id: generated when absent; an external client\'s replaced, an internal one\'s kept', async () => {
  const gen = await seen('ext');
  assert.match(gen['x-request-id']![0]!, UUID);
  assert.notEqual((await seen('ext'))['x-request-id']![0], gen['x-request-id']![0]);
  // loopback is external by default: the client's id is not trusted
  const ext = await seen('ext', { 'x-request-id': 'client-chosen' });
  assert.equal(ext['x-request-id']!.length, 1);
  assert.match(ext['x-request-id']![0]!, UUID);
  // internal client: kept as is
  assert.deepEqual((await seen('int', { 'x-request-id': 'client-chosen' }))['x-request-id'], ['client-chosen']);
  assert.match((await seen('int'))['x-request-id']![0]!, UUID);
  // preserve_external_request_id keeps even an external client's
  assert.deepEqual((await seen('hops', { 'x-request-id': 'edge-kept' }))['x-request-id'], ['edge-kept']);
  // without use_remote_address this proxy is not the edge: the id is kept
  assert.deepEqual((await seen('noura', { 'x-request-id': 'mid-kept' }))['x-request-id'], ['mid-kept']);
});

test('internal vs external: internal_address_config decides, x-envoy-internal only from the proxy', async () => {
  const ext = await seen('ext', { 'x-envoy-internal': 'true' });
  assert.equal(ext['x-envoy-internal'], undefined);
  assert.deepEqual(ext['x-envoy-external-address'], ['127.0.0.1']);
  const int = await seen('int');
  assert.deepEqual(int['x-envoy-internal'], ['true']);
  assert.equal(int['x-envoy-external-address'], undefined);
  // a request that already carries XFF went through other proxies: never internal under use_remote_address
  const viaProxy = await seen('int', { 'x-forwarded-for': '127.0.0.9' });
  assert.equal(viaProxy['x-envoy-internal'], undefined);
  assert.deepEqual(viaProxy['x-envoy-external-address'], ['127.0.0.1']);
  // the legacy set (empty internal_address_config): 127.0.0.1 exactly, not the rest of 127/8
  assert.deepEqual((await seen('legacy', {}, '/echo', '127.0.0.1'))['x-envoy-internal'], ['true']);
  const other = await seen('legacy', {}, '/echo', '127.0.0.2');
  assert.equal(other['x-envoy-internal'], undefined);
  assert.deepEqual(other['x-envoy-external-address'], ['127.0.0.2']);
});

test('x-forwarded-for / x-forwarded-proto with use_remote_address', async () => {
  const plain = await seen('ext');
  assert.deepEqual(plain['x-forwarded-for'], ['127.0.0.1']);
  assert.deepEqual(plain['x-forwarded-proto'], ['http']);
  // an untrusted client's XFF is kept and the peer appended; its x-forwarded-proto is overwritten
  const spoof = await seen('ext', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' });
  assert.deepEqual(spoof['x-forwarded-for'], ['1.2.3.4,127.0.0.1']);
  assert.deepEqual(spoof['x-forwarded-proto'], ['http']);
  assert.deepEqual(spoof['x-envoy-external-address'], ['127.0.0.1']);
});

test('xff_num_trusted_hops: the client address comes from XFF, and a trusted hop\'s x-forwarded-proto stays', async () => {
  // use_remote_address + 1 trusted hop: the rightmost XFF entry (set by that hop) is the client
  const h = await seen('hops', { 'x-forwarded-for': '198.51.100.9, 203.0.113.7', 'x-forwarded-proto': 'https' }, '/hops-1');
  assert.deepEqual(h['x-forwarded-for'], ['198.51.100.9, 203.0.113.7,127.0.0.1']);
  assert.deepEqual(h['x-forwarded-proto'], ['https']);
  assert.deepEqual(h['x-envoy-external-address'], ['203.0.113.7']);
  // an address from XFF has no port: Envoy reports port 0
  assert.equal(await remoteLogged('/hops-1'), '203.0.113.7:0');
  // no XFF: the peer is the client
  const none = await seen('hops', {}, '/hops-2');
  assert.deepEqual(none['x-forwarded-for'], ['127.0.0.1']);
  assert.deepEqual(none['x-forwarded-proto'], ['http']);
  assert.match(await remoteLogged('/hops-2'), /^127\.0\.0\.1:[1-9]\d*$/);
});

test('without use_remote_address XFF is not appended and the trusted entry is the client', async () => {
  const n = await seen('noura', { 'x-forwarded-for': '198.51.100.1, 10.0.0.1', 'x-forwarded-proto': 'https' }, '/noura-1');
  assert.deepEqual(n['x-forwarded-for'], ['198.51.100.1, 10.0.0.1']);
  assert.deepEqual(n['x-forwarded-proto'], ['https']);
  assert.equal(n['x-envoy-external-address'], undefined);
  // one trusted hop: skip the rightmost entry
  assert.equal(await remoteLogged('/noura-1'), '198.51.100.1:0');
  // too few entries: fall back to the peer
  await seen('noura', { 'x-forwarded-for': '10.0.0.1' }, '/noura-2');
  assert.match(await remoteLogged('/noura-2'), /^127\.0\.0\.1:[1-9]\d*$/);
  const bare = await seen('noura', {}, '/noura-3');
  assert.equal(bare['x-forwarded-for'], undefined);
  assert.deepEqual(bare['x-forwarded-proto'], ['http']);
});

test('x-envoy control headers from clients that are not internal are stripped (and not acted on)', async () => {
  const control = {
    'x-envoy-retry-on': '5xx',
    'x-envoy-max-retries': '3',
    'x-envoy-upstream-rq-timeout-ms': '50',
    'x-envoy-expected-rq-timeout-ms': '1',
    'x-envoy-downstream-service-cluster': 'spoofed',
    'x-envoy-custom': 'kept',
  };
  const ext = await seen('ext', control);
  for (const h of ['x-envoy-retry-on', 'x-envoy-max-retries', 'x-envoy-upstream-rq-timeout-ms', 'x-envoy-downstream-service-cluster']) assert.equal(ext[h], undefined, h);
  // the router's own value (the 15 s default route timeout), not the client's
  assert.deepEqual(ext['x-envoy-expected-rq-timeout-ms'], ['15000']);
  // Envoy strips a fixed list, not the whole x-envoy- namespace
  assert.deepEqual(ext['x-envoy-custom'], ['kept']);
  // stripped means ignored: the 50 ms timeout the client asked for does not apply
  const slowExt = await request(ports.ext!, { path: '/slow', headers: { 'x-envoy-upstream-rq-timeout-ms': '50' } });
  assert.equal(slowExt.status, 200);
  assert.equal(slowExt.text, 'late');
  // from an internal client the same header is honoured
  const slowInt = await request(ports.int!, { path: '/slow', headers: { 'x-envoy-upstream-rq-timeout-ms': '50' } });
  assert.equal(slowInt.status, 504);
  // not the edge (no use_remote_address) and not internal: control headers go, edge-only ones stay
  const mid = await seen('noura', control);
  assert.equal(mid['x-envoy-retry-on'], undefined);
  assert.equal(mid['x-envoy-upstream-rq-timeout-ms'], undefined);
  assert.deepEqual(mid['x-envoy-downstream-service-cluster'], ['spoofed']);
});

test('hop-by-hop request headers are not forwarded; te: trailers is', async () => {
  const req =
    'GET /hop-req HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
    'Upgrade: websocket\r\nTE: trailers\r\nX-Normal: 1\r\n\r\n';
  const { text } = await rawExchange(ports.ext!, req);
  assert.match(text, /^HTTP\/1\.1 200 /);
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string[]> };
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'upgrade']) assert.equal(body.headers[h], undefined, h);
  assert.deepEqual(body.headers.te, ['trailers']);
  assert.deepEqual(body.headers['x-normal'], ['1']);
  const gz = await seen('ext', { te: 'gzip' });
  assert.equal(gz.te, undefined);
});

test('hop-by-hop response headers are dropped; the proxy frames the body itself', async () => {
  const r = await request(ports.ext!, { path: '/hop' });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'chunk-1,chunk-2');
  assert.equal(r.headers['keep-alive'], undefined);
  assert.equal(r.headers['proxy-connection'], undefined);
  assert.equal(r.headers.upgrade, undefined);
  assert.equal(r.headers['x-kept'], 'yes');
  // the raw bytes: exactly one framing header, and nothing the upstream nominated
  const { text } = await rawExchange(ports.ext!, 'GET /hop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
  assert.equal((head.match(/^transfer-encoding:/gm) ?? []).length + (head.match(/^content-length:/gm) ?? []).length, 1, head);
  assert.doesNotMatch(head, /^keep-alive:/m);
  assert.doesNotMatch(head, /^upgrade:/m);
});

test('x-envoy-upstream-service-time on proxied responses only', async () => {
  const r = await request(ports.ext!, { path: '/echo' });
  assert.match(String(r.headers['x-envoy-upstream-service-time']), /^\d+$/);
  const d = await request(ports.ext!, { path: '/direct' });
  assert.equal(d.text, 'direct');
  assert.equal(d.headers['x-envoy-upstream-service-time'], undefined);
});

test('server header: OVERWRITE (default), APPEND_IF_ABSENT, PASS_THROUGH; also on local replies', async () => {
  assert.equal((await request(ports.ext!, { path: '/hop' })).headers.server, 'meshwork');
  assert.equal((await request(ports.int!, { path: '/hop' })).headers.server, 'edge-x');
  assert.equal((await request(ports.int!, { path: '/direct' })).headers.server, 'edge-x');
  assert.equal((await request(ports.hops!, { path: '/hop' })).headers.server, 'upstream-server');
  assert.equal((await request(ports.hops!, { path: '/echo' })).headers.server, 'edge-y');
  assert.equal((await request(ports.noura!, { path: '/hop' })).headers.server, 'upstream-server');
  assert.equal((await request(ports.noura!, { path: '/echo' })).headers.server, undefined);
});

test('via is appended in both directions', async () => {
  const up = await seen('int', { via: '1.1 client-proxy' });
  assert.deepEqual(up.via, ['1.1 client-proxy,mesh-hop']);
  assert.deepEqual((await seen('int')).via, ['mesh-hop']);
  const r = await request(ports.int!, { path: '/hop' });
  assert.equal(r.headers.via, '1.1 upstream,mesh-hop');
  assert.equal((await request(ports.ext!, { path: '/hop' })).headers.via, '1.1 upstream');
});
