import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MESSAGES, compatTables, reachableMessages } from './schema.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const DOC = path.join(ROOT, 'docs/istio-compat.md');
const BEGIN = /<!-- BEGIN GENERATED:[^\n]*-->\n/;
const END = '<!-- END GENERATED -->';

test('docs/istio-compat.md lists exactly the schema (regenerate with MESHWORK_UPDATE_DOCS=1)', () => {
  const doc = fs.readFileSync(DOC, 'utf8');
  const begin = BEGIN.exec(doc);
  const end = doc.indexOf(END);
  assert.ok(begin && end > begin.index, 'the doc has lost its generated-section markers');
  const start = begin.index + begin[0].length;
  const want = compatTables() + '\n';
  if (process.env.MESHWORK_UPDATE_DOCS === '1') {
    fs.writeFileSync(DOC, doc.slice(0, start) + want + doc.slice(end));
    return;
  }
  assert.equal(doc.slice(start, end), want);
});

test('every message of the schema is reachable from a kind, and every message a field names exists', () => {
  const reachable = new Set(reachableMessages());
  assert.deepEqual(Object.keys(MESSAGES).filter((m) => !reachable.has(m)), []);
  for (const name of reachable) assert.ok(MESSAGES[name], `${name} is named by a field but has no entry`);
});

test('unsupported and ignored fields say why, and partial ones say what works', () => {
  for (const [name, fields] of Object.entries(MESSAGES)) {
    for (const [field, spec] of Object.entries(fields)) {
      if (spec.status !== 'supported') assert.ok(spec.note, `${name}.${field} is ${spec.status} without a note`);
    }
  }
});
