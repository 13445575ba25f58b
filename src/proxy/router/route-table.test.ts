import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors } from '../../common/errors.js';
import { HeaderMap } from '../http/headers.js';
import { StreamInfo } from '../stream-info.js';
import {
  compileRouteConfiguration,
  type RouteActionEntry,
  type RouteConfig,
  type RouteConfigurationConfig,
  type RouteRequest,
  type RouteTableOptions,
  type VirtualHostConfig,
} from './route-table.js';

const req = (authority: string, path = '/', headers: Record<string, string> = {}, scheme = 'http'): RouteRequest => ({
  authority,
  path,
  method: headers[':method'] ?? 'GET',
  scheme,
  headers: HeaderMap.from({ ':authority': authority, ':path': path, ':scheme': scheme, ':method': 'GET', ...headers }),
});
const vhost = (name: string, domains: string[], routes: RouteConfig[] = [{ match: { prefix: '/' }, route: { cluster: name } }], extra: Partial<VirtualHostConfig> = {}) => ({
  name,
  domains,
  routes,
  ...extra,
});
const table = (rc: RouteConfigurationConfig, opts?: RouteTableOptions) => compileRouteConfiguration(rc, opts);
const clusterOf = (rt: ReturnType<typeof table>, r: RouteRequest) => {
  const res = rt.route(r);
  return res === null ? null : res.clusterName;
};
const info = () => new StreamInfo({ remote: '10.0.0.1:1', local: '10.0.0.2:80', id: 1 });
const fails = (fn: () => unknown, code: string, path: string) =>
  assert.throws(fn, (e: Error & { code?: string; path?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.equal(e.path, path, e.message);
    return true;
  });

test('virtual host selection: exact, then longest suffix wildcard, then longest prefix wildcard, then *', () => {
  const rt = table({
    virtual_hosts: [
      vhost('exact', ['www.foo.com']),
      vhost('suffix', ['*.foo.com']),
      vhost('longer-suffix', ['*-bar.foo.com']),
      vhost('prefix', ['foo.*']),
      vhost('longer-prefix', ['foo.bar.*']),
      vhost('default', ['*']),
    ],
  });
  assert.equal(clusterOf(rt, req('www.foo.com')), 'exact');
  assert.equal(clusterOf(rt, req('WWW.Foo.COM')), 'exact'); // hosts compare case-insensitively
  assert.equal(clusterOf(rt, req('x.foo.com')), 'suffix');
  assert.equal(clusterOf(rt, req('baz-bar.foo.com')), 'longer-suffix');
  assert.equal(clusterOf(rt, req('-bar.foo.com')), 'suffix'); // a wildcard never matches the empty string
  assert.equal(clusterOf(rt, req('.foo.com')), 'default');
  assert.equal(clusterOf(rt, req('foo.x.foo.com')), 'suffix'); // suffix wildcards beat prefix wildcards
  assert.equal(clusterOf(rt, req('foo.example')), 'prefix');
  assert.equal(clusterOf(rt, req('foo.bar.example')), 'longer-prefix');
  assert.equal(clusterOf(rt, req('foo.')), 'default');
  assert.equal(clusterOf(rt, req('elsewhere.org')), 'default');
  assert.equal(rt.findVirtualHost('x.foo.com')?.name, 'suffix');
});

test('virtual host selection: the port is part of the host unless ignore_port_in_host_matching', () => {
  const vhs = [vhost('a', ['a.com']), vhost('a-port', ['a.com:8080']), vhost('v6', ['[::1]'])];
  const rt = table({ virtual_hosts: vhs });
  assert.equal(clusterOf(rt, req('a.com:8080')), 'a-port');
  assert.equal(clusterOf(rt, req('a.com:9090')), null); // no default virtual host → no route
  const ignoring = table({ virtual_hosts: [vhost('a', ['a.com']), vhost('v6', ['[::1]'])], ignore_port_in_host_matching: true });
  assert.equal(clusterOf(ignoring, req('a.com:9090')), 'a');
  assert.equal(clusterOf(ignoring, req('[::1]:443')), 'v6');
  assert.equal(clusterOf(ignoring, req('[::1]')), 'v6');
});

test('duplicate domains and a second * are rejected, every problem reported', () => {
  fails(() => table({ virtual_hosts: [vhost('a', ['x.com']), vhost('b', ['y.com', 'X.COM'])] }), 'MW_CONFIG_INVALID', 'virtual_hosts[1].domains[1]');
  fails(() => table({ virtual_hosts: [vhost('a', ['*.x.com']), vhost('b', ['*.x.com'])] }), 'MW_CONFIG_INVALID', 'virtual_hosts[1].domains[0]');
  fails(() => table({ virtual_hosts: [vhost('a', ['*']), vhost('b', ['*'])] }, { path: 'hcm.route_config' }), 'MW_CONFIG_INVALID', 'hcm.route_config.virtual_hosts[1].domains[0]');
  // the same string as a suffix and as an exact domain is not a duplicate
  table({ virtual_hosts: [vhost('a', ['*.x.com']), vhost('b', ['.x.com'])] });
  assert.throws(
    () => table({ virtual_hosts: [vhost('a', ['*']), vhost('b', ['*']), vhost('c', [])] }),
    (e: unknown) => e instanceof ConfigErrors && e.errors.length === 2,
  );
});

test('routes are tried in order, the first match wins; no match is null', () => {
  const rt = table({
    virtual_hosts: [
      vhost('v', ['*'], [
        { match: { path: '/exact' }, route: { cluster: 'exact' } },
        { match: { prefix: '/api', headers: [{ name: 'x-canary', exact_match: '1' }] }, route: { cluster: 'canary' } },
        { match: { prefix: '/api' }, route: { cluster: 'api' } },
        { match: { safe_regex: { regex: '/api.*' } }, route: { cluster: 'unreachable' } },
        { match: { prefix: '/static/', case_sensitive: false }, route: { cluster: 'static' } },
      ]),
    ],
  });
  assert.equal(clusterOf(rt, req('h', '/exact?x')), 'exact');
  assert.equal(clusterOf(rt, req('h', '/api/v1', { 'x-canary': '1' })), 'canary');
  assert.equal(clusterOf(rt, req('h', '/api/v1')), 'api');
  assert.equal(clusterOf(rt, req('h', '/STATIC/x.css')), 'static');
  assert.equal(rt.route(req('h', '/other')), null);
  // the connection manager may pass the request headers as they are
  assert.equal(rt.route(HeaderMap.from({ ':authority': 'h', ':path': '/api', ':method': 'GET', ':scheme': 'http' }))?.clusterName, 'api');
});

test('weighted clusters: picked over the sum of weights with the injected random value', () => {
  let next = 0;
  const rt = table(
    {
      virtual_hosts: [
        vhost('v', ['*'], [
          {
            match: { prefix: '/' },
            route: {
              weighted_clusters: {
                clusters: [
                  { name: 'a', weight: 1 },
                  { name: 'never', weight: 0 },
                  { name: 'c', weight: 3 },
                ],
                total_weight: 100, // deprecated and ignored, as in current Envoy
                runtime_key_prefix: 'ignored',
              },
            },
          },
        ]),
      ],
    },
    { random: () => next },
  );
  const pick = (r: number) => {
    next = r;
    return rt.route(req('h'))!.clusterName;
  };
  assert.equal(pick(0), 'a');
  assert.equal(pick(0.2499), 'a');
  assert.equal(pick(0.25), 'c');
  assert.equal(pick(0.9999), 'c');
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) counts.set(pick(i / 1000), (counts.get(pick(i / 1000)) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), { a: 250, c: 750 });
  // results for named weighted clusters are built once and shared
  next = 0.1;
  assert.equal(rt.route(req('h')), rt.route(req('h')));
  const entry = rt.route(req('h'))!.entry as RouteActionEntry;
  assert.equal(entry.cluster.kind === 'weighted' && entry.cluster.totalWeight, 4);
});

