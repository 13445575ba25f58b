#!/usr/bin/env node
// Writes docs/envoy-compat.md from the compiled support table (build first: npx tsc -p tsconfig.json).
// src/api/envoy/compat-doc.test.ts fails when the committed page differs from what this writes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = new URL('..', import.meta.url);
const { renderCompatDoc } = await import(new URL('dist/src/api/envoy/compat-doc.js', repo).href);
const target = new URL('docs/envoy-compat.md', repo);
mkdirSync(new URL('docs/', repo), { recursive: true });
writeFileSync(target, renderCompatDoc());
console.log(`wrote ${fileURLToPath(target)}`);
