// envoy.filters.network.ext_authz in a real `meshwork proxy` from a static bootstrap: TCP listeners whose chain
// is network ext_authz then tcp_proxy to an echo server on 127.0.0.1, and a gRPC authorizer written here with
// @grpc/grpc-js (envoy.service.auth.v3.Authorization/Check, messages from the Envoy protos with
// @grpc/proto-loader: independent of the proxy's codec). Covers: an allowed connection echoes (and is held,
// with nothing sent upstream, while the check is out); a denied one is closed and the echo server never sees
// it; an authorizer that is down closes the connection, or lets it through with failure_mode_allow; the
// CheckRequest carries the connection's addresses and no request; the statistics.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { authorizationService } from './helpers/envoy-grpc.js';
import { staticCluster } from './helpers/bootstrap.js';
import { freePort, listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const H2 = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };

// ---- the authorizer: its verdict for the next checks is set by each test (the tests of a file run in order)

type Verdict = 'allow' | 'deny' | 'slow';
let verdict: Verdict = 'allow';
const checks: any[] = [];
let grpcServer: grpc.Server;

async function startAuthz(): Promise<number> {
  const def = { 'envoy.service.auth.v3.Authorization': authorizationService() };
  grpcServer = new grpc.Server();
  grpcServer.addService(def['envoy.service.auth.v3.Authorization'] as any as grpc.ServiceDefinition, {
    Check(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      checks.push(call.request);
      if (verdict === 'allow') cb(null, { status: { code: 0 } });
      else if (verdict === 'slow') setTimeout(() => cb(null, { status: { code: 0 } }), 400);
      else cb(null, { status: { code: 7 }, denied_response: { status: { code: 'Forbidden' } } });
    },
  });
  return new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
}

// ---- the echo upstream, counting the connections it gets

let echo: net.Server;
let echoConnections = 0;
const echoSockets = new Set<net.Socket>();

/** Connect, send `msg`, and collect what comes back until the proxy closes the connection (or `waitMs` passes). */
function talk(port: number, msg: string, waitMs = 3000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => done(false), waitMs);
    s.on('data', (d) => {
      data += String(d);
      // an echo of the whole message is the answer: hang up ourselves
      if (data === msg) done(false);
    });
    s.on('error', () => done(true));
    s.on('close', () => done(true));
    s.write(msg);
  });
}

let proxy: RunningProxy;
const ports: Record<string, number> = {};

const tcpListener = (name: string, authz: object) => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [
    {
      filters: [
        { name: 'envoy.filters.network.ext_authz', typed_config: { '@type': EXT_AUTHZ, stat_prefix: name, transport_api_version: 'V3', ...authz } },
        { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster: 'echo' } },
      ],
    },
  ],
});

before(async () => {
  echo = net.createServer((s) => {
    echoConnections++;
    echoSockets.add(s);
    s.on('close', () => echoSockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const authzPort = await startAuthz();
  const down = await freePort(); // nothing listens there
  proxy = await startProxy({
    static_resources: {
      listeners: [
        tcpListener('guarded', { grpc_service: { envoy_grpc: { cluster_name: 'authz' }, timeout: '2s' } }),
        tcpListener('down_closed', { grpc_service: { envoy_grpc: { cluster_name: 'authz-down' } } }),
        tcpListener('down_open', { grpc_service: { envoy_grpc: { cluster_name: 'authz-down' } }, failure_mode_allow: true }),
      ],
      clusters: [
        staticCluster('echo', [(echo.address() as net.AddressInfo).port]),
        staticCluster('authz', [authzPort], H2),
        staticCluster('authz-down', [down], H2),
      ],
    },
  });
  for (const n of ['guarded', 'down_closed', 'down_open']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  for (const s of echoSockets) s.destroy();
  await new Promise((r) => echo?.close(r));
  await new Promise<void>((r) => (grpcServer ? grpcServer.tryShutdown(() => r()) : r()));
});

test('an allowed connection is echoed; the CheckRequest carries its addresses and no request', async () => {
  verdict = 'allow';
  const before = echoConnections;
  const r = await talk(ports.guarded!, 'hello through ext_authz');
  assert.equal(r.data, 'hello through ext_authz');
  assert.equal(echoConnections, before + 1);
  const a = checks.at(-1).attributes;
  assert.equal(a.source.address.socket_address.address, '127.0.0.1');
  assert.ok(a.source.address.socket_address.port_value > 0);
  assert.deepEqual(a.destination.address.socket_address, { address: '127.0.0.1', port_value: ports.guarded });
  assert.equal(a.request, undefined, 'a connection has no request attributes');
  assert.equal(await stat(proxy, 'ext_authz.guarded.ok'), 1);
});

test('the connection is held while the check is out: nothing reaches the upstream before the answer', async () => {
  verdict = 'slow';
  const before = echoConnections;
  const pending = talk(ports.guarded!, 'held');
  await waitFor(() => checks.length > 0 && stat(proxy, 'ext_authz.guarded.active').then((v) => v === 1), 'the check in flight');
  assert.equal(echoConnections, before, 'tcp_proxy has not connected upstream yet');
  const r = await pending;
  assert.equal(r.data, 'held', 'the bytes sent while held are forwarded after the OK');
  assert.equal(echoConnections, before + 1);
});

test('a denied connection is closed and the echo server never sees it', async () => {
  verdict = 'deny';
  const before = echoConnections;
  const r = await talk(ports.guarded!, 'let me in');
  assert.deepEqual(r, { data: '', closed: true });
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(echoConnections, before);
  assert.equal(await stat(proxy, 'ext_authz.guarded.denied'), 1);
  assert.equal(await stat(proxy, 'ext_authz.guarded.cx_closed'), 1);
  assert.equal(await stat(proxy, 'ext_authz.guarded.total'), 3);
});

test('authorizer down: the connection is closed, or passes with failure_mode_allow', async () => {
  const before = echoConnections;
  const closed = await talk(ports.down_closed!, 'no authorizer');
  assert.deepEqual(closed, { data: '', closed: true });
  assert.equal(echoConnections, before);
  assert.equal(await stat(proxy, 'ext_authz.down_closed.error'), 1);
  assert.equal(await stat(proxy, 'ext_authz.down_closed.cx_closed'), 1);

  const open = await talk(ports.down_open!, 'fail open');
  assert.equal(open.data, 'fail open');
  assert.equal(echoConnections, before + 1);
  assert.equal(await stat(proxy, 'ext_authz.down_open.error'), 1);
  assert.equal(await stat(proxy, 'ext_authz.down_open.failure_mode_allowed'), 1);
  assert.equal(await stat(proxy, 'ext_authz.down_open.cx_closed') ?? 0, 0);
});
