import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import type { DownstreamConnectionContext } from '../../../listener/network-filter.js';
import { StatsStore } from '../../../observability/stats.js';
import { errorResponse, type AuthzResponse, type Json } from '../../http-filters/ext-authz/check-request.js';
import { compileNetworkExtAuthz, createTcpCheckRequest, networkExtAuthz, networkExtAuthzFilter } from './index.js';

const TYPE = 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
const GRPC = { envoy_grpc: { cluster_name: 'authz' } };
const decode = (cfg: object) => decodeMessage(TYPE, { stat_prefix: 'tcp', grpc_service: GRPC, ...cfg });
const ctx = (stats = new StatsStore()) => ({ stats, path: 'f', clusterManager: undefined as never, perConnectionBufferLimit: 0 });
const answer = (status: AuthzResponse['status']): AuthzResponse => ({ ...errorResponse(), status });

/** A fake check client: records the requests, answers when `reply` is called. */
function fakeClient() {
  const requests: Json[] = [];
  let resolve: ((r: AuthzResponse) => void) | undefined;
  let cancelled = 0;
  return {
    requests,
    get cancelled() {
      return cancelled;
    },
    reply: (r: AuthzResponse) => resolve!(r),
    check(request: Json) {
      requests.push(request);
      return { result: new Promise<AuthzResponse>((r) => (resolve = r)), cancel: () => void cancelled++ };
    },
  };
}

