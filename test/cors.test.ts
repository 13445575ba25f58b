// CORS (envoy.filters.http.cors) through a real `meshwork proxy` from a static bootstrap: a browser-style preflight
// from an allowed origin (answered by the proxy, never reaching the upstream), a preflight from another origin
// (forwarded by default, refused when forward_not_matching_preflights is false), the headers added to an actual
// request, a route policy overriding the virtual host's, the origin stats, and a bad policy refused at load.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { curl, request, ROUTER, staticCluster, startUpstream, type Upstream } from './helpers/http-semantics.js';
import { hcmListener } from './helpers/bootstrap.js';
import { listenerPort, startProxy, stat, type RunningProxy } from './helpers/proxy.js';

const CORS_FILTER = { name: 'envoy.filters.http.cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } };
const policy = (cfg: object) => ({ 'envoy.filters.http.cors': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy', ...cfg } });

let up: Upstream;
let proxy: RunningProxy;
let port: number;

before(async () => {
  up = await startUpstream('app', (_req, res) => {
    res.setHeader('x-total-count', '42');
    res.end('from upstream');
  });
  proxy = await startProxy({
    static_resources: {
      listeners: [
        hcmListener('web', {
          stat_prefix: 'web',
          http_filters: [CORS_FILTER, ROUTER],
          route_config: {
            virtual_hosts: [
              {
                name: 'site',
                domains: ['*'],
                typed_per_filter_config: policy({
                  allow_origin_string_match: [{ exact: 'https://app.example.com' }],
                  allow_methods: 'GET,POST,PUT',
                  allow_headers: 'content-type,x-token',
                  expose_headers: 'x-total-count',
                  max_age: '3600',
                  allow_credentials: true,
                }),
                routes: [
                  // the route's own origins replace the virtual host's; the rest comes from the virtual host
                  { match: { prefix: '/partner' }, route: { cluster: 'app' }, typed_per_filter_config: policy({ allow_origin_string_match: [{ suffix: '.partner.example' }], forward_not_matching_preflights: false }) },
                  { match: { prefix: '/' }, route: { cluster: 'app' } },
                ],
              },
            ],
          },
        }),
      ],
      clusters: [staticCluster('app', up.port)],
    },
  });
  port = await listenerPort(proxy, 'web');
});

after(async () => {
  await proxy?.stop();
  await up?.close();
});

const seen = (method: string, path: string) => up.requests.filter((r) => r.method === method && r.url === path).length;

test('a preflight from an allowed origin is answered by the proxy (curl, as a browser sends it)', async () => {
  const r = await curl([
    '-i', '-X', 'OPTIONS', `http://127.0.0.1:${port}/api/items`,
    '-H', 'Origin: https://app.example.com',
    '-H', 'Access-Control-Request-Method: PUT',
    '-H', 'Access-Control-Request-Headers: content-type,x-token',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const head = r.stdout.toLowerCase();
  assert.match(head, /^http\/1\.1 200 /);
  assert.match(head, /\r\naccess-control-allow-origin: https:\/\/app\.example\.com\r\n/);
  assert.match(head, /\r\naccess-control-allow-methods: get,post,put\r\n/);
  assert.match(head, /\r\naccess-control-allow-headers: content-type,x-token\r\n/);
  assert.match(head, /\r\naccess-control-max-age: 3600\r\n/);
  assert.match(head, /\r\naccess-control-allow-credentials: true\r\n/);
  assert.equal(seen('OPTIONS', '/api/items'), 0, 'the preflight must not reach the upstream');
});

test('a preflight from another origin goes upstream, without CORS headers', async () => {
  const r = await request(port, { method: 'OPTIONS', path: '/api/other', headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE' } });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'from upstream');
  assert.equal(r.headers['access-control-allow-origin'], undefined);
  assert.equal(r.headers['access-control-allow-methods'], undefined);
  assert.equal(seen('OPTIONS', '/api/other'), 1);
});

test('an actual request from an allowed origin gets Allow-Origin, credentials and exposed headers', async () => {
  const ok = await request(port, { path: '/api/items', headers: { origin: 'https://app.example.com' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'from upstream');
  assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.equal(ok.headers['access-control-expose-headers'], 'x-total-count');
  // another origin: the response is passed on untouched (the browser then refuses it)
  const other = await request(port, { path: '/api/items', headers: { origin: 'https://evil.example' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers['access-control-allow-origin'], undefined);
  // no Origin: not a CORS request
  const plain = await request(port, { path: '/api/items' });
  assert.equal(plain.headers['access-control-allow-origin'], undefined);
});

test('a route policy overrides the virtual host: its own origins, the virtual host\'s methods, no forwarding', async () => {
  const r = await request(port, { method: 'OPTIONS', path: '/partner/x', headers: { origin: 'https://shop.partner.example', 'access-control-request-method': 'POST' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], 'https://shop.partner.example');
  assert.equal(r.headers['access-control-allow-methods'], 'GET,POST,PUT');
  assert.equal(r.headers['access-control-max-age'], '3600');
  // the virtual host's origin is not one of this route's
  const vh = await request(port, { method: 'OPTIONS', path: '/partner/x', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
  assert.equal(vh.status, 200);
  assert.equal(vh.headers['access-control-allow-origin'], undefined);
  assert.equal(vh.headers['access-control-allow-methods'], 'GET,POST,PUT');
  assert.equal(seen('OPTIONS', '/partner/x'), 0, 'forward_not_matching_preflights: false keeps it here');
  // actual requests on the route follow the route's origins
  const actual = await request(port, { path: '/partner/y', headers: { origin: 'https://shop.partner.example' } });
  assert.equal(actual.headers['access-control-allow-origin'], 'https://shop.partner.example');
  assert.equal(actual.headers['access-control-expose-headers'], 'x-total-count');
});

test('origin stats under the connection manager\'s prefix', async () => {
  const valid = await stat(proxy, 'http.web.cors.origin_valid');
  const invalid = await stat(proxy, 'http.web.cors.origin_invalid');
  await request(port, { path: '/count', headers: { origin: 'https://app.example.com' } });
  await request(port, { path: '/count', headers: { origin: 'https://nope.example' } });
  await request(port, { path: '/count' });
  assert.equal(await stat(proxy, 'http.web.cors.origin_valid'), valid! + 1);
  assert.equal(await stat(proxy, 'http.web.cors.origin_invalid'), invalid! + 1);
});

test('a policy with a bad origin regex is refused at load with its path', async () => {
  const bad = startProxy(
    {
      static_resources: {
        listeners: [hcmListener('bad', { stat_prefix: 'bad', http_filters: [CORS_FILTER, ROUTER], route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' }, typed_per_filter_config: policy({ allow_origin_string_match: [{ safe_regex: { regex: '(' } }] }) }] }] } })],
        clusters: [staticCluster('app', up.port)],
      },
    },
    { args: ['--mode', 'validate'] },
  );
  await assert.rejects(bad, /allow_origin_string_match\[0\]\.safe_regex\.regex/);
});