test('weighted clusters: header_name supplies the value; cluster_header entries; one random draw per request', () => {
  let draws = 0;
  const rt = table(
    {
      virtual_hosts: [
        vhost('v', ['*'], [
          {
            match: { prefix: '/', runtime_fraction: { default_value: { numerator: 100 } } },
            route: {
              weighted_clusters: {
                header_name: 'x-rv',
                clusters: [
                  { name: 'a', weight: 2 },
                  { cluster_header: 'X-Target', weight: 2 },
                ],
              },
            },
          },
        ]),
      ],
    },
    {
      random: () => {
        draws++;
        return 0;
      },
    },
  );
  assert.equal(clusterOf(rt, req('h', '/', { 'x-rv': '7' })), ''); // 7 % 4 = 3 → the header entry, header absent
  assert.equal(clusterOf(rt, req('h', '/', { 'x-rv': '7', 'x-target': 'dyn' })), 'dyn');
  assert.equal(clusterOf(rt, req('h', '/', { 'x-rv': '5' })), 'a');
  assert.equal(rt.route(req('h', '/', { 'x-rv': '7', 'x-target': 'dyn' }))!.weightedCluster!.clusterHeader, 'x-target');
  draws = 0;
  assert.equal(clusterOf(rt, req('h', '/', { 'x-rv': 'nan' })), 'a'); // unparsable: falls back to the random value
  assert.equal(draws, 1); // runtime_fraction and the weighted pick share one draw
  const multi = req('h');
  multi.headers.add('x-rv', '7');
  multi.headers.add('x-rv', '7');
  assert.equal(clusterOf(rt, multi), 'a'); // a repeated header is not trusted
});

