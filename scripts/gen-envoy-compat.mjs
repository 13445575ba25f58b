#!/usr/bin/env node
// Writes docs/envoy-compat.md from the compiled support table (run `npx tsc -p tsconfig.json` first).
// src/api/envoy/compat-doc.test.ts fails when the committed page differs from what this writes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { renderCompatDoc } = await import(new URL('dist/src/api/envoy/compat-doc.js', `file://${repo}`).href);
const target = new URL('docs/envoy-compat.md', `file://${repo}`);
writeFileSync(target, renderCompatDoc());
console.log(`wrote ${fileURLToPath(target)}`);
