// Local rate limiting through a real `meshwork proxy`: the HTTP filter (default bucket, x-ratelimit-* headers,
// refill after fill_interval, descriptors from the virtual host's rate_limits, a per-route override, the
// not-enforced mode) and the network filter closing connections over its limit. The configs are the examples
// in examples/resilience/ that docs/resilience.md shows.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startChaosUpstream, type ChaosUpstream } from './helpers/chaos-upstream.js';
import { accessLines, loggedListener as httpListener, request, ROUTER, staticCluster } from './helpers/http-semantics.js';
import { listenerPort, ROOT, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';
import { example } from './helpers/router-resilience.js';

const LRL_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const all = { default_value: { numerator: 100, denominator: 'HUNDRED' } };

let up: ChaosUpstream;
let proxy: RunningProxy;
const ports: Record<string, number> = {};

before(async () => {
  up = await startChaosUpstream('backend');
  const tcp = example('network-local-ratelimit');
  proxy = await startProxy({
    static_resources: {
      listeners: [
        httpListener('api', example('local-ratelimit')),
        // limited but not enforced: requests pass, marked with a request header
        httpListener('shadow', {
          http_filters: [
            {
              name: 'envoy.filters.http.local_ratelimit',
              typed_config: {
                '@type': LRL_TYPE,
                stat_prefix: 'shadow_limiter',
                token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: '60s' },
                filter_enabled: all,
                request_headers_to_add_when_not_enforced: [{ header: { key: 'x-would-be-limited', value: 'yes' } }],
              },
            },
            ROUTER,
          ],
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] },
        }),
        { name: 'tcp', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [tcp] },
      ],
      clusters: [staticCluster('backend', up.port)],
    },
  });
  for (const l of ['api', 'shadow', 'tcp']) ports[l] = await listenerPort(proxy, l);
});

after(async () => {
  await proxy?.stop();
  await up?.close();
});

const logLine = (pathname: string) => waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`api ${pathname} `)), `access log for ${pathname}`);
const received = (pathname: string) => up.requests.filter((r) => r.path === pathname).length;

test('max_tokens 3: the 4th request is answered 429 (RL) with x-ratelimit-* headers, and the bucket refills after fill_interval', async () => {
  // line the burst up right after a fill step, so that all four fall in the same interval
  const p = ports.api!;
  let ok: Awaited<ReturnType<typeof request>>[] = [];
  let limited: Awaited<ReturnType<typeof request>> | undefined;
  let limitedPath = '';
  for (let attempt = 0; attempt < 3 && !limited; attempt++) {
    ok = [];
    for (let i = 0; i < 3; i++) ok.push(await request(p, { path: `/item/${attempt}-${i}` }));
    limitedPath = `/item/${attempt}-4`;
    const fourth = await request(p, { path: limitedPath });
    if (fourth.status === 429) limited = fourth;
    else await new Promise((r) => setTimeout(r, 1100)); // a fill step fell inside the burst: try again on a full bucket
  }
  assert.ok(limited, 'the 4th request within one fill interval must be limited');
  for (const r of ok) assert.equal(r.status, 200);
  assert.deepEqual(ok.map((r) => r.headers['x-ratelimit-limit']), ['3', '3', '3']);
  assert.deepEqual(ok.map((r) => r.headers['x-ratelimit-remaining']), ['2', '1', '0']);
  assert.equal(limited.text, 'local_rate_limited');
  assert.equal(limited.headers['x-ratelimit-limit'], '3');
  assert.equal(limited.headers['x-ratelimit-remaining'], '0');
  assert.equal(limited.headers['x-ratelimit-reset'], '1');
  assert.equal(limited.headers['x-local-rate-limit'], 'true');
  assert.equal(limited.headers['x-envoy-ratelimited'], 'true');
  assert.match(await logLine(limitedPath), / 429 RL$/);
  assert.equal(received(limitedPath), 0, 'a limited request never reaches the upstream');
  assert.ok((await stat(proxy, 'http_local_rate_limiter.http_local_rate_limit.rate_limited'))! >= 1);
  assert.ok((await stat(proxy, 'http_local_rate_limiter.http_local_rate_limit.enforced'))! >= 1);
  assert.ok((await stat(proxy, 'http_local_rate_limiter.http_local_rate_limit.ok'))! >= 3);

  await new Promise((r) => setTimeout(r, 1100));
  const again = await request(p, { path: '/item/after-refill' });
  assert.equal(again.status, 200, 'tokens come back after fill_interval');
});

