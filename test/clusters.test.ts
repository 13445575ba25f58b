// Clusters and load balancing through a real proxy process: how requests spread over real upstreams for each
// lb_policy, hash policies (header, cookie, source IP) with RING_HASH and MAGLEV, DNS cluster types resolving
// 'localhost', config-level priorities, and a refused connection turning into 503 UF.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startProxy, listenerPort, stat, waitFor, tmpDir, freePort } from './helpers/proxy.js';
import { httpListener, staticCluster, namedUpstream, get, type NamedUpstream } from './helpers/robustness.js';

type Upstream = NamedUpstream & { held: (() => void)[] };
/** An upstream answering its name, except that requests for a path ending in /hold wait until released. */
async function upstream(name: string): Promise<Upstream> {
  const held: (() => void)[] = [];
  const u = await namedUpstream(name, (req, res) => {
    req.resume();
    const answer = () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(name);
    };
    if (req.url?.endsWith('/hold')) held.push(answer);
    else req.on('end', answer);
  });
  return Object.assign(u, { held });
}
const ups: Upstream[] = [];
for (const n of ['a', 'b', 'c', 'd']) ups.push(await upstream(n));
const [a, b, c, d] = ups as [Upstream, Upstream, Upstream, Upstream];
const closedPort = await freePort(); // nothing listens here: connections are refused

const ep = (u: NamedUpstream, extra: object = {}) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: u.port } } }, ...extra });
const cluster = (name: string, lb_policy: string, extra: object = {}) => ({ ...staticCluster(name, [a.port, b.port, c.port]), lb_policy, ...extra });
const route = (prefix: string, clusterName: string, hash_policy?: any[]) => ({ match: { prefix }, route: { cluster: clusterName, ...(hash_policy ? { hash_policy } : {}) } });

const logFile = path.join(tmpDir(), 'access.log');
const proxy = await startProxy({
  static_resources: {
    listeners: [
      httpListener('ingress', {
        routes: [
          route('/rr', 'rr'),
          route('/weighted', 'weighted'),
          route('/least-wide', 'least_wide'),
          route('/least', 'least'),
          route('/random', 'random'),
          route('/ring/header', 'ring', [{ header: { header_name: 'x-user' } }]),
          route('/ring/cookie', 'ring', [{ cookie: { name: 'session', ttl: '3600s', path: '/' } }]),
          route('/ring/source', 'ring', [{ connection_properties: { source_ip: true } }]),
          route('/maglev/header', 'maglev', [{ header: { header_name: 'x-user' } }]),
          route('/maglev/cookie', 'maglev', [{ cookie: { name: 'session', ttl: '3600s' } }]),
          route('/maglev/source', 'maglev', [{ connection_properties: { source_ip: true } }]),
          route('/strict', 'strict_dns'),
          route('/logical', 'logical_dns'),
          route('/prio', 'prio'),
          route('/refused', 'refused'),
        ],
        hcm: {
          access_log: [
            {
              name: 'file',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
                path: logFile,
                log_format: { text_format_source: { inline_string: '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%\n' } },
              },
            },
          ],
        },
      }),
    ],
    clusters: [
      cluster('rr', 'ROUND_ROBIN'),
      {
        ...cluster('weighted', 'ROUND_ROBIN'),
        load_assignment: { cluster_name: 'weighted', endpoints: [{ lb_endpoints: [ep(a, { load_balancing_weight: 1 }), ep(b, { load_balancing_weight: 3 })] }] },
      },
      cluster('least', 'LEAST_REQUEST'),
      cluster('least_wide', 'LEAST_REQUEST', { least_request_lb_config: { choice_count: 20 } }),
      cluster('random', 'RANDOM'),
      cluster('ring', 'RING_HASH'),
      cluster('maglev', 'MAGLEV'),
      {
        name: 'strict_dns',
        type: 'STRICT_DNS',
        dns_lookup_family: 'V4_ONLY',
        connect_timeout: '1s',
        load_assignment: { cluster_name: 'strict_dns', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: d.port } } } }] }] },
      },
      {
        name: 'logical_dns',
        type: 'LOGICAL_DNS',
        dns_lookup_family: 'V4_ONLY',
        connect_timeout: '1s',
        load_assignment: { cluster_name: 'logical_dns', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: d.port } } } }] }] },
      },
      {
        ...staticCluster('prio', []),
        load_assignment: { cluster_name: 'prio', endpoints: [{ priority: 0, lb_endpoints: [ep(a)] }, { priority: 1, lb_endpoints: [ep(b), ep(c)] }] },
      },
      staticCluster('refused', [closedPort]),
    ],
  },
});
const port = await listenerPort(proxy, 'ingress');
after(async () => {
  await proxy.stop();
  for (const u of ups) await u.close();
});

/** Send `n` requests (sequentially, a fresh connection each) and count which upstream answered. */
async function spread(n: number, p: string | ((i: number) => string), headers: (i: number) => Record<string, string> = () => ({}), localAddress?: (i: number) => string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(port, typeof p === 'string' ? p : p(i), headers(i), undefined, localAddress?.(i));
    assert.equal(r.status, 200, r.body);
    counts[r.body] = (counts[r.body] ?? 0) + 1;
  }
  return counts;
}

test('ROUND_ROBIN spreads evenly over the endpoints', async () => {
  assert.deepEqual(await spread(30, '/rr'), { a: 10, b: 10, c: 10 });
});

test('ROUND_ROBIN honours load_balancing_weight', async () => {
  const counts = await spread(40, '/weighted');
  // 1:3 over whole cycles; allow one pick of phase offset
  assert.ok(Math.abs((counts.a ?? 0) - 10) <= 1 && Math.abs((counts.b ?? 0) - 30) <= 1, JSON.stringify(counts));
});