test('weighted cluster validation', () => {
  const wc = (clusters: object[]) => () =>
    table({ virtual_hosts: [vhost('v', ['*'], [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters } } }])] });
  fails(wc([{ name: 'a', weight: 0 }]), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters');
  fails(wc([{ name: 'a' }]), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0].weight');
  fails(wc([{ name: 'a', weight: 1 }, { name: 'b', cluster_header: 'x', weight: 1 }]), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1]');
  fails(wc([{ weight: 1 }]), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]');
  fails(wc([]), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters');
});

test('cluster_header: the first value names the cluster; absent → "" and the not-found code', () => {
  const rt = table({
    virtual_hosts: [
      vhost('v', ['*'], [
        { match: { prefix: '/nf' }, route: { cluster_header: 'X-Cluster', cluster_not_found_response_code: 'NOT_FOUND' } },
        { match: { prefix: '/' }, route: { cluster_header: 'x-cluster' } },
      ]),
    ],
  });
  const two = req('h');
  two.headers.add('x-cluster', 'first');
  two.headers.add('x-cluster', 'second');
  assert.equal(clusterOf(rt, two), 'first');
  const missing = rt.route(req('h'))!;
  assert.equal(missing.clusterName, '');
  assert.equal((missing.entry as RouteActionEntry).clusterNotFoundResponseCode, 503);
  assert.equal((rt.route(req('h', '/nf'))!.entry as RouteActionEntry).clusterNotFoundResponseCode, 404);
});

test('redirect routes compute their Location from the request', () => {
  const rt = table({
    virtual_hosts: [
      vhost('v', ['*'], [
        { match: { prefix: '/old/' }, redirect: { prefix_rewrite: '/new/', response_code: 'PERMANENT_REDIRECT' } },
        { match: { safe_regex: { regex: '/u/(\\d+)' } }, redirect: { regex_rewrite: { pattern: { regex: '^/u/(\\d+)$' }, substitution: '/users/\\1' }, https_redirect: true } },
        { match: { path: '/go' }, redirect: { host_redirect: 'example.org', path_redirect: '/landing', strip_query: true } },
      ]),
    ],
  });
  const loc = (r: RouteRequest) => {
    const res = rt.route(r)!;
    assert.equal(res.entry.kind, 'redirect');
    return res.entry.kind === 'redirect' ? [res.entry.responseCode, res.entry.location(r)] : [];
  };
  assert.deepEqual(loc(req('a.com:8080', '/old/page?q=1')), [308, 'http://a.com:8080/new/page?q=1']);
  assert.deepEqual(loc(req('a.com:80', '/u/42?x')), [301, 'https://a.com/users/42?x']);
  assert.deepEqual(loc(req('a.com', '/go?utm=1')), [301, 'http://example.org/landing']);
});

