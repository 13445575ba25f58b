// `meshwork why` against a real mesh: a control plane, reviews v1 and v2 behind sidecars, a client sidecar, and a
// VirtualService that sends end-user jason to v2 and everyone else to v1. `why` finds the client's admin through
// the control plane and asks it to walk the request through its live config: the outbound listener, the routes
// tried (the jason route fails on its header for others), the subset cluster and its endpoint, healthy. Then the
// verdicts for a host no virtual host has, JSON output, and the errors (unknown proxy, bad URL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { TestMesh } from './helpers/mesh.js';
import { MESHWORK, freePort, waitFor } from './helpers/proxy.js';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHWORK, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

test('meshwork why: the listener, the routes tried and why they did not match, the cluster and its endpoints', async () => {
  const port = await freePort();
  const mesh = await TestMesh.start({
    'reviews.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination: { host: reviews, subset: v2 }
  - name: everyone
    route:
    - destination: { host: reviews, subset: v1 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`,
  });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const v1 = await mesh.app('reviews-v1');
    const v2 = await mesh.app('reviews-v2');
    await mesh.sidecar({ id: 'reviews-v1-1', service: 'reviews', labels: 'app=reviews,version=v1', ports: [`${port}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'reviews-v2-1', service: 'reviews', labels: 'app=reviews,version=v2', ports: [`${port}:${v2.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'client-1' });
    const cp = `127.0.0.1:${mesh.cp.httpPort}`;
    const url = `http://reviews.default.svc.cluster.local:${port}/reviews/1`;
    const why = (...args: string[]) => cli(['why', 'client-1', ...args, '--control-plane-http', cp]);

    // both subsets have their endpoint once the client's config has them
    const json = await waitFor(
      async () => {
        const r = await why('GET', url, '-o', 'json');
        if (r.code !== 0) return undefined;
        const j = JSON.parse(r.stdout);
        return j.clusters?.[0]?.endpoints?.length === 1 ? j : undefined;
      },
      'the client to know reviews v1',
      30_000,
    ).catch(fail);
    assert.equal(json.listener, `0.0.0.0_${port}`);
    assert.deepEqual(json.routesTried, [{ route: 'jason', reason: 'header "end-user" does not match' }, { route: 'everyone' }]);
    assert.equal(json.clusters[0].name, `outbound|${port}|v1|reviews.default.svc.cluster.local`);
    assert.equal(json.clusters[0].endpoints[0].healthy, true);
    assert.match(json.verdict, /^routed to outbound\|\d+\|v1\|reviews/);
    assert.ok(json.httpFilters.includes('envoy.filters.http.router'));

    // the header takes the first route; the short output says so in order
    const jason = await why('GET', url, '-H', 'end-user: jason');
    assert.equal(jason.code, 0, jason.stderr);
    const lines = jason.stdout.split('\n');
    assert.match(lines[0]!, /^GET http:\/\/reviews\.default\.svc\.cluster\.local:\d+\/reviews\/1 through client-1:$/);
    assert.ok(lines.some((l) => l.trim() === '✓ jason'), jason.stdout);
    assert.ok(!lines.some((l) => l.includes('everyone')), 'routes after the match are not tried');
    assert.match(jason.stdout, new RegExp(`cluster +outbound\\|${port}\\|v2\\|reviews\\.default\\.svc\\.cluster\\.local \\(EDS\\)\\n +127\\.0\\.0\\.1:\\d+ +HEALTHY`));
    assert.match(jason.stdout, /→ routed to outbound\|\d+\|v2\|reviews/);

    // a host this listener has no virtual host for
    const unknownHost = JSON.parse((await why('GET', `http://nobody.example:${port}/`, '-o', 'json')).stdout);
    assert.match(unknownHost.verdict, /no virtual host|no route matches/);
    // a port with no listener
    const noListener = JSON.parse((await why('GET', `http://reviews:${await freePort()}/`, '-o', 'json')).stdout);
    assert.match(noListener.verdict, /^no listener on port \d+/);

    // errors: an unknown proxy (the connected ones are listed), a URL that is not one
    const unknown = await cli(['why', 'nobody', 'GET', url, '--control-plane-http', cp]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no connected proxy with node id "nobody"; connected: client-1, reviews-v1-1, reviews-v2-1/);
    const badUrl = await why('GET', 'not a url');
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /not a URL/);
    assert.equal((await cli(['why', 'client-1'])).code, 2);
  } finally {
    await mesh.close();
  }
});
