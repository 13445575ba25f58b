import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../../common/errors.js';
import type { FilterCallbacks, HttpFilter, LocalReplyOptions } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { compileRouteConfiguration, type RouteConfigurationConfig } from '../../../router/route-table.js';
import { compileCorsPolicy, corsFilter, corsLevels, effectiveCors } from './index.js';

const POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
const cors = (cfg: object) => ({ cors: { '@type': POLICY, ...cfg } });

/** A route table compiled the way the connection manager compiles one (per-route configs through the factory). */
function table(rc: object) {
  return compileRouteConfiguration(rc as RouteConfigurationConfig, { perFilterConfig: (name, v, path) => corsFilter.createPerRoute!(v, { path, name } as never) });
}

interface Run {
  status: 'continue' | 'stop';
  reply?: { status: number; headers: Record<string, string>; details?: string };
  response?: Record<string, string>;
}

/** Run one request through a fresh filter; a forwarded request gets `upstream` as its response headers. */
function run(rc: ReturnType<typeof table>, stats: StatsStore, req: Record<string, string>, upstream: Record<string, string> = { ':status': '200' }): Run {
  const headers = HeaderMap.from({ ':authority': 'site', ':path': '/', ':method': 'GET', ...req });
  const create = corsFilter.create({ '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' }, { stats, statPrefix: 'http.in.', name: 'cors', path: 'f' } as never);
  let filter: HttpFilter;
  const out: Run = { status: 'continue' };
  const cb = {
    route: () => rc.route(headers),
    sendLocalReply(status: number, _body: string, opts?: LocalReplyOptions) {
      const h = HeaderMap.from({ ':status': String(status) });
      for (const [k, v] of opts?.headers ?? []) h.add(k, v);
      filter.encodeHeaders?.(h, true);
      out.reply = { status, headers: Object.fromEntries(h.raw.flatMap((x, i, a) => (i % 2 ? [] : [[x, a[i + 1]!]]))), details: opts?.details };
    },
  } as unknown as FilterCallbacks;
  filter = create(cb);
  out.status = filter.decodeHeaders!(headers, true);
  if (out.status === 'continue') {
    const h = HeaderMap.from(upstream);
    filter.encodeHeaders!(h, true);
    out.response = Object.fromEntries(h.raw.flatMap((x, i, a) => (i % 2 ? [] : [[x, a[i + 1]!]])));
  }
  return out;
}

const vhost = (routes: object[], extra: object = {}) => ({ virtual_hosts: [{ name: 'v', domains: ['*'], routes, ...extra }] });
const preflight = (origin: string, extra: Record<string, string> = {}) => ({ ':method': 'OPTIONS', origin, 'access-control-request-method': 'PUT', ...extra });
const count = (s: StatsStore, n: string) => s.counter(`http.in.cors.${n}`).value;

test('preflight from an allowed origin is answered here with 200 and the Access-Control-* headers', () => {
  const rt = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({
    allow_origin_string_match: [{ exact: 'https://a.example' }, { suffix: '.b.example' }],
    allow_methods: 'GET,PUT', allow_headers: 'x-a,x-b', max_age: '600', allow_credentials: true, expose_headers: 'x-exposed',
  }) }]));
  const s = new StatsStore();
  const r = run(rt, s, preflight('https://a.example'));
  assert.equal(r.status, 'stop');
  assert.deepEqual(r.reply, {
    status: 200,
    details: 'cors_response',
    headers: {
      ':status': '200',
      'access-control-allow-origin': 'https://a.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET,PUT',
      'access-control-allow-headers': 'x-a,x-b',
      'access-control-max-age': '600',
    },
  });
  assert.equal(run(rt, s, preflight('https://x.b.example')).reply?.headers['access-control-allow-origin'], 'https://x.b.example');
  assert.equal(count(s, 'origin_valid'), 2);
  assert.equal(count(s, 'origin_invalid'), 0);
});

