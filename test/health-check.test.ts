// Active health checking through real proxy processes: an HTTP check takes a host answering 503 out of
// rotation and brings it back, panic mode spreads traffic when too few hosts are healthy, a TCP check fails a
// refused port, a gRPC check follows grpc.health.v1 served by @grpc/grpc-js, and /healthcheck/fail on an
// upstream Meshwork proxy (with the health_check filter) makes a downstream proxy's check fail it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startProxy, listenerPort, stat, waitFor, freePort, type RunningProxy } from './helpers/proxy.js';
import { httpListener, staticCluster } from './helpers/robustness.js';
import { startChaosUpstream, type ChaosUpstream } from './helpers/chaos-upstream.js';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
});

/** A chaos upstream whose /health answers `health.status` (200 unless a test changes it). */
async function checkedUpstream(name: string): Promise<ChaosUpstream & { health: { status: number } }> {
  const u = await startChaosUpstream(name);
  const health = { status: 200 };
  u.behavior = (req) => (req.path === '/health' ? { status: health.status } : {});
  cleanup.push(() => u.close());
  return Object.assign(u, { health });
}

const fastChecks = (check: object, extra: object = {}) => ({
  timeout: '1s',
  interval: '0.1s',
  // checks run at no_traffic_interval until the cluster has had a connection; keep it short for the tests
  no_traffic_interval: '0.1s',
  unhealthy_threshold: 2,
  healthy_threshold: 2,
  ...check,
  ...extra,
});

async function clusters(p: RunningProxy): Promise<string> {
  return (await p.admin('/clusters')).text();
}
const flagsOf = (text: string, cluster: string, port: number) => new RegExp(`^${cluster}::127\\.0\\.0\\.1:${port}::health_flags::(.*)$`, 'm').exec(text)?.[1];

async function send(port: number, n: number, path = '/work'): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    const who = r.headers.get('x-upstream') ?? `status ${r.status}`;
    await r.arrayBuffer();
    by.set(who, (by.get(who) ?? 0) + 1);
  }
  return by;
}

test('HTTP check: a host answering 503 is failed and avoided, comes back after healthy_threshold; panic below 50%', async () => {
  const ups = await Promise.all(['a', 'b', 'c'].map(checkedUpstream));
  const [a, b, c] = ups as [typeof ups[0], typeof ups[0], typeof ups[0]];
  const proxy = await startProxy({
    static_resources: {
      listeners: [httpListener('in', { cluster: 'svc' })],
      clusters: [staticCluster('svc', [a.port, b.port, c.port], { health_checks: [fastChecks({ http_health_check: { path: '/health' } })] })],
    },
  });
  cleanup.push(() => proxy.stop());
  const port = await listenerPort(proxy, 'in');
  // warming waited for the first round: all healthy, and the checks carried Envoy's Host and user-agent
  const first = await clusters(proxy);
  for (const u of ups) assert.equal(flagsOf(first, 'svc', u.port), 'healthy');
  const hc = a.requests.find((r) => r.path === '/health')!;
  assert.equal(hc.headers.host, 'svc');
  assert.equal(hc.headers['user-agent'], 'Envoy/HC');
  assert.equal(await stat(proxy, 'cluster.svc.health_check.healthy'), 3);

  b.health.status = 503;
  await waitFor(async () => flagsOf(await clusters(proxy), 'svc', b.port) === '/failed_active_hc', 'b failed by its health check', 10_000);
  assert.equal(await stat(proxy, 'cluster.svc.membership_healthy'), 2);
  assert.ok((await stat(proxy, 'cluster.svc.health_check.failure'))! >= 1);
  const spread = await send(port, 40);
  assert.equal(spread.get('b'), undefined, `b must get no traffic: ${JSON.stringify([...spread])}`);
  assert.equal((spread.get('a') ?? 0) + (spread.get('c') ?? 0), 40);

  // recovery needs healthy_threshold (2) consecutive passes
  b.health.status = 200;
  const passesBefore = b.requests.filter((r) => r.path === '/health').length;
  await waitFor(async () => flagsOf(await clusters(proxy), 'svc', b.port) === 'healthy', 'b healthy again', 10_000);
  assert.ok(b.requests.filter((r) => r.path === '/health').length - passesBefore >= 2);
  assert.ok(((await send(port, 30)).get('b') ?? 0) > 0, 'b takes traffic again');

  // two of three failed: 33% healthy is below the 50% panic threshold, so all three take traffic
  a.health.status = 503;
  b.health.status = 503;
  await waitFor(async () => {
    const t = await clusters(proxy);
    return flagsOf(t, 'svc', a.port) === '/failed_active_hc' && flagsOf(t, 'svc', b.port) === '/failed_active_hc';
  }, 'a and b failed', 10_000);
  const panic = await send(port, 60);
  for (const n of ['a', 'b', 'c']) assert.ok((panic.get(n) ?? 0) > 5, `panic mode spreads to ${n}: ${JSON.stringify([...panic])}`);
});

