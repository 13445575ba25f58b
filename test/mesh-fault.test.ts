// Fault injection from a VirtualService bound to the mesh, on a sidecar-to-sidecar call: a client sidecar's
// outbound listener → ratings' sidecar → its app. abort.httpStatus at 100 % (every request answered by the
// client's sidecar, none reaches the app), at 50 % (measured over 400 requests, within ±4 standard deviations),
// and seed 002's fault delay snippet (indentation fixed, `percent: 100`) with a small fixed delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binomialRange, TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
spec:
  host: ratings
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

const abort = (status: number, percent: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - fault:
      abort:
        httpStatus: ${status}
        percentage:
          value: ${percent}
    route:
    - destination:
        host: ratings
        subset: v1
`;

// seed 002: "add this to your VirtualService to add some chaos" (7 s there; 400 ms here)
const DELAY_MS = 400;
const delay = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - fault:
      delay:
        fixedDelay: ${DELAY_MS}ms
        percent: 100
    route:
    - destination:
        host: ratings
        subset: v2
`;

test('fault abort 100 % and 50 %, then a fixed delay, on a sidecar-to-sidecar call', async () => {
  const servicePort = await freePort();
  const mesh = await TestMesh.start({ 'dr.yaml': destinationRule, 'vs.yaml': abort(418, 100) });
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2');
    await mesh.sidecar({ id: 'ratings-v1', service: 'ratings', labels: 'app=ratings,version=v1', ports: [`${servicePort}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'ratings-v2', service: 'ratings', labels: 'app=ratings,version=v2', ports: [`${servicePort}:${v2.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client' });
    // the app calls its sidecar's outbound listener and names the service, as `http://ratings:<port>/` would
    const call = () => tryRequest(servicePort, { host: client.outboundBind, path: '/ratings', headers: { host: `ratings:${servicePort}` } });
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };

    // 100 %: every request answered 418 by the client's sidecar; the app sees none
    await waitFor(async () => (await call()).status === 418, 'the abort to apply', 30_000).catch(fail);
    for (let i = 0; i < 50; i++) {
      const r = await call();
      assert.equal(r.status, 418, r.body);
    }
    assert.equal(v1.requests.length + v2.requests.length, 0, 'an aborted request never leaves the client');

    // 50 %, with 503: an injected abort is a local reply, so the default retry policy (503) does not retry it
    mesh.write('vs.yaml', abort(503, 50));
    await waitFor(async () => (await call()).status === 200, 'the 50 % abort to apply (a request passing)', 30_000).catch(fail);
    const before = v1.requests.length;
    const N = 400;
    const counts = { ok: 0, aborted: 0, other: [] as string[] };
    for (let i = 0; i < N; i++) {
      const r = await call();
      if (r.status === 200 && r.body === 'v1 /ratings') counts.ok++;
      else if (r.status === 503) counts.aborted++;
      else counts.other.push(`${r.status} ${r.body}`);
    }
    assert.deepEqual(counts.other, []);
    const [lo, hi] = binomialRange(N, 0.5); // 200 ± 4 × 10
    assert.ok(counts.aborted >= lo && counts.aborted <= hi, `${counts.aborted} of ${N} aborted, expected ${lo}..${hi}`);
    assert.equal(v1.requests.length - before, counts.ok, 'only the requests that passed reached v1, each once (no retry of an injected 503)');

    // seed 002's delay: every request waits DELAY_MS in the client's sidecar, then goes to v2
    mesh.write('vs.yaml', delay);
    await waitFor(async () => (await call()).body === 'v2 /ratings', 'the delay route (to v2) to apply', 30_000).catch(fail);
    for (let i = 0; i < 10; i++) {
      const r = await call();
      assert.equal(r.status, 200);
      assert.equal(r.body, 'v2 /ratings');
      assert.ok(r.ms >= DELAY_MS - 5, `request ${i} took ${r.ms} ms, the injected delay is ${DELAY_MS} ms`);
    }
    assert.ok(v2.requests.every((r) => r.url === '/ratings'));
  } finally {
    await mesh.close();
  }
});
