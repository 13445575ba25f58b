// A real `meshwork proxy` configured by xDS: dynamic_resources with ADS pointing at an xDS server in this test
// process (the control plane's XdsServer fed by a test generator), real upstreams and clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, adsBootstrap, assignment, edsCluster, get, namedUpstream, rdsListener, routeTo, startXds } from './helpers/xds-proxy.js';
import { listenerPort, startProxy, stat, waitFor } from './helpers/proxy.js';

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

  const dump: any = await (await proxy.admin('/config_dump')).json();
  const byType = (t: string) => dump.configs.find((c: any) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${t}`);
  const clusters = byType('ClustersConfigDump');
  assert.deepEqual(clusters.static_clusters.map((c: any) => c.cluster.name), ['xds']);
  assert.deepEqual(clusters.dynamic_active_clusters.map((c: any) => c.cluster.name), ['svc-a']);
  assert.ok(clusters.dynamic_active_clusters[0].version_info);
  assert.ok(clusters.dynamic_active_clusters[0].last_updated);
  const listeners = byType('ListenersConfigDump');
  assert.equal(listeners.dynamic_listeners[0].name, 'ingress');
  assert.equal(listeners.dynamic_listeners[0].active_state.listener.name, 'ingress');
  assert.ok(listeners.dynamic_listeners[0].active_state.version_info);
  const routes = byType('RoutesConfigDump');
  assert.equal(routes.dynamic_route_configs[0].route_config.name, 'routes');
  assert.ok(routes.dynamic_route_configs[0].version_info);

  assert.equal(await stat(proxy, 'listener_manager.lds.update_success'), 1);
  assert.equal(await stat(proxy, 'cluster_manager.cds.update_success'), 1);
  assert.equal(await stat(proxy, 'http.ingress.rds.routes.update_success'), 1);
  assert.ok((await stat(proxy, 'cluster.svc-a.update_success'))! >= 1);
  assert.equal(await stat(proxy, 'control_plane.connected_state'), 1);
  // the server saw every type ACKed
  await waitFor(() => {
    const s = xds.syncz()[0];
    return s && ['lds', 'rds', 'cds', 'eds'].every((k) => s.types[k]?.status === 'SYNCED');
  }, 'all types SYNCED');
});