/** A real accepted connection, the filter run on it; the client writes `hello` at once. */
async function connection() {
  let accepted: net.Socket | undefined;
  const server = net.createServer((s) => (accepted = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  client.write('hello');
  while (!accepted) await new Promise((r) => setTimeout(r, 5));
  const socket = accepted;
  const ctxOf = { socket, id: 1, peer: `127.0.0.1:${client.localPort}`, local: `127.0.0.1:${port}`, tls: undefined, sni: undefined, alpn: undefined } as unknown as DownstreamConnectionContext;
  return {
    socket,
    client,
    ctx: ctxOf,
    async close() {
      client.destroy();
      socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

test('config: stat_prefix and an envoy_grpc service are required; V2 and google_grpc are refused', () => {
  const compile = (cfg: object) => compileNetworkExtAuthz(decode(cfg), ctx());
  assert.throws(() => compileNetworkExtAuthz(decodeMessage(TYPE, { grpc_service: GRPC }), ctx()), /MW_CONFIG_INVALID.*stat_prefix|stat_prefix.*required/s);
  assert.throws(() => compileNetworkExtAuthz(decodeMessage(TYPE, { stat_prefix: 'tcp' }), ctx()), /grpc_service/);
  assert.throws(() => compile({ grpc_service: { google_grpc: { target_uri: 'x:1', stat_prefix: 'g' } } }), /google_grpc/);
  assert.throws(() => compile({ transport_api_version: 'V2' }), /transport_api_version/);
  assert.doesNotThrow(() => compile({ transport_api_version: 'V3', failure_mode_allow: true }));
});

test('CheckRequest: source and destination addresses and principals, tls_session.sni only when asked, no request', () => {
  const conn = {
    peer: '10.0.0.1:5555',
    local: '[::1]:8443',
    sni: 'db.example.com',
    tls: { peerUriSan: ['spiffe://cluster.local/ns/default/sa/sleep'], peerSubject: 'CN=sleep', localUriSan: ['spiffe://cluster.local/ns/db/sa/db'] },
  };
  assert.deepEqual(createTcpCheckRequest(conn, true), {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 5555 } }, principal: 'spiffe://cluster.local/ns/default/sa/sleep' },
      destination: { address: { socket_address: { address: '::1', port_value: 8443 } }, principal: 'spiffe://cluster.local/ns/db/sa/db' },
      tls_session: { sni: 'db.example.com' },
    },
  });
  const plain = createTcpCheckRequest({ peer: '127.0.0.1:1', local: '127.0.0.1:2', sni: undefined, tls: undefined }, true) as any;
  assert.equal(plain.attributes.source.principal, undefined);
  assert.equal(plain.attributes.tls_session, undefined);
  assert.equal((createTcpCheckRequest(conn, false) as any).attributes.tls_session, undefined);
});

test('OK passes the connection on with its bytes unread; denied closes it; stats count both', async () => {
  const stats = new StatsStore();
  const client = fakeClient();
  const filter = networkExtAuthz(compileNetworkExtAuthz(decode({}), ctx(stats), client));
  const c = await connection();
  let passed = false;
  filter.onConnection(c.ctx, () => (passed = true));
  await tick();
  assert.equal(passed, false, 'held until the answer');
  assert.equal(stats.gauge('ext_authz.tcp.active').value, 1);
  assert.equal(client.requests.length, 1);
  client.reply(answer('ok'));
  await tick();
  assert.equal(passed, true);
  assert.equal(c.socket.destroyed, false);
  assert.equal(String(c.socket.read()), 'hello', 'the bytes the client sent while held are still there for the next filter');
  await c.close();

  const d = await connection();
  let passedDenied = false;
  filter.onConnection(d.ctx, () => (passedDenied = true));
  client.reply(answer('denied'));
  await tick();
  assert.equal(passedDenied, false);
  assert.equal(d.socket.destroyed, true);
  await d.close();
  const v = (n: string) => stats.counter(`ext_authz.tcp.${n}`).value;
  assert.deepEqual([v('total'), v('ok'), v('denied'), v('error'), v('cx_closed'), stats.gauge('ext_authz.tcp.active').value], [2, 1, 1, 0, 1, 0]);
});

test('error closes the connection, or passes it with failure_mode_allow', async () => {
  for (const failureModeAllow of [false, true]) {
    const stats = new StatsStore();
    const client = fakeClient();
    const filter = networkExtAuthz(compileNetworkExtAuthz(decode({ failure_mode_allow: failureModeAllow }), ctx(stats), client));
    const c = await connection();
    let passed = false;
    filter.onConnection(c.ctx, () => (passed = true));
    client.reply(answer('error'));
    await tick();
    assert.equal(passed, failureModeAllow);
    assert.equal(c.socket.destroyed, !failureModeAllow);
    const v = (n: string) => stats.counter(`ext_authz.tcp.${n}`).value;
    assert.deepEqual([v('error'), v('failure_mode_allowed'), v('cx_closed')], failureModeAllow ? [1, 1, 0] : [1, 0, 1]);
    await c.close();
  }
});

test('a client that goes away while the check is out cancels it; a late answer does nothing', async () => {
  const stats = new StatsStore();
  const client = fakeClient();
  const filter = networkExtAuthz(compileNetworkExtAuthz(decode({}), ctx(stats), client));
  const c = await connection();
  let passed = false;
  filter.onConnection(c.ctx, () => (passed = true));
  c.socket.destroy();
  await tick();
  assert.equal(client.cancelled, 1);
  assert.equal(stats.gauge('ext_authz.tcp.active').value, 0);
  client.reply(answer('ok'));
  await tick();
  assert.equal(passed, false);
  assert.equal(stats.counter('ext_authz.tcp.ok').value, 0);
  await c.close();
});

test('filter_enabled_metadata is matched against the connection metadata the filters before it wrote', async () => {
  const stats = new StatsStore();
  const client = fakeClient();
  const mm = { filter: 'envoy.filters.network.rbac', path: [{ key: 'k' }], value: { string_match: { exact: 'v' } } };
  const filter = networkExtAuthz(compileNetworkExtAuthz(decode({ filter_enabled_metadata: mm }), ctx(stats), client));
  // no metadata, then another value: not checked
  for (const md of [undefined, { 'envoy.filters.network.rbac': { k: 'w' } }]) {
    const c = await connection();
    let passed = false;
    filter.onConnection({ ...c.ctx, dynamicMetadata: md }, () => (passed = true));
    assert.equal(passed, true);
    await c.close();
  }
  assert.equal(client.requests.length, 0);
  assert.equal(stats.counter('ext_authz.tcp.disabled').value, 2);
  // the value it names: checked
  const c = await connection();
  let passed = false;
  filter.onConnection({ ...c.ctx, dynamicMetadata: { 'envoy.filters.network.rbac': { k: 'v' } } }, () => (passed = true));
  assert.equal(client.requests.length, 1);
  client.reply(answer('ok'));
  await tick();
  assert.equal(passed, true);
  assert.equal(stats.counter('ext_authz.tcp.ok').value, 1);
  await c.close();
  assert.deepEqual(networkExtAuthzFilter.typeUrls, ['type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz']);
});
