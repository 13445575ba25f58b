import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { ClusterManager } from '../../../upstream/cluster-manager.js';
import { acquireDnsCache } from './dns-cache.js';

const TYPE = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';
const dfp = (name: string, cacheName: string, extra: object = {}) => ({
  name,
  connect_timeout: 1000,
  lb_policy: 'CLUSTER_PROVIDED',
  cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': TYPE, dns_cache_config: { name: cacheName, dns_lookup_family: 'V4_ONLY' } } },
  ...extra,
});
const req = (authority: string) => ({ downstreamHeaders: new HeaderMap([':method', 'GET', ':authority', authority, ':path', '/']) });

test('the cluster holds what the DNS cache resolved, one Host per address, and picks the one :authority names', async () => {
  const cm = new ClusterManager(new StatsStore());
  await cm.apply(ClusterManager.prepare([dfp('fwd', 'unit-a')], 'clusters'));
  const c = cm.get('fwd')!;
  assert.equal(c.usesRequest, true);
  assert.equal(c.hosts.length, 0);
  assert.equal(c.chooseHost(req('localhost:8080')), null, 'nothing resolved yet: no host (503 no_healthy_upstream)');
  const cache = acquireDnsCache({ name: 'unit-a', dns_lookup_family: 'V4_ONLY' }, 'p');
  // the filter's part: load the names (localhost and an IP literal resolve without a DNS server)
  for (const name of ['localhost:8080', '127.0.0.1:8080', '127.0.0.2']) {
    await new Promise<void>((resolve) => {
      const r = cache.load(name, 80, { onDnsResolved: () => resolve() });
      if (typeof r !== 'object' || r === null || !r.resolving) resolve();
    });
  }
  assert.deepEqual(c.hosts.map((h) => h.id).sort(), ['127.0.0.1:8080', '127.0.0.2:80']);
  assert.equal(c.chooseHost(req('localhost:8080'))?.id, '127.0.0.1:8080');
  assert.equal(c.chooseHost(req('127.0.0.1:8080')), c.chooseHost(req('localhost:8080')), 'two names of one address share its Host');
  assert.equal(c.chooseHost(req('127.0.0.2'))?.id, '127.0.0.2:80', 'no port: 80');
  assert.equal(c.chooseHost(req('127.0.0.2:81')), null);
  assert.equal(c.chooseHost(undefined), null);
  cm.destroy();
});

test('config errors: CLUSTER_PROVIDED needs a cluster type that provides a balancer, and the DFP cluster needs CLUSTER_PROVIDED', async () => {
  assert.throws(
    () => ClusterManager.prepare([{ name: 's', type: 'STATIC', lb_policy: 'CLUSTER_PROVIDED' }], 'clusters'),
    /clusters\[0\]\.lb_policy: STATIC clusters do not provide a load balancer/,
  );
  const cm = new ClusterManager(new StatsStore());
  await assert.rejects(cm.apply(ClusterManager.prepare([dfp('x', 'unit-b', { lb_policy: 'ROUND_ROBIN' })], 'clusters')), /clusters\[0\]\.lb_policy: .*set lb_policy CLUSTER_PROVIDED/);
  await assert.rejects(
    cm.apply(ClusterManager.prepare([dfp('y', 'unit-b', { transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext' } } })], 'clusters')),
    /clusters\[0\]\.transport_socket/,
  );
  const noCache = { ...dfp('z', 'unit-b'), cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': TYPE } } };
  await assert.rejects(cm.apply(ClusterManager.prepare([noCache], 'clusters')), /dns_cache_config/);
  cm.destroy();
});
