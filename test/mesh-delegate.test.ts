// Delegate VirtualServices end to end: a root VirtualService on the ingress gateway (namespace default) hands
// /reviews to a delegate owned by the reviews team (namespace team), whose routes are merged under the root's
// match: the delegate's /reviews/v2 + end-user match refines it, its match-less route takes /reviews as a whole,
// and the root's response headers apply to both. Changing only the delegate reroutes the root's traffic; removing
// the delegate leaves the delegating route out, so /reviews falls through to the root's next route, and
// `meshwork analyze` warns about the reference that leads nowhere and about a delegate route that cannot fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TestMesh, tryRequest, httpGatewayYaml } from './helpers/mesh.js';
import { freePort, MESHWORK, tmpDir, waitFor } from './helpers/proxy.js';

const root = (gatewayPort: number) => `${httpGatewayYaml('web-gateway', gatewayPort)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: bookinfo
spec:
  hosts:
  - "*"
  gateways:
  - web-gateway
  http:
  - name: reviews
    match:
    - uri:
        prefix: /reviews
    headers:
      response:
        set:
          x-root: bookinfo
    delegate:
      name: reviews-routes
      namespace: team
  - name: fallback
    directResponse:
      status: 404
      body:
        string: root fallback
`;

// short hosts ("reviews") resolve in the delegate's own namespace: reviews.team.svc.cluster.local
const delegate = (servicePort: number, restSubset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-routes
  namespace: team
spec:
  http:
  - name: jason
    match:
    - uri:
        prefix: /reviews/v2
      headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
        port:
          number: ${servicePort}
  - name: rest
    route:
    - destination:
        host: reviews
        subset: ${restSubset}
        port:
          number: ${servicePort}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: team
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

test('a root VirtualService delegates /reviews to another namespace\'s delegate; routes merge, follow and fall away with it', async () => {
  const gatewayPort = await freePort();
  const servicePort = await freePort();
  const mesh = await TestMesh.start({ 'root.yaml': root(gatewayPort), 'delegate.yaml': delegate(servicePort, 'v1') });
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2');
    await mesh.sidecar({ id: 'reviews-v1', service: 'reviews', namespace: 'team', labels: 'app=reviews,version=v1', ports: [`${servicePort}:${v1.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'reviews-v2', service: 'reviews', namespace: 'team', labels: 'app=reviews,version=v2', ports: [`${servicePort}:${v2.port}:${await freePort()}`] });
    await mesh.gateway();
    const get = (path: string, headers: Record<string, string> = {}) => tryRequest(gatewayPort, { path, headers });
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };
    await waitFor(async () => (await get('/reviews/1')).body === 'v1 /reviews/1' && (await get('/reviews/v2/1', { 'end-user': 'jason' })).body === 'v2 /reviews/v2/1', 'both merged routes to work', 30_000).catch(fail);

    // the delegate's refined match: /reviews/v2 and end-user: jason → v2; either alone → the match-less route (v1)
    const jason = await get('/reviews/v2/7', { 'end-user': 'jason' });
    assert.equal(jason.body, 'v2 /reviews/v2/7');
    assert.equal((await get('/reviews/v2/7', { 'end-user': 'ann' })).body, 'v1 /reviews/v2/7');
    assert.equal((await get('/reviews/7', { 'end-user': 'jason' })).body, 'v1 /reviews/7');
    // the root's header operations apply to the delegate's routes
    assert.equal(jason.headers['x-root'], 'bookinfo');
    assert.equal((await get('/reviews/7')).headers['x-root'], 'bookinfo');
    // outside the root's match: the root's own next route
    const other = await get('/ratings');
    assert.equal(other.status, 404);
    assert.equal(other.body, 'root fallback');
    assert.equal(other.headers['x-root'], undefined);

    // a change to the delegate alone reroutes the root's traffic
    mesh.write('delegate.yaml', delegate(servicePort, 'v2'));
    await waitFor(async () => (await get('/reviews/8')).body === 'v2 /reviews/8', 'the delegate change to apply', 30_000).catch(fail);

    // without the delegate the delegating route is left out: /reviews falls through to the fallback
    mesh.remove('delegate.yaml');
    await waitFor(async () => (await get('/reviews/9')).body === 'root fallback', 'the delegating route to go', 30_000).catch(fail);
    assert.equal((await get('/reviews/9')).status, 404);
  } finally {
    await mesh.close();
  }
});

test('meshwork analyze: a delegate that does not exist, and a delegate route outside the root\'s match, are warnings', () => {
  const dir = tmpDir('meshwork-delegate-analyze-');
  const conflicting = delegate(9080, 'v1').replace('prefix: /reviews/v2', 'prefix: /ratings');
  fs.writeFileSync(path.join(dir, 'root.yaml'), root(8080));
  const run = () => spawnSync(process.execPath, [MESHWORK, 'analyze', dir], { encoding: 'utf8' });
  const missing = run();
  assert.equal(missing.status, 0, missing.stdout + missing.stderr);
  assert.match(missing.stdout, /\[MW_CONFIG_REFERENCE\] .*root\.yaml:\d+:\d+: VirtualService default\/bookinfo: spec\.http\[0\]\.delegate: delegate team\/reviews-routes not found \(no VirtualService team\/reviews-routes is defined\)/);
  fs.writeFileSync(path.join(dir, 'delegate.yaml'), conflicting);
  const conflict = run();
  assert.equal(conflict.status, 0, conflict.stdout + conflict.stderr);
  assert.doesNotMatch(conflict.stdout, /MW_CONFIG_REFERENCE/);
  assert.match(conflict.stdout, /delegate\.yaml:\d+:\d+: VirtualService team\/reviews-routes: spec\.http\[0\]\.match: conflicts with the match of VirtualService default\/bookinfo spec\.http\[0\]/);
  fs.writeFileSync(path.join(dir, 'delegate.yaml'), delegate(9080, 'v1'));
  const clean = run();
  assert.equal(clean.status, 0);
  assert.match(clean.stdout, /No validation issues found/);
});
