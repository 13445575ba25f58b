// The server as a whole, with real gRPC clients: debounced pushes, make-before-break push order (SotW and
// delta), per-node generation, versions that survive a control-plane restart, the standalone services,
// metrics and graceful close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  SINGLE_TYPE_SERVICES,
  packAny,
  TYPE_SHORT_NAME,
  TYPE_URL,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type XdsTypeUrl,
} from '../../api/xds/index.js';
import { XdsServer, resourceEntry, type Generator, type ProxyInfo, type ResourceEntry } from './server.js';
import {
  TestAdsClient,
  TestGenerator,
  TestStream,
  ack,
  cluster,
  deltaRequest,
  endpoints,
  listener,
  namesOf,
  route,
  secret,
  sotwRequest,
  startServer,
  until,
} from './test-support.js';

const NODE = { id: 'proxy-1' };

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

test('requestPush debounces: several calls in a burst make one push and one response with the final content', async () => {
  const g = new TestGenerator();
  g.set(TYPE_URL.CLUSTER, [cluster('a')]);
  const { server, client, stop } = await startServer(g, { debounceMs: 50 });
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    s.send(ack(await s.next()));
    await until(() => server.syncz()[0]?.types.cds?.status === 'SYNCED');
    const before = server.metrics();
    for (let i = 1; i <= 5; i++) {
      g.set(TYPE_URL.CLUSTER, [cluster('a', `${i}s`)]);
      server.requestPush(`edit ${i}`);
    }
    const res = await s.next();
    assert.equal(res.resources.length, 1);
    const dump = server.configDump('proxy-1') as { types: { cds: { resources: { connect_timeout: string }[] } } };
    assert.equal(dump.types.cds.resources[0]!.connect_timeout, '5s');
    s.send(sotwRequest(TYPE_URL.SECRET, undefined, { resource_names: ['probe'] }));
    assert.equal((await s.next()).type_url, TYPE_URL.SECRET, 'no second CDS response');
    const after = server.metrics();
    assert.equal(after.pushRequests - before.pushRequests, 5);
    assert.equal(after.pushes - before.pushes, 1);
    assert.equal(after.connectedProxies, 1);
  } finally {
    await stop();
  }
});

function meshGenerator(): TestGenerator {
  const g = new TestGenerator();
  g.set(TYPE_URL.CLUSTER, [cluster('a')]);
  g.set(TYPE_URL.ENDPOINT, [endpoints('a')]);
  g.set(TYPE_URL.LISTENER, [listener('l1', 8001)]);
  g.set(TYPE_URL.ROUTE, [route('r1', 'a')]);
  g.set(TYPE_URL.SECRET, [secret('s1', 'ca-1')]);
  return g;
}

/** Moves the route from cluster a to a new cluster b and removes a, changing every type at once. */
function moveToB(g: TestGenerator): void {
  g.set(TYPE_URL.CLUSTER, [cluster('b')]);
  g.set(TYPE_URL.ENDPOINT, [endpoints('b')]);
  g.set(TYPE_URL.LISTENER, [listener('l1', 8002)]);
  g.set(TYPE_URL.ROUTE, [route('r1', 'b')]);
  g.set(TYPE_URL.SECRET, [secret('s1', 'ca-2')]);
}

const SUBSCRIPTIONS: [XdsTypeUrl, string[]][] = [
  [TYPE_URL.SECRET, ['s1']],
  [TYPE_URL.ROUTE, ['r1']],
  [TYPE_URL.LISTENER, []],
  [TYPE_URL.ENDPOINT, ['a', 'b']],
  [TYPE_URL.CLUSTER, []],
];

const shortNames = (r: DiscoveryResponse) => `${TYPE_SHORT_NAME[r.type_url as XdsTypeUrl]}:${namesOf(r).join(',')}`;

test('SotW push order: CDS (the removed cluster kept), EDS, SDS; LDS and RDS once the CDS is answered; then CDS without it', async () => {
  const g = meshGenerator();
  const { server, client, stop } = await startServer(g);
  try {
    const s = client.sotw();
    for (const [typeUrl, names] of SUBSCRIPTIONS) {
      s.send(sotwRequest(typeUrl, NODE, { resource_names: names }));
      s.send(ack(await s.next(), names));
    }
    await until(() => Object.values(server.syncz()[0]!.types).every((t) => t.status === 'SYNCED'));
    moveToB(g);
    server.requestPush('move to b');
    const cds = await s.next();
    const got = [shortNames(cds), shortNames(await s.next()), shortNames(await s.next())];
    assert.deepEqual(got, ['cds:a,b', 'eds:b', 'sds:s1']);
    // The CDS response added b: listeners, routes and removals wait for the client's answer (stream.ts).
    s.send(sotwRequest(TYPE_URL.SECRET, undefined, { resource_names: ['s1', 'probe'] }));
    // (a named type's SotW response carries what is new to the client: s1 went out above, probe does not exist)
    assert.equal(shortNames(await s.next()), 'sds:', 'only the probe answer before the CDS is answered');
    s.send(ack(cds));
    assert.deepEqual([shortNames(await s.next()), shortNames(await s.next()), shortNames(await s.next())], ['lds:l1', 'rds:r1', 'cds:b']);
  } finally {
    await stop();
  }
});