test('direct responses: inline and file bodies read at compile time, Location for 201/3xx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mw-route-'));
  try {
    const file = join(dir, 'body.txt');
    writeFileSync(file, 'from file');
    const rt = table({
      virtual_hosts: [
        vhost('v', ['*'], [
          { match: { path: '/inline' }, direct_response: { status: 200, body: { inline_string: 'hello' } } },
          { match: { path: '/bytes' }, direct_response: { status: 503, body: { inline_bytes: Buffer.from([1, 2]) } } },
          { match: { path: '/file' }, direct_response: { status: 200, body: { filename: file } } },
          { match: { path: '/moved' }, direct_response: { status: 302 } },
        ]),
      ],
    });
    writeFileSync(file, 'changed later'); // already read
    const dr = (path: string) => {
      const e = rt.route(req('h', path))!.entry;
      assert.equal(e.kind, 'direct_response');
      return e.kind === 'direct_response' ? e : assert.fail();
    };
    assert.equal(dr('/inline').body!.toString(), 'hello');
    assert.equal(dr('/inline').location(req('h', '/inline')), undefined);
    assert.deepEqual([...dr('/bytes').body!], [1, 2]);
    assert.equal(dr('/bytes').status, 503);
    assert.equal(dr('/file').body!.toString(), 'from file');
    assert.equal(dr('/moved').body, undefined);
    assert.equal(dr('/moved').location(req('h:80', '/moved?a')), 'http://h:80/moved?a');

    const one = (direct_response: object, extra: Partial<RouteConfigurationConfig> = {}) => () =>
      table({ virtual_hosts: [vhost('v', ['*'], [{ match: { prefix: '/' }, direct_response } as RouteConfig])], ...extra });
    fails(one({ status: 200, body: { filename: join(dir, 'missing') } }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].direct_response.body.filename');
    fails(one({ status: 200, body: { inline_string: 'x'.repeat(4097) } }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].direct_response.body.inline_string');
    one({ status: 200, body: { inline_string: 'x'.repeat(5000) } }, { max_direct_response_body_size_bytes: 5000 })();
    fails(one({ status: 600 }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].direct_response.status');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('header mutations: weighted cluster first, then route, virtual host, route configuration (or reversed by the flag)', () => {
  const level = (name: string) => ({
    request_headers_to_add: [{ header: { key: 'x-order', value: name } }, { header: { key: 'x-winner', value: name }, append: false }],
    response_headers_to_add: [{ header: { key: 'x-order', value: name } }],
  });
  const rc = (flag: boolean): RouteConfigurationConfig => ({
    ...level('rc'),
    most_specific_header_mutations_wins: flag,
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        ...level('vhost'),
        routes: [{ match: { prefix: '/' }, ...level('route'), route: { weighted_clusters: { clusters: [{ name: 'c', weight: 1, ...level('wc') }] } } }],
      },
    ],
  });
  for (const [flag, order] of [
    [false, ['wc', 'route', 'vhost', 'rc']],
    [true, ['wc', 'rc', 'vhost', 'route']],
  ] as const) {
    const res = table(rc(flag)).route(req('h'))!;
    const h = HeaderMap.from({ ':authority': 'h', ':path': '/' });
    res.finalizeRequestHeaders(h, info());
    assert.deepEqual(h.getAll('x-order'), order);
    assert.deepEqual(h.getAll('x-winner'), [order[3]]);
    const resp = new HeaderMap([':status', '200']);
    res.finalizeResponseHeaders(resp, info());
    assert.deepEqual(resp.getAll('x-order'), order);
  }
});

