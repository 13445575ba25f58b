// Delta (incremental) xDS against a real gRPC client: per-resource versions, only changes sent, removals,
// subscribe/unsubscribe, non-existent names, reconnecting with initial_resource_versions, requests held behind a
// CDS response that adds clusters.
// "Nothing was sent" is checked as in sotw-stream.test.ts: a probe request that is always answered (a new
// subscription) must be answered next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, type DeltaDiscoveryResponse } from '../../api/xds/index.js';
import { TestGenerator, cluster, deltaRequest, endpoints, listener, startServer, until, type DeltaStreamClient } from './test-support.js';

const NODE = { id: 'proxy-d', cluster: 'web' };

function generator(): TestGenerator {
  const g = new TestGenerator();
  g.set(TYPE_URL.CLUSTER, [cluster('a'), cluster('b')]);
  g.set(TYPE_URL.ENDPOINT, [endpoints('a', 1001), endpoints('b', 1002)]);
  g.set(TYPE_URL.LISTENER, [listener('l1', 8001)]);
  return g;
}

const names = (r: DeltaDiscoveryResponse) => r.resources.map((x) => x.name).sort();
const versions = (r: DeltaDiscoveryResponse) => Object.fromEntries(r.resources.map((x) => [x.name, x.version]));

let probes = 0;
async function assertNothingSent(d: DeltaStreamClient): Promise<void> {
  const name = `probe-${++probes}`;
  d.send(deltaRequest(TYPE_URL.SECRET, undefined, { resource_names_subscribe: [name] }));
  assert.deepEqual((await d.next()).removed_resources, [name], 'expected only the probe answer');
}

test('delta wildcard: initial set, then only changes; removals after additions; ACK and NACK tracked', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const d = client.delta();
    d.send(deltaRequest(TYPE_URL.CLUSTER, NODE));
    const r1 = await d.next();
    assert.deepEqual(names(r1), ['a', 'b']);
    assert.deepEqual(r1.removed_resources, []);
    assert.ok(r1.system_version_info && r1.nonce && r1.resources.every((x) => x.version && x.resource?.type_url === TYPE_URL.CLUSTER));
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: r1.nonce }));
    await assertNothingSent(d);
    assert.equal(server.syncz()[0]!.types.cds!.status, 'SYNCED');

    g.set(TYPE_URL.CLUSTER, [cluster('a', '5s'), cluster('b')]);
    server.requestPush('update a');
    const r2 = await d.next();
    assert.deepEqual(names(r2), ['a']);
    assert.notEqual(versions(r2).a, versions(r1).a);
    assert.deepEqual(r2.removed_resources, []);

    // Add c and remove b in one push: c goes out first; b's removal waits until the client answered the
    // response that added a cluster (stream.ts: routes and removals are held behind it).
    g.set(TYPE_URL.CLUSTER, [cluster('a', '5s'), cluster('c')]);
    server.requestPush('add c, remove b');
    const r3 = await d.next();
    assert.deepEqual({ names: names(r3), removed: r3.removed_resources }, { names: ['c'], removed: [] });
    // Answering r2 after r3 was sent still counts (each delta response stands alone); it is not r3's answer,
    // so the removal still waits.
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: r2.nonce }));
    await assertNothingSent(d);
    assert.equal(server.syncz()[0]!.types.cds!.acked, r2.system_version_info);
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: r3.nonce }));
    const r4 = await d.next();
    assert.deepEqual({ names: names(r4), removed: r4.removed_resources }, { names: [], removed: ['b'] });

    // r4 is NACKed.
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: r4.nonce, error_detail: { code: 3, message: 'b is still used' } }));
    await assertNothingSent(d);
    const cds = server.syncz()[0]!.types.cds!;
    assert.deepEqual(
      { status: cds.status, acked: cds.acked, sent: cds.sent, nacked: cds.nacked?.message },
      { status: 'NACKED', acked: r3.system_version_info, sent: r4.system_version_info, nacked: 'b is still used' },
    );
    assert.equal(server.syncz()[0]!.delta, true);
    const dump = server.configDump('proxy-d') as { types: Record<string, { resources: { name: string }[] }> };
    assert.deepEqual(dump.types.cds!.resources.map((r) => r.name).sort(), ['a', 'c']);
  } finally {
    await stop();
  }
});

test('delta named: subscribe, resubscribe, unsubscribe; names that do not exist come back as removed', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const d = client.delta();
    d.send(deltaRequest(TYPE_URL.ENDPOINT, NODE, { resource_names_subscribe: ['a', 'zz'] }));
    const r1 = await d.next();
    assert.deepEqual({ names: names(r1), removed: r1.removed_resources }, { names: ['a'], removed: ['zz'] });

    // A spontaneous subscription (no nonce) is answered with just the new name.
    d.send(deltaRequest(TYPE_URL.ENDPOINT, undefined, { resource_names_subscribe: ['b'] }));
    const r2 = await d.next();
    assert.deepEqual({ names: names(r2), removed: r2.removed_resources }, { names: ['b'], removed: [] });
    // Subscribing again to something the client has: the protocol requires sending it again.
    d.send(deltaRequest(TYPE_URL.ENDPOINT, undefined, { resource_names_subscribe: ['a'], response_nonce: r2.nonce }));
    assert.deepEqual(names(await d.next()), ['a']);

    d.send(deltaRequest(TYPE_URL.ENDPOINT, undefined, { resource_names_unsubscribe: ['a'] }));
    await assertNothingSent(d);
    assert.deepEqual(server.syncz()[0]!.types.eds!.subscribed, ['b', 'zz']);

    // After unsubscribing, a's changes no longer reach the client; b's do; zz springing into existence does.
    g.set(TYPE_URL.ENDPOINT, [endpoints('a', 2001), endpoints('b', 2002), endpoints('zz', 2003)]);
    server.requestPush('test');
    const r4 = await d.next();
    assert.deepEqual({ names: names(r4), removed: r4.removed_resources }, { names: ['b', 'zz'], removed: [] });
  } finally {
    await stop();
  }
});

