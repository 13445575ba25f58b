// The control plane serves security.istio.io resources from --mesh-dir: the valid ones are loaded into the
// mesh (listed in /debug/resources), an invalid one is rejected alone with its file:line, and fixing the file
// applies it. (What enforces them is the translation: see docs/mesh.md#security-resources.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { debugJson, TestMesh } from './helpers/mesh.js';
import { ROOT, waitFor } from './helpers/proxy.js';

const BROKEN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-all, namespace: foo }
spec:
  action: DENY
`;

test('security resources load from the mesh directory; an invalid one is rejected with file:line, then fixed', async () => {
  const security = fs.readFileSync(path.join(ROOT, 'src/api/mesh/testdata/security.yaml'), 'utf8');
  const mesh = await TestMesh.start({ 'security.yaml': security, 'deny.yaml': BROKEN });
  try {
    const names = (r: any, kind: string) => (r.resources[kind] ?? []).map((x: { namespace: string; name: string }) => `${x.namespace}/${x.name}`).sort();
    const first = await waitFor(async () => {
      const r = await debugJson(mesh.cp, '/debug/resources');
      return r.errors.length > 0 && names(r, 'RequestAuthentication').length > 0 && r;
    }, 'the resources and the error in /debug/resources', 30_000);
    assert.deepEqual(names(first, 'PeerAuthentication'), ['foo/finance', 'istio-system/default']);
    assert.deepEqual(names(first, 'AuthorizationPolicy'), ['foo/httpbin']);
    assert.deepEqual(names(first, 'RequestAuthentication'), ['foo/jwt-example']);
    assert.equal(first.errors.length, 1, JSON.stringify(first.errors));
    assert.equal(first.errors[0].code, 'MW_MESH_INVALID');
    assert.match(first.errors[0].location, /deny\.yaml:4:1$/);
    assert.match(first.errors[0].message, /spec\.rules: AuthorizationPolicy foo\/deny-all: DENY action without `rules`/);
    fs.writeFileSync(path.join(mesh.dir, 'deny.yaml'), `${BROKEN}  rules: [{}]\n`);
    const fixed = await waitFor(async () => {
      const r = await debugJson(mesh.cp, '/debug/resources');
      return r.errors.length === 0 && r;
    }, 'the fix applied', 30_000);
    assert.deepEqual(names(fixed, 'AuthorizationPolicy'), ['foo/deny-all', 'foo/httpbin']);
  } finally {
    await mesh.close();
  }
});
