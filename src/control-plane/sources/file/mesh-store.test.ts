// The directory store: the shared store conformance suite with files as documents, plus what only a watched
// directory does (picking up an editor's write-and-rename without being asked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runStoreConformance } from '../store-conformance.js';
import { MeshFileStore } from './mesh-store.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-meshdir-'));

/** Written as editors and ConfigMap updates do: a dot-file renamed over the target. */
function writeAtomic(file: string, text: string): void {
  const t = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(t, text);
  fs.renameSync(t, file);
}

runStoreConformance('directory store', async () => {
  const dir = tmp();
  const store = new MeshFileStore({ dir });
  // the suite drives it with explicit re-reads: deterministic, and the watch has its own test below
  await store.start({ watch: false });
  return {
    store,
    write: async (name, yaml) => writeAtomic(path.join(dir, `${name}.yaml`), yaml),
    remove: async (name) => fs.rmSync(path.join(dir, `${name}.yaml`)),
    settle: () => store.reload(),
    close: async () => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('directory store: the watch picks up a new file and a rename over an old one', async () => {
  const dir = tmp();
  const store = new MeshFileStore({ dir, debounceMs: 10 });
  let changes = 0;
  store.subscribe(() => changes++);
  await store.start();
  try {
    assert.deepEqual(store.list(), []);
    writeAtomic(path.join(dir, 'se.yaml'), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin, namespace: shop }
spec:
  hosts: [httpbin.org]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
  location: MESH_EXTERNAL
`);
    await waitUntil(() => store.list().length === 1);
    assert.equal(store.list()[0]!.metadata.namespace, 'shop');
    assert.equal(changes, 1);
    writeAtomic(path.join(dir, 'se.yaml'), `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin, namespace: shop }
spec:
  hosts: [httpbin.org]
  ports: [{ number: 443, name: https, protocol: TLS }]
  resolution: DNS
`);
    await waitUntil(() => (store.list()[0] as { spec: { ports: { number: number }[] } }).spec.ports[0]!.number === 443);
    assert.equal(changes, 2);
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for the watch');
    await new Promise((r) => setTimeout(r, 10));
  }
}
