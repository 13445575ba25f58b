// A DestinationRule with a workloadSelector applies to the client sidecars it selects and to no other, with
// real processes: two client sidecars (app=frontend, app=batch) call the same service through the same
// VirtualService, which routes to subset "pinned". The namespace's rule without selector defines "pinned" as
// version v1; the rule selecting app=frontend defines it as v2 and, for the frontend's sidecar, wins. Removing
// the selector rule sends the frontend back to v1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestMesh, tally, tryRequest } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const rule = (name: string, version: string, selector?: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
spec:
  host: pinned.internal
${selector ? `  workloadSelector:\n    matchLabels:\n      app: ${selector}\n` : ''}  subsets:
  - name: pinned
    labels:
      version: ${version}
`;

test('a DestinationRule with a workloadSelector changes the routing of the sidecar it selects only', async () => {
  const servicePort = await freePort();
  const mesh = await TestMesh.start({
    'vs.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: pinned
spec:
  hosts:
  - pinned.internal
  http:
  - route:
    - destination:
        host: pinned.internal
        subset: pinned
`,
    'dr.yaml': rule('pinned', 'v1'),
    'dr-frontend.yaml': rule('pinned-frontend', 'v2', 'frontend'),
  });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const v1 = await mesh.app('v1');
    const v2 = await mesh.app('v2');
    mesh.write('se.yaml', `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: pinned
spec:
  hosts:
  - pinned.internal
  location: MESH_INTERNAL
  ports:
  - number: ${servicePort}
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    labels:
      version: v1
    ports:
      http: ${v1.port}
  - address: 127.0.0.1
    labels:
      version: v2
    ports:
      http: ${v2.port}
`);
    const frontend = await mesh.sidecar({ id: 'frontend', labels: 'app=frontend' });
    const batch = await mesh.sidecar({ id: 'batch', labels: 'app=batch' });
    const via = (s: { outboundBind: string }) => () => tryRequest(servicePort, { host: s.outboundBind, path: '/p', headers: { host: `pinned.internal:${servicePort}` } });
    await waitFor(async () => (await via(frontend)()).body === 'v2 /p', 'the frontend sidecar to route to v2', 30_000).catch(fail);
    await waitFor(async () => (await via(batch)()).body === 'v1 /p', 'the batch sidecar to route to v1', 30_000).catch(fail);
    assert.deepEqual(await tally(30, via(frontend)), { v2: 30 });
    assert.deepEqual(await tally(30, via(batch)), { v1: 30 });

    // without the selector rule, the namespace's rule applies to the frontend too
    mesh.remove('dr-frontend.yaml');
    await waitFor(async () => (await via(frontend)()).body === 'v1 /p', 'the frontend sidecar back on v1', 30_000).catch(fail);
    assert.deepEqual(await tally(20, via(frontend)), { v1: 20 });
  } finally {
    await mesh.close();
  }
});