test('preflight from another origin: forwarded by default, answered without Allow-Origin when forwarding is off', () => {
  const s = new StatsStore();
  const base = { allow_origin_string_match: [{ exact: 'https://a.example' }], allow_methods: 'GET' };
  const fwd = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors(base) }]));
  const r = run(fwd, s, preflight('https://evil.example'));
  assert.equal(r.status, 'continue');
  assert.equal(r.response!['access-control-allow-origin'], undefined);
  assert.equal(count(s, 'origin_invalid'), 1);

  const ignore = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ ...base, forward_not_matching_preflights: false }) }]));
  const r2 = run(ignore, s, preflight('https://evil.example'));
  assert.equal(r2.status, 'stop');
  assert.deepEqual(r2.reply!.headers, { ':status': '200', 'access-control-allow-methods': 'GET' });
});

test('actual requests: a matching origin gets Allow-Origin, credentials and expose headers; others get nothing', () => {
  const rt = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({
    allow_origin_string_match: [{ prefix: 'https://a.' }], allow_credentials: true, expose_headers: 'x-total',
  }) }]));
  const s = new StatsStore();
  assert.deepEqual(run(rt, s, { origin: 'https://a.example' }).response, {
    ':status': '200', 'access-control-allow-origin': 'https://a.example', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-total',
  });
  assert.deepEqual(run(rt, s, { origin: 'https://b.example' }).response, { ':status': '200' });
  // no Origin: not a CORS request, not counted
  assert.deepEqual(run(rt, s, {}).response, { ':status': '200' });
  // an OPTIONS without Access-Control-Request-Method is an actual request
  assert.equal(run(rt, s, { ':method': 'OPTIONS', origin: 'https://a.example' }).status, 'continue');
  assert.equal(count(s, 'origin_valid'), 2);
  assert.equal(count(s, 'origin_invalid'), 1);
});

test('"*" origins, methods and headers: any origin; methods and headers echo the request', () => {
  const rt = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({
    allow_origin_string_match: [{ exact: '*' }], allow_methods: '*', allow_headers: '*',
  }) }]));
  const r = run(rt, new StatsStore(), preflight('https://any.example', { 'access-control-request-headers': 'x-one,x-two' }));
  assert.equal(r.reply!.headers['access-control-allow-origin'], 'https://any.example');
  assert.equal(r.reply!.headers['access-control-allow-methods'], 'PUT');
  assert.equal(r.reply!.headers['access-control-allow-headers'], 'x-one,x-two');
});

test('private network access is allowed only when the policy says so and the browser asks', () => {
  const rt = table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ allow_origin_string_match: [{ exact: 'o' }], allow_private_network_access: true }) }]));
  assert.equal(run(rt, new StatsStore(), preflight('o', { 'access-control-request-private-network': 'true' })).reply!.headers['access-control-allow-private-network'], 'true');
  assert.equal(run(rt, new StatsStore(), preflight('o')).reply!.headers['access-control-allow-private-network'], undefined);
});

