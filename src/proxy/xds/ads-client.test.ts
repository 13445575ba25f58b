// The ADS client against a real @grpc/grpc-js server on 127.0.0.1 that the test scripts request by request:
// what each DiscoveryRequest / DeltaDiscoveryRequest carries (version, nonce, names, node, error_detail,
// initial_resource_versions), in which order, and what the handlers see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE,
  TYPE_URL,
  packAny,
  type Any,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../api/xds/index.js';
import { StatsStore } from '../observability/stats.js';
import { AdsClient, JitteredBackoff, type AdsClientOptions, type TypeHandler, type TypeUpdate } from './ads-client.js';

const WAIT_MS = 2000;
const NODE = { id: 'sidecar~10.0.0.1~app-1.default~default.svc.cluster.local', cluster: 'app' };

/** a FIFO whose reads wait, each with its own bound */
class Queue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(v: T) => void> = [];

  push(v: T): void {
    const w = this.waiters.shift();
    if (w) w(v);
    else this.items.push(v);
  }

  get size(): number {
    return this.items.length;
  }

  next(what: string, ms = WAIT_MS): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift()!);
    return new Promise((resolve, reject) => {
      const waiter = (v: T): void => {
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }
}

type Req = DiscoveryRequest & DeltaDiscoveryRequest;
type Res = DiscoveryResponse | DeltaDiscoveryResponse;

class ScriptedStream {
  readonly requests = new Queue<Req>();
  ended = false;

  constructor(
    readonly call: grpc.ServerDuplexStream<Req, Res>,
    readonly delta: boolean,
  ) {
    call.on('data', (r: Req) => this.requests.push(r));
    call.on('error', () => {});
    call.on('end', () => (this.ended = true));
    call.on('cancelled', () => (this.ended = true));
  }

  next(what = 'a request'): Promise<Req> {
    return this.requests.next(what);
  }

  send(res: Res): void {
    this.call.write(res);
  }
}

/** an ADS server whose streams the test drives by hand */
class ScriptedServer {
  readonly streams = new Queue<ScriptedStream>();
  accepted = 0;
  private server: grpc.Server | undefined;

  /** failStreams: close every stream at once with UNAVAILABLE (a control plane that is up but refuses work) */
  async listen(port = 0, failStreams = false): Promise<number> {
    const server = new grpc.Server();
    const handle = (delta: boolean) => (call: grpc.ServerDuplexStream<Req, Res>) => {
      this.accepted++;
      if (failStreams) return call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'not now' });
      this.streams.push(new ScriptedStream(call, delta));
    };
    server.addService(ADS_SERVICE, { StreamAggregatedResources: handle(false), DeltaAggregatedResources: handle(true) });
    this.server = server;
    return new Promise((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
  }

  stop(): void {
    this.server?.forceShutdown();
  }
}

/** a handler that records what it is given; `reject` makes it throw (→ NACK) */
function recorder(reject?: (u: TypeUpdate) => string | undefined) {
  const updates = new Queue<TypeUpdate>();
  const timeouts = new Queue<string[]>();
  const handler: TypeHandler = {
    onUpdate(u) {
      updates.push(u);
      const why = reject?.(u);
      if (why) throw new Error(why);
    },
    onFetchTimeout(names) {
      timeouts.push(names);
    },
  };
  return { updates, timeouts, handler };
}

async function setup(t: { after(fn: () => void): void }, opts: Partial<AdsClientOptions> = {}) {
  const server = new ScriptedServer();
  const port = await server.listen();
  const client = new AdsClient({ target: `127.0.0.1:${port}`, node: NODE, delta: false, backoff: { baseMs: 20, maxMs: 100 }, ...opts });
  t.after(() => {
    client.close();
    server.stop();
  });
  return { server, port, client };
}

const cluster = (name: string, connectTimeout = '1s'): Any => packAny({ name, connect_timeout: connectTimeout }, TYPE_URL.CLUSTER);
const cla = (name: string): Any =>
  packAny({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }] }] }, TYPE_URL.ENDPOINT);
const listener = (name: string): Any => packAny({ name, address: { socket_address: { address: '0.0.0.0', port_value: 8080 } } }, TYPE_URL.LISTENER);

function sotw(typeUrl: string, version: string, nonce: string, resources: Any[]): DiscoveryResponse {
  return { version_info: version, resources, type_url: typeUrl, nonce };
}

