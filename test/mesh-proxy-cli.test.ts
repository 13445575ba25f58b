// `meshwork proxy --sidecar` / `--gateway NAME`: a proxy that joins a mesh with no config file. Real processes:
// a control plane serving a config dir, and proxies started with only mesh flags; what they tell the control
// plane (node id, metadata, admin address) is read back from its /debug/syncz, and the listener they get over
// ADS answers real requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startControlPlane } from './helpers/control-plane.js';
import { runMeshworkProxy } from './helpers/mesh.js';
import { freePort, tmpDir, waitFor } from './helpers/proxy.js';

const listener = (port: number) => `"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: hello
address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
      stat_prefix: hello
      route_config:
        virtual_hosts:
        - name: all
          domains: ["*"]
          routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { inline_string: "hello from xds" } } }]
      http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
`;

function startMeshProxy(args: string[]) {
  const p = runMeshworkProxy(args);
  return { ...p, stderr: p.output };
}

interface Syncz {
  proxy: string;
  cluster: string;
  admin?: string;
  type?: string;
  namespace?: string;
  labels?: Record<string, string>;
  types: Record<string, { status: string }>;
}

test('--sidecar and --gateway: generated bootstrap, node identity and admin address reach the control plane; LDS serves', async () => {
  const dir = tmpDir();
  const helloPort = await freePort();
  fs.writeFileSync(path.join(dir, 'hello.yaml'), listener(helloPort));
  const cp = await startControlPlane(dir);
  const adminPort = await freePort();
  const sidecar = startMeshProxy([
    '--sidecar', '--service', 'reviews', '--namespace', 'shop', '--labels', 'app=reviews,version=v2', '--labels', 'team=books',
    '--port', '9080:8080', '--control-plane', `127.0.0.1:${cp.xdsPort}`, '--admin-address', `127.0.0.1:${adminPort}`,
  ]);
  // no --admin-address: a free port, which the control plane learns from the node metadata
  const gateway = startMeshProxy(['--gateway', 'ingress', '--labels', 'istio=ingressgateway', '--control-plane', `127.0.0.1:${cp.xdsPort}`, '--delta']);
  try {
    const syncz = await waitFor(async () => {
      const all = (await (await cp.http('/debug/syncz')).json()) as Syncz[];
      return all.length === 2 && all.every((s) => s.types.lds?.status === 'SYNCED') ? all : undefined;
    }, 'both proxies synced', 15_000).catch((e) => {
      throw new Error(`${e.message}\nsidecar:\n${sidecar.stderr()}\ngateway:\n${gateway.stderr()}`);
    });
    const sc = syncz.find((s) => s.type === 'sidecar')!;
    assert.equal(sc.proxy, 'sidecar~127.0.0.1~reviews.shop~shop.svc.cluster.local', 'Istio-style node id');
    assert.equal(sc.cluster, 'reviews');
    assert.equal(sc.namespace, 'shop');
    assert.deepEqual(sc.labels, { app: 'reviews', version: 'v2', team: 'books' });
    assert.equal(sc.admin, `127.0.0.1:${adminPort}`);
    const gw = syncz.find((s) => s.type === 'router')!;
    assert.equal(gw.proxy, 'router~127.0.0.1~ingress.default~default.svc.cluster.local');
    assert.deepEqual(gw.labels, { istio: 'ingressgateway' });
    assert.match(gw.admin ?? '', /^127\.0\.0\.1:\d+$/);

    // the admin addresses the control plane shows are the proxies' own, and they run what came over ADS
    for (const admin of [sc.admin!, gw.admin!]) {
      const info = (await (await fetch(`http://${admin}/server_info`)).json()) as { node?: { metadata?: Record<string, unknown> } };
      assert.ok(info.node?.metadata?.INSTANCE_IPS, `server_info of ${admin} shows the generated node`);
    }
    const dump = (await (await fetch(`http://${sc.admin}/config_dump`)).json()) as { configs: { '@type': string }[] };
    const inbound = JSON.stringify(dump).match(/"INBOUND_PORTS":\[[^\]]*\]/)?.[0];
    assert.equal(inbound, '"INBOUND_PORTS":[{"port":9080,"targetPort":8080}]');
    // only one of the two can bind the listener's port; whichever did answers with the xDS route
    const res = await waitFor(async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${helloPort}/`);
        return r.status === 200 ? r.text() : undefined;
      } catch {
        return undefined;
      }
    }, 'the listener from the control plane to serve', 10_000);
    assert.equal(res, 'hello from xds');
  } finally {
    await sidecar.stop();
    await gateway.stop();
    await cp.stop();
  }
});

test('mesh flags: bad values exit 2 with the flag named; a generated bootstrap is not combined with -c', async () => {
  const cases: [string[], RegExp][] = [
    [['--sidecar', '--port', '9080:99999'], /--port must be SERVICE_PORT/],
    [['--sidecar', '--labels', 'bad key=1'], /--labels takes KEY=VALUE/],
    [['--sidecar', '--control-plane', 'nohostport'], /--control-plane must be HOST:PORT/],
    [['--sidecar', '--gateway', 'gw'], /exclude each other/],
    [['--gateway', 'gw', '--port', '80'], /--port is for sidecars/],
    [['--sidecar', '-c', '/dev/null'], /give no -c/],
  ];
  for (const [args, message] of cases) {
    const p = startMeshProxy(args);
    const code = await p.exited;
    assert.equal(code, 2, `${args.join(' ')}: ${p.stderr()}`);
    assert.match(p.stderr(), message);
  }
});
