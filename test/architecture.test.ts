// Guards the layout of ../shared/STYLE.md: the data plane never imports the control plane (and the reverse),
// and the proxy's core never imports an extension folder directly — only the registry does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/proxy.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2]!;
    if (spec.startsWith('.')) out.push(path.resolve(path.dirname(file), spec));
  }
  return out;
}

const SRC = path.join(ROOT, 'src');
const rel = (p: string) => path.relative(SRC, p);

test('src/proxy never imports src/control-plane, and the reverse', () => {
  const bad: string[] = [];
  for (const f of sources(SRC)) {
    const from = rel(f);
    for (const imp of imports(f)) {
      const to = rel(imp);
      if (from.startsWith('proxy/') && to.startsWith('control-plane/')) bad.push(`${from} -> ${to}`);
      if (from.startsWith('control-plane/') && to.startsWith('proxy/')) bad.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('src/api and src/common (shared by both planes) import neither src/proxy nor src/control-plane', () => {
  const bad: string[] = [];
  for (const f of sources(SRC)) {
    const from = rel(f);
    if (!from.startsWith('api/') && !from.startsWith('common/')) continue;
    if (from.endsWith('.test.ts')) continue; // a test may check shared code against either plane
    for (const imp of imports(f)) {
      const to = rel(imp);
      if (to.startsWith('proxy/') || to.startsWith('control-plane/')) bad.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the proxy core reaches extensions only through extensions/registry.ts', () => {
  const bad: string[] = [];
  const ext = 'proxy/extensions/';
  for (const f of sources(SRC)) {
    const from = rel(f);
    if (from.startsWith(ext)) continue;
    for (const imp of imports(f)) {
      const to = rel(imp);
      if (to.startsWith(ext) && to !== 'proxy/extensions/registry.js') bad.push(`${from} -> ${to}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the checker sees real imports (guards against a regex that matches nothing)', () => {
  const reg = path.join(SRC, 'proxy/extensions/registry.ts');
  const found = imports(reg).map(rel);
  assert.ok(found.some((p) => p.startsWith('proxy/extensions/clusters/')), `registry imports: ${found.join(', ')}`);
});
