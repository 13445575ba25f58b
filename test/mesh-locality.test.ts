// Locality-aware load balancing end to end: a client sidecar in region1/zone1 calls `ratings`, served by two
// registered sidecars started with --locality region1/zone1 and region1/zone2 (their endpoints carry it).
//  1. DestinationRule with outlierDetection (Istio's default failover): every request stays in the client's zone.
//  2. The zone1 app dies (its sidecar stays registered): outlier detection ejects it and the traffic fails over
//     to zone2, the next priority.
//  3. retryRemoteLocalities with zone1 still dead but never ejected (consecutive5xxErrors 0): without it the
//     retries hammer the local priority and fail; with it the second retry leaves for zone2 and succeeds.
//  4. zone1 back, `distribute` 80/20: measured over 400 requests within ±4 standard deviations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { binomialRange, tally, TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const rule = (trafficPolicy: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  trafficPolicy:
${trafficPolicy.replace(/^/gm, '    ')}
`;

const FAILOVER = rule('outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 100}');
const NEVER_EJECT = rule('outlierDetection: {consecutive5xxErrors: 0, interval: 1s, baseEjectionTime: 60s}');
const DISTRIBUTE = rule(`loadBalancer:
  localityLbSetting:
    distribute:
    - from: region1/zone1/*
      to: {"region1/zone1/*": 80, "region1/zone2/*": 20}`);

const retries = (remote: boolean) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings}
    retries: {attempts: 2, retryOn: "connect-failure,503"${remote ? ', retryRemoteLocalities: true' : ''}}
`;

/** An app on a fixed port that can be killed (its port refuses connections) and brought back. */
function zoneApp(name: string) {
  let srv: http.Server | undefined;
  let port = 0;
  return {
    get port() {
      return port;
    },
    async start() {
      srv = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => res.end(`${name} ${req.url}`));
      });
      await new Promise<void>((r) => srv!.listen(port, '127.0.0.1', r));
      port = (srv.address() as { port: number }).port;
    },
    async kill() {
      await new Promise<void>((r) => {
        srv!.close(() => r());
        srv!.closeAllConnections();
      });
    },
  };
}

test('locality load balancing: same-zone first, failover on ejection, retries to remote localities, distribute 80/20', async () => {
  const servicePort = await freePort();
  const mesh = await TestMesh.start({ 'dr.yaml': FAILOVER });
  const z1 = zoneApp('zone1');
  const z2 = zoneApp('zone2');
  await z1.start();
  await z2.start();
  try {
    const s1 = await mesh.sidecar({ id: 'ratings-zone1', service: 'ratings', labels: 'app=ratings', ports: [`${servicePort}:${z1.port}:${await freePort()}`], args: ['--locality', 'region1/zone1'] });
    const s2 = await mesh.sidecar({ id: 'ratings-zone2', service: 'ratings', labels: 'app=ratings', ports: [`${servicePort}:${z2.port}:${await freePort()}`], args: ['--locality', 'region1/zone2'] });
    const client = await mesh.sidecar({ id: 'client', args: ['--locality', 'region1/zone1'] });
    const call = () => tryRequest(servicePort, { host: client.outboundBind, path: '/r', headers: { host: `ratings:${servicePort}` } });
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };
    const both = async () => (await mesh.registered()).filter((r) => r.service.startsWith('ratings')).length === 2;
    await waitFor(both, 'both ratings sidecars to register', 30_000).catch(fail);
    // A sidecar registers when its xDS stream opens, before its inbound listener serves: a request in between
    // fails, and with this DestinationRule's outlier detection it would eject zone1 for the ejection time. Wait
    // until both sidecars are LIVE (their listeners up) before any traffic.
    await waitFor(async () => (await s1.admin('/ready')).status === 200 && (await s2.admin('/ready')).status === 200, 'both ratings sidecars LIVE', 30_000).catch(fail);

    // 1. both endpoints known, zone1 is P0 for this client: all traffic stays in its zone
    await waitFor(async () => (await tally(4, call)).zone1 === 4, 'the client to reach zone1', 30_000).catch(fail);
    const local = await tally(200, call);
    assert.deepEqual(local, { zone1: 200 }, mesh.logs());
    // the client's view: zone2 is one priority further away
    const dump = await (await client.admin('/clusters')).text();
    assert.match(dump, /outbound\|\d+\|\|ratings\.default\.svc\.cluster\.local::127\.0\.0\.1:\d+::priority::1/, dump);

    // 2. the zone1 app dies; its sidecar answers 503, outlier detection ejects it and zone2 takes over
    await z1.kill();
    await waitFor(async () => (await call()).body.startsWith('zone2'), 'traffic to fail over to zone2', 30_000).catch(fail);
    const failedOver = await tally(100, call);
    assert.deepEqual(failedOver, { zone2: 100 }, mesh.logs());
    // not a deregistration: the zone1 workload is still an endpoint
    assert.ok(await both(), 'the zone1 sidecar stays registered');

    // 3. zone1 still dead but never ejected: the default retries stay in the local priority and fail ...
    mesh.write('dr.yaml', NEVER_EJECT);
    mesh.write('vs.yaml', retries(false));
    await waitFor(async () => (await call()).status === 503, 'the retries to stay local', 30_000).catch(fail);
    assert.deepEqual(await tally(20, call), { 503: 20 }, mesh.logs());
    // ... with retryRemoteLocalities the second retry goes to the next locality
    mesh.write('vs.yaml', retries(true));
    await waitFor(async () => (await call()).status === 200, 'retries to go remote', 30_000).catch(fail);
    assert.deepEqual(await tally(50, call), { zone2: 50 }, mesh.logs());
    const stats = await (await client.admin('/stats')).text();
    const retried = Number(/cluster\.outbound\|\d+\|\|ratings\.default\.svc\.cluster\.local\.upstream_rq_retry: (\d+)/.exec(stats)?.[1]);
    assert.ok(retried >= 100, `two retries per request: ${retried}`);

    // 4. zone1 back; distribute 80 % to the client's zone, 20 % to zone2
    await z1.start();
    mesh.remove('vs.yaml');
    mesh.write('dr.yaml', DISTRIBUTE);
    await waitFor(async () => {
      const t = await tally(20, call);
      return (t.zone1 ?? 0) > 0 && (t.zone2 ?? 0) > 0;
    }, 'the distribute weights to apply', 30_000).catch(fail);
    const n = 400;
    const split = await tally(n, call);
    const [lo, hi] = binomialRange(n, 0.8);
    assert.equal((split.zone1 ?? 0) + (split.zone2 ?? 0), n, JSON.stringify(split));
    assert.ok(split.zone1! >= lo && split.zone1! <= hi, `zone1 ${split.zone1} of ${n} not within [${lo}, ${hi}]`);
  } finally {
    await mesh.close();
    await z2.kill();
    await z1.kill().catch(() => {});
  }
});
