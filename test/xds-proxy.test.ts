// A real `meshwork proxy` configured by xDS: dynamic_resources with ADS pointing at an xDS server in this test
// process (the control plane's XdsServer fed by a test generator), real upstreams and clients. Updates are
// checked under continuous keep-alive load: a change must not cost a single request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import {
  TYPE_URL,
  adsBootstrap,
  adsSource,
  assignment,
  certSecret,
  edsCluster,
  get,
  getTls,
  inlineListener,
  loadLoop,
  namedUpstream,
  proxySync,
  rdsListener,
  routeTo,
  sdsTlsChain,
  startXds,
  waitSynced,
  type TestXds,
} from './helpers/xds-proxy.js';
import { listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';
import { staticCluster } from './helpers/bootstrap.js';
import { makePki } from './helpers/certs.js';
import { readAll } from './helpers/protocols.js';

const ALL = ['lds', 'rds', 'cds', 'eds'];
// Generous waits for a change to reach the proxy: other suites share this 2-core machine.
const PROPAGATE_MS = 15_000;

async function configDump(proxy: RunningProxy, query = ''): Promise<(type: string) => any> {
  const dump: any = await (await proxy.admin(`/config_dump${query}`)).json();
  return (t: string) => dump.configs.find((c: any) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${t}`);
}

async function listenerNames(proxy: RunningProxy): Promise<string[]> {
  const j: any = await (await proxy.admin('/listeners?format=json')).json();
  return j.listener_statuses.map((l: any) => l.name);
}

/** The server's view of one type once the proxy NACKed its latest response. */
async function waitNacked(xds: TestXds, type: string): Promise<{ version: string; message: string }> {
  return waitFor(() => {
    const st = xds.syncz()[0]?.types[type];
    return st?.status === 'NACKED' && st.nacked;
  }, `${type} NACKED`, PROPAGATE_MS);
}

/** One upstream behind EDS cluster svc-a, listener `ingress` with RDS `routes` (tag v1): the usual start. */
async function basicMesh(t: { after(fn: () => unknown): void }, o: Parameters<typeof adsBootstrap>[1] = {}) {
  const xds = await startXds();
  const up = await namedUpstream('up-a');
  t.after(() => Promise.all([xds.close(), up.close()]));
  xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-a')], false);
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [up.port])], false);
  xds.set(TYPE_URL.LISTENER, [rdsListener('ingress', 'routes')], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1')]);
  const proxy = await startProxy(adsBootstrap(xds.port, o));
  t.after(() => proxy.stop());
  const port = await listenerPort(proxy, 'ingress');
  return { xds, up, proxy, port };
}

test('LDS + RDS + CDS + EDS bring-up: traffic flows, /config_dump shows versions, stats count updates', async (t) => {
  const xds = await startXds();
  const up = await namedUpstream('up-a');
  t.after(() => Promise.all([xds.close(), up.close()]));
  xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-a')], false);
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [up.port])], false);
  xds.set(TYPE_URL.LISTENER, [rdsListener('ingress', 'routes')], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a')]);
  const proxy = await startProxy(adsBootstrap(xds.port));
  t.after(() => proxy.stop());
  const port = await listenerPort(proxy, 'ingress');
  const r = await get(port);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'up-a');
  assert.equal(r.headers['x-route'], 'routes');

  const byType = await configDump(proxy);
  const clusters = byType('ClustersConfigDump');
  assert.deepEqual(clusters.static_clusters.map((c: any) => c.cluster.name), ['xds']);
  assert.deepEqual(clusters.dynamic_active_clusters.map((c: any) => c.cluster.name), ['svc-a']);
  assert.ok(clusters.version_info);
  assert.equal(clusters.dynamic_active_clusters[0].version_info, clusters.version_info);
  assert.ok(Date.parse(clusters.dynamic_active_clusters[0].last_updated));
  const listeners = byType('ListenersConfigDump');
  assert.equal(listeners.dynamic_listeners[0].name, 'ingress');
  assert.equal(listeners.dynamic_listeners[0].active_state.listener.name, 'ingress');
  assert.ok(listeners.dynamic_listeners[0].active_state.version_info);
  assert.ok(Date.parse(listeners.dynamic_listeners[0].active_state.last_updated));
  const routes = byType('RoutesConfigDump');
  assert.equal(routes.dynamic_route_configs[0].route_config.name, 'routes');
  assert.ok(routes.dynamic_route_configs[0].version_info);
  assert.ok(Date.parse(routes.dynamic_route_configs[0].last_updated));
  // EDS only with ?include_eds, as in Envoy
  assert.equal(byType('EndpointsConfigDump'), undefined);
  const eds = (await configDump(proxy, '?include_eds'))('EndpointsConfigDump');
  assert.equal(eds.dynamic_endpoint_configs.length, 1);
  assert.equal(eds.dynamic_endpoint_configs[0].endpoint_config.cluster_name, 'svc-a');
  assert.ok(eds.dynamic_endpoint_configs[0].version_info);
  assert.ok(Date.parse(eds.dynamic_endpoint_configs[0].last_updated));

  assert.equal(await stat(proxy, 'listener_manager.lds.update_success'), 1);
  assert.equal(await stat(proxy, 'cluster_manager.cds.update_success'), 1);
  assert.equal(await stat(proxy, 'http.ingress.rds.routes.update_success'), 1);
  assert.ok((await stat(proxy, 'cluster.svc-a.update_success'))! >= 1);
  assert.equal(await stat(proxy, 'control_plane.connected_state'), 1);
  // the server saw every type ACKed, from the node the bootstrap names, over state-of-the-world ADS
  const s = await waitSynced(xds, ALL);
  assert.equal(s.proxy, 'proxy-1');
  assert.equal(s.cluster, 'test');
  assert.equal(s.delta, false);
  assert.equal(s.types.lds!.acked, listeners.version_info);
});

test('delta ADS (DELTA_GRPC): bring-up, updates, removals; node identity from --service-node/--service-cluster', async (t) => {
  const xds = await startXds();
  const a = await namedUpstream('up-a');
  const b = await namedUpstream('up-b');
  t.after(() => Promise.all([xds.close(), a.close(), b.close()]));
  xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-a'), edsCluster('svc-b')], false);
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [a.port]), assignment('svc-b', [b.port])], false);
  xds.set(TYPE_URL.LISTENER, [rdsListener('ingress', 'routes')], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1')]);
  const proxy = await startProxy(adsBootstrap(xds.port, { delta: true, node: { id: 'from-bootstrap', cluster: 'bootstrap-cluster' } }), {
    args: ['--service-node', 'node-from-flag', '--service-cluster', 'cluster-from-flag'],
  });
  t.after(() => proxy.stop());
  const s = await proxySync(xds);
  assert.equal(s.proxy, 'node-from-flag');
  assert.equal(s.cluster, 'cluster-from-flag');
  assert.equal(s.delta, true);
  const port = await listenerPort(proxy, 'ingress');
  assert.equal((await get(port)).body, 'up-a');

  // a route change, then a cluster removal (delta removed_resources)
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-b', 'v2')]);
  await waitFor(async () => (await get(port)).body === 'up-b', 'the route to svc-b', PROPAGATE_MS);
  xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-b')]);
  await waitFor(async () => (await stat(proxy, 'cluster_manager.cluster_removed')) === 1, 'svc-a removed', PROPAGATE_MS);
  const clusters = (await configDump(proxy))('ClustersConfigDump');
  assert.deepEqual(clusters.dynamic_active_clusters.map((c: any) => c.cluster.name), ['svc-b']);
  // the EDS subscription followed: only svc-b is asked for now
  await waitFor(() => {
    const eds = xds.syncz()[0]?.types.eds;
    return eds?.status === 'SYNCED' && JSON.stringify(eds.subscribed) === '["svc-b"]';
  }, 'EDS subscription down to svc-b', PROPAGATE_MS);
  // an endpoint change arrives as a delta too
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-b', [a.port])]);
  await waitFor(async () => (await get(port)).body === 'up-a', 'svc-b now on up-a', PROPAGATE_MS);
  assert.equal((await get(port)).status, 200);
  await waitSynced(xds, ALL);
});

for (const delta of [false, true]) {
  test(`SDS (${delta ? 'delta' : 'SotW'}): the listener certificate comes from a Secret; a new version is used for new handshakes only`, async (t) => {
    const pki = makePki();
    const v1 = pki.leaf('v1', { cn: 'v1.example.com', dns: ['example.com'] });
    const v2 = pki.leaf('v2', { cn: 'v2.example.com', dns: ['example.com'] });
    const xds = await startXds();
    const up = await namedUpstream('up-a');
    t.after(() => Promise.all([xds.close(), up.close()]));
    xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-a')], false);
    xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [up.port])], false);
    xds.set(TYPE_URL.LISTENER, [rdsListener('tls-in', 'routes', { chain: sdsTlsChain('server-cert') })], false);
    xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a')], false);
    xds.set(TYPE_URL.SECRET, [certSecret('server-cert', v1.certPem, v1.keyPem)]);
    const proxy = await startProxy(adsBootstrap(xds.port, { delta }));
    t.after(() => proxy.stop());
    const port = await listenerPort(proxy, 'tls-in');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const first = await getTls(port, agent);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'up-a');
    assert.equal(first.cn, 'v1.example.com');

    xds.set(TYPE_URL.SECRET, [certSecret('server-cert', v2.certPem, v2.keyPem)]);
    await waitFor(async () => (await getTls(port)).cn === 'v2.example.com', 'a new handshake with the v2 certificate', PROPAGATE_MS);
    // the connection made before the rotation keeps its session (and the v1 certificate)
    const again = await getTls(port, agent);
    assert.equal(again.status, 200);
    assert.equal(again.localPort, first.localPort);
    assert.equal(again.cn, 'v1.example.com');
    assert.equal(await stat(proxy, 'sds.server-cert.update_success'), 2);

    const secrets = (await configDump(proxy))('SecretsConfigDump');
    assert.equal(secrets.dynamic_active_secrets.length, 1);
    const s = secrets.dynamic_active_secrets[0];
    assert.equal(s.name, 'server-cert');
    assert.ok(s.version_info);
    assert.ok(Date.parse(s.last_updated));
    assert.equal(s.secret.tls_certificate.private_key.inline_string, '[redacted]');
    assert.equal(s.secret.tls_certificate.certificate_chain.inline_string, v2.certPem);

    // a certificate with somebody else's key is NACKed; handshakes keep the v2 certificate
    xds.set(TYPE_URL.SECRET, [certSecret('server-cert', v1.certPem, v2.keyPem)]);
    const nack = await waitNacked(xds, 'sds');
    assert.match(nack.message, /^Secret "server-cert"/);
    assert.equal((await getTls(port)).cn, 'v2.example.com');
    assert.equal(await stat(proxy, 'sds.server-cert.update_rejected'), 1);
  });
}

test('a listener update drains the old listener: its in-flight request completes; no request fails under load', async (t) => {
  const { xds, up, proxy, port } = await basicMesh(t);
  // a request parked at the upstream, on a connection the old listener accepted
  const slow = get(port, '/?hold');
  await waitFor(() => up.held === 1, 'the slow request at the upstream', PROPAGATE_MS);
  const load = loadLoop(port, { workers: 2 });
  await waitFor(() => load.result.ok >= 20, 'load running', PROPAGATE_MS);

  // the listener now uses another route configuration: it warms until that arrives, then replaces the old one
  xds.set(TYPE_URL.LISTENER, [rdsListener('ingress', 'routes-v2')], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1'), routeTo('routes-v2', 'svc-a', 'v2')]);
  await waitFor(async () => (await get(port)).headers['x-route'] === 'v2', 'new connections on the new listener', PROPAGATE_MS);
  assert.equal(await listenerPort(proxy, 'ingress'), port, 'the socket stays bound');
  assert.equal(await stat(proxy, 'listener_manager.listener_modified'), 1);
  await waitFor(() => load.result.bodies.size > 0 && load.result.ok >= 40, 'more load after the update', PROPAGATE_MS);

  // the old listener's request was still in flight; it completes, and its connection closes after it
  up.release();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'up-a');
  assert.equal(r.headers['x-route'], 'v1');
  assert.equal(r.headers.connection, 'close');

  const res = await load.stop();
  assert.deepEqual(res.errors, []);
  assert.deepEqual(res.bad, []);
  const listeners = (await configDump(proxy))('ListenersConfigDump');
  assert.equal(listeners.dynamic_listeners.length, 1);
  assert.equal(listeners.dynamic_listeners[0].active_state.listener.filter_chains[0].filters[0].typed_config.rds.route_config_name, 'routes-v2');
  await waitSynced(xds, ALL);
});

test('a listener update while a connection is still in its listener filters: its request is answered (Connection: close), not lost', async (t) => {
  const xds = await startXds();
  const up = await namedUpstream('up-a');
  t.after(() => Promise.all([xds.close(), up.close()]));
  const inspector = [{ name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } }];
  xds.set(TYPE_URL.CLUSTER, [edsCluster('svc-a')], false);
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [up.port])], false);
  xds.set(TYPE_URL.LISTENER, [{ ...rdsListener('ingress', 'routes'), listener_filters: inspector }], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1')]);
  const proxy = await startProxy(adsBootstrap(xds.port));
  t.after(() => proxy.stop());
  const port = await listenerPort(proxy, 'ingress');

  // two bytes of a request line: the HTTP inspector waits for more, so no connection manager owns it yet
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write('GE');
  const reply = readAll(sock, PROPAGATE_MS);
  xds.set(TYPE_URL.LISTENER, [{ ...rdsListener('ingress', 'routes-v2'), listener_filters: inspector }], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1'), routeTo('routes-v2', 'svc-a', 'v2')]);
  await waitFor(async () => (await get(port)).headers['x-route'] === 'v2', 'new connections on the new listener', PROPAGATE_MS);

  // the rest of the request: the old listener's config answers it, and closes the connection after
  sock.write('T /late HTTP/1.1\r\nHost: svc-a\r\n\r\n');
  const text = (await reply).toString();
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.match(text, /\r\nx-route: v1\r\n/i);
  assert.match(text, /\r\nconnection: close\r\n/i);
  assert.ok(text.endsWith('up-a'), text);
});

test('a route update reaches the next request on an existing keep-alive connection; no request fails', async (t) => {
  const { xds, proxy, port } = await basicMesh(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const first = await get(port, '/', agent);
  assert.equal(first.headers['x-route'], 'v1');
  const before = (await configDump(proxy))('RoutesConfigDump').dynamic_route_configs[0];
  const load = loadLoop(port, { workers: 2 });
  await waitFor(() => load.result.ok >= 20, 'load running', PROPAGATE_MS);

  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v2')]);
  const next = await waitFor(async () => {
    const r = await get(port, '/', agent);
    return r.headers['x-route'] === 'v2' && r;
  }, 'the v2 route on the kept connection', PROPAGATE_MS);
  assert.equal(next.localPort, first.localPort, 'same downstream connection');
  const res = await load.stop();
  assert.deepEqual(res.errors, []);
  assert.deepEqual(res.bad, []);
  assert.equal(await stat(proxy, 'http.ingress.rds.routes.update_success'), 2);
  const after = (await configDump(proxy))('RoutesConfigDump').dynamic_route_configs[0];
  assert.notEqual(after.version_info, before.version_info);
  assert.ok(Date.parse(after.last_updated) >= Date.parse(before.last_updated));
  assert.equal(after.route_config.virtual_hosts[0].response_headers_to_add[0].header.value, 'v2');
});

test('an EDS update that keeps a host keeps its upstream connection; no request fails', async (t) => {
  const { xds, up: a, proxy, port } = await basicMesh(t);
  const b = await namedUpstream('up-b');
  t.after(() => b.close());
  for (let i = 0; i < 5; i++) assert.equal((await get(port)).body, 'up-a');
  assert.equal(a.connections, 1, 'one pooled upstream connection');
  const [sock] = a.open;

  // one worker: never more than one request at a time, so one upstream connection per host is enough
  const load = loadLoop(port, { workers: 1 });
  await waitFor(() => load.result.ok >= 10, 'load running', PROPAGATE_MS);
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [a.port, b.port])]);
  await waitFor(() => (load.result.bodies.get('up-b') ?? 0) >= 5, 'traffic on the added host', PROPAGATE_MS);
  // and back to one host: the removed one drains, the kept one still has its connection
  xds.set(TYPE_URL.ENDPOINT, [assignment('svc-a', [a.port])]);
  await waitFor(async () => (await stat(proxy, 'cluster.svc-a.membership_total')) === 1, 'up-b removed', PROPAGATE_MS);
  const seen = load.result.ok;
  await waitFor(() => load.result.ok >= seen + 10, 'more load', PROPAGATE_MS);
  const res = await load.stop();
  assert.deepEqual(res.errors, []);
  assert.deepEqual(res.bad, []);
  assert.ok((res.bodies.get('up-a') ?? 0) > 0);
  assert.equal(a.connections, 1, 'the kept host was never reconnected');
  assert.ok(a.open.has(sock!), 'its connection is the one from before the updates');
  assert.equal((await get(port)).body, 'up-a');
  await waitSynced(xds, ALL);
});

test('invalid resources are NACKed naming the resource and field; the last good config keeps serving', async (t) => {
  const { xds, up, proxy, port } = await basicMesh(t);
  const expectServing = async () => {
    const r = await get(port);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'up-a');
    assert.equal(r.headers['x-route'], 'v1');
  };
  const good = {
    [TYPE_URL.LISTENER]: [rdsListener('ingress', 'routes')],
    [TYPE_URL.ROUTE]: [routeTo('routes', 'svc-a', 'v1')],
    [TYPE_URL.CLUSTER]: [edsCluster('svc-a')],
    [TYPE_URL.ENDPOINT]: [assignment('svc-a', [up.port])],
  };

  // RDS: a virtual host without domains
  const badRoute = routeTo('routes', 'svc-a', 'bad') as any;
  badRoute.virtual_hosts[0].domains = [];
  xds.set(TYPE_URL.ROUTE, [badRoute]);
  let nack = await waitNacked(xds, 'rds');
  assert.match(nack.message, /^RouteConfiguration "routes"\.virtual_hosts\[0\]\.domains: /);
  await expectServing();
  assert.equal(await stat(proxy, 'http.ingress.rds.routes.update_rejected'), 1);

  // LDS: the listener changes to a bad address, and a new listener is added beside it. As in Envoy each listener
  // stands alone: the bad one keeps its last good version, the good one applies, and the response is NACKed.
  const badAddress = { socket_address: { address: 'not-an-ip', port_value: 0 } };
  xds.set(TYPE_URL.LISTENER, [{ ...rdsListener('ingress', 'routes'), address: badAddress }, rdsListener('extra', 'routes')]);
  nack = await waitNacked(xds, 'lds');
  assert.match(nack.message, /^Listener "ingress"\.address\.socket_address\.address: "not-an-ip" is not an IP address/);
  await expectServing();
  const extraPort = await waitFor(() => listenerPort(proxy, 'extra').catch(() => undefined), 'the valid listener of the NACKed update', PROPAGATE_MS);
  assert.equal((await get(extraPort)).body, 'up-a');
  assert.equal(await stat(proxy, 'listener_manager.lds.update_rejected'), 1);
  const listeners = (await configDump(proxy))('ListenersConfigDump');
  const ingress = listeners.dynamic_listeners.find((l: any) => l.name === 'ingress');
  assert.match(ingress.error_state.details, /not an IP address/);
  assert.equal(ingress.error_state.failed_configuration.address.socket_address.address, 'not-an-ip');
  assert.equal(ingress.active_state.listener.address.socket_address.address, '127.0.0.1', 'the last good version stays active');
  assert.deepEqual((await listenerNames(proxy)).sort(), ['extra', 'ingress']);

  // CDS: an EDS cluster without eds_cluster_config, beside a good new cluster (which applies)
  xds.set(TYPE_URL.CLUSTER, [{ name: 'svc-a', type: 'EDS', connect_timeout: '1s' }, edsCluster('svc-c')]);
  nack = await waitNacked(xds, 'cds');
  assert.match(nack.message, /^Cluster "svc-a"\.eds_cluster_config\.eds_config: /);
  await expectServing();
  const clusters = (await configDump(proxy))('ClustersConfigDump');
  const all = [...clusters.dynamic_active_clusters, ...clusters.dynamic_warming_clusters];
  assert.deepEqual(all.map((c: any) => c.cluster.name).sort(), ['svc-a', 'svc-c']);
  assert.ok(all.find((c: any) => c.cluster.name === 'svc-a').cluster.eds_cluster_config, 'svc-a keeps its last good version');
  assert.equal(await stat(proxy, 'cluster_manager.cds.update_rejected'), 1);

  // EDS: a host name where an IP address must be
  xds.set(TYPE_URL.ENDPOINT, [{ cluster_name: 'svc-a', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: up.port } } } }] }] }]);
  nack = await waitNacked(xds, 'eds');
  assert.match(nack.message, /^ClusterLoadAssignment "svc-a"\.endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.socket_address\.address/);
  await expectServing();
  assert.equal(await stat(proxy, 'cluster.svc-a.update_rejected'), 1);

  // good versions are accepted again: all four types SYNCED, and a new route takes effect
  for (const [type, resources] of Object.entries(good)) xds.set(type, resources, false);
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v3')]);
  await waitSynced(xds, ALL);
  await waitFor(async () => (await get(port)).headers['x-route'] === 'v3', 'the good route version', PROPAGATE_MS);
  // the good LDS version removed `extra` and cleared the error state
  const after = (await configDump(proxy))('ListenersConfigDump');
  assert.deepEqual(after.dynamic_listeners.map((l: any) => l.name), ['ingress']);
  assert.equal(after.dynamic_listeners[0].error_state, undefined);
});

test('static and dynamic resources mix; a dynamic resource may not take a static name', async (t) => {
  const xds = await startXds();
  const upStatic = await namedUpstream('up-static');
  const upDynamic = await namedUpstream('up-dynamic');
  t.after(() => Promise.all([xds.close(), upStatic.close(), upDynamic.close()]));
  xds.set(TYPE_URL.CLUSTER, [edsCluster('dyn-svc')], false);
  xds.set(TYPE_URL.ENDPOINT, [assignment('dyn-svc', [upDynamic.port])], false);
  xds.set(TYPE_URL.LISTENER, [rdsListener('dyn-in', 'dyn-routes')], false);
  xds.set(TYPE_URL.ROUTE, [routeTo('dyn-routes', 'static-up')]);
  const proxy = await startProxy(
    adsBootstrap(xds.port, { static: { listeners: [inlineListener('static-in', 'dyn-svc')], clusters: [staticCluster('static-up', [upStatic.port])] } }),
  );
  t.after(() => proxy.stop());
  const staticPort = await listenerPort(proxy, 'static-in');
  const dynPort = await listenerPort(proxy, 'dyn-in');
  assert.equal((await get(staticPort)).body, 'up-dynamic', 'static listener → dynamic cluster');
  assert.equal((await get(dynPort)).body, 'up-static', 'dynamic listener → static cluster');

  const dump = await configDump(proxy);
  assert.deepEqual(dump('ClustersConfigDump').static_clusters.map((c: any) => c.cluster.name).sort(), ['static-up', 'xds']);
  assert.deepEqual(dump('ClustersConfigDump').dynamic_active_clusters.map((c: any) => c.cluster.name), ['dyn-svc']);
  assert.deepEqual(dump('ListenersConfigDump').static_listeners.map((l: any) => l.listener.name), ['static-in']);
  assert.deepEqual(dump('ListenersConfigDump').dynamic_listeners.map((l: any) => l.name), ['dyn-in']);

  // CDS may not replace a static cluster, LDS may not replace a static listener
  xds.set(TYPE_URL.CLUSTER, [edsCluster('dyn-svc'), edsCluster('static-up')]);
  const cds = await waitNacked(xds, 'cds');
  assert.match(cds.message, /Cluster "static-up"\.name: "static-up" is a static cluster/);
  xds.set(TYPE_URL.LISTENER, [rdsListener('dyn-in', 'dyn-routes'), rdsListener('static-in', 'dyn-routes')]);
  const lds = await waitNacked(xds, 'lds');
  assert.match(lds.message, /Listener "static-in"\.name: "static-in" is a static listener/);
  assert.equal((await get(staticPort)).body, 'up-dynamic');
  assert.equal((await get(dynPort)).body, 'up-static');

  xds.set(TYPE_URL.CLUSTER, [edsCluster('dyn-svc')], false);
  xds.set(TYPE_URL.LISTENER, [rdsListener('dyn-in', 'dyn-routes')]);
  await waitSynced(xds, ALL);
  assert.equal((await get(dynPort)).body, 'up-static');
});

for (const delta of [false, true]) {
  test(`control plane unreachable (${delta ? 'delta' : 'SotW'}): the proxy keeps serving, reconnects with jittered back-off and resyncs`, async (t) => {
    const { xds, proxy, port } = await basicMesh(t, { delta, backoff: { base_interval: '0.1s', max_interval: '0.4s' } });
    assert.equal(await stat(proxy, 'control_plane.connected_state'), 1);
    const load = loadLoop(port, { workers: 2 });
    await waitFor(() => load.result.ok >= 10, 'load running', PROPAGATE_MS);

    await xds.down();
    await waitFor(async () => (await stat(proxy, 'control_plane.connected_state')) === 0, 'connected_state 0', PROPAGATE_MS);
    // a change made while the proxy is away
    xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v2')]);
    // the back-off of each failed attempt, from the proxy's log (complete lines only)
    const attempts = () =>
      proxy
        .stderr()
        .split('\n')
        .slice(0, -1)
        .filter((l) => l.includes('"delayMs"'))
        .map((l) => JSON.parse(l).delayMs as number);
    await waitFor(() => attempts().length >= 5, 'reconnect attempts', PROPAGATE_MS);
    // every failed stream counts as a failed fetch of each subscription, as in Envoy
    assert.ok((await stat(proxy, 'listener_manager.lds.update_failure'))! >= 5);
    assert.ok((await stat(proxy, 'cluster_manager.cds.update_failure'))! >= 5);
    assert.ok((await stat(proxy, 'http.ingress.rds.routes.update_failure'))! >= 5);
    assert.ok((await stat(proxy, 'cluster.svc-a.update_failure'))! >= 5);
    const seen = load.result.ok;
    await waitFor(() => load.result.ok >= seen + 10, 'serving while the control plane is away', PROPAGATE_MS);
    assert.equal((await get(port)).headers['x-route'], 'v1');

    await xds.up();
    await waitFor(async () => (await stat(proxy, 'control_plane.connected_state')) === 1, 'connected_state back to 1', PROPAGATE_MS);
    await waitFor(async () => (await get(port)).headers['x-route'] === 'v2', 'the change made while away', PROPAGATE_MS);
    await waitSynced(xds, ALL);
    const res = await load.stop();
    assert.deepEqual(res.errors, []);
    assert.deepEqual(res.bad, []);

    // full jitter: attempt i waits in [0, min(base·2^i, max)); the back-off restarted from base after the
    // last stream's messages, so the ceilings are 100, 200, 400, 400, ... ms
    const delays = attempts();
    delays.forEach((d, i) => assert.ok(d >= 0 && d < Math.min(100 * 2 ** i, 400), `attempt ${i} waited ${d} ms`));
    // attempts 2.. share the 400 ms ceiling: without jitter they would all wait the same
    assert.ok(new Set(delays.slice(2)).size > 1, `jittered: ${delays.join(', ')}`);
  });
}

test('initial_fetch_timeout: a listener whose RDS never arrives warms until the timeout, then serves 404', async (t) => {
  const { xds, proxy, port } = await basicMesh(t);
  xds.set(TYPE_URL.LISTENER, [rdsListener('ingress', 'routes'), rdsListener('late', 'never', { rdsSource: adsSource('2.5s') })]);
  await waitFor(async () => (await stat(proxy, 'listener_manager.listener_added')) === 2, 'LDS accepted the listener', PROPAGATE_MS);
  // warming: not bound, shown in warming_state, counted
  const warming = (await configDump(proxy))('ListenersConfigDump').dynamic_listeners.find((l: any) => l.name === 'late');
  assert.ok(warming.warming_state, 'warming');
  assert.equal(warming.active_state, undefined);
  assert.equal(await stat(proxy, 'listener_manager.total_listeners_warming'), 1);
  assert.deepEqual(await listenerNames(proxy), ['ingress']);
  assert.equal((await get(port)).status, 200, 'the other listener serves meanwhile');

  // after the timeout it goes active without routes: 404 (NR), as Envoy does
  await waitFor(async () => (await listenerNames(proxy)).includes('late'), 'late active', PROPAGATE_MS);
  assert.equal(await stat(proxy, 'http.late.rds.never.init_fetch_timeout'), 1);
  assert.equal(await stat(proxy, 'listener_manager.total_listeners_warming'), 0);
  const latePort = await listenerPort(proxy, 'late');
  assert.equal((await get(latePort)).status, 404);
  // the route configuration arriving later takes effect
  xds.set(TYPE_URL.ROUTE, [routeTo('routes', 'svc-a', 'v1'), routeTo('never', 'svc-a', 'late')]);
  await waitFor(async () => (await get(latePort)).headers['x-route'] === 'late', 'late routes', PROPAGATE_MS);
});
