// The xDS mesh end to end, every part a real process: `meshwork control-plane` serving a config dir that this
// test edits, two `meshwork proxy` processes driven by it over ADS (one state of the world, one delta), and
// real upstream HTTP servers answering their names. Keep-alive client loads run through both proxies while the
// config changes, the control plane is killed and restarted, and a bad route is NACKed: not one request may fail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startControlPlane, type RunningControlPlane } from './helpers/control-plane.js';
import { clusterDoc, debugJson, endpointDoc, listenerDoc, removeFile, routeDoc, sample, startLoad, syncOf, writeResources, type Load, type LoadResult } from './helpers/mesh.js';
import { listenerPort, startProxy, stat, tmpDir, waitFor, type RunningProxy } from './helpers/proxy.js';
import { adsBootstrap, assignment, edsCluster, get, namedUpstream, rdsListener, type NamedUpstream } from './helpers/xds-proxy.js';

// Generous waits: the whole mesh shares a loaded 2-core machine with other suites.
const PROPAGATE_MS = 15_000;
// A proxy reconnects with jittered exponential back-off (500 ms doubling), so after a few failed attempts
// while the control plane is down the next one may be several seconds away.
const RECONNECT_MS = 30_000;
const CP_ARGS = ['--debounce-ms', '20'];

interface MeshProxy {
  id: string;
  delta: boolean;
  proxy: RunningProxy;
  /** port of the `ingress` listener */
  port: number;
}

type RouteEntry = Record<string, unknown>;

/** RouteConfiguration `name`: `routes` in order, every response tagged `x-route: <tag>` so a test knows which
 *  version of the routes answered. */
function routeConfig(name: string, tag: string, routes: RouteEntry[]): Record<string, unknown> {
  return { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes, response_headers_to_add: [{ header: { key: 'x-route', value: tag } }] }] };
}
const prefix = (p: string, cluster: string): RouteEntry => ({ match: { prefix: p }, route: { cluster } });
const weighted = (p: string, weights: Record<string, number>): RouteEntry => ({
  match: { prefix: p },
  route: { weighted_clusters: { clusters: Object.entries(weights).map(([name, weight]) => ({ name, weight })) } },
});
const regex = (re: string, cluster: string): RouteEntry => ({ match: { safe_regex: { regex: re } }, route: { cluster } });

