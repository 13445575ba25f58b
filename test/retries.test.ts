// Retries through a real proxy process and chaos upstreams: 5xx answers retried on another host
// (previous_hosts), connect failures retried, request bodies replayed (and not replayed once they outgrow the
// buffer), retries exhausted (URX), x-envoy-retry-* honoured only from internal clients, and continuous load
// with one of three upstreams killed, where no retriable request may fail. The route config is
// examples/resilience/retries.yaml (shown in docs/resilience.md).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startChaosUpstream, type ChaosUpstream, type ChaosBehavior, type ReceivedRequest } from './helpers/chaos-upstream.js';
import { freePort, listenerPort, startProxy, stat, tmpDir, waitFor } from './helpers/proxy.js';
import { cluster, example, listener, logLines, request } from './helpers/router-resilience.js';

const [a, b, c, d, e, f, g, h] = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n) => startChaosUpstream(n)));
const backend = [a!, b!, c!];
const load = [f!, g!, h!];
const closedPort = await freePort(); // nothing listens here: connections are refused
const logFile = path.join(tmpDir(), 'access.log');

const vhost = example('retries');
const loadPolicy = { ...vhost.retry_policy, per_try_timeout: '2s' };
const misc = {
  name: 'misc',
  domains: ['*'],
  include_attempt_count_in_response: true,
  routes: [
    { match: { prefix: '/connfail' }, route: { cluster: 'connfail', retry_policy: { retry_on: 'connect-failure', num_retries: 2 } } },
    { match: { prefix: '/gateway' }, route: { cluster: 'single', retry_policy: { retry_on: 'gateway-error', num_retries: 2 } } },
    { match: { prefix: '/codes' }, route: { cluster: 'single', retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [418] } } },
    { match: { prefix: '/load' }, route: { cluster: 'load', retry_policy: loadPolicy } },
    { match: { prefix: '/plain' }, route: { cluster: 'single' } },
  ],
};
const proxy = await startProxy({
  static_resources: {
    listeners: [
      listener('retries', [vhost], logFile),
      listener('misc', [misc], logFile),
      // 127.0.0.1 is declared internal: with use_remote_address its x-envoy-* control headers are trusted
      listener('trusted', [misc], logFile, { use_remote_address: true, internal_address_config: { cidr_ranges: [{ address_prefix: '127.0.0.1', prefix_len: 32 }] } }),
    ],
    clusters: [
      cluster('backend', backend.map((u) => u.port)),
      cluster('connfail', [closedPort, d!.port]),
      cluster('single', [e!.port]),
      cluster('load', load.map((u) => u.port)),
    ],
  },
});
after(async () => {
  await proxy.stop();
  await Promise.all([a, b, c, d, e, f, g, h].map((u) => u!.close()));
});
const port = await listenerPort(proxy, 'retries');
const miscPort = await listenerPort(proxy, 'misc');
const trustedPort = await listenerPort(proxy, 'trusted');

function reset(ups: ChaosUpstream[], behavior: ChaosBehavior | ((r: ReceivedRequest, n: number) => ChaosBehavior) = {}) {
  for (const u of ups) {
    u.requests.length = 0;
    u.behavior = behavior;
  }
}
const byId = (ups: ChaosUpstream[], id: string) => ups.flatMap((u) => u.requests.filter((r) => r.headers['x-request-id'] === id).map((r) => ({ up: u.name, r })));
const attempt = (r: ReceivedRequest) => Number(r.headers['x-envoy-attempt-count']);

test('a 5xx is retried on another host, which the upstream and the client see in x-envoy-attempt-count', async () => {
  reset(backend);
  a!.behavior = { status: 503 };
  const retriesBefore = (await stat(proxy, 'cluster.backend.upstream_rq_retry')) ?? 0;
  const ids: string[] = [];
  for (let i = 0; i < 9; i++) {
    const id = `five-${i}`;
    ids.push(id);
    const res = await request(port, { path: `/five/${i}`, headers: { 'x-request-id': id } });
    assert.equal(res.status, 200, res.body);
    assert.notEqual(JSON.parse(res.body).server, 'a');
    const seen = byId(backend, id);
    assert.equal(res.headers['x-envoy-attempt-count'], String(seen.length));
    // every attempt went to a host not tried before
    assert.equal(new Set(seen.map((s) => s.up)).size, seen.length);
    assert.deepEqual(seen.map((s) => attempt(s.r)).sort(), seen.map((_, k) => k + 1));
  }
  assert.ok(a!.requests.length >= 1, 'round robin sent first attempts to the failing host');
  const retries = (await stat(proxy, 'cluster.backend.upstream_rq_retry'))! - retriesBefore;
  assert.equal(retries, a!.requests.length);
  assert.ok((await stat(proxy, 'cluster.backend.upstream_rq_retry_success'))! >= retries);
});

