// The conformance suite every MeshConfigStore runs (store.ts lists the guarantees). An implementation's test
// calls runStoreConformance() with a driver that writes and removes "documents" its own way: files for the
// directory store, keys for etcd, objects for Kubernetes. Real backends only: the etcd store runs it against a
// real etcd server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeshResource } from '../../api/mesh/types.js';
import { resourceKey, type MeshConfigStore } from './store.js';

export interface StoreDriver {
  readonly store: MeshConfigStore;
  /** create or replace the document `name` (YAML, one or more resources) */
  write(name: string, yaml: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** resolves once the store has seen every write and removal made before the call */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const vs = (name: string, weights: [number, number] = [90, 10], ns?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  hosts: [${name}]
  http:
  - route:
    - destination: { host: ${name}, subset: v1 }
      weight: ${weights[0]}
    - destination: { host: ${name}, subset: v2 }
      weight: ${weights[1]}
`;

const dr = (host: string) => `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: ${host}
spec:
  host: ${host}
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`;

const keys = (s: MeshConfigStore) => s.list().map(resourceKey);
const find = (s: MeshConfigStore, key: string): MeshResource | undefined => s.list().find((r) => resourceKey(r) === key);
const weightsOf = (r: MeshResource | undefined) => (r as MeshResource<'VirtualService'> | undefined)?.spec.http?.[0]?.route?.map((d) => d.weight);

export function runStoreConformance(name: string, open: () => Promise<StoreDriver>): void {
  const withStore = (title: string, fn: (d: StoreDriver, changes: string[]) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const d = await open();
      const changes: string[] = [];
      d.store.subscribe((reason) => changes.push(reason));
      try {
        await fn(d, changes);
      } finally {
        await d.close();
      }
    });

  withStore('lists valid resources sorted by kind/namespace/name, namespace defaulting to "default"', async (d) => {
    await d.write('a', `${vs('reviews')}---\n${dr('reviews')}---\n${vs('alpha', [50, 50], 'shop')}`);
    await d.settle();
    assert.deepEqual(keys(d.store), ['DestinationRule/default/reviews', 'VirtualService/default/reviews', 'VirtualService/shop/alpha']);
    assert.deepEqual(d.store.errors(), []);
  });

  withStore('a change is listed and announced; unchanged resources keep their objects', async (d, changes) => {
    await d.write('a', `${vs('reviews')}---\n${dr('reviews')}`);
    await d.settle();
    const before = changes.length;
    const drBefore = find(d.store, 'DestinationRule/default/reviews');
    await d.write('a', `${vs('reviews', [80, 20])}---\n${dr('reviews')}`);
    await d.settle();
    assert.ok(changes.length > before, 'subscribers told');
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [80, 20]);
    assert.equal(find(d.store, 'DestinationRule/default/reviews'), drBefore, 'the unchanged DestinationRule is the same object');
  });

  withStore('an invalid edit is rejected with file:line; the last good version stays; the other resources update', async (d, changes) => {
    await d.write('a', `${vs('reviews')}---\n${dr('reviews')}`);
    await d.settle();
    const before = changes.length;
    // weights total 110: Istio rejects it
    await d.write('a', `${vs('reviews', [90, 20])}---\n${dr('ratings')}`);
    await d.settle();
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [90, 10], 'last good version');
    assert.ok(find(d.store, 'DestinationRule/default/ratings'), 'the valid resource of the same edit is in');
    assert.equal(find(d.store, 'DestinationRule/default/reviews'), undefined, 'a valid edit that drops a resource removes it');
    const errs = d.store.errors();
    assert.equal(errs.length, 1, errs.map((e) => e.message).join('\n'));
    assert.equal(errs[0]!.code, 'MW_MESH_INVALID');
    assert.match(errs[0]!.message, /spec\.http\[0\]\.route/);
    assert.match(errs[0]!.location ?? '', /:\d+:\d+$/, 'file:line:column');
    assert.ok(changes.length > before);
    // fixing it applies it and clears the error
    await d.write('a', `${vs('reviews', [70, 30])}---\n${dr('ratings')}`);
    await d.settle();
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [70, 30]);
    assert.deepEqual(d.store.errors(), []);
  });

  withStore('a rejected edit alone announces nothing', async (d, changes) => {
    await d.write('a', vs('reviews'));
    await d.settle();
    const before = changes.length;
    await d.write('a', vs('reviews', [10, 10]));
    await d.settle();
    assert.equal(changes.length, before);
    assert.equal(d.store.errors().length, 1);
  });

  withStore('a document that cannot be read removes nothing; the valid ones still update', async (d) => {
    await d.write('a', `${vs('reviews')}---\n${dr('reviews')}`);
    await d.settle();
    await d.write('a', `${vs('reviews', [60, 40])}---\nkind: [unclosed\n`);
    await d.settle();
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [60, 40]);
    assert.ok(find(d.store, 'DestinationRule/default/reviews'), 'kept: the unreadable document may have been it');
    assert.equal(d.store.errors().length, 1);
  });

  withStore('removal: a removed document takes its resources away', async (d, changes) => {
    await d.write('a', vs('reviews'));
    await d.write('b', dr('reviews'));
    await d.settle();
    const before = changes.length;
    await d.remove('b');
    await d.settle();
    assert.deepEqual(keys(d.store), ['VirtualService/default/reviews']);
    assert.ok(changes.length > before);
  });

  withStore('the same resource in two documents: the first is served, the second reported, and gets in when the first goes', async (d) => {
    await d.write('a', vs('reviews', [90, 10]));
    await d.write('b', vs('reviews', [10, 90]));
    await d.settle();
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [90, 10]);
    const dup = d.store.errors().find((e) => e.code === 'MW_CONFIG_DUPLICATE');
    assert.ok(dup, 'duplicate reported');
    await d.remove('a');
    await d.settle();
    assert.deepEqual(weightsOf(find(d.store, 'VirtualService/default/reviews')), [10, 90]);
    assert.deepEqual(d.store.errors(), []);
  });
}