function delta(typeUrl: string, nonce: string, resources: Array<[string, string, Any]>, removed: string[] = [], version = ''): DeltaDiscoveryResponse {
  return { system_version_info: version, resources: resources.map(([name, v, resource]) => ({ name, version: v, resource })), type_url: typeUrl, removed_resources: removed, nonce };
}

async function waitFor(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** the fields of a SotW request that the protocol cares about */
const sotwView = (r: Req) => ({ type: r.type_url, version: r.version_info, nonce: r.response_nonce, names: r.resource_names, error: r.error_detail });
const deltaView = (r: Req) => ({
  type: r.type_url,
  nonce: r.response_nonce,
  subscribe: [...r.resource_names_subscribe].sort(),
  unsubscribe: [...r.resource_names_unsubscribe].sort(),
  initial: r.initial_resource_versions,
  error: r.error_detail,
});

test('SotW: the first requests go out in Envoy order (CDS, EDS, LDS), wildcard as an empty list, node on each; named types without names send nothing', async (t) => {
  const { server, client } = await setup(t);
  client.subscribe(TYPE_URL.LISTENER, '*', recorder().handler);
  client.subscribe(TYPE_URL.ROUTE, new Set(), recorder().handler);
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a']), recorder().handler);
  client.subscribe(TYPE_URL.CLUSTER, '*', recorder().handler);
  client.start();
  const s = await server.streams.next('a stream');
  assert.equal(s.delta, false);
  const reqs = [await s.next(), await s.next(), await s.next()];
  assert.deepEqual(reqs.map(sotwView), [
    { type: TYPE_URL.CLUSTER, version: '', nonce: '', names: [], error: undefined },
    { type: TYPE_URL.ENDPOINT, version: '', nonce: '', names: ['a'], error: undefined },
    { type: TYPE_URL.LISTENER, version: '', nonce: '', names: [], error: undefined },
  ]);
  for (const r of reqs) assert.equal(r.node?.id, NODE.id);
  await assert.rejects(s.requests.next('no RDS request', 200));
});

test('SotW: set_node_on_first_message_only sends the node on the first request of the stream only', async (t) => {
  const { server, client } = await setup(t, { setNodeOnFirstMessageOnly: true });
  client.subscribe(TYPE_URL.CLUSTER, '*', recorder().handler);
  client.subscribe(TYPE_URL.LISTENER, '*', recorder().handler);
  client.start();
  const s = await server.streams.next('a stream');
  const [first, second] = [await s.next(), await s.next()];
  assert.equal(first.node?.id, NODE.id);
  assert.equal(second.node?.id || undefined, undefined);
});

test('SotW: ACK carries the accepted version and its nonce; a wildcard response that leaves a cluster out removes it', async (t) => {
  const { server, client } = await setup(t);
  const cds = recorder();
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS request');

  s.send(sotw(TYPE_URL.CLUSTER, 'v1', 'n1', [cluster('a'), cluster('b')]));
  const u1 = await cds.updates.next('CDS v1');
  assert.deepEqual([...u1.resources.keys()], ['a', 'b']);
  assert.equal(u1.resources.get('a')!.name, 'a');
  assert.deepEqual(u1.removed, []);
  assert.equal(u1.version, 'v1');
  assert.equal(u1.stateOfTheWorld, true);
  assert.deepEqual(sotwView(await s.next('ACK v1')), { type: TYPE_URL.CLUSTER, version: 'v1', nonce: 'n1', names: [], error: undefined });

  s.send(sotw(TYPE_URL.CLUSTER, 'v2', 'n2', [cluster('b')]));
  const u2 = await cds.updates.next('CDS v2');
  assert.deepEqual([...u2.resources.keys()], ['b']);
  assert.deepEqual(u2.removed, ['a']);
  assert.deepEqual(sotwView(await s.next('ACK v2')), { type: TYPE_URL.CLUSTER, version: 'v2', nonce: 'n2', names: [], error: undefined });

  // An empty wildcard response deletes everything and still reaches the handler.
  s.send(sotw(TYPE_URL.CLUSTER, 'v3', 'n3', []));
  const u3 = await cds.updates.next('CDS v3');
  assert.equal(u3.resources.size, 0);
  assert.deepEqual(u3.removed, ['b']);
  assert.equal((await s.next('ACK v3')).version_info, 'v3');
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.version, 'v3');
});

