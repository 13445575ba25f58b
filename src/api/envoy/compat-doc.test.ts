import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderCompatDoc } from './compat-doc.js';

// dist/src/api/envoy/ → repository root.
const DOC = new URL('../../../../docs/envoy-compat.md', import.meta.url);

test('docs/envoy-compat.md matches the support table (regenerate: node scripts/gen-envoy-compat.mjs)', () => {
  assert.equal(readFileSync(DOC, 'utf8'), renderCompatDoc());
});

test('the compatibility page lists every proto field of a table message, with its status', () => {
  const doc = renderCompatDoc();
  assert.match(doc, /### envoy\.config\.cluster\.v3\.Cluster\n\n\| Field \| Status \| Notes \|/);
  assert.match(doc, /\| `lb_policy` \| supported \| values: `ROUND_ROBIN`, `LEAST_REQUEST`, `RANDOM`, `RING_HASH`, `MAGLEV`, `CLUSTER_PROVIDED` \|/);
  assert.match(doc, /\| `eds_cluster_config` \| supported \|  \|/);
  assert.match(doc, /\| `lds_resources_locator` \| \*\*unsupported\*\* \| xdstp:\/\/ resource locators are not implemented \|/);
  assert.match(doc, /\| `lrs_server` \| \*\*unsupported\*\* \|  \|/, 'fields missing from the table are shown as unsupported');
  assert.match(doc, /\| `profile_path` \| ignored \| there is no CPU profiler endpoint \|/);
  assert.match(doc, /- `envoy\.extensions\.filters\.http\.router\.v3\.Router`\n/);
});