test('delta reconnect with initial_resource_versions: only what differs is sent, what is gone is removed', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const d1 = client.delta();
    d1.send(deltaRequest(TYPE_URL.CLUSTER, NODE));
    const r1 = await d1.next();
    d1.close();
    await until(() => server.metrics().streams === 0, 3000, 'the first stream to close');

    // Same input: the reconnect is answered (the client learns where it stands) with nothing to change.
    const d2 = client.delta();
    d2.send(deltaRequest(TYPE_URL.CLUSTER, NODE, { initial_resource_versions: versions(r1) }));
    const same = await d2.next();
    assert.deepEqual({ names: names(same), removed: same.removed_resources }, { names: [], removed: [] });
    assert.equal(same.system_version_info, r1.system_version_info);
    const cds = server.syncz()[0]!.types.cds!;
    assert.equal(cds.sent, r1.system_version_info);
    d2.close();

    // b changed, c is new, a is unchanged, and the client remembers a cluster that is gone.
    g.set(TYPE_URL.CLUSTER, [cluster('a'), cluster('b', '9s'), cluster('c')]);
    const d3 = client.delta();
    d3.send(deltaRequest(TYPE_URL.CLUSTER, NODE, { initial_resource_versions: { ...versions(r1), old: 'v0' } }));
    const r3 = await d3.next();
    assert.deepEqual({ names: names(r3), removed: r3.removed_resources }, { names: ['b', 'c'], removed: ['old'] });

    // Named types too: a reconnecting EDS client that has a and b at current versions gets nothing.
    const d4 = client.delta();
    d4.send(deltaRequest(TYPE_URL.ENDPOINT, NODE, { resource_names_subscribe: ['a'] }));
    const e1 = await d4.next();
    d4.close();
    const d5 = client.delta();
    d5.send(deltaRequest(TYPE_URL.ENDPOINT, NODE, { resource_names_subscribe: ['a'], initial_resource_versions: versions(e1) }));
    const e2 = await d5.next();
    assert.deepEqual({ names: names(e2), removed: e2.removed_resources }, { names: [], removed: [] });
  } finally {
    await stop();
  }
});

test('delta "*" subscription works for any wildcard type and combines with explicit names', async () => {
  const g = generator();
  const { client, stop } = await startServer(g);
  try {
    const d = client.delta();
    d.send(deltaRequest(TYPE_URL.LISTENER, NODE, { resource_names_subscribe: ['*'] }));
    assert.deepEqual(names(await d.next()), ['l1']);
    // An explicit name next to '*' that the wildcard set does not include (this generator serves everything
    // to '*', so a name it lacks is simply reported as not existing).
    d.send(deltaRequest(TYPE_URL.LISTENER, undefined, { resource_names_subscribe: ['l9'] }));
    const r = await d.next();
    assert.deepEqual({ names: names(r), removed: r.removed_resources }, { names: [], removed: ['l9'] });
  } finally {
    await stop();
  }
});

test('delta hold: a reconnect\'s LDS request waits for the answer to the CDS that added clusters, then gets only what differs', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const d1 = client.delta();
    d1.send(deltaRequest(TYPE_URL.LISTENER, NODE));
    const l1 = await d1.next();
    d1.close();
    await until(() => server.metrics().streams === 0, 3000, 'the first stream to close');

    // The client comes back having l1 at its current version and wanting a new listener l2 by name too.
    g.set(TYPE_URL.LISTENER, [listener('l1', 8001), listener('l2', 8002)]);
    const d = client.delta();
    d.send(deltaRequest(TYPE_URL.CLUSTER, NODE));
    const cds = await d.next();
    assert.deepEqual(names(cds), ['a', 'b']);
    d.send(deltaRequest(TYPE_URL.LISTENER, undefined, { initial_resource_versions: versions(l1), resource_names_subscribe: ['*', 'l9'] }));
    d.send(deltaRequest(TYPE_URL.ENDPOINT, undefined, { resource_names_subscribe: ['a', 'b'] }));
    assert.deepEqual(names(await d.next()), ['a', 'b'], 'EDS is answered; LDS waits');
    await assertNothingSent(d);
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: cds.nonce }));
    const lds = await d.next();
    assert.equal(lds.type_url, TYPE_URL.LISTENER);
    // l1 is what the client has; l2 is new; l9, named and nonexistent, is reported removed.
    assert.deepEqual({ names: names(lds), removed: lds.removed_resources }, { names: ['l2'], removed: ['l9'] });
    assert.deepEqual(server.syncz()[0]!.types.lds!.subscribed, '*');
  } finally {
    await stop();
  }
});