test('a POST body is replayed on the retry, byte for byte', async () => {
  // every first attempt fails: the body must come from the proxy's buffer on the second
  reset(backend, (r) => (attempt(r) === 1 ? { status: 500 } : {}));
  const body = 'x'.repeat(20_000) + 'end';
  const res = await request(port, { path: '/post', method: 'POST', body, headers: { 'x-request-id': 'post-small', 'content-type': 'text/plain' } });
  assert.equal(res.status, 200);
  const seen = byId(backend, 'post-small');
  assert.equal(seen.length, 2);
  for (const s of seen) assert.equal(s.r.body, body);
});

test('a POST whose body exceeded the buffer limit is not retried', async () => {
  reset(backend, { status: 503 });
  const before = (await stat(proxy, 'cluster.backend.retry_or_shadow_abandoned')) ?? 0;
  const body = Buffer.alloc(100_000, 'y'); // over the 64 KiB per_request_buffer_limit_bytes
  const res = await request(port, { path: '/post-big', method: 'POST', body, headers: { 'x-request-id': 'post-big' } });
  assert.equal(res.status, 503);
  const seen = byId(backend, 'post-big');
  assert.equal(seen.length, 1, 'one attempt only');
  assert.equal(seen[0]!.r.body.length, body.length, 'the body was still streamed to that attempt');
  assert.equal(await stat(proxy, 'cluster.backend.retry_or_shadow_abandoned'), before + 1);
});

test('retries exhausted: the last 5xx goes to the client with URX after num_retries + 1 attempts', async () => {
  reset(backend, { status: 502 });
  const before = (await stat(proxy, 'cluster.backend.upstream_rq_retry_limit_exceeded')) ?? 0;
  const res = await request(port, { path: '/exhaust', headers: { 'x-request-id': 'exhaust' } });
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-envoy-attempt-count'], '4');
  assert.equal(byId(backend, 'exhaust').length, 4);
  assert.equal(await stat(proxy, 'cluster.backend.upstream_rq_retry_limit_exceeded'), before + 1);
  const line = await waitFor(() => logLines(logFile, '/exhaust')[0], 'access log line');
  assert.equal(line, '/exhaust 502 URX 4');
});

test('connect-failure: a refused connection is retried on the other host', async () => {
  reset([d!]);
  for (let i = 0; i < 6; i++) {
    const res = await request(miscPort, { path: `/connfail/${i}` });
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).server, 'd');
  }
  assert.ok((await stat(proxy, 'cluster.connfail.upstream_cx_connect_fail'))! >= 1);
  assert.ok((await stat(proxy, 'cluster.connfail.upstream_rq_retry'))! >= 1);
  assert.equal(d!.requests.length, 6);
});

test('gateway-error retries 502-504 but not 500; retriable-status-codes retries the listed codes only', async () => {
  reset([e!], (_r, n) => (n === 1 ? { status: 503 } : {}));
  assert.equal((await request(miscPort, { path: '/gateway/a' })).status, 200);
  reset([e!], { status: 500 });
  const r500 = await request(miscPort, { path: '/gateway/b' });
  assert.equal(r500.status, 500);
  assert.equal(e!.requests.length, 1);
  reset([e!], (_r, n) => (n === 1 ? { status: 418 } : { status: 200 }));
  assert.equal((await request(miscPort, { path: '/codes/a' })).status, 200);
  assert.equal(e!.requests.length, 2);
  reset([e!], { status: 503 });
  assert.equal((await request(miscPort, { path: '/codes/b' })).status, 503);
  assert.equal(e!.requests.length, 1);
});

test('x-envoy-retry-on and x-envoy-max-retries count only from internal clients, and never reach the upstream', async () => {
  const ask = { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '2' };
  reset([e!], { status: 503 });
  const ext = await request(miscPort, { path: '/plain/ext', headers: ask });
  assert.equal(ext.status, 503);
  assert.equal(e!.requests.length, 1, 'an external client cannot ask for retries');
  reset([e!], { status: 503 });
  const int = await request(trustedPort, { path: '/plain/int', headers: ask });
  assert.equal(int.status, 503);
  assert.equal(e!.requests.length, 3, 'an internal client gets 1 + 2 attempts');
  assert.equal(int.headers['x-envoy-attempt-count'], '3');
  for (const r of e!.requests) {
    assert.equal(r.headers['x-envoy-retry-on'], undefined);
    assert.equal(r.headers['x-envoy-max-retries'], undefined);
  }
});

