import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, ErrorCodes } from './errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

test('docs/errors.md lists every code of the catalog, and nothing else', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(MW_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ErrorCodes).sort());
});

test('a ConfigError message names location and field path', () => {
  const e = new ConfigError('MW_CONFIG_INVALID', 'static_resources.clusters[2].lb_policy', 'CLUSTER_PROVIDED is not supported', 'envoy.yaml:12:7');
  assert.equal(e.message, 'envoy.yaml:12:7: static_resources.clusters[2].lb_policy: CLUSTER_PROVIDED is not supported');
  assert.equal(e.code, 'MW_CONFIG_INVALID');
});