test('SotW: a NACK keeps the last accepted version, answers the nonce with error_detail, and removal is computed against the accepted set', async (t) => {
  const { server, client } = await setup(t);
  const cds = recorder((u) => (u.resources.has('bad') ? 'cluster "bad": connect_timeout must be positive' : undefined));
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS request');
  s.send(sotw(TYPE_URL.CLUSTER, 'v1', 'n1', [cluster('a'), cluster('b')]));
  await cds.updates.next('CDS v1');
  await s.next('ACK v1');

  // The handler rejects the update.
  s.send(sotw(TYPE_URL.CLUSTER, 'v2', 'n2', [cluster('a'), cluster('bad')]));
  await cds.updates.next('CDS v2');
  const nack = await s.next('NACK v2');
  assert.deepEqual(sotwView(nack), {
    type: TYPE_URL.CLUSTER,
    version: 'v1',
    nonce: 'n2',
    names: [],
    error: { code: 13, message: 'cluster "bad": connect_timeout must be positive' },
  });
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.lastError, 'cluster "bad": connect_timeout must be positive');

  // A resource of the wrong type, or one that does not decode, is NACKed before any handler runs.
  s.send(sotw(TYPE_URL.CLUSTER, 'v3', 'n3', [cluster('a'), listener('l')]));
  const wrongType = await s.next('NACK v3');
  assert.equal(wrongType.version_info, 'v1');
  assert.equal(wrongType.response_nonce, 'n3');
  assert.match(wrongType.error_detail!.message, /type URL/);
  s.send(sotw(TYPE_URL.CLUSTER, 'v4', 'n4', [{ type_url: TYPE_URL.CLUSTER, value: Buffer.from([0x0a, 0xff]) }]));
  const garbage = await s.next('NACK v4');
  assert.equal(garbage.version_info, 'v1');
  assert.equal(garbage.error_detail!.code, 13);
  assert.match(garbage.error_detail!.message, /Cannot decode resource 0/);
  // Two resources with one name (xDS: clients should NACK).
  s.send(sotw(TYPE_URL.CLUSTER, 'v5', 'n5', [cluster('a'), cluster('a', '2s')]));
  assert.match((await s.next('NACK v5')).error_detail!.message, /"a" appears twice/);
  assert.equal(cds.updates.size, 0);

  // The next good version: removal is relative to v1 (a, b), not to anything rejected.
  s.send(sotw(TYPE_URL.CLUSTER, 'v6', 'n6', [cluster('a')]));
  const u6 = await cds.updates.next('CDS v6');
  assert.deepEqual(u6.removed, ['b']);
  const ack = await s.next('ACK v6');
  assert.deepEqual(sotwView(ack), { type: TYPE_URL.CLUSTER, version: 'v6', nonce: 'n6', names: [], error: undefined });
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.lastError, undefined);
});

