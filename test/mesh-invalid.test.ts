// An invalid resource is rejected while the rest keeps working, under traffic: a VirtualService whose weights
// total 110 (seed 002: "otherwise the API rejects the definition") is logged by the control plane with
// MW_MESH_INVALID and its file:line, listed in /debug/resources, and the last good version keeps routing; a
// valid DestinationRule edit in the same file, and a valid edit of another file, still apply; fixing the file
// applies it and clears the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterNames, debugJson, startPacedLoad, TestMesh, tryRequest, type PacedLoad } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const vs = (host: string, w1: number, w2: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${host}
spec:
  hosts:
  - ${host}
  http:
  - route:
    - destination:
        host: ${host}
        subset: v1
      weight: ${w1}
    - destination:
        host: ${host}
        subset: v2
      weight: ${w2}
`;
const dr = (host: string, policy = '') => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${host}
spec:
  host: ${host}
${policy}  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;
const ROUND_ROBIN = '  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n';

test('weights 90 + 20 rejected with file:line, the last good version keeps routing, valid edits still apply', async () => {
  const port = await freePort();
  const mesh = await TestMesh.start({ 'web.yaml': `${vs('web', 100, 0)}---\n${dr('web')}`, 'api.yaml': `${vs('api', 100, 0)}---\n${dr('api')}` });
  const loads: PacedLoad[] = [];
  try {
    for (const svc of ['web', 'api']) {
      for (const v of ['v1', 'v2']) {
        const app = await mesh.app(`${svc}-${v}`);
        await mesh.sidecar({ id: `${svc}-${v}`, service: svc, labels: `app=${svc},version=${v}`, ports: [`${port}:${app.port}:${await freePort()}`] });
      }
    }
    const client = await mesh.sidecar({ id: 'client' });
    const to = (svc: string) => ({ host: client.outboundBind, headers: { host: `${svc}:${port}` } });
    await waitFor(async () => (await tryRequest(port, to('web'))).body === 'web-v1 /' && (await tryRequest(port, to('api'))).body === 'api-v1 /', 'web and api on v1', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    const [web, api] = [startPacedLoad(port, { ...to('web'), perSecond: 20 }), startPacedLoad(port, { ...to('api'), perSecond: 20 })];
    loads.push(web, api);

    // the bad VirtualService, and a valid change to the DestinationRule of the same file
    const bad = `${vs('web', 90, 20)}---\n${dr('web', ROUND_ROBIN)}`;
    mesh.write('web.yaml', bad);
    const resources = await waitFor(async () => {
      const r = await debugJson(mesh.cp, '/debug/resources');
      return r.errors.length > 0 && r;
    }, 'the error in /debug/resources', 30_000);
    assert.equal(resources.errors.length, 1, JSON.stringify(resources.errors));
    const err = resources.errors[0];
    assert.equal(err.code, 'MW_MESH_INVALID');
    // the route list is where Istio reports it; line 10 of the file is `- route:`
    const routeLine = bad.split('\n').indexOf('  - route:') + 1;
    assert.match(err.location, new RegExp(`web\\.yaml:${routeLine}:\\d+$`));
    assert.match(err.message, /must total 100, not 110/);
    const logLine = mesh.cp.stderr().split('\n').find((l) => l.includes('MW_MESH_INVALID'));
    assert.ok(logLine, 'the control plane logs the rejection');
    assert.match(logLine, new RegExp(`web\\.yaml:${routeLine}:\\d+`));
    assert.match(logLine, /must total 100/);

    // the DestinationRule half of the edit applies (the client's web clusters turn ROUND_ROBIN)...
    await waitFor(async () => {
      const dump = JSON.stringify(await (await client.admin('/config_dump')).json());
      return (dump.match(/"ROUND_ROBIN"/g) ?? []).length >= 3; // web's cluster and its two subsets
    }, 'the DestinationRule edit in the client sidecar', 30_000);
    assert.ok((await clusterNames(client)).includes(`outbound|${port}|v2|web.default.svc.cluster.local`));
    // ...and another file's edit applies too
    mesh.write('api.yaml', `${vs('api', 0, 100)}---\n${dr('api')}`);
    const mark = api.answers.length;
    await waitFor(() => api.answers.slice(mark).includes('api-v2'), 'api moving to v2', 30_000);
    await waitFor(() => api.answers.length >= mark + 40 && api.answers.slice(-20).every((a) => a === 'api-v2'), 'api all on v2', 30_000);
    // web kept the last good VirtualService all along: 100 % v1
    assert.ok(web.answers.length > 40);
    assert.deepEqual([...new Set(web.answers)], ['web-v1'], 'web never left v1');

    // the fix applies and clears the error
    mesh.write('web.yaml', `${vs('web', 0, 100)}---\n${dr('web', ROUND_ROBIN)}`);
    const fixMark = web.answers.length;
    await waitFor(() => web.answers.length >= fixMark + 20 && web.answers.slice(-10).every((a) => a === 'web-v2'), 'web on v2 after the fix', 30_000);
    assert.deepEqual((await debugJson(mesh.cp, '/debug/resources')).errors, []);
    await Promise.all(loads.map((l) => l.stop()));
    assert.deepEqual([...web.failures(), ...api.failures()], [], 'no request failed throughout');
    const metrics = await (await mesh.cp.http('/metrics')).text();
    assert.match(metrics, /^meshwork_config_rejected_total [1-9]/m);
    assert.match(metrics, /^meshwork_config_errors 0$/m);
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await mesh.close();
  }
});