test('delta push order: additions CDS→EDS→SDS, LDS→RDS once the CDS is answered, then removals in reverse (EDS, CDS)', async () => {
  const g = meshGenerator();
  const { server, client, stop } = await startServer(g);
  try {
    const d = client.delta();
    for (const [typeUrl, names] of SUBSCRIPTIONS) {
      d.send(deltaRequest(typeUrl, NODE, { resource_names_subscribe: names }));
      d.send(deltaRequest(typeUrl, undefined, { response_nonce: (await d.next()).nonce }));
    }
    await until(() => Object.values(server.syncz()[0]!.types).every((t) => t.status === 'SYNCED'));
    moveToB(g);
    server.requestPush('move to b');
    const show = (r: DeltaDiscoveryResponse) =>
      `${TYPE_SHORT_NAME[r.type_url as XdsTypeUrl]}:${r.resources.map((x) => `+${x.name}`).concat(r.removed_resources.map((n) => `-${n}`)).join(',')}`;
    const cds = await d.next();
    assert.deepEqual([show(cds), show(await d.next()), show(await d.next())], ['cds:+b', 'eds:+b', 'sds:+s1']);
    d.send(deltaRequest(TYPE_URL.SECRET, undefined, { resource_names_subscribe: ['probe'] }));
    assert.equal(show(await d.next()), 'sds:-probe', 'only the probe answer before the CDS is answered');
    d.send(deltaRequest(TYPE_URL.CLUSTER, undefined, { response_nonce: cds.nonce }));
    const got: string[] = [];
    for (let i = 0; i < 4; i++) got.push(show(await d.next()));
    assert.deepEqual(got, ['lds:+l1', 'rds:+r1', 'eds:-a', 'cds:-a']);
  } finally {
    await stop();
  }
});

/** Gives each proxy a cluster named after its node id, with a timeout a test can change per proxy. */
class PerNodeGenerator implements Generator {
  readonly timeouts = new Map<string, string>();
  generate(proxy: ProxyInfo, typeUrl: string): Map<string, ResourceEntry> {
    const out = new Map<string, ResourceEntry>();
    if (typeUrl !== TYPE_URL.CLUSTER) return out;
    const id = proxy.node.id ?? '';
    const json = cluster(`${id}-svc`, this.timeouts.get(id) ?? '1s');
    out.set(json.name, resourceEntry(json.name, packAny(json, TYPE_URL.CLUSTER), json));
    return out;
  }
}

test('two proxies get per-node results; a push reaches only the proxy whose result changed', async () => {
  const g = new PerNodeGenerator();
  const { server, client, stop } = await startServer(g);
  try {
    const one = client.sotw();
    const two = client.delta();
    one.send(sotwRequest(TYPE_URL.CLUSTER, { id: 'one', cluster: 'c1' }));
    two.send(deltaRequest(TYPE_URL.CLUSTER, { id: 'two', cluster: 'c2' }));
    const r1 = await one.next();
    const r2 = await two.next();
    assert.deepEqual(namesOf(r1), ['one-svc']);
    assert.deepEqual(r2.resources.map((r) => r.name), ['two-svc']);
    one.send(ack(r1));
    await until(() => server.syncz().find((s) => s.proxy === 'one')?.types.cds?.status === 'SYNCED');

    g.timeouts.set('two', '7s');
    server.requestPush('two changed');
    const r3 = await two.next();
    assert.deepEqual(r3.resources.map((r) => r.name), ['two-svc']);
    one.send(sotwRequest(TYPE_URL.SECRET, undefined, { resource_names: ['probe'] }));
    assert.equal((await one.next()).type_url, TYPE_URL.SECRET, 'proxy one got nothing');

    const syncz = server.syncz().sort((a, b) => a.proxy.localeCompare(b.proxy));
    assert.deepEqual(syncz.map((s) => [s.proxy, s.cluster, s.delta]), [['one', 'c1', false], ['two', 'c2', true]]);
    assert.equal(server.metrics().connectedProxies, 2);
    const dumpTwo = server.configDump('two') as { node: { id: string }; types: { cds: { resources: { name: string; connect_timeout: string }[] } } };
    assert.equal(dumpTwo.node.id, 'two');
    assert.deepEqual(dumpTwo.types.cds.resources.map((r) => [r.name, r.connect_timeout]), [['two-svc', '7s']]);
  } finally {
    await stop();
  }
});

