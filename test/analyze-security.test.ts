// `meshwork analyze` over security.istio.io resources, as a user runs it: a real process over real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MESHWORK, ROOT, tmpDir } from './helpers/proxy.js';

function analyze(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHWORK, 'analyze', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the Istio docs\' security examples analyze cleanly', () => {
  const r = analyze(path.join(ROOT, 'src/api/mesh/testdata/security.yaml'));
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /No validation issues found in 4 resources \(1 file\)/);
});

test('invalid security resources are errors at their line; ignored and conflicting ones are warnings', () => {
  const dir = tmpDir();
  fs.writeFileSync(
    path.join(dir, 'mtls.yaml'),
    `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: strict-too, namespace: istio-system }
spec: { mtls: { mode: PERMISSIVE } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: plain, namespace: shop }
spec: { host: reviews.shop.svc.cluster.local, trafficPolicy: { tls: { mode: DISABLE } } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http }]
  endpoints: [{ address: 10.0.0.1, labels: { app: reviews } }]
`,
  );
  fs.writeFileSync(
    path.join(dir, 'authz.yaml'),
    `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-admin, namespace: shop }
spec:
  action: DENY
  rules:
  - to:
    - operation: { paths: ["/admin*"] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: broken, namespace: shop }
spec:
  action: DENY
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: shop }
spec:
  jwtRules:
  - issuer: https://issuer.example.com
    jwksUri: ftp://issuer.example.com/keys
`,
  );
  const r = analyze(dir);
  assert.equal(r.code, 1, r.out + r.err);
  const lines = r.out.trim().split('\n');
  const has = (re: RegExp) => assert.ok(lines.some((l) => re.test(l)), `${re}\n${r.out}`);
  has(/^Error \[MW_MESH_INVALID\] .*authz\.yaml:13:1: AuthorizationPolicy shop\/broken: spec\.rules: DENY action without `rules`/);
  has(/^Error \[MW_MESH_INVALID\] .*authz\.yaml:22:5: RequestAuthentication shop\/jwt: spec\.jwtRules\[0\]\.jwksUri: URI scheme "ftp" is not supported/);
  has(/^Warning \[MW_MESH_WARNING\] .*authz\.yaml:7:5: AuthorizationPolicy shop\/deny-admin: spec\.rules\[0\]: this DENY rule uses only HTTP attributes/);
  // mesh-wide: "default" comes first by name, so "strict-too" is the one ignored
  has(/^Warning \[MW_MESH_CONFLICT\] .*mtls\.yaml:6:1: PeerAuthentication istio-system\/strict-too: another mesh-wide PeerAuthentication, istio-system\/default/);
  has(/^Warning \[MW_MESH_CONFLICT\] .*mtls\.yaml:14:71: DestinationRule shop\/plain: spec\.trafficPolicy\.tls\.mode: TLS is disabled towards reviews\.shop\.svc\.cluster\.local, whose workloads require mutual TLS/);
  assert.match(r.out, /2 errors, 3 warnings in 2 files/);
});