test('a descriptor from the virtual host rate_limits gets its own bucket (x-api-key: gold → 10 tokens)', async () => {
  const p = ports.api!;
  const gold = { 'x-api-key': 'gold' };
  const statuses: number[] = [];
  for (let i = 0; i < 11; i++) statuses.push((await request(p, { path: `/gold/${i}`, headers: gold })).status);
  // at least 10 pass (a fill step during the loop may add more), and the bucket is not the default one of 3
  assert.ok(statuses.filter((s) => s === 200).length >= 10, statuses.join(','));
  const r = await request(p, { path: '/gold/limits', headers: gold });
  if (r.status === 200) assert.equal(r.headers['x-ratelimit-limit'], '10');
  // other keys have no descriptor of their own: they use the default bucket
  const silver = await request(p, { path: '/silver', headers: { 'x-api-key': 'silver' } });
  assert.equal(silver.headers['x-ratelimit-limit'], '3');
});

test('per-route override: /search has its own bucket of 1 and its own stats', async () => {
  const p = ports.api!;
  let second: number | undefined;
  for (let attempt = 0; attempt < 3 && second !== 429; attempt++) {
    const first = await request(p, { path: '/search?q=1' });
    assert.equal(first.headers['x-ratelimit-limit'], '1');
    second = (await request(p, { path: '/search?q=2' })).status;
    if (second !== 429) await new Promise((r) => setTimeout(r, 1100));
  }
  assert.equal(second, 429);
  assert.ok((await stat(proxy, 'search_rate_limiter.http_local_rate_limit.rate_limited'))! >= 1);
});

test('enabled but not enforced: limited requests pass with request_headers_to_add_when_not_enforced', async () => {
  const p = ports.shadow!;
  const a = await request(p, { path: '/shadow/1' });
  const b = await request(p, { path: '/shadow/2' });
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  const seen = (pth: string) => up.requests.find((r) => r.path === pth)!;
  assert.equal(seen('/shadow/1').headers['x-would-be-limited'], undefined);
  assert.equal(seen('/shadow/2').headers['x-would-be-limited'], 'yes');
  assert.equal(await stat(proxy, 'shadow_limiter.http_local_rate_limit.rate_limited'), 1);
  assert.equal(await stat(proxy, 'shadow_limiter.http_local_rate_limit.enforced'), 0);
});

/** Open a connection through the TCP listener and report whether an HTTP request over it is answered. */
function tcpExchange(port: number): Promise<'answered' | 'closed'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('error', () => {});
    s.on('close', () => resolve(data.startsWith('HTTP/1.1 200') ? 'answered' : 'closed'));
    s.on('connect', () => s.write('GET /tcp HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    setTimeout(() => s.destroy(), 5000);
  });
}

test('network local rate limit: connections beyond the bucket are closed at once', async () => {
  const p = ports.tcp!;
  let results: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    results = [];
    for (let i = 0; i < 4; i++) results.push(await tcpExchange(p));
    if (results.filter((r) => r === 'closed').length >= 2) break;
    await new Promise((r) => setTimeout(r, 1100)); // a fill step fell inside the burst
  }
  assert.deepEqual(results.slice(0, 2), ['answered', 'answered']);
  assert.deepEqual(results.slice(2), ['closed', 'closed']);
  assert.ok((await stat(proxy, 'local_ratelimit.tcp_limit.rate_limited'))! >= 2);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(await tcpExchange(p), 'answered', 'tokens come back after fill_interval');
});

test('bad local rate limit configs are refused at load with the field path', async () => {
  const bad = async (cfg: object, expect: RegExp) => {
    const b = {
      static_resources: {
        listeners: [httpListener('bad', { http_filters: [{ name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': LRL_TYPE, stat_prefix: 'x', ...cfg } }, ROUTER], route_config: { virtual_hosts: [] } })],
        clusters: [],
      },
    };
    await assert.rejects(startProxy(b), expect);
  };
  await bad({ token_bucket: { max_tokens: 1, fill_interval: '0.02s' } }, /token_bucket\.fill_interval.*at least 50ms/s);
  await bad({ token_bucket: { max_tokens: 1, fill_interval: '1s' }, filter_enabled: { default_value: { numerator: 101 } } }, /filter_enabled\.default_value\.numerator/);
});

test('docs/resilience.md shows these examples verbatim', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/resilience.md'), 'utf8');
  for (const f of ['local-ratelimit.yaml', 'network-local-ratelimit.yaml']) assert.ok(doc.includes(fs.readFileSync(path.join(ROOT, 'examples/resilience', f), 'utf8').trimEnd()), `docs/resilience.md lacks examples/resilience/${f}`);
});