test('SotW: subscription changes resend names with the last accepted version and latest nonce; named responses never remove implicitly', async (t) => {
  const { server, client } = await setup(t);
  const eds = recorder();
  const cds: TypeHandler = {
    // CDS → EDS, as the cluster manager does: the EDS request must go out before the CDS ACK.
    onUpdate: (u) => client.subscribe(TYPE_URL.ENDPOINT, new Set(u.resources.keys()), eds.handler),
  };
  client.subscribe(TYPE_URL.CLUSTER, '*', cds);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS request');

  s.send(sotw(TYPE_URL.CLUSTER, 'c1', 'n1', [cluster('a')]));
  assert.deepEqual(sotwView(await s.next('EDS request')), { type: TYPE_URL.ENDPOINT, version: '', nonce: '', names: ['a'], error: undefined });
  assert.deepEqual(sotwView(await s.next('CDS ACK')), { type: TYPE_URL.CLUSTER, version: 'c1', nonce: 'n1', names: [], error: undefined });

  // A resource we did not ask for is ignored.
  s.send(sotw(TYPE_URL.ENDPOINT, 'e1', 'n2', [cla('a'), cla('zzz')]));
  const u1 = await eds.updates.next('EDS e1');
  assert.deepEqual([...u1.resources.keys()], ['a']);
  assert.equal(u1.resources.get('a')!.cluster_name, 'a');
  assert.deepEqual(sotwView(await s.next('EDS ACK')), { type: TYPE_URL.ENDPOINT, version: 'e1', nonce: 'n2', names: ['a'], error: undefined });

  s.send(sotw(TYPE_URL.CLUSTER, 'c2', 'n3', [cluster('a'), cluster('b')]));
  assert.deepEqual(sotwView(await s.next('EDS request for a, b')), { type: TYPE_URL.ENDPOINT, version: 'e1', nonce: 'n2', names: ['a', 'b'], error: undefined });
  assert.equal((await s.next('CDS ACK')).version_info, 'c2');

  // EDS for b only: a is not in it, and that is not a removal.
  s.send(sotw(TYPE_URL.ENDPOINT, 'e2', 'n4', [cla('b')]));
  const u2 = await eds.updates.next('EDS e2');
  assert.deepEqual([...u2.resources.keys()], ['b']);
  assert.deepEqual(u2.removed, []);
  await s.next('EDS ACK e2');

  // Outside a handler: a change goes out at once; dropping every name sends an empty list (not a wildcard,
  // since this stream has carried names).
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['b']), eds.handler);
  assert.deepEqual(sotwView(await s.next('EDS request for b')), { type: TYPE_URL.ENDPOINT, version: 'e2', nonce: 'n4', names: ['b'], error: undefined });
  client.subscribe(TYPE_URL.ENDPOINT, new Set(), eds.handler);
  assert.deepEqual(sotwView(await s.next('EDS request for nothing')), { type: TYPE_URL.ENDPOINT, version: 'e2', nonce: 'n4', names: [], error: undefined });
  // Same subscription again: nothing to say.
  client.subscribe(TYPE_URL.ENDPOINT, new Set(), eds.handler);
  await assert.rejects(s.requests.next('no request', 150));
  assert.deepEqual(client.status()[TYPE_URL.ENDPOINT]!.names, []);
});

test('delta: wildcard subscribes "*", ACK/NACK by nonce, removed_resources, subscribe/unsubscribe without a nonce', async (t) => {
  const { server, client } = await setup(t, { delta: true });
  const cds = recorder((u) => (u.resources.has('bad') ? 'cluster "bad" is invalid' : undefined));
  const eds = recorder();
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a']), eds.handler);
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  assert.equal(s.delta, true);
  const [r1, r2] = [await s.next(), await s.next()];
  assert.deepEqual(deltaView(r1), { type: TYPE_URL.CLUSTER, nonce: '', subscribe: ['*'], unsubscribe: [], initial: {}, error: undefined });
  assert.deepEqual(deltaView(r2), { type: TYPE_URL.ENDPOINT, nonce: '', subscribe: ['a'], unsubscribe: [], initial: {}, error: undefined });
  assert.equal(r1.node?.id, NODE.id);

  s.send(delta(TYPE_URL.CLUSTER, 'd1', [['a', '1', cluster('a')], ['b', '1', cluster('b')]], [], 'sys1'));
  const u1 = await cds.updates.next('CDS d1');
  assert.deepEqual([...u1.resources.keys()], ['a', 'b']);
  assert.equal(u1.stateOfTheWorld, false);
  assert.equal(u1.version, 'sys1');
  assert.deepEqual(deltaView(await s.next('ACK d1')), { type: TYPE_URL.CLUSTER, nonce: 'd1', subscribe: [], unsubscribe: [], initial: {}, error: undefined });

  // Delta only sends what changed: a response with one resource removes nothing else.
  s.send(delta(TYPE_URL.CLUSTER, 'd2', [['b', '2', cluster('b', '2s')]]));
  const u2 = await cds.updates.next('CDS d2');
  assert.deepEqual([...u2.resources.keys()], ['b']);
  assert.deepEqual(u2.removed, []);
  await s.next('ACK d2');

  s.send(delta(TYPE_URL.CLUSTER, 'd3', [], ['a']));
  assert.deepEqual((await cds.updates.next('CDS d3')).removed, ['a']);
  await s.next('ACK d3');

  s.send(delta(TYPE_URL.CLUSTER, 'd4', [['bad', '1', cluster('bad')]]));
  await cds.updates.next('CDS d4');
  const nack = deltaView(await s.next('NACK d4'));
  assert.deepEqual(nack, { type: TYPE_URL.CLUSTER, nonce: 'd4', subscribe: [], unsubscribe: [], initial: {}, error: { code: 13, message: 'cluster "bad" is invalid' } });
  // A name both added and removed is a protocol error.
  s.send(delta(TYPE_URL.CLUSTER, 'd5', [['c', '1', cluster('c')]], ['c']));
  assert.match((await s.next('NACK d5')).error_detail!.message, /both added and removed/);

  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a', 'b']), eds.handler);
  assert.deepEqual(deltaView(await s.next('EDS subscribe b')), { type: TYPE_URL.ENDPOINT, nonce: '', subscribe: ['b'], unsubscribe: [], initial: {}, error: undefined });
  s.send(delta(TYPE_URL.ENDPOINT, 'e1', [['a', '1', cla('a')], ['b', '1', cla('b')]]));
  assert.deepEqual([...(await eds.updates.next('EDS e1')).resources.keys()], ['a', 'b']);
  await s.next('EDS ACK');
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['b']), eds.handler);
  assert.deepEqual(deltaView(await s.next('EDS unsubscribe a')), { type: TYPE_URL.ENDPOINT, nonce: '', subscribe: [], unsubscribe: ['a'], initial: {}, error: undefined });
  s.send(delta(TYPE_URL.ENDPOINT, 'e2', [], ['b']));
  assert.deepEqual((await eds.updates.next('EDS e2')).removed, ['b']);
  await s.next('EDS ACK e2');
  assert.deepEqual(client.status()[TYPE_URL.ENDPOINT]!.nonce, 'e2');
});