test('finalizeRequestHeaders: host rewrites, then path rewrites', () => {
  const rt = table({
    virtual_hosts: [
      vhost('v', ['*'], [
        { match: { prefix: '/lit/' }, route: { cluster: 'c', prefix_rewrite: '/', host_rewrite_literal: 'lit.internal', append_x_forwarded_host: true } },
        { match: { prefix: '/hdr' }, route: { cluster: 'c', host_rewrite_header: 'X-Host' } },
        {
          match: { safe_regex: { regex: '/t/([^/]+)/.*' } },
          route: {
            cluster: 'c',
            host_rewrite_path_regex: { pattern: { regex: '^/t/([^/]+)/.*$' }, substitution: '\\1.tenants' },
            regex_rewrite: { pattern: { regex: '^/t/[^/]+' }, substitution: '' },
          },
        },
        {
          match: { prefix: '/w' },
          route: { weighted_clusters: { clusters: [{ name: 'w', weight: 1, host_rewrite_literal: 'w.host' }] }, auto_host_rewrite: true },
        },
      ]),
    ],
  });
  const fin = (path: string, extra: Record<string, string> = {}, original = false) => {
    const r = req('front.example', path, extra);
    rt.route(r)!.finalizeRequestHeaders(r.headers, info(), original);
    return r.headers;
  };
  let h = fin('/lit/a/b?q=1', {}, true);
  assert.equal(h.get(':authority'), 'lit.internal');
  assert.equal(h.get('x-forwarded-host'), 'front.example');
  assert.equal(h.get(':path'), '/a/b?q=1');
  assert.equal(h.get('x-envoy-original-path'), '/lit/a/b?q=1');
  h = fin('/hdr', { 'x-host': 'from.header' });
  assert.equal(h.get(':authority'), 'from.header');
  assert.equal(h.get('x-envoy-original-path'), undefined);
  assert.equal(fin('/hdr').get(':authority'), 'front.example'); // absent header: host untouched
  h = fin('/t/acme/orders?id=3');
  assert.equal(h.get(':authority'), 'acme.tenants');
  assert.equal(h.get(':path'), '/orders?id=3');
  const w = rt.route(req('h', '/w'))!;
  assert.equal((w.entry as RouteActionEntry).autoHostRewrite, true); // applied by the router with the chosen host
  assert.equal(fin('/w').get(':authority'), 'w.host');
  assert.equal(rt.route(req('h', '/lit/x'))!.rewritePath('/lit/x'), '/x');
  assert.equal(rt.route(req('h', '/hdr'))!.rewritePath('/hdr'), undefined);
});

test('route action settings: timeouts, inherited retry/hedge/mirror policies, upgrades, per-filter config', () => {
  const rt = table({
    typed_per_filter_config: { f1: { from: 'rc' }, f2: { from: 'rc' }, f3: { from: 'rc' } },
    request_mirror_policies: [{ cluster: 'mirror-rc' }],
    virtual_hosts: [
      vhost('v', ['*'], [
        { match: { path: '/default' }, route: { cluster: 'c' } },
        {
          match: { path: '/custom' },
          typed_per_filter_config: { f1: { from: 'route' } },
          route: {
            cluster: 'c',
            timeout: 0,
            idle_timeout: 2500,
            retry_policy: { retry_on: '5xx' },
            request_mirror_policies: [{ cluster: 'mirror-route' }],
            upgrade_configs: [{ upgrade_type: 'WebSocket' }, { upgrade_type: 'h2c', enabled: false }],
          },
        },
        { match: { path: '/w' }, route: { weighted_clusters: { clusters: [{ name: 'w', weight: 1, typed_per_filter_config: { f1: { from: 'wc' } } }] } } },
      ], { retry_policy: { retry_on: 'connect-failure' }, hedge_policy: { initial_requests: 2 }, typed_per_filter_config: { f1: { from: 'vh' }, f2: { from: 'vh' } } }),
    ],
  });
  const d = rt.route(req('h', '/default'))!;
  const de = d.entry as RouteActionEntry;
  assert.equal(de.timeoutMs, 15000);
  assert.equal(de.idleTimeoutMs, undefined);
  assert.deepEqual(de.retryPolicy, { retry_on: 'connect-failure' });
  assert.deepEqual(de.hedgePolicy, { initial_requests: 2 });
  assert.deepEqual(de.requestMirrorPolicies, [{ cluster: 'mirror-rc' }]);
  assert.deepEqual(d.perFilterConfig('f1'), { from: 'vh' });
  assert.deepEqual(d.perFilterConfig('f3'), { from: 'rc' });
  assert.equal(d.perFilterConfig('nope'), undefined);
  const c = rt.route(req('h', '/custom'))!;
  const ce = c.entry as RouteActionEntry;
  assert.equal(ce.timeoutMs, 0);
  assert.equal(ce.idleTimeoutMs, 2500);
  assert.deepEqual(ce.retryPolicy, { retry_on: '5xx' });
  assert.deepEqual(ce.requestMirrorPolicies, [{ cluster: 'mirror-route' }]);
  assert.deepEqual([...ce.upgrades], [['websocket', true], ['h2c', false]]);
  assert.deepEqual(c.perFilterConfig('f1'), { from: 'route' });
  assert.deepEqual(c.perFilterConfig('f2'), { from: 'vh' });
  assert.deepEqual(rt.route(req('h', '/w'))!.perFilterConfig('f1'), { from: 'wc' });
  assert.deepEqual([...rt.referencedClusters()].sort(), ['c', 'mirror-rc', 'mirror-route', 'w']);
});