describe('xDS mesh: control plane process + SotW and delta proxies + upstreams', () => {
  const dir = tmpDir('meshwork-mesh-');
  let cp: RunningControlPlane;
  let ups: Record<'v1' | 'v2' | 'v3', NamedUpstream>;
  const mesh: MeshProxy[] = [];

  /**
   * The application's config, one file: a cluster per upstream set (EDS, with its endpoints) and the routes.
   * One file is one atomic edit, so a change that adds a cluster and routes to it reaches the control plane
   * whole, and its push has to order it (clusters and endpoints before the routes that use them).
   */
  const writeApp = (clusters: Record<string, NamedUpstream[]>, tag: string, routes: RouteEntry[]) =>
    writeResources(dir, 'app.yaml', [
      ...Object.keys(clusters).map((n) => clusterDoc(edsCluster(n))),
      ...Object.entries(clusters).map(([n, u]) => endpointDoc(assignment(n, u.map((x) => x.port)))),
      routeDoc(routeConfig('routes', tag, routes)),
    ]);

  /** Every one of a few fresh requests to `pathname` on each proxy is answered by the route version `tag`. */
  async function routedBy(tag: string, pathname = '/', timeoutMs = PROPAGATE_MS): Promise<void> {
    await Promise.all(
      mesh.map((m) =>
        waitFor(async () => (await sample(m.port, 4, pathname)).every((r) => r.status === 200 && r.route === tag), `${m.id}: ${pathname} routed by "${tag}"`, timeoutMs),
      ),
    );
  }

  /** The bodies of `n` requests to `pathname` through one proxy. */
  async function bodies(m: MeshProxy, n: number, pathname = '/'): Promise<Set<string>> {
    const s = await sample(m.port, n, pathname);
    for (const r of s) assert.equal(r.status, 200, `${m.id}: ${pathname} answered ${r.status} ${r.body}`);
    return new Set(s.map((r) => r.body));
  }

  /**
   * Run `fn` with a keep-alive client load through each proxy, then assert that every request of the loads
   * succeeded. The loads are going before `fn` starts and still going after it ends, so they span the whole
   * change. A failure message carries the proxy's router counters no_cluster (503 NC: the route's cluster was
   * missing) and no_route. The loads stop whatever `fn` does.
   */
  async function underLoad(during: string, fn: () => Promise<void>): Promise<LoadResult[]> {
    const loads = mesh.map((m) => startLoad(m.port));
    const done = (l: Load) => l.result.ok + l.result.failures.length;
    try {
      await waitFor(() => loads.every((l) => done(l) >= 5), 'the client loads to get going', PROPAGATE_MS);
      await fn();
      const after = loads.map(done);
      await waitFor(() => loads.every((l, i) => done(l) >= after[i]! + 5), 'the client loads to go on after the change', PROPAGATE_MS);
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
    }
    for (const [i, l] of loads.entries()) {
      const m = mesh[i]!;
      const r = l.result;
      if (r.failures.length === 0) continue;
      const counters = await Promise.all(['no_cluster', 'no_route'].map(async (c) => `http.ingress.${c}: ${(await stat(m.proxy, `http.ingress.${c}`)) ?? 0}`));
      assert.fail(`${m.id}: ${r.failures.length} of ${r.ok + r.failures.length} requests failed ${during} (${counters.join(', ')} since the proxy started): ${JSON.stringify(r.failures.slice(0, 10))}`);
    }
    return loads.map((l) => l.result);
  }

  const proxyState = (m: MeshProxy) => stat(m.proxy, 'control_plane.connected_state');

  async function proxyDump(m: MeshProxy): Promise<{ clusters: string[]; listeners: string[]; routes: any[] }> {
    const dump: any = await (await m.proxy.admin('/config_dump')).json();
    const byType = (t: string) => dump.configs.find((c: any) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${t}`);
    return {
      clusters: (byType('ClustersConfigDump').dynamic_active_clusters ?? []).map((c: any) => c.cluster.name).sort(),
      listeners: (byType('ListenersConfigDump').dynamic_listeners ?? []).filter((l: any) => l.active_state).map((l: any) => l.name).sort(),
      routes: byType('RoutesConfigDump').dynamic_route_configs ?? [],
    };
  }

  async function listenerNames(m: MeshProxy): Promise<string[]> {
    const j: any = await (await m.proxy.admin('/listeners?format=json')).json();
    return j.listener_statuses.map((l: any) => l.name).sort();
  }

  before(async () => {
    const [v1, v2, v3] = await Promise.all([namedUpstream('v1'), namedUpstream('v2'), namedUpstream('v3')]);
    ups = { v1: v1!, v2: v2!, v3: v3! };
    writeResources(dir, 'listeners.yaml', [listenerDoc(rdsListener('ingress', 'routes'))]);
    writeApp({ v1: [ups.v1] }, 'r0', [prefix('/', 'v1')]);
    cp = await startControlPlane(dir, CP_ARGS);
    const started = await Promise.all(
      [
        { id: 'mesh-sotw', delta: false },
        { id: 'mesh-delta', delta: true },
      ].map(async ({ id, delta }) => {
        const proxy = await startProxy(adsBootstrap(cp.xdsPort, { delta, node: { id, cluster: 'mesh' } }));
        return { id, delta, proxy, port: await listenerPort(proxy, 'ingress') };
      }),
    );
    mesh.push(...started);
    await routedBy('r0');
  });

  after(async () => {
    await Promise.all(mesh.map((m) => m.proxy.stop('SIGKILL')));
    await cp?.stop('SIGKILL');
    await Promise.all(Object.values(ups ?? {}).map((u) => u.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('file edits change routing on both proxies under continuous load, with no failed request', async () => {
    for (const m of mesh) assert.deepEqual(await bodies(m, 4), new Set(['v1']));
    const results = await underLoad('while the config dir changed', async () => {
      // a canary in one edit: cluster v2 and its endpoints are new, and the routes send it half the traffic
      writeApp({ v1: [ups.v1], v2: [ups.v2] }, 'r1', [weighted('/', { v1: 50, v2: 50 })]);
      await routedBy('r1');
      for (const m of mesh) {
        // 40 requests all on one side of a 50/50 split: chance 2^-39
        assert.deepEqual(await bodies(m, 40), new Set(['v1', 'v2']), `${m.id}: both clusters serve under a 50/50 split`);
      }

      // route weights: all to v2
      writeApp({ v1: [ups.v1], v2: [ups.v2] }, 'r2', [weighted('/', { v2: 100 })]);
      await routedBy('r2');
      for (const m of mesh) assert.deepEqual(await bodies(m, 10), new Set(['v2']));

      // cluster endpoints: v2 moves to the v3 server (only its ClusterLoadAssignment changes)
      writeApp({ v1: [ups.v1], v2: [ups.v3] }, 'r2', [weighted('/', { v2: 100 })]);
      await Promise.all(mesh.map((m) => waitFor(async () => [...(await bodies(m, 6))].join() === 'v3', `${m.id}: cluster v2 served by the v3 server`, PROPAGATE_MS)));

      // a new route: /new goes to v1, the rest stays
      writeApp({ v1: [ups.v1], v2: [ups.v3] }, 'r3', [prefix('/new', 'v1'), weighted('/', { v2: 100 })]);
      await routedBy('r3', '/new');
      for (const m of mesh) {
        assert.deepEqual(await bodies(m, 4, '/new'), new Set(['v1']));
        assert.deepEqual(await bodies(m, 4, '/'), new Set(['v3']));
      }

      // a new listener (its own file, with its routes) on a new port of each proxy
      writeResources(dir, 'extra.yaml', [listenerDoc(rdsListener('extra', 'extra-routes')), routeDoc(routeConfig('extra-routes', 'extra', [prefix('/', 'v1')]))]);
      const extraPorts = await Promise.all(
        mesh.map((m) =>
          waitFor(async () => {
            const port = await listenerPort(m.proxy, 'extra');
            const r = await get(port, '/');
            return r.status === 200 && r.body === 'v1' && r.headers['x-route'] === 'extra' && port;
          }, `${m.id}: listener "extra" serving`, PROPAGATE_MS),
        ),
      );

      // removals: the listener's file goes; /new and cluster v1 go in one edit (the push must change the
      // routes before it removes the cluster they used)
      removeFile(dir, 'extra.yaml');
      writeApp({ v2: [ups.v3] }, 'r4', [weighted('/', { v2: 100 })]);
      await routedBy('r4');
      await Promise.all(
        mesh.map(async (m, i) => {
          await waitFor(async () => !(await listenerNames(m)).includes('extra') && (await proxyDump(m)).clusters.join() === 'v2', `${m.id}: listener "extra" and cluster v1 removed`, PROPAGATE_MS);
          assert.deepEqual((await proxyDump(m)).listeners, ['ingress']);
          await waitFor(() => get(extraPorts[i]!, '/').then(() => false, (err: Error) => /ECONNREFUSED/.test(err.message)), `${m.id}: the removed listener's port closed`, PROPAGATE_MS);
          // /new now falls through to /
          assert.deepEqual(await bodies(m, 2, '/new'), new Set(['v3']));
        }),
      );
    });
    // the load itself went through every routing state
    for (const [i, r] of results.entries()) assert.deepEqual(Object.keys(r.bodies).sort(), ['v1', 'v2', 'v3'], `${mesh[i]!.id}: bodies the load saw`);
    assert.deepEqual((await debugJson(cp, '/debug/resources')).errors, []);
  });

  test('control plane SIGKILLed: proxies keep serving, reconnect to its restart on the same port and get what changed meanwhile', async () => {
    await underLoad('while the control plane was killed and restarted', async () => {
      const xdsPort = cp.xdsPort;
      cp.child.kill('SIGKILL');
      await cp.exited;
      await Promise.all(mesh.map((m) => waitFor(async () => (await proxyState(m)) === 0, `${m.id}: control_plane.connected_state 0`, PROPAGATE_MS)));

      // changed while nobody serves it: v1 comes back and takes all traffic
      writeApp({ v1: [ups.v1], v2: [ups.v3] }, 'r5', [weighted('/', { v1: 100 })]);
      for (const m of mesh) {
        const s = await sample(m.port, 4);
        assert.ok(s.every((r) => r.status === 200 && r.route === 'r4' && r.body === 'v3'), `${m.id}: keeps its last config without a control plane: ${JSON.stringify(s)}`);
      }

      cp = await startControlPlane(dir, CP_ARGS, { xdsPort });
      assert.equal(cp.xdsPort, xdsPort);
      await Promise.all(mesh.map((m) => waitFor(async () => (await proxyState(m)) === 1, `${m.id}: control_plane.connected_state back to 1`, RECONNECT_MS)));
      await routedBy('r5', '/', RECONNECT_MS);
      for (const m of mesh) {
        assert.deepEqual(await bodies(m, 4), new Set(['v1']));
        assert.deepEqual((await proxyDump(m)).clusters, ['v1', 'v2']);
      }
      await Promise.all(
        mesh.map((m) =>
          waitFor(async () => {
            const s = await syncOf(cp, m.id);
            return s?.delta === m.delta && ['lds', 'rds', 'cds', 'eds'].every((k) => s.types[k]?.status === 'SYNCED');
          }, `${m.id}: SYNCED with the restarted control plane`, PROPAGATE_MS),
        ),
      );
    });
  });

  test('a route the proxies reject is NACKed (error_detail in /debug/syncz), the previous routes keep serving; the fix syncs', async () => {
    await underLoad('while a bad route was pushed and fixed', async () => {
      const rejectedBefore = await Promise.all(mesh.map((m) => stat(m.proxy, 'http.ingress.rds.routes.update_rejected')));
      // valid protobuf (the control plane accepts it), but RE2 cannot compile the regex: every proxy NACKs it
      writeApp({ v1: [ups.v1], v2: [ups.v3] }, 'r6-bad', [regex('^/re/([0-9]+$', 'v2'), weighted('/', { v1: 100 })]);
      const nacked = await Promise.all(
        mesh.map((m) =>
          waitFor(async () => {
            const s = await syncOf(cp, m.id);
            return s?.types.rds?.status === 'NACKED' && s;
          }, `${m.id}: RDS NACKED in /debug/syncz`, PROPAGATE_MS),
        ),
      );
      for (const [i, s] of nacked.entries()) {
        const id = mesh[i]!.id;
        assert.equal(s.types.rds.nacked.version, s.types.rds.sent, `${id}: the NACK is of the version sent`);
        assert.notEqual(s.types.rds.acked, s.types.rds.sent);
        assert.match(s.types.rds.nacked.message, /safe_regex\.regex/, `${id}: error_detail names the field`);
        assert.match(s.types.rds.nacked.message, /regular expression/, `${id}: error_detail says why`);
        // the other types are untouched
        for (const k of ['lds', 'cds', 'eds']) assert.equal(s.types[k].status, 'SYNCED', `${id}: ${k}`);
      }
      assert.deepEqual((await debugJson(cp, '/debug/resources')).errors, [], 'the control plane itself accepted the file');
      for (const [i, m] of mesh.entries()) {
        assert.ok((await stat(m.proxy, 'http.ingress.rds.routes.update_rejected'))! > (rejectedBefore[i] ?? 0), `${m.id}: update_rejected counted`);
        const s = await sample(m.port, 4);
        assert.ok(s.every((r) => r.status === 200 && r.route === 'r5' && r.body === 'v1'), `${m.id}: the previous routes serve: ${JSON.stringify(s)}`);
      }

      // the fix: a regex that compiles, sending /re/<digits> to v2 (whose endpoint is the v3 server)
      writeApp({ v1: [ups.v1], v2: [ups.v3] }, 'r7', [regex('^/re/[0-9]+$', 'v2'), weighted('/', { v1: 100 })]);
      await Promise.all(
        mesh.map((m) =>
          waitFor(async () => {
            const s = await syncOf(cp, m.id);
            return s?.types.rds?.status === 'SYNCED' && s.types.rds.acked === s.types.rds.sent;
          }, `${m.id}: RDS SYNCED again`, PROPAGATE_MS),
        ),
      );
      await routedBy('r7', '/re/42');
      for (const m of mesh) {
        assert.deepEqual(await bodies(m, 2, '/re/42'), new Set(['v3']));
        assert.deepEqual(await bodies(m, 2, '/re/x'), new Set(['v1']));
      }
    });
  });

  test('/debug/config_dump?proxy= shows what each proxy got; /metrics counts both proxies and the NACKs', async () => {
    for (const m of mesh) {
      const dump = await debugJson(cp, `/debug/config_dump?proxy=${m.id}`);
      assert.equal(dump.node.id, m.id);
      const names = (k: string) => dump.types[k].resources.map((r: any) => r.name ?? r.cluster_name).sort();
      assert.deepEqual(names('lds'), ['ingress']);
      assert.deepEqual(names('rds'), ['routes']);
      assert.deepEqual(names('cds'), ['v1', 'v2']);
      assert.deepEqual(names('eds'), ['v1', 'v2']);
      const route = dump.types.rds.resources[0];
      assert.equal(route['@type'], 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration');
      assert.equal(route.virtual_hosts[0].routes[0].match.safe_regex.regex, '^/re/[0-9]+$');
      const v2 = dump.types.eds.resources.find((r: any) => r.cluster_name === 'v2');
      assert.equal(v2.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, ups.v3.port);
      // what was sent is what the proxy ACKed, and what it runs
      const sync = await syncOf(cp, m.id);
      for (const k of ['lds', 'rds', 'cds', 'eds']) assert.equal(dump.types[k].version, sync.types[k].acked, `${m.id}: ${k} version`);
      const running = (await proxyDump(m)).routes;
      assert.equal(running.length, 1);
      assert.equal(running[0].route_config.virtual_hosts[0].routes[0].match.safe_regex.regex, '^/re/[0-9]+$');
    }
    assert.equal((await cp.http('/debug/config_dump?proxy=nobody')).status, 404);

    const metrics = await (await cp.http('/metrics')).text();
    assert.match(metrics, /^meshwork_xds_connected_proxies 2$/m);
    assert.match(metrics, /^meshwork_xds_streams 2$/m);
    const nacks = Number(/^meshwork_xds_nacks_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(nacks >= 2, `a NACK from each proxy, got ${nacks}`);
    assert.match(metrics, /^meshwork_xds_sync_status\{type="rds",status="SYNCED"\} 2$/m);
    assert.match(metrics, /^meshwork_config_errors 0$/m);
  });

  test('SIGTERM: the control plane exits 0, the proxies see it go and keep serving', async () => {
    await underLoad('while the control plane shut down', async () => {
      assert.equal(await cp.stop('SIGTERM'), 0);
      assert.match(cp.stderr(), /"shutting down"/);
      await Promise.all(mesh.map((m) => waitFor(async () => (await proxyState(m)) === 0, `${m.id}: control_plane.connected_state 0`, PROPAGATE_MS)));
      for (const m of mesh) assert.deepEqual(await bodies(m, 4), new Set(['v1']));
    });
  });
});