test('SotW: after the control plane restarts, the client resends subscriptions with the last accepted versions and an empty nonce, keeping its config meanwhile', async (t) => {
  const stats = new StatsStore();
  const { server, port, client } = await setup(t, { stats });
  const gauge = stats.gauge('control_plane.connected_state');
  const cds = recorder();
  const eds = recorder();
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a']), eds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS');
  await s.next('EDS');
  s.send(sotw(TYPE_URL.CLUSTER, 'c1', 'n1', [cluster('a')]));
  await cds.updates.next('CDS c1');
  await s.next('CDS ACK');
  s.send(sotw(TYPE_URL.ENDPOINT, 'e1', 'n2', [cla('a')]));
  await eds.updates.next('EDS e1');
  await s.next('EDS ACK');
  await waitFor(() => gauge.value === 1, 'connected_state 1');
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.connected, true);

  server.stop();
  await waitFor(() => gauge.value === 0, 'connected_state 0');
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.connected, false);
  // Let a few reconnect attempts fail against the closed port.
  await new Promise((r) => setTimeout(r, 150));

  const restarted = new ScriptedServer();
  t.after(() => restarted.stop());
  await restarted.listen(port);
  const s2 = await restarted.streams.next('a new stream');
  const [c, e] = [await s2.next('CDS again'), await s2.next('EDS again')];
  assert.deepEqual(sotwView(c), { type: TYPE_URL.CLUSTER, version: 'c1', nonce: '', names: [], error: undefined });
  assert.deepEqual(sotwView(e), { type: TYPE_URL.ENDPOINT, version: 'e1', nonce: '', names: ['a'], error: undefined });
  assert.equal(c.node?.id, NODE.id);
  await waitFor(() => gauge.value === 1, 'connected_state 1 again');
  // Nothing was dropped while the control plane was away.
  assert.equal(cds.updates.size + eds.updates.size, 0);

  // The same version again (the server did not skip): removal is still computed against what we hold.
  s2.send(sotw(TYPE_URL.CLUSTER, 'c2', 'm1', []));
  assert.deepEqual((await cds.updates.next('CDS c2')).removed, ['a']);
  assert.deepEqual(sotwView(await s2.next('CDS ACK')), { type: TYPE_URL.CLUSTER, version: 'c2', nonce: 'm1', names: [], error: undefined });
});

