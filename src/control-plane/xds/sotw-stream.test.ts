// State-of-the-world xDS against a real gRPC client: initial fetch, ACK, NACK, stale nonces, wildcard and named
// subscriptions, LDS removal, reconnecting with the version the client runs, LDS/RDS held behind a CDS
// response that adds clusters.
//
// "Nothing was sent" is checked without sleeping: responses on one stream arrive in the order the server
// handled the requests, so after the request under test we send a probe that is always answered (a changed
// SDS subscription) and require that answer to be the next message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL } from '../../api/xds/index.js';
import {
  TestGenerator,
  ack,
  cluster,
  endpoints,
  listener,
  namesOf,
  route,
  sotwRequest,
  startServer,
  until,
  type SotwStreamClient,
} from './test-support.js';

const NODE = { id: 'proxy-1', cluster: 'web' };

function generator(): TestGenerator {
  const g = new TestGenerator();
  g.set(TYPE_URL.CLUSTER, [cluster('a'), cluster('b')]);
  g.set(TYPE_URL.ENDPOINT, [endpoints('a', 1001), endpoints('b', 1002)]);
  g.set(TYPE_URL.LISTENER, [listener('l1', 8001), listener('l2', 8002)]);
  return g;
}

/** Asserts that the server sent nothing since the last response: the probe's answer comes next. */
let probes = 0;
async function assertNothingSent(s: SotwStreamClient): Promise<void> {
  s.send(sotwRequest(TYPE_URL.SECRET, undefined, { resource_names: [`probe-${++probes}`] }));
  assert.equal((await s.next()).type_url, TYPE_URL.SECRET, 'expected only the probe answer');
}

test('initial fetch: wildcard CDS gets all, named EDS gets what it names; an ACK syncs without a resend', async () => {
  const { server, client, stop } = await startServer(generator());
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    const cds = await s.next();
    assert.equal(cds.type_url, TYPE_URL.CLUSTER);
    assert.deepEqual(namesOf(cds), ['a', 'b']);
    assert.ok(cds.version_info && cds.nonce);
    assert.equal(cds.control_plane?.identifier, 'meshwork');
    assert.equal(server.syncz()[0]!.types.cds!.status, 'STALE');

    s.send(ack(cds));
    s.send(sotwRequest(TYPE_URL.ENDPOINT, undefined, { resource_names: ['a'] }));
    const eds = await s.next(); // the ACK itself is not answered: the EDS response comes next
    assert.equal(eds.type_url, TYPE_URL.ENDPOINT);
    assert.deepEqual(namesOf(eds), ['a']);
    s.send(ack(eds, ['a']));
    await assertNothingSent(s);

    const [status] = server.syncz();
    assert.equal(status!.proxy, 'proxy-1');
    assert.equal(status!.cluster, 'web');
    assert.equal(status!.delta, false);
    assert.deepEqual(
      { status: status!.types.cds!.status, acked: status!.types.cds!.acked, subscribed: status!.types.cds!.subscribed },
      { status: 'SYNCED', acked: cds.version_info, subscribed: '*' },
    );
    assert.deepEqual({ status: status!.types.eds!.status, subscribed: status!.types.eds!.subscribed }, { status: 'SYNCED', subscribed: ['a'] });
    assert.equal(status!.types.cds!.staleMs, 0);

    const dump = server.configDump('proxy-1') as { types: Record<string, { version: string; resources: Record<string, unknown>[] }> };
    assert.equal(dump.types.cds!.version, cds.version_info);
    assert.deepEqual(dump.types.cds!.resources.map((r) => r.name).sort(), ['a', 'b']);
    assert.equal(dump.types.eds!.resources[0]!['@type'], TYPE_URL.ENDPOINT);
    assert.equal(server.configDump('nobody'), undefined);
  } finally {
    await stop();
  }
});