test('LEAST_REQUEST and RANDOM use every endpoint', async () => {
  for (const p of ['/least', '/random']) {
    const counts = await spread(60, p);
    assert.deepEqual(Object.keys(counts).sort(), ['a', 'b', 'c'], `${p}: ${JSON.stringify(counts)}`);
  }
});

test('LEAST_REQUEST avoids an endpoint with a request in flight', async () => {
  // one request parks on whichever endpoint it lands on; with choice_count 20 the busy endpoint is only picked
  // when all 20 samples hit it ((1/3)^20), so every following request goes to an idle one
  const parked = get(port, '/least-wide/hold');
  const busy = await waitFor(() => ups.find((u) => u.held.length > 0), 'a request to park on an upstream');
  const counts = await spread(12, '/least-wide');
  assert.equal(counts[busy.name], undefined, JSON.stringify(counts));
  assert.equal(Object.values(counts).reduce((x, y) => x + y, 0), 12);
  busy.held.splice(0).forEach((f) => f());
  assert.equal((await parked).status, 200);
});

for (const lb of ['ring', 'maglev']) {
  test(`${lb === 'ring' ? 'RING_HASH' : 'MAGLEV'}: header hash is sticky per value and spreads across values`, async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const counts = await spread(8, `/${lb}/header`, () => ({ 'x-user': user }));
      assert.equal(Object.keys(counts).length, 1, `${user}: ${JSON.stringify(counts)}`);
    }
    const counts = await spread(40, `/${lb}/header`, (i) => ({ 'x-user': `user-${i}` }));
    assert.ok(Object.keys(counts).length >= 2, JSON.stringify(counts));
    // the same values map to the same hosts again
    const first: string[] = [];
    for (let i = 0; i < 10; i++) first.push((await get(port, `/${lb}/header`, { 'x-user': `user-${i}` })).body);
    for (let i = 0; i < 10; i++) assert.equal((await get(port, `/${lb}/header`, { 'x-user': `user-${i}` })).body, first[i]);
  });

  test(`${lb === 'ring' ? 'RING_HASH' : 'MAGLEV'}: cookie hash generates the cookie once, then sticks to it`, async () => {
    const r = await get(port, `/${lb}/cookie`);
    assert.equal(r.status, 200);
    const setCookie = r.headers['set-cookie']?.[0];
    assert.ok(setCookie, 'no Set-Cookie for a request without the cookie');
    assert.match(setCookie, /^session="?[^;"]+"?; Max-Age=3600/);
    const cookie = setCookie.split(';')[0]!;
    const counts = await spread(8, `/${lb}/cookie`, () => ({ cookie }));
    assert.deepEqual(counts, { [r.body]: 8 });
    const again = await get(port, `/${lb}/cookie`, { cookie });
    assert.equal(again.headers['set-cookie'], undefined);
    const many = await spread(30, `/${lb}/cookie`, (i) => ({ cookie: `session=s${i}` }));
    assert.ok(Object.keys(many).length >= 2, JSON.stringify(many));
  });

  test(`${lb === 'ring' ? 'RING_HASH' : 'MAGLEV'}: source IP hash is sticky per client address`, async () => {
    // every 127.0.0.0/8 address reaches the loopback listener, so each is a distinct client
    const byIp = new Map<string, string>();
    for (let i = 1; i <= 20; i++) {
      const ip = `127.0.0.${i + 10}`;
      const counts = await spread(3, `/${lb}/source`, () => ({}), () => ip);
      assert.equal(Object.keys(counts).length, 1, `${ip}: ${JSON.stringify(counts)}`);
      byIp.set(ip, Object.keys(counts)[0]!);
    }
    assert.ok(new Set(byIp.values()).size >= 2, JSON.stringify([...byIp]));
  });
}

test("STRICT_DNS and LOGICAL_DNS resolve 'localhost' (V4_ONLY)", async () => {
  for (const p of ['/strict', '/logical']) {
    const r = await waitFor(async () => {
      const x = await get(port, p);
      return x.status === 200 && x;
    }, `${p} to resolve`);
    assert.equal(r.body, 'd');
  }
  const j: any = await (await proxy.admin('/clusters?format=json')).json();
  const strict = j.cluster_statuses.find((s: any) => s.name === 'strict_dns');
  assert.deepEqual(strict.host_statuses.map((h: any) => [h.address.socket_address.address, h.address.socket_address.port_value]), [['127.0.0.1', d.port]]);
  assert.equal(strict.host_statuses[0].hostname, 'localhost');
});

test('priority 1 endpoints stay unused while priority 0 has hosts', async () => {
  assert.deepEqual(await spread(12, '/prio'), { a: 12 });
  const j: any = await (await proxy.admin('/clusters?format=json')).json();
  const prio = j.cluster_statuses.find((s: any) => s.name === 'prio');
  assert.deepEqual(prio.host_statuses.map((h: any) => h.priority), [0, 1, 1]);
});

test('a refused connection is 503 with response flag UF and the reset reason in the body', async () => {
  const before = (await stat(proxy, 'cluster.refused.upstream_cx_connect_fail')) ?? 0;
  const r = await get(port, '/refused');
  assert.equal(r.status, 503);
  assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused');
  assert.equal(await stat(proxy, 'cluster.refused.upstream_cx_connect_fail'), before + 1);
  const line = await waitFor(() => {
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    return text.split('\n').find((l) => l.startsWith('/refused '));
  }, 'the access log line of /refused (1 s flush)');
  assert.equal(line, '/refused 503 UF refused');
});
