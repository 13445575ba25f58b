// `meshwork analyze` as a user runs it: a real process over real files; its exit code and findings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MESHWORK, ROOT, tmpDir } from './helpers/proxy.js';

const TESTDATA = path.join(ROOT, 'src/api/mesh/testdata');

function analyze(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHWORK, 'analyze', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('clean config: exit 0 and a summary', () => {
  // (seed 002's A/B file is the canary's alternative: both define VirtualService my-app, so one at a time)
  const r = analyze(path.join(TESTDATA, 'seed-002-canary.yaml'));
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /No validation issues found in 3 resources \(1 file\)/);
  const both = analyze(path.join(TESTDATA, 'seed-002-canary.yaml'), path.join(TESTDATA, 'seed-002-ab.yaml'));
  assert.equal(both.code, 1);
  assert.match(both.out, /\[MW_CONFIG_DUPLICATE\] .*seed-002-ab\.yaml:\d+:\d+: VirtualService default\/my-app: is defined twice/);
});

test('broken config: exit 1, every finding with its code and file:line:column', () => {
  const r = analyze(path.join(TESTDATA, 'analyze-broken.yaml'));
  assert.equal(r.code, 1, r.out + r.err);
  for (const code of ['MW_CONFIG_DUPLICATE', 'MW_CONFIG_REFERENCE', 'MW_MESH_UNREACHABLE', 'MW_MESH_CONFLICT']) assert.match(r.out, new RegExp(`\\[${code}\\] .*analyze-broken\\.yaml:\\d+:\\d+: `), code);
  assert.match(r.out, /subset "v3" of host "reviews" is not defined/);
  assert.match(r.out, /gateway "missing-gateway" is not defined/);
  // --quiet: errors only; --json: one object per line
  const q = analyze('-q', path.join(TESTDATA, 'analyze-broken.yaml'));
  assert.ok(!/Warning/.test(q.out));
  const j = analyze('--json', path.join(TESTDATA, 'analyze-broken.yaml'));
  const findings = j.out.trim().split('\n').map((l) => JSON.parse(l) as { severity: string; code: string; location: string });
  assert.ok(findings.some((f) => f.severity === 'error' && f.code === 'MW_CONFIG_REFERENCE' && /:\d+:\d+$/.test(f.location)));
});

test('a directory: invalid resources are errors, a subset that selects no declared workload is a warning', () => {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'reviews.yaml'), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews }
spec:
  hosts: [reviews.shop.internal]
  ports: [{ number: 9080, name: http }]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints:
  - { address: 10.0.0.1, labels: { version: v1 } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews.shop.internal
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`);
  let r = analyze(dir);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Warning \[MW_MESH_WARNING\] .*reviews\.yaml:\d+:\d+: DestinationRule default\/reviews: spec\.subsets\[1\]\.labels: subset "v2" selects no workload/);
  assert.ok(!/subset "v1" selects/.test(r.out));
  fs.writeFileSync(path.join(dir, 'vs.yaml'), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews.shop.internal]
  http:
  - route:
    - { destination: { host: reviews.shop.internal, subset: v1 }, weight: 90 }
    - { destination: { host: reviews.shop.internal, subset: v2 }, weight: 20 }
`);
  r = analyze(dir);
  assert.equal(r.code, 1);
  assert.match(r.out, /Error \[MW_MESH_INVALID\] .*vs\.yaml:\d+:\d+: VirtualService default\/reviews: spec\.http\[0\]\.route.*must total 100/);
  assert.match(r.out, /1 error, 1 warning in 2 files/);
});

test('usage: no path is exit 2', () => {
  const r = analyze();
  assert.equal(r.code, 2);
  assert.match(r.err, /give a directory or file/);
});