test('NACK: status records it, the proxy stays on its acked version, the rejected version is not resent', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    const v1 = await s.next();
    s.send(ack(v1));
    // (pushing before the ACK arrives would make it stale)
    await until(() => server.syncz()[0]?.types.cds?.status === 'SYNCED');

    g.set(TYPE_URL.CLUSTER, [cluster('a', '2s'), cluster('b')]);
    server.requestPush('test');
    const v2 = await s.next();
    assert.notEqual(v2.version_info, v1.version_info);
    s.send({ ...ack(v2), version_info: v1.version_info, error_detail: { code: 3, message: 'cluster a: bad timeout' } });
    await assertNothingSent(s);

    let cds = server.syncz()[0]!.types.cds!;
    assert.equal(cds.status, 'NACKED');
    assert.equal(cds.acked, v1.version_info);
    assert.equal(cds.sent, v2.version_info);
    assert.deepEqual({ version: cds.nacked!.version, message: cds.nacked!.message }, { version: v2.version_info, message: 'cluster a: bad timeout' });
    assert.equal(server.metrics().nacks, 1);

    // A push that changes nothing for this proxy sends nothing, NACKed or not.
    const pushes = server.metrics().pushes;
    server.requestPush('unrelated');
    await until(() => server.metrics().pushes === pushes + 1);
    g.set(TYPE_URL.CLUSTER, [cluster('a', '3s'), cluster('b')]);
    server.requestPush('fixed');
    const v3 = await s.next();
    assert.equal(v3.type_url, TYPE_URL.CLUSTER);
    assert.notEqual(v3.version_info, v2.version_info);
    s.send(ack(v3));
    await assertNothingSent(s);
    cds = server.syncz()[0]!.types.cds!;
    assert.equal(cds.status, 'SYNCED');
    assert.equal(cds.acked, v3.version_info);
    assert.equal(cds.nacked?.version, v2.version_info, 'the last NACK stays on record');
  } finally {
    await stop();
  }
});

test('stale nonce: an answer to an older response is ignored, even one that changes the subscription', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.ENDPOINT, NODE, { resource_names: ['a'] }));
    const e1 = await s.next();
    g.set(TYPE_URL.ENDPOINT, [endpoints('a', 2001), endpoints('b', 1002)]);
    server.requestPush('test');
    const e2 = await s.next();
    assert.notEqual(e2.nonce, e1.nonce);

    // Answers to e1 arrive after e2 was sent: a NACK and a subscription change, both stale.
    s.send({ ...ack(e1, ['a']), version_info: '', error_detail: { code: 3, message: 'late' } });
    s.send(ack(e1, ['a', 'b']));
    await assertNothingSent(s);
    let eds = server.syncz()[0]!.types.eds!;
    assert.equal(eds.status, 'STALE');
    assert.equal(eds.nacked, undefined);
    assert.deepEqual(eds.subscribed, ['a']);

    // The same change answering the latest response is taken.
    s.send(ack(e2, ['a', 'b']));
    const e3 = await s.next();
    // EDS is a named type: the response carries the newly subscribed b, not a again (sotw-stream.ts)
    assert.deepEqual(namesOf(e3), ['b']);
    eds = server.syncz()[0]!.types.eds!;
    assert.equal(eds.acked, e2.version_info);
    assert.equal(eds.sent, e3.version_info);
  } finally {
    await stop();
  }
});

test('named types are grouped as in delta: a push carries what changed, an unsubscription nothing; CDS stays whole', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    const cds1 = await s.next();
    s.send(ack(cds1));
    s.send(sotwRequest(TYPE_URL.ENDPOINT, undefined, { resource_names: ['a', 'b'] }));
    const eds1 = await s.next();
    assert.deepEqual(namesOf(eds1).sort(), ['a', 'b'], 'a first response carries the whole subscription');
    s.send(ack(eds1, ['a', 'b']));

    // b's endpoints move and a cluster changes: EDS carries b alone, CDS both clusters
    g.set(TYPE_URL.CLUSTER, [cluster('a', '7s'), cluster('b')]);
    g.set(TYPE_URL.ENDPOINT, [endpoints('a', 1001), endpoints('b', 2002)]);
    server.requestPush('test');
    const cds2 = await s.next();
    assert.deepEqual(namesOf(cds2).sort(), ['a', 'b']);
    const eds2 = await s.next();
    assert.equal(eds2.type_url, TYPE_URL.ENDPOINT);
    assert.deepEqual(namesOf(eds2), ['b']);
    assert.notEqual(eds2.version_info, eds1.version_info, 'the version is that of the whole subscribed set');
    s.send(ack(cds2));
    s.send(ack(eds2, ['a', 'b']));

    // dropping b: an answer without resources moves the client to the version of {a}
    s.send(ack(eds2, ['a']));
    const eds3 = await s.next();
    assert.equal(eds3.type_url, TYPE_URL.ENDPOINT);
    assert.deepEqual(namesOf(eds3), []);
    s.send(ack(eds3, ['a']));
    await until(() => server.syncz()[0]!.types.eds!.status === 'SYNCED');
    assert.equal(server.syncz()[0]!.types.eds!.acked, eds3.version_info);
    assert.notEqual(eds3.version_info, eds2.version_info);
    // the config dump shows the whole set the client holds, not the last response
    const dump = server.configDump('proxy-1') as { types: Record<string, { resources: { cluster_name?: string }[] }> };
    assert.deepEqual(dump.types.eds!.resources.map((r) => r.cluster_name), ['a']);
    await assertNothingSent(s);
  } finally {
    await stop();
  }
});