test('versions depend only on content: a restarted control plane recognises what a reconnecting proxy runs', async () => {
  const first = await startServer(meshGenerator());
  const s1 = first.client.sotw();
  s1.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
  const v1 = await s1.next();
  await first.stop();

  const second = await startServer(meshGenerator());
  try {
    const s2 = second.client.sotw();
    s2.send(sotwRequest(TYPE_URL.CLUSTER, NODE, { version_info: v1.version_info }));
    s2.send(sotwRequest(TYPE_URL.LISTENER, undefined));
    assert.equal((await s2.next()).type_url, TYPE_URL.LISTENER, 'CDS was not sent again');
    assert.equal(second.server.syncz()[0]!.types.cds!.status, 'SYNCED');
    const fresh = second.client.sotw();
    fresh.send(sotwRequest(TYPE_URL.CLUSTER, { id: 'other' }));
    assert.equal((await fresh.next()).version_info, v1.version_info);
  } finally {
    await second.stop();
  }
});

test('standalone services: Stream (type_url may be empty), Delta and Fetch', async () => {
  const { server, port, stop } = await startServer(meshGenerator());
  const CdsClient = grpc.makeGenericClientConstructor(SINGLE_TYPE_SERVICES[TYPE_URL.CLUSTER], 'ClusterDiscoveryService');
  const EdsClient = grpc.makeGenericClientConstructor(SINGLE_TYPE_SERVICES[TYPE_URL.ENDPOINT], 'EndpointDiscoveryService');
  const LdsClient = grpc.makeGenericClientConstructor(SINGLE_TYPE_SERVICES[TYPE_URL.LISTENER], 'ListenerDiscoveryService');
  const clients = [CdsClient, EdsClient, LdsClient].map((C) => new C(`127.0.0.1:${port}`, grpc.credentials.createInsecure()));
  const [cds, eds, lds] = clients as unknown as Record<string, (...args: unknown[]) => unknown>[];
  try {
    const s = new TestStream(cds!.StreamClusters!() as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>);
    s.send(sotwRequest('', NODE));
    const r = await s.next();
    assert.equal(r.type_url, TYPE_URL.CLUSTER);
    assert.deepEqual(namesOf(r), ['a']);

    const d = new TestStream(eds!.DeltaEndpoints!() as grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>);
    d.send(deltaRequest('', NODE, { resource_names_subscribe: ['a'] }));
    const e = await d.next();
    assert.deepEqual([e.type_url, e.resources.map((x) => x.name)], [TYPE_URL.ENDPOINT, ['a']]);
    // One proxy with two streams: config_dump merges them.
    const dump = server.configDump('proxy-1') as { types: Record<string, unknown> };
    assert.deepEqual(Object.keys(dump.types).sort(), ['cds', 'eds']);

    const fetched = await within(
      new Promise<DiscoveryResponse>((resolve, reject) =>
        lds!.FetchListeners!(sotwRequest(TYPE_URL.LISTENER, NODE), (err: Error | null, res: DiscoveryResponse) => (err ? reject(err) : resolve(res))),
      ),
      3000,
      'FetchListeners',
    );
    assert.deepEqual(namesOf(fetched), ['l1']);
    assert.ok(fetched.version_info);
    s.close();
    d.close();
  } finally {
    for (const c of clients) c.close();
    await stop();
  }
});

test('close(): open streams end with UNAVAILABLE (clients reconnect elsewhere) and new ones are refused', async () => {
  const server = new XdsServer({ generator: meshGenerator() });
  const { port } = await server.listen('127.0.0.1:0');
  const client = new TestAdsClient(port);
  try {
    const s = client.sotw();
    s.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    await s.next();
    await within(server.close(2000), 3000, 'close');
    assert.equal((await within(s.status, 3000, 'stream status')).code, grpc.status.UNAVAILABLE);
    assert.deepEqual(server.syncz(), []);

    const late = new TestAdsClient(port);
    const s2 = late.sotw();
    s2.send(sotwRequest(TYPE_URL.CLUSTER, NODE));
    assert.equal((await within(s2.status, 5000, 'refused stream status')).code, grpc.status.UNAVAILABLE);
    late.close();
  } finally {
    client.close();
  }
});