test('TCP check: a refused port is failed as a network failure and gets no traffic', async () => {
  const live = await checkedUpstream('live');
  const refused = await freePort();
  const proxy = await startProxy({
    static_resources: {
      listeners: [httpListener('in', { cluster: 'tcp' })],
      clusters: [staticCluster('tcp', [live.port, refused], { health_checks: [fastChecks({ tcp_health_check: {} })] })],
    },
  });
  cleanup.push(() => proxy.stop());
  const t = await clusters(proxy);
  assert.equal(flagsOf(t, 'tcp', live.port), 'healthy');
  assert.equal(flagsOf(t, 'tcp', refused), '/failed_active_hc');
  assert.ok((await stat(proxy, 'cluster.tcp.health_check.network_failure'))! >= 1);
  const spread = await send(await listenerPort(proxy, 'in'), 20);
  assert.deepEqual([...spread], [['live', 20]]);
});

test('gRPC check: grpc.health.v1 SERVING passes; NOT_SERVING and an unknown service fail', async () => {
  const status = new Map<string, number>([['svc.A', 1]]); // ServingStatus: 1 SERVING, 2 NOT_SERVING
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  server.addService(
    { Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    {
      Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        // HealthCheckRequest{ service = 1 }: tag 0x0a, one-byte length for our short names
        const req = call.request;
        const service = req.length > 2 ? req.subarray(2, 2 + req[1]!).toString() : '';
        const s = status.get(service);
        if (s === undefined) return cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        cb(null, Buffer.from([0x08, s]));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  cleanup.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  const grpcCluster = (name: string, service: string) =>
    staticCluster(name, [port], { health_checks: [fastChecks({ grpc_health_check: { service_name: service } }, { unhealthy_threshold: 1 })] });
  const proxy = await startProxy({
    static_resources: {
      listeners: [httpListener('in', { cluster: 'serving' })],
      clusters: [grpcCluster('serving', 'svc.A'), grpcCluster('unknown', 'svc.nope')],
    },
  });
  cleanup.push(() => proxy.stop());
  let t = await clusters(proxy);
  assert.equal(flagsOf(t, 'serving', port), 'healthy');
  assert.equal(flagsOf(t, 'unknown', port), '/failed_active_hc');
  status.set('svc.A', 2);
  await waitFor(async () => flagsOf((t = await clusters(proxy)), 'serving', port) === '/failed_active_hc', 'NOT_SERVING fails the host', 10_000);
  status.set('svc.A', 1);
  await waitFor(async () => flagsOf(await clusters(proxy), 'serving', port) === 'healthy', 'SERVING again', 10_000);
});

test('/healthcheck/fail on an upstream Meshwork proxy fails the downstream proxy\'s HTTP check of it', async () => {
  const app = await checkedUpstream('app');
  const hcFilter = {
    name: 'envoy.filters.http.health_check',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck',
      pass_through_mode: false,
      headers: [{ name: ':path', string_match: { exact: '/healthz' } }],
    },
  };
  const routerFilter = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
  const sidecar = await startProxy({
    static_resources: {
      listeners: [httpListener('in', { cluster: 'app', hcm: { http_filters: [hcFilter, routerFilter] } })],
      clusters: [staticCluster('app', [app.port])],
    },
  });
  cleanup.push(() => sidecar.stop());
  const sidecarPort = await listenerPort(sidecar, 'in');
  // the filter answers itself: the app never sees /healthz
  const ok = await fetch(`http://127.0.0.1:${sidecarPort}/healthz`);
  assert.equal(ok.status, 200);
  assert.equal(app.requests.filter((r) => r.path === '/healthz').length, 0);

  const front = await startProxy({
    static_resources: {
      listeners: [httpListener('in', { cluster: 'sidecars' })],
      clusters: [staticCluster('sidecars', [sidecarPort], { health_checks: [fastChecks({ http_health_check: { path: '/healthz' } })] })],
    },
  });
  cleanup.push(() => front.stop());
  assert.equal(flagsOf(await clusters(front), 'sidecars', sidecarPort), 'healthy');
  assert.equal((await fetch(`http://127.0.0.1:${await listenerPort(front, 'in')}/x`)).headers.get('x-upstream'), 'app');

  assert.equal((await sidecar.admin('/healthcheck/fail', { method: 'POST' })).status, 200);
  const failed = await fetch(`http://127.0.0.1:${sidecarPort}/healthz`);
  assert.equal(failed.status, 503);
  assert.equal(failed.headers.get('x-envoy-immediate-health-check-fail'), 'true');
  await waitFor(async () => flagsOf(await clusters(front), 'sidecars', sidecarPort) === '/failed_active_hc', 'front fails the sidecar', 10_000);
  // other paths still go through the failed sidecar: only health checks fail (graceful removal)
  assert.equal((await fetch(`http://127.0.0.1:${sidecarPort}/still`)).status, 200);

  await sidecar.admin('/healthcheck/ok', { method: 'POST' });
  await waitFor(async () => flagsOf(await clusters(front), 'sidecars', sidecarPort) === 'healthy', 'front sees the sidecar healthy again', 10_000);
});

test('bad health check config is rejected at load time with the field path', async () => {
  const p = await startProxy(
    {
      static_resources: {
        clusters: [staticCluster('svc', [1], { health_checks: [{ timeout: '1s', interval: '1s', unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/', expected_statuses: [{ start: 200, end: 700 }] } }] })],
      },
    },
    { waitReady: false },
  );
  const code = await p.exited;
  assert.notEqual(code, 0);
  assert.match(p.stderr(), /static_resources\.clusters\[0\]\.health_checks\[0\]\.http_health_check\.expected_statuses\[0\]/);
});