test('wildcard vs named: "*" and an empty first list are wildcard for LDS/CDS; named lists get only their names', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    // A gRPC-style client names its one cluster.
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE, { resource_names: ['a'] }));
    const cds = await s.next();
    assert.deepEqual(namesOf(cds), ['a']);
    s.send(ack(cds, ['a']));
    s.send(sotwRequest(TYPE_URL.LISTENER, undefined, { resource_names: ['*'] }));
    const lds = await s.next();
    assert.deepEqual(namesOf(lds), ['l1', 'l2']);
    s.send(ack(lds, ['*']));
    // An empty list for a named type subscribes to nothing.
    s.send(sotwRequest(TYPE_URL.ENDPOINT, undefined, { resource_names: [] }));
    assert.deepEqual(namesOf(await s.next()), []);

    // A new cluster does not concern the named CDS subscription; a new listener reaches the wildcard one.
    g.set(TYPE_URL.CLUSTER, [cluster('a'), cluster('b'), cluster('c')]);
    g.set(TYPE_URL.LISTENER, [listener('l1', 8001), listener('l2', 8002), listener('l3', 8003)]);
    server.requestPush('test');
    const next = await s.next();
    assert.equal(next.type_url, TYPE_URL.LISTENER);
    assert.deepEqual(namesOf(next), ['l1', 'l2', 'l3']);
    const types = server.syncz()[0]!.types;
    assert.deepEqual(types.cds!.subscribed, ['a']);
    assert.equal(types.lds!.subscribed, '*');
    assert.deepEqual(types.eds!.subscribed, []);
  } finally {
    await stop();
  }
});

test('syncz: a long subscription shows its count and first names; an ACK repeating it in another order is no change', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    const names = Array.from({ length: 150 }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    s.send(sotwRequest(TYPE_URL.ENDPOINT, NODE, { resource_names: [...names].reverse() }));
    const eds = await s.next();
    s.send(ack(eds, names));
    await assertNothingSent(s);
    const eds2 = server.syncz()[0]!.types.eds!;
    assert.deepEqual({ subscribed: eds2.subscribed, subscribedCount: eds2.subscribedCount, status: eds2.status }, { subscribed: names.slice(0, 10), subscribedCount: 150, status: 'SYNCED' });
    assert.equal(server.syncz()[0]!.types.sds!.subscribedCount, 1);
    assert.deepEqual(server.syncCounts().get('eds'), new Map([['SYNCED', 1]]));
  } finally {
    await stop();
  }
});

test('LDS removal: the next response leaves the listener out and changes the version', async () => {
  const g = generator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.LISTENER, NODE));
    const v1 = await s.next();
    assert.deepEqual(namesOf(v1), ['l1', 'l2']);
    s.send(ack(v1));
    g.set(TYPE_URL.LISTENER, [listener('l1', 8001)]);
    server.requestPush('test');
    const v2 = await s.next();
    assert.deepEqual(namesOf(v2), ['l1']);
    assert.notEqual(v2.version_info, v1.version_info);
    // Removing the last one sends an empty set (which deletes every listener).
    s.send(ack(v2));
    g.set(TYPE_URL.LISTENER, []);
    server.requestPush('test');
    assert.deepEqual(namesOf(await s.next()), []);
  } finally {
    await stop();
  }
});