test('hash_policy is compiled with the table', () => {
  const rt = table({ virtual_hosts: [vhost('v', ['*'], [{ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: [{ header: { header_name: 'x-user' } }] } }])] });
  const e = rt.route(req('h'))!.entry as RouteActionEntry;
  const hash = (user: string) => e.hashPolicyFn!({ headers: HeaderMap.from({ 'x-user': user }), sourceIp: '10.0.0.1', query: undefined }).hash;
  assert.equal(typeof hash('alice'), 'bigint');
  assert.equal(hash('alice'), hash('alice'));
  assert.notEqual(hash('alice'), hash('bob'));
  assert.equal((table({ virtual_hosts: [vhost('v', ['*'])] }).route(req('h'))!.entry as RouteActionEntry).hashPolicyFn, undefined);
  fails(
    () => table({ virtual_hosts: [vhost('v', ['*'], [{ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: [{ terminal: true }] } }])] }),
    'MW_CONFIG_INVALID',
    'virtual_hosts[0].routes[0].route.hash_policy[0]',
  );
});

test('require_tls redirects plain-text requests to https', () => {
  const rt = table({
    virtual_hosts: [
      vhost('all', ['all.com'], undefined, { require_tls: 'ALL' }),
      vhost('ext', ['ext.com'], undefined, { require_tls: 'EXTERNAL_ONLY' }),
    ],
  });
  const r = rt.route(req('all.com', '/p?q'))!;
  assert.equal(r.entry.kind === 'redirect' && r.entry.responseCode, 301);
  assert.equal(r.entry.kind === 'redirect' && r.entry.location(req('all.com', '/p?q')), 'https://all.com/p?q');
  assert.equal(rt.route(req('all.com', '/', {}, 'https'))!.clusterName, 'all');
  assert.equal(rt.route(req('all.com', '/', { 'x-forwarded-proto': 'https' }))!.clusterName, 'all');
  assert.equal(rt.route(req('ext.com'))!.entry.kind, 'redirect');
  assert.equal(rt.route(req('ext.com', '/', { 'x-envoy-internal': 'true' }))!.clusterName, 'ext');
});

test('virtual clusters name requests for stats', () => {
  const rt = table({
    virtual_hosts: [vhost('v', ['*'], undefined, { virtual_clusters: [{ name: 'posts', headers: [{ name: ':method', exact_match: 'POST' }] }] }), vhost('plain', ['p.com'])],
  });
  const vh = rt.findVirtualHost('x')!;
  assert.equal(vh.virtualClusterName(HeaderMap.from({ ':method': 'POST' })), 'posts');
  assert.equal(vh.virtualClusterName(HeaderMap.from({ ':method': 'GET' })), 'other');
  assert.equal(rt.findVirtualHost('p.com')!.virtualClusterName(HeaderMap.from({ ':method': 'POST' })), undefined);
});

