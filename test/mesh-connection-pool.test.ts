// DestinationRule settings enforced by the client sidecar's upstream side, with real processes: a control plane,
// a client sidecar, and plain servers behind a ServiceEntry (no sidecar in front of them, so the servers see
// the client sidecar's own upstream connections).
//  - connectionPool.http.maxRequestsPerConnection: 1: every request reaches the server on a new connection
//    (counted at the server) though the app keeps one keep-alive connection to its sidecar; without it the
//    sidecar reuses its connection.
//  - loadBalancer.warmupDurationSecs (slow start): an endpoint that joins takes a small share at first (at
//    least 10 % of its weight, growing with the time since it joined) and its full share after the window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request, TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const serviceEntry = (host: string, port: number, extra: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${host.split('.')[0]}
spec:
  hosts:
  - ${host}
  location: MESH_INTERNAL
  ports:
  - number: ${port}
    name: http
    protocol: HTTP
  resolution: STATIC
${extra}`;

const poolRule = (maxRequests: number | undefined) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: pool
spec:
  host: pool.internal
  trafficPolicy:
${maxRequests ? `    connectionPool:\n      http:\n        maxRequestsPerConnection: ${maxRequests}\n` : '    loadBalancer:\n      simple: ROUND_ROBIN\n'}`;

/** A server that counts the connections it accepts. */
async function countingServer() {
  let connections = 0;
  const srv = http.createServer((req, res) => res.end(`pool ${req.url}`));
  srv.on('connection', () => connections++);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))),
  };
}

async function statValue(p: { admin(path: string): Promise<Response> }, name: string): Promise<number> {
  const text = await (await p.admin(`/stats?filter=${encodeURIComponent(name)}`)).text();
  const m = new RegExp(`${name.replace(/[|.]/g, (c) => `\\${c}`)}: (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

test('maxRequestsPerConnection: 1 gives every request its own upstream connection; without it the connection is reused', async () => {
  const servicePort = await freePort();
  const server = await countingServer();
  const mesh = await TestMesh.start({
    'se.yaml': serviceEntry('pool.internal', servicePort, `  endpoints:\n  - address: 127.0.0.1\n    ports:\n      http: ${server.port}\n`),
    'dr.yaml': poolRule(1),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const client = await mesh.sidecar({ id: 'client' });
    const call = (path: string) => request(servicePort, { host: client.outboundBind, path, headers: { host: `pool.internal:${servicePort}` }, agent });
    await waitFor(async () => (await tryRequest(servicePort, { host: client.outboundBind, headers: { host: `pool.internal:${servicePort}` } })).status === 200, 'pool.internal through the client sidecar', 30_000).catch(fail);

    const before = server.connections;
    for (let i = 0; i < 20; i++) assert.equal((await call(`/r${i}`)).body, `pool /r${i}`);
    assert.equal(server.connections - before, 20, 'one upstream connection per request');
    const cluster = `cluster.outbound|${servicePort}||pool.internal.upstream_cx_max_requests`;
    assert.ok((await statValue(client, cluster)) >= 20, `${cluster} counts the drained connections`);

    // the same traffic without the limit: the sidecar keeps its upstream connection
    mesh.write('dr.yaml', poolRule(undefined));
    await waitFor(async () => {
      const start = server.connections;
      for (let i = 0; i < 10; i++) await call('/again');
      return server.connections - start <= 1;
    }, 'upstream connections reused once the limit is gone', 30_000).catch(fail);
  } finally {
    agent.destroy();
    await mesh.close();
    await server.close();
  }
});

const WARMUP_S = 4;

const workloadEntry = (name: string, port: number) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
spec:
  address: 127.0.0.1
  labels:
    app: warm
  ports:
    http: ${port}
`;

test('warmupDurationSecs: an endpoint that joins ramps up to its share over the window', async () => {
  const servicePort = await freePort();
  const mesh = await TestMesh.start({
    'se.yaml': serviceEntry('warm.internal', servicePort, '  workloadSelector:\n    labels:\n      app: warm\n'),
    'dr.yaml': `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: warm
spec:
  host: warm.internal
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
      warmupDurationSecs: ${WARMUP_S}s
`,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const old = await mesh.app('old');
    const fresh = await mesh.app('new');
    mesh.write('we-old.yaml', workloadEntry('old', old.port));
    const client = await mesh.sidecar({ id: 'client' });
    const call = async () => (await request(servicePort, { host: client.outboundBind, path: '/', headers: { host: `warm.internal:${servicePort}` }, agent })).body.split(' ')[0]!;
    await waitFor(async () => (await tryRequest(servicePort, { host: client.outboundBind, headers: { host: `warm.internal:${servicePort}` } })).status === 200, 'warm.internal through the client sidecar', 30_000).catch(fail);
    // the old endpoint's own window (from when the client first got it) passes
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000 + 500));

    mesh.write('we-new.yaml', workloadEntry('new', fresh.port));
    // the new endpoint joins the client's balancer when its first answer comes (at 10 % weight: within a few
    // requests); from then on, count who answers during the first 800 ms of its window
    const t0 = await waitFor(async () => ((await call()) === 'new' ? Date.now() : undefined), 'the new endpoint to answer', 30_000).catch(fail);
    const early: Record<string, number> = { old: 0, new: 0 };
    while (Date.now() - t0 < 800) early[await call()]!++;
    const earlyShare = early.new! / (early.new! + early.old!);
    // its weight is max(0.1, t / 4 s) ≤ 0.2 here: a share of at most 1/6 (about 12 % on average); 50 % without slow start
    assert.ok(early.new! + early.old! >= 50, `too few requests to measure: ${JSON.stringify(early)}`);
    assert.ok(earlyShare > 0.02 && earlyShare < 0.3, `early share of the new endpoint ${earlyShare.toFixed(3)} ${JSON.stringify(early)}`);

    // after the window: an equal share (round robin: exactly alternating)
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + WARMUP_S * 1000 + 300 - Date.now())));
    const late: Record<string, number> = { old: 0, new: 0 };
    for (let i = 0; i < 200; i++) late[await call()]!++;
    const lateShare = late.new! / 200;
    assert.ok(lateShare > 0.4 && lateShare < 0.6, `late share of the new endpoint ${lateShare} ${JSON.stringify(late)}`);
  } finally {
    agent.destroy();
    await mesh.close();
  }
});