test('reconnect: a first request carrying the version we would send is not answered; another version is', async () => {
  const { server, client, stop } = await startServer(generator());
  try {
    const s1 = client.sotw();
    s1.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    const v1 = await s1.next();
    s1.close();
    await new Promise((r) => setTimeout(r, 50));

    const s2 = client.sotw();
    s2.send(sotwRequest(TYPE_URL.CLUSTER, NODE, { version_info: v1.version_info }));
    await assertNothingSent(s2);
    const cds = server.syncz().find((x) => x.types.sds)!.types.cds!;
    assert.deepEqual({ status: cds.status, sent: cds.sent, sentNonce: cds.sentNonce }, { status: 'SYNCED', sent: v1.version_info, sentNonce: '' });

    const s3 = client.sotw();
    // (a nonce left over from the previous stream does not make the request stale)
    s3.send(sotwRequest(TYPE_URL.CLUSTER, NODE, { version_info: 'something-older', response_nonce: 'from-the-old-stream' }));
    const v3 = await s3.next();
    assert.equal(v3.version_info, v1.version_info);
  } finally {
    await stop();
  }
});

test('hold: behind a CDS response that adds clusters, LDS/RDS answers and pushes wait for its ACK or NACK; EDS does not', async () => {
  const g = generator();
  g.set(TYPE_URL.ROUTE, [route('r1', 'a')]);
  const { server, client, stop } = await startServer(g);
  try {
    // A reconnecting Envoy asks for everything at once; the routes must not beat the new clusters' endpoints.
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    const cds = await s.next();
    assert.deepEqual(namesOf(cds), ['a', 'b']);
    s.send(sotwRequest(TYPE_URL.LISTENER, undefined));
    s.send(sotwRequest(TYPE_URL.ENDPOINT, undefined, { resource_names: ['a', 'b'] }));
    const eds = await s.next();
    assert.equal(eds.type_url, TYPE_URL.ENDPOINT, 'EDS is answered; LDS waits');
    s.send(ack(eds, ['a', 'b']));
    await assertNothingSent(s);
    assert.equal(server.syncz()[0]!.types.lds!.status, 'NOT_SENT');
    s.send(ack(cds));
    const lds = await s.next();
    assert.equal(lds.type_url, TYPE_URL.LISTENER);
    assert.deepEqual(namesOf(lds), ['l1', 'l2']);
    s.send(ack(lds));
    // Nothing added: no hold.
    s.send(sotwRequest(TYPE_URL.ROUTE, undefined, { resource_names: ['r1'] }));
    const rds = await s.next();
    assert.equal(rds.type_url, TYPE_URL.ROUTE);
    s.send(ack(rds, ['r1']));
    await until(() => server.syncz()[0]!.types.rds!.status === 'SYNCED');

    // A push that adds cluster c and moves the route to it: CDS now, RDS once the client answers, here a NACK.
    g.set(TYPE_URL.CLUSTER, [cluster('a'), cluster('b'), cluster('c')]);
    g.set(TYPE_URL.ROUTE, [route('r1', 'c')]);
    server.requestPush('add c');
    const cds2 = await s.next();
    assert.deepEqual(namesOf(cds2), ['a', 'b', 'c']);
    await assertNothingSent(s);
    s.send({ ...ack(cds2), version_info: cds.version_info, error_detail: { code: 3, message: 'c: bad' } });
    const rds2 = await s.next();
    assert.equal(rds2.type_url, TYPE_URL.ROUTE);
    assert.notEqual(rds2.version_info, rds.version_info);
  } finally {
    await stop();
  }
});

test('hold: a client that never answers the CDS response gets its listeners after holdTimeoutMs', async () => {
  const { server, client, stop } = await startServer(generator(), { holdTimeoutMs: 100 });
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    assert.equal((await s.next()).type_url, TYPE_URL.CLUSTER);
    s.send(sotwRequest(TYPE_URL.LISTENER, undefined));
    assert.equal(server.metrics().holdTimeouts, 0);
    const lds = await s.next(3000);
    assert.equal(lds.type_url, TYPE_URL.LISTENER);
    assert.deepEqual(namesOf(lds), ['l1', 'l2']);
    assert.equal(server.metrics().holdTimeouts, 1, 'counted for /metrics');
  } finally {
    await stop();
  }
});
