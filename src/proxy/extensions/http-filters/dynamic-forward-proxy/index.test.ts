import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FilterCallbacks } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { ClusterManager } from '../../../upstream/cluster-manager.js';
import { dynamicForwardProxyFilter } from './index.js';

const FILTER = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig';
const CLUSTER = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';
const cache = { name: 'filter-unit', dns_lookup_family: 'V4_ONLY', dns_query_timeout: 2000 };

async function setup() {
  const stats = new StatsStore();
  const cm = new ClusterManager(stats);
  await cm.apply(
    ClusterManager.prepare(
      [
        { name: 'fwd', connect_timeout: 1000, lb_policy: 'CLUSTER_PROVIDED', cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': CLUSTER, dns_cache_config: cache } } },
        { name: 'plain', type: 'STATIC', connect_timeout: 1000, load_assignment: { cluster_name: 'plain', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9 } } } }] }] } },
      ],
      'clusters',
    ),
  );
  const ctx = { clusterManager: cm, stats, statPrefix: 'http.t.', path: 'f', name: 'envoy.filters.http.dynamic_forward_proxy' };
  const create = dynamicForwardProxyFilter.create({ '@type': FILTER, dns_cache_config: cache }, ctx);
  /** one request to `cluster` with `authority`; what the filter did */
  const run = (cluster: string, authority: string | undefined, perRoute?: unknown) => {
    const out = { status: 'continue' as string, continued: 0, reply: undefined as undefined | { status: number; body: string; details?: string; flag?: number } };
    let done!: () => void;
    const settled = new Promise<void>((r) => (done = r));
    const headers = new HeaderMap([':method', 'GET', ':path', '/', ...(authority !== undefined ? [':authority', authority] : [])]);
    const cb = {
      route: () => ({ entry: { kind: 'route' }, clusterName: cluster }),
      perFilterConfig: () => perRoute,
      continueDecoding: () => {
        out.continued++;
        done();
      },
      sendLocalReply: (status: number, body: string, o: { details?: string; flag?: { bit: number } } = {}) => {
        out.reply = { status, body, details: o.details, flag: o.flag?.bit };
        done();
      },
    } as unknown as FilterCallbacks;
    const f = create(cb);
    out.status = f.decodeHeaders!(headers, true);
    if (out.status === 'continue' || out.reply) done();
    return { out, settled, headers, filter: f };
  };
  return { cm, ctx, run };
}

test('a request to a dynamic forward proxy cluster waits for its host, then continues; later ones continue at once', async () => {
  const { cm, run } = await setup();
  const first = run('fwd', 'localhost:8080');
  assert.equal(first.out.status, 'stop');
  await first.settled;
  assert.equal(first.out.continued, 1);
  assert.equal(first.out.reply, undefined);
  const second = run('fwd', 'localhost:8080');
  assert.equal(second.out.status, 'continue');
  // the cluster can now pick the host for the router
  assert.equal(cm.get('fwd')!.chooseHost({ downstreamHeaders: second.headers })?.id, '127.0.0.1:8080');
  cm.destroy();
});

test('other clusters pass untouched; an empty host is 400; a name that does not resolve is 503 with DF', async () => {
  const { cm, run } = await setup();
  assert.equal(run('plain', 'whatever.invalid').out.status, 'continue');
  const empty = run('fwd', undefined);
  assert.equal(empty.out.reply?.status, 400);
  assert.equal(empty.out.reply?.details, 'empty_host_header');
  const bad = run('fwd', 'no-such-host.invalid');
  await bad.settled;
  assert.equal(bad.out.reply?.status, 503);
  assert.equal(bad.out.reply?.body, 'DNS resolution failure');
  assert.equal(bad.out.reply?.flag, 1 << 26);
  assert.match(bad.out.reply!.details!, /^dns_resolution_failure\{/);
  cm.destroy();
});

test('per route: host_rewrite_literal and host_rewrite_header replace :authority before the lookup', async () => {
  const { cm, ctx, run } = await setup();
  const literal = dynamicForwardProxyFilter.createPerRoute!({ '@type': PER_ROUTE, host_rewrite_literal: '127.0.0.1:7001' }, ctx);
  const a = run('fwd', 'ignored.example', literal);
  assert.equal(a.headers.get(':authority'), '127.0.0.1:7001');
  await a.settled;
  assert.equal(a.out.reply, undefined);
  const byHeader = dynamicForwardProxyFilter.createPerRoute!({ '@type': PER_ROUTE, host_rewrite_header: 'X-Target' }, ctx);
  const b = run('fwd', 'x', byHeader);
  assert.equal(b.headers.get(':authority'), 'x', 'absent header: unchanged');
  assert.throws(() => dynamicForwardProxyFilter.create({ '@type': FILTER }, ctx), /f\.dns_cache_config: a dns_cache_config is required/);
  cm.destroy();
});
