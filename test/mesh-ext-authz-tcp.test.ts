// AuthorizationPolicy CUSTOM on a TCP port, end to end: the control plane runs the CA and reads a mesh config
// declaring an envoyExtAuthzGrpc provider (a gRPC authorizer written here with @grpc/grpc-js, Envoy's
// envoy.service.auth.v3.Authorization, reached through a ServiceEntry). db has two TCP ports; a CUSTOM policy on
// app=db covers one of them (Istio refuses identities in CUSTOM rules, so the rule names a port). db's sidecar
// then has, before tcp_proxy, a network RBAC shadow engine holding the CUSTOM rules and
// envoy.filters.network.ext_authz gated on its result: connections to the covered port are checked (the
// authorizer sees the client's SPIFFE principal) and go through or are closed as it says; connections to the
// other port, which no CUSTOM rule matches, are never sent to the authorizer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { authorizationService } from './helpers/envoy-grpc.js';
import { tcpEcho, TestMesh } from './helpers/mesh.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';


/** The authorizer: its verdict is set by the test; every CheckRequest is kept. */
async function startAuthorizer() {
  const def = { 'envoy.service.auth.v3.Authorization': authorizationService() };
  const state = { verdict: 'allow' as 'allow' | 'deny', checks: [] as any[] };
  const server = new grpc.Server();
  server.addService(def['envoy.service.auth.v3.Authorization'] as any as grpc.ServiceDefinition, {
    Check(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      state.checks.push(call.request);
      cb(null, state.verdict === 'allow' ? { status: { code: 0 } } : { status: { code: 7 } });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, state, close: () => server.forceShutdown() };
}

test('CUSTOM on a TCP port: the connections the policy matches are checked by the gRPC authorizer, the others are not', async () => {
  const authz = await startAuthorizer();
  const authzServicePort = await freePort();
  const dbPort = await freePort(); // covered by the policy
  const openPort = await freePort(); // not covered
  const cfgDir = tmpDir('meshwork-meshcfg-');
  const meshConfig = path.join(cfgDir, 'mesh.yaml');
  fs.writeFileSync(
    meshConfig,
    `extensionProviders:
- name: grpc-authz
  envoyExtAuthzGrpc:
    service: authz.example.internal
    port: ${authzServicePort}
    timeout: 2s
`,
  );
  const echoConnections: net.Socket[] = [];
  const echoes = [0, 1].map(() =>
    net.createServer((s) => {
      echoConnections.push(s);
      s.pipe(s);
    }),
  );
  for (const e of echoes) await new Promise<void>((r) => e.listen(0, '127.0.0.1', r));
  const [guardedApp, openApp] = echoes.map((e) => (e.address() as net.AddressInfo).port) as [number, number];
  const mesh = await TestMesh.withCa(
    {
      'authz.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: authz
spec:
  hosts: [authz.example.internal]
  location: MESH_EXTERNAL
  ports:
  - number: ${authzServicePort}
    name: grpc
    protocol: GRPC
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
      grpc: ${authz.port}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ext-authz-db
  namespace: default
spec:
  selector:
    matchLabels:
      app: db
  action: CUSTOM
  provider:
    name: grpc-authz
  rules:
  - to:
    - operation:
        ports: ["${guardedApp}"]
`,
    },
    ['--mesh-config', meshConfig],
  );
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
    const db = await mesh.sidecar({
      id: 'db-1',
      service: 'db',
      labels: 'app=db',
      ports: [`${dbPort}:${guardedApp}:${await freePort()}/tcp`, `${openPort}:${openApp}:${await freePort()}/tcp`],
      args: join('db'),
    });
    const x = await mesh.sidecar({ id: 'x-1', args: join('x') });

    // in force once x's connection has been checked (and allowed)
    await waitFor(async () => (await tcpEcho(x, dbPort)) === 'ping' && authz.state.checks.length > 0, 'x checked by the authorizer', 30_000).catch(fail);
    const check = authz.state.checks.at(-1);
    assert.equal(check.attributes.source.principal, 'spiffe://cluster.local/ns/default/sa/x', 'the authorizer sees who is calling');
    assert.equal(check.attributes.request, undefined, 'a connection has no request');

    // denied: the connection is closed and the echo server never sees it
    authz.state.verdict = 'deny';
    const checked = authz.state.checks.length;
    const accepted = echoConnections.length;
    assert.equal(await tcpEcho(x, dbPort), 'closed');
    assert.equal(authz.state.checks.length, checked + 1);
    assert.equal(echoConnections.length, accepted, 'a denied connection never reaches the app');

    // the other port matches no CUSTOM rule: not sent to the authorizer, whatever it would say
    await waitFor(async () => (await tcpEcho(x, openPort)) === 'ping', 'x reaches db\'s other port', 30_000).catch(fail);
    assert.equal(authz.state.checks.length, checked + 1, 'the other port was not checked');

    const stats = await (await db.admin('/stats?filter=ext_authz')).text();
    assert.match(stats, /ext_authz\.tcp\.\.denied: [1-9]/, stats);
    assert.match(stats, /ext_authz\.tcp\.\.disabled: [1-9]/, stats);
  } finally {
    await mesh.close();
    authz.close();
    for (const e of echoes) e.close();
  }
});