test('the route overrides the virtual host field by field; the most specific level alone decides filter_enabled', () => {
  const rt = table(vhost(
    [
      { match: { prefix: '/override' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ allow_origin_string_match: [{ exact: 'https://route.example' }] }) },
      { match: { prefix: '/off' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ filter_enabled: { default_value: { numerator: 0 } } }) },
      { match: { prefix: '/shadow' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ filter_enabled: { default_value: { numerator: 0 } }, shadow_enabled: { default_value: { numerator: 100 } } }) },
      { match: { prefix: '/redirect' }, redirect: { path_redirect: '/x' } },
      { match: { prefix: '/' }, route: { cluster: 'c' } },
    ],
    { typed_per_filter_config: cors({ allow_origin_string_match: [{ exact: 'https://vhost.example' }], allow_methods: 'GET,POST', max_age: '30' }) },
  ));
  const s = new StatsStore();
  // the route's origins replace the virtual host's; its unset fields come from the virtual host
  const o = run(rt, s, preflight('https://route.example', { ':path': '/override' }));
  assert.deepEqual(o.reply!.headers, { ':status': '200', 'access-control-allow-origin': 'https://route.example', 'access-control-allow-methods': 'GET,POST', 'access-control-max-age': '30' });
  assert.equal(run(rt, s, preflight('https://vhost.example', { ':path': '/override' })).status, 'continue');
  // routes without their own policy use the virtual host's
  assert.equal(run(rt, s, preflight('https://vhost.example', { ':path': '/plain' })).reply!.headers['access-control-allow-origin'], 'https://vhost.example');
  // disabled on /off: nothing happens, nothing is counted
  const before = count(s, 'origin_valid') + count(s, 'origin_invalid');
  assert.deepEqual(run(rt, s, { ':path': '/off', origin: 'https://vhost.example' }).response, { ':status': '200' });
  assert.equal(count(s, 'origin_valid') + count(s, 'origin_invalid'), before);
  // shadow: counted, never acted on
  assert.deepEqual(run(rt, s, preflight('https://vhost.example', { ':path': '/shadow' })).response, { ':status': '200' });
  assert.equal(count(s, 'origin_valid') + count(s, 'origin_invalid'), before + 1);
  // redirects and direct responses are not CORS-handled (Envoy: no route entry)
  assert.equal(run(rt, s, preflight('https://vhost.example', { ':path': '/redirect' })).status, 'continue');
});

test('levels: weighted cluster, route, virtual host; the route configuration only when nothing closer sets one', () => {
  const rt = table({
    typed_per_filter_config: cors({ allow_methods: 'RC' }),
    virtual_hosts: [
      { name: 'a', domains: ['a'], routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'c', weight: 1, typed_per_filter_config: cors({ max_age: 'WC' }) }] } }, typed_per_filter_config: cors({ allow_headers: 'R' }) }], typed_per_filter_config: cors({ expose_headers: 'VH' }) },
      { name: 'b', domains: ['b'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] },
    ],
  });
  const a = effectiveCors(corsLevels(rt.route(HeaderMap.from({ ':authority': 'a', ':path': '/', ':method': 'GET' }))!, 'cors'))!;
  assert.deepEqual([a.maxAge, a.allowHeaders, a.exposeHeaders, a.allowMethods], ['WC', 'R', 'VH', '']);
  const b = effectiveCors(corsLevels(rt.route(HeaderMap.from({ ':authority': 'b', ':path': '/', ':method': 'GET' }))!, 'cors'))!;
  assert.equal(b.allowMethods, 'RC');
  assert.equal(b.forwardNotMatchingPreflights, true);
  assert.equal(b.allowCredentials, false);
});

test('invalid policies are refused with their field path; the filter type cannot be a CorsPolicy', () => {
  const bad = (cfg: object, re: RegExp) => assert.throws(() => compileCorsPolicy(cfg, 'p'), (e: unknown) => e instanceof ConfigError && re.test(e.message));
  bad({ allow_origin_string_match: [{ safe_regex: { regex: '(' } }] }, /p\.allow_origin_string_match\[0\]\.safe_regex\.regex/);
  bad({ allow_origin_string_match: [{ prefix: '' }] }, /p\.allow_origin_string_match\[0\]\.prefix/);
  bad({ allow_headers: 'x\r\nset-cookie: a' }, /p\.allow_headers: value contains NUL, CR or LF/);
  bad({ filter_enabled: { default_value: { numerator: 101 } } }, /p\.filter_enabled\.default_value\.numerator/);
  assert.throws(() => corsFilter.create({ '@type': POLICY }, { stats: new StatsStore(), statPrefix: 'x.', name: 'cors', path: 'f' } as never), /f\.typed_config: a CorsPolicy is a per-route config/);
  assert.throws(() => table(vhost([{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: cors({ max_age: '1\n' }) }])), /typed_per_filter_config\.cors\.max_age/);
});
