// Traffic mirroring from a VirtualService (`mirror` + `mirrorPercentage`), sidecar to sidecar: the client sees
// only the primary's answers (even though the mirror answers 500), while the mirror receives copies whose Host
// carries Envoy's "-shadow" suffix; at 50 % about half the requests are copied (±4 standard deviations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binomialRange, TestMesh, tryRequest, type AppServer } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const config = (percent: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
    mirror:
      host: reviews
      subset: v2
    mirrorPercentage:
      value: ${percent}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

/** Mirrored copies are sent on the side: wait until the mirror has had no new request for a second. */
async function settled(app: AppServer): Promise<number> {
  let last = -1;
  let since = Date.now();
  return waitFor(() => {
    const n = app.requests.length;
    if (n !== last) {
      last = n;
      since = Date.now();
      return undefined;
    }
    return Date.now() - since >= 1000 ? n : undefined;
  }, 'the mirror to settle', 30_000);
}

test('mirror + mirrorPercentage: copies reach the mirror with a -shadow Host, the client sees only the primary', async () => {
  const port = await freePort();
  const mesh = await TestMesh.start({ 'reviews.yaml': config(100) });
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2', (_req, res) => {
      res.writeHead(500).end('the mirror fails');
      return true;
    });
    await mesh.sidecar({ id: 'reviews-v1', service: 'reviews', labels: 'app=reviews,version=v1', ports: [`${port}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'reviews-v2', service: 'reviews', labels: 'app=reviews,version=v2', ports: [`${port}:${v2.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client' });
    const call = (path: string, method = 'GET') => tryRequest(port, { host: client.outboundBind, path, method, headers: { host: `reviews:${port}` } });
    await waitFor(async () => (await call('/warmup')).status === 200 && v2.requests.length > 0, 'the route and its mirror', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    await settled(v2);

    // 100 %: every request answered by v1, each copied once to v2
    const v1Before = v1.requests.length;
    const v2Before = v2.requests.length;
    for (let i = 0; i < 40; i++) {
      const r = await call(`/r${i}`, i % 2 ? 'POST' : 'GET');
      assert.equal(r.status, 200);
      assert.equal(r.body, `v1 /r${i}`, 'only the primary answers');
    }
    assert.equal(v1.requests.length - v1Before, 40);
    await waitFor(() => v2.requests.length - v2Before >= 40, 'all 40 copies at the mirror', 30_000);
    const copies = v2.requests.slice(v2Before);
    assert.equal(await settled(v2) - v2Before, 40, 'one copy per request');
    assert.deepEqual(copies.map((c) => c.url).sort(), Array.from({ length: 40 }, (_, i) => `/r${i}`).sort());
    for (const c of copies) assert.equal(c.headers.host, `reviews-shadow:${port}`, 'Envoy appends -shadow to the host, before the port');
    assert.deepEqual([...new Set(copies.map((c) => c.method))].sort(), ['GET', 'POST'], 'the method is copied');
    for (const r of v1.requests.slice(v1Before)) assert.equal(r.headers.host, `reviews:${port}`, 'the primary sees the Host as sent');

    // 50 %
    mesh.write('reviews.yaml', config(50));
    await waitFor(async () => {
      const c = JSON.stringify(await (await client.admin('/config_dump')).json());
      return c.includes('"numerator":500000') || c.includes('"numerator":50,');
    }, 'the 50 % mirror in the client sidecar', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await (await client.admin('/config_dump')).json()).match(/"request_mirror_policies":\[[^\]]*\]/)?.[0]}`);
    });
    const start = await settled(v2);
    const N = 400;
    for (let i = 0; i < N; i++) assert.equal((await call(`/h${i}`)).body, `v1 /h${i}`);
    const mirrored = (await settled(v2)) - start;
    const [lo, hi] = binomialRange(N, 0.5);
    assert.ok(mirrored >= lo && mirrored <= hi, `${mirrored} of ${N} mirrored, expected ${lo}..${hi}`);
  } finally {
    await mesh.close();
  }
});
