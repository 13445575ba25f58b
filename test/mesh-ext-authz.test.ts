// AuthorizationPolicy CUSTOM end to end: the control plane reads an Istio MeshConfig (--mesh-config) declaring an
// envoyExtAuthzHttp provider whose service is a mesh service (an HTTP authorizer behind its own sidecar); a CUSTOM
// policy on ratings covers /admin*. The ratings sidecar's inbound listener then checks, through the authorizer's
// outbound cluster, only the requests the policy's rules match: /public is never sent to the authorizer,
// /admin is allowed (with the authorizer's header upstream) or denied (its status, body and allowed header
// reach the client) as the authorizer says. A provider the policy names but the mesh config lacks fails closed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TestMesh, tryRequest } from './helpers/mesh.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';

const policy = (provider: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz-admin
  namespace: default
spec:
  selector:
    matchLabels:
      app: ratings
  action: CUSTOM
  provider:
    name: ${provider}
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
`;

test('CUSTOM: only the requests the policy matches go to the HTTP authorizer, which allows or denies them', async () => {
  const authzPort = await freePort();
  const ratingsPort = await freePort();
  const cfgDir = tmpDir('meshwork-meshcfg-');
  const meshConfig = path.join(cfgDir, 'mesh.yaml');
  fs.writeFileSync(
    meshConfig,
    `extensionProviders:
- name: http-authz
  envoyExtAuthzHttp:
    service: authz.default.svc.cluster.local
    port: ${authzPort}
    timeout: 2s
    includeRequestHeadersInCheck: ["x-authz"]
    headersToUpstreamOnAllow: ["x-authz-user"]
    headersToDownstreamOnDeny: ["x-denied-by"]
`,
  );
  const mesh = await TestMesh.start({ 'policy.yaml': policy('http-authz') }, ['--mesh-config', meshConfig]);
  try {
    const checks: { url: string; headers: Record<string, unknown> }[] = [];
    const authz = await mesh.app('authz', (req, res) => {
      checks.push({ url: req.url ?? '', headers: req.headers });
      if (req.headers['x-authz'] === 'allow') res.writeHead(200, { 'x-authz-user': 'carol' }).end();
      else res.writeHead(403, { 'x-denied-by': 'mesh-authz', 'x-secret': 'not for clients' }).end('denied by the mesh authorizer');
      return true;
    });
    const ratings = await mesh.app('ratings');
    await mesh.sidecar({ id: 'authz', service: 'authz', labels: 'app=authz', ports: [`${authzPort}:${authz.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'ratings', service: 'ratings', labels: 'app=ratings', ports: [`${ratingsPort}:${ratings.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client' });
    const call = (p: string, headers: Record<string, string> = {}) => tryRequest(ratingsPort, { host: client.outboundBind, path: p, headers: { host: `ratings:${ratingsPort}`, ...headers } });
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    };

    // the policy is in force once an unauthorized /admin request is denied by the authorizer itself (before the
    // authorizer's workload registered, the check fails and status_on_error answers 403 with no body)
    await waitFor(async () => (await call('/admin/x')).body === 'denied by the mesh authorizer', 'the CUSTOM policy to apply', 30_000).catch(fail);
    const denied = await call('/admin/users');
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'denied by the mesh authorizer');
    assert.equal(denied.headers['x-denied-by'], 'mesh-authz', 'headersToDownstreamOnDeny');
    assert.equal(denied.headers['x-secret'], undefined, 'only the allowed headers reach the client');
    assert.equal(ratings.requests.filter((r) => r.url.startsWith('/admin')).length, 0, 'a denied request never reaches the app');

    const allowed = await call('/admin/users', { 'x-authz': 'allow' });
    assert.equal(allowed.status, 200, allowed.body);
    assert.equal(allowed.body, 'ratings /admin/users');
    const seen = ratings.requests.at(-1)!;
    assert.equal(seen.headers['x-authz-user'], 'carol', 'headersToUpstreamOnAllow');
    const check = checks.at(-1)!;
    assert.equal(check.url, '/admin/users');
    assert.equal(check.headers['x-authz'], 'allow', 'includeRequestHeadersInCheck');

    // a path no CUSTOM rule matches is not checked at all
    const before = checks.length;
    const open = await call('/public');
    assert.equal(open.status, 200);
    assert.equal(open.body, 'ratings /public');
    assert.equal(checks.length, before, 'the authorizer was not asked');

    // a provider the mesh config does not declare: the CUSTOM rules deny (fail closed), the rest still passes
    mesh.write('policy.yaml', policy('nowhere'));
    await waitFor(async () => {
      const r = await call('/admin/users', { 'x-authz': 'allow' });
      return r.status === 403 && r.body === 'RBAC: access denied';
    }, 'the unknown provider to fail closed', 30_000).catch(fail);
    assert.equal((await call('/public')).status, 200);
  } finally {
    await mesh.close();
  }
});