test('compiled entries are frozen', () => {
  const rt = table({ virtual_hosts: [vhost('v', ['*'], [{ name: 'r1', match: { prefix: '/' }, route: { cluster: 'c' } }])] });
  const res = rt.route(req('h'))!;
  assert.equal(res.entry.name, 'r1');
  for (const obj of [res, res.entry, res.virtualHost, res.virtualHost.routes, rt, rt.virtualHosts, (res.entry as RouteActionEntry).cluster]) {
    assert.ok(Object.isFrozen(obj));
  }
  assert.throws(() => {
    (res.entry as { name: string }).name = 'x';
  }, TypeError);
});

test('config errors carry the full field path; one bad route does not hide another', () => {
  const bad = {
    virtual_hosts: [
      vhost('a', ['a.com']),
      vhost('b', ['b.com'], [
        { match: { prefix: '/1' }, route: { cluster: 'c' } },
        { match: { prefix: '/2' }, route: { cluster: 'c' } },
        { match: { prefix: '/3' }, route: { cluster: 'c' } },
        { match: { safe_regex: { regex: '(unclosed' } }, route: { cluster: 'c' } },
        { match: { prefix: '/5' }, route: { cluster: 'c', prefix_rewrite: '/x', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } },
      ]),
    ],
  };
  assert.throws(
    () => table(bad, { path: 'route_config' }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigErrors);
      assert.deepEqual(
        e.errors.map((x) => x.path),
        ['route_config.virtual_hosts[1].routes[3].match.safe_regex.regex', 'route_config.virtual_hosts[1].routes[4].route'],
      );
      assert.match(e.errors[0]!.message, /^route_config\.virtual_hosts\[1\]\.routes\[3\]\.match\.safe_regex\.regex: invalid regular expression: /);
      assert.equal(e.code, 'MW_CONFIG_INVALID');
      return true;
    },
  );
  const one = (r: object) => () => table({ virtual_hosts: [vhost('v', ['*'], [r as RouteConfig])] });
  fails(one({ match: { prefix: '/' } }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0]');
  fails(one({ match: { prefix: '/' }, route: {} }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].route');
  fails(one({ match: { prefix: '/' }, route: { cluster: 'c' }, request_headers_to_remove: ['host'] }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].routes[0].request_headers_to_remove[0]');
  fails(one({ match: { prefix: '/' }, non_forwarding_action: {} }), 'MW_CONFIG_UNSUPPORTED', 'virtual_hosts[0].routes[0].non_forwarding_action');
  fails(() => table({ vhds: {}, virtual_hosts: [] }), 'MW_CONFIG_UNSUPPORTED', 'vhds');
  fails(() => table({ virtual_hosts: [{ domains: ['*'] }] }), 'MW_CONFIG_INVALID', 'virtual_hosts[0].name');
});

test('10,000 routes compile, and lookups walk them in order', () => {
  const routes: RouteConfig[] = [];
  for (let i = 0; i < 10_000; i++) {
    const m = i % 4;
    routes.push({
      name: `r${i}`,
      match:
        m === 0
          ? { path: `/svc${i}/exact` }
          : m === 1
            ? { prefix: `/svc${i}/`, headers: [{ name: 'x-tenant', exact_match: `t${i}` }] }
            : m === 2
              ? { safe_regex: { regex: `/svc${i}/\\d+` } }
              : { path_separated_prefix: `/svc${i}`, query_parameters: [{ name: 'v', string_match: { exact: `${i}` } }] },
      route: { cluster: `cluster-${i % 50}`, prefix_rewrite: m === 1 ? '/' : undefined },
      response_headers_to_add: [{ header: { key: 'x-route', value: `r${i}` } }],
    });
  }
  const rt = table({ virtual_hosts: [vhost('big', ['*'], routes)] });
  assert.equal(rt.virtualHosts[0]!.routes.length, 10_000);
  assert.equal(rt.route(req('h', '/svc9999/x?v=9999'))!.entry.name, 'r9999');
  assert.equal(rt.route(req('h', '/svc9998/123'))!.entry.name, 'r9998');
  assert.equal(rt.route(req('h', '/svc9997/a', { 'x-tenant': 't9997' }))!.entry.name, 'r9997');
  assert.equal(rt.route(req('h', '/svc9996/exact'))!.entry.name, 'r9996');
  assert.equal(rt.route(req('h', '/svc9997/a')), null);
  assert.equal(rt.referencedClusters().size, 50);
});