test('continuous load with one of three upstreams killed: no retriable request fails', async () => {
  reset(load);
  const total = 1500;
  const clients = 3; // at most 3 retries in flight: within the default max_retries circuit breaker
  let sent = 0;
  let killed = false;
  const failures: string[] = [];
  const served = new Map<string, number>();
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: clients });
  await Promise.all(Array.from({ length: clients }, async () => {
    while (sent < total) {
      const n = sent++;
      if (n === total / 4 && !killed) {
        killed = true;
        await g!.refuse(); // also drops the proxy's open connections to it
      }
      try {
        const res = await request(miscPort, { path: `/load/${n}`, agent });
        if (res.status !== 200) failures.push(`${n}: ${res.status} ${res.body}`);
        else {
          const s = JSON.parse(res.body).server as string;
          served.set(s, (served.get(s) ?? 0) + 1);
        }
      } catch (err) {
        failures.push(`${n}: ${(err as Error).message}`);
      }
    }
  }));
  agent.destroy();
  await g!.accept();
  assert.deepEqual(failures, []);
  assert.ok(killed);
  // the two live hosts carried the load after the kill; the dead one only before it
  assert.ok((served.get('f') ?? 0) > total / 4 && (served.get('h') ?? 0) > total / 4, JSON.stringify([...served]));
  assert.ok((served.get('g') ?? 0) <= total / 4 + clients, JSON.stringify([...served]));
  assert.ok((await stat(proxy, 'cluster.load.upstream_rq_retry'))! >= 1);
});

test('bad retry, timeout and mirror settings are rejected with their field path; a running proxy keeps its config', async () => {
  const fs = await import('node:fs');
  const { stringify } = await import('yaml');
  const boot = (vh: any) => ({ static_resources: { listeners: [listener('bad', [vh], logFile)], clusters: [cluster('backend', [e!.port])] } });
  const vh = (route: object, extra: object = {}) => ({ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend', ...route } }], ...extra });
  const cases: [any, RegExp][] = [
    [vh({ retry_policy: { retry_on: '5xx,sometimes' } }), /routes\[0\]\.route\.retry_policy\.retry_on.*sometimes/],
    [vh({ retry_policy: { retry_on: '5xx', per_try_timeout: '-1s' } }), /retry_policy\.per_try_timeout/],
    [vh({}, { retry_policy: { retry_on: '5xx', retry_back_off: { base_interval: '1s', max_interval: '0.5s' } } }), /virtual_hosts\[0\]\.retry_policy\.retry_back_off\.max_interval/],
    [vh({ request_mirror_policies: [{ cluster: 'backend', runtime_fraction: { default_value: { numerator: 150, denominator: 'HUNDRED' } } }] }), /request_mirror_policies\[0\]\.runtime_fraction\.default_value\.numerator/],
    [vh({ max_stream_duration: { max_stream_duration: '-2s' } }), /max_stream_duration\.max_stream_duration/],
  ];
  for (const [v, expected] of cases) {
    const p = await startProxy(boot(v), { waitReady: false });
    const code = await p.exited;
    assert.notEqual(code, 0);
    assert.match(p.stderr(), expected);
  }
  // a live reload with a bad retry_on is refused; the running config keeps serving
  reset([e!]);
  const p = await startProxy(boot(vh({ retry_policy: { retry_on: '5xx' } })));
  try {
    const pp = await listenerPort(p, 'bad');
    const tmp = `${p.configPath}.tmp`;
    fs.writeFileSync(tmp, stringify(boot(vh({ retry_policy: { retry_on: 'everything' } }))));
    fs.renameSync(tmp, p.configPath);
    await waitFor(async () => (await stat(p, 'server.config_reload.failure')) === 1, 'the reload to be refused');
    e!.behavior = (_r, n) => (n === 1 ? { status: 503 } : {});
    const res = await request(pp, { path: '/still-retried' });
    assert.equal(res.status, 200);
    assert.equal(e!.requests.length, 2);
  } finally {
    await p.stop();
  }
});