test('delta: after a reconnect the first requests restate all interest with initial_resource_versions of what we hold', async (t) => {
  const { server, port, client } = await setup(t, { delta: true });
  const cds = recorder();
  const eds = recorder();
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a', 'b']), eds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS');
  await s.next('EDS');
  s.send(delta(TYPE_URL.CLUSTER, 'd1', [['a', '7', cluster('a')], ['b', '3', cluster('b')]]));
  await s.next('CDS ACK');
  s.send(delta(TYPE_URL.ENDPOINT, 'd2', [['a', '5', cla('a')]]));
  await s.next('EDS ACK');

  server.stop();
  const restarted = new ScriptedServer();
  t.after(() => restarted.stop());
  await restarted.listen(port);
  const s2 = await restarted.streams.next('a new stream');
  assert.deepEqual(deltaView(await s2.next('CDS again')), { type: TYPE_URL.CLUSTER, nonce: '', subscribe: ['*'], unsubscribe: [], initial: { a: '7', b: '3' }, error: undefined });
  // b never arrived: still subscribed, but not in initial_resource_versions.
  assert.deepEqual(deltaView(await s2.next('EDS again')), { type: TYPE_URL.ENDPOINT, nonce: '', subscribe: ['a', 'b'], unsubscribe: [], initial: { a: '5' }, error: undefined });
});

test('reconnects keep trying with a bounded, jittered back-off', async (t) => {
  const server = new ScriptedServer();
  const port = await server.listen(0, true);
  const client = new AdsClient({ target: `127.0.0.1:${port}`, node: NODE, delta: false, backoff: { baseMs: 10, maxMs: 40 } });
  t.after(() => {
    client.close();
    server.stop();
  });
  client.subscribe(TYPE_URL.CLUSTER, '*', recorder().handler);
  client.start();
  // With waits capped at 40 ms, several attempts happen well within the bound.
  await waitFor(() => server.accepted >= 4, 'four stream attempts');
  client.close();
  const after = server.accepted;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(server.accepted, after, 'no attempt after close()');
});

test('JitteredBackoff: uniform below an interval that doubles from base up to max, and resets', () => {
  const top = new JitteredBackoff(500, 30_000, () => 0.999999);
  const waits = Array.from({ length: 9 }, () => top.nextMs());
  assert.deepEqual(waits, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
  top.reset();
  assert.equal(top.nextMs(), 499);
  const bottom = new JitteredBackoff(500, 30_000, () => 0);
  assert.equal(bottom.nextMs(), 0);
});

test('initial_fetch_timeout: names with no answer are reported once; answered names and 0 (no timeout) are not', async (t) => {
  // Long enough for a local stream to come up on a busy machine; the test only waits on the missing names.
  const { server, client } = await setup(t, { initialFetchTimeoutMs: 500 });
  const endpointsA = cla('a');
  const eds = recorder();
  const lds = recorder();
  const cds = recorder();
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a', 'b']), eds.handler);
  client.subscribe(TYPE_URL.LISTENER, '*', lds.handler);
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler, { initialFetchTimeoutMs: 0 });
  client.start();
  const s = await server.streams.next('a stream');
  await s.next();
  await s.next();
  await s.next();
  s.send(sotw(TYPE_URL.ENDPOINT, 'e1', 'n1', [endpointsA]));
  await eds.updates.next('EDS e1');
  assert.deepEqual(await eds.timeouts.next('EDS fetch timeout'), ['b']);
  assert.deepEqual(await lds.timeouts.next('LDS fetch timeout'), ['*']);
  // A name added later gets its own timer.
  client.subscribe(TYPE_URL.ENDPOINT, new Set(['a', 'b', 'c']), eds.handler);
  assert.deepEqual(await eds.timeouts.next('EDS fetch timeout for c'), ['c']);
  assert.equal(eds.timeouts.size + lds.timeouts.size + cds.timeouts.size, 0);
});

test('a response for a type nobody subscribed to is ignored; close() stops the stream', async (t) => {
  const { server, client } = await setup(t);
  const cds = recorder();
  client.subscribe(TYPE_URL.CLUSTER, '*', cds.handler);
  client.start();
  const s = await server.streams.next('a stream');
  await s.next('CDS');
  s.send(sotw(TYPE_URL.SECRET, 's1', 'x1', []));
  s.send(sotw(TYPE_URL.CLUSTER, 'v1', 'n1', [cluster('a')]));
  await cds.updates.next('CDS v1');
  assert.equal((await s.next('CDS ACK')).type_url, TYPE_URL.CLUSTER);
  client.close();
  await waitFor(() => s.ended, 'the server to see the stream end');
  assert.equal(client.status()[TYPE_URL.CLUSTER]!.connected, false);
});
