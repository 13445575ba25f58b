// Traffic through the generated routes (simulate.ts), Sidecar scoping, and the per-type entry points.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TYPE_URL } from '../../api/xds/index.js';
import { ROOT } from '../../../test/helpers/proxy.js';
import { proxyFromNode } from '../model/proxy.js';
import { buildSnapshot } from '../model/snapshot.js';
import { BUILDERS, translate } from './index.js';
import { simulate } from './simulate.js';
import { parseCase } from './test-support.js';

const load = (name: string) => parseCase(fs.readFileSync(path.join(ROOT, 'src/control-plane/translate/testdata', name, 'input.yaml'), 'utf8'));

test('canary (seed 002): /my-app on the gateway splits 90/10 between the v1 and v2 subsets, rewritten to /', () => {
  const c = load('canary');
  const { routes } = translate(buildSnapshot(c.resources), c.proxy);
  const r = simulate(routes, 'http.80', { authority: 'shop.example.com', path: '/my-app/cart' });
  assert.equal(r.virtualHost, '*:80');
  assert.deepEqual(r.clusters, [
    { name: 'outbound|80|v1|my-app.default.svc.cluster.local', weight: 90 },
    { name: 'outbound|80|v2|my-app.default.svc.cluster.local', weight: 10 },
  ]);
  assert.equal(r.action?.prefix_rewrite, '/');
  assert.equal(simulate(routes, 'http.80', { authority: 'x', path: '/other' }).route, undefined, 'nothing else is routed');
});

test('A/B (seed 002): the User-Agent regex picks the subset; other browsers take the default route', () => {
  const c = load('ab-user-agent');
  const { routes } = translate(buildSnapshot(c.resources), c.proxy);
  const send = (ua: string, p = '/my-app') => simulate(routes, 'http.80', { authority: 'x', path: p, headers: { 'User-Agent': ua } }).clusters.map((x) => x.name);
  assert.deepEqual(send('Mozilla/5.0 (X11) Chrome/120.0'), ['outbound|80|v1|my-app.default.svc.cluster.local']);
  assert.deepEqual(send('Mozilla/5.0 (X11) Firefox/121.0'), ['outbound|80|v2|my-app.default.svc.cluster.local']);
  assert.deepEqual(send('curl/8.0'), ['outbound|80|v1|my-app.default.svc.cluster.local']);
  assert.equal(simulate(routes, 'http.80', { authority: 'x', path: '/my-app', headers: { 'user-agent': 'curl' } }).route, 'default');
});

test('fault delay (seed 002): a sidecar calling my-app gets a 7 s delay for every request, routed to ratings v2', () => {
  const c = load('fault-delay');
  const { routes } = translate(buildSnapshot(c.resources), c.proxy);
  for (const authority of ['my-app', 'my-app:9080', 'my-app.default', 'my-app.default.svc.cluster.local:9080']) {
    const r = simulate(routes, '9080', { authority, path: '/' });
    assert.equal(r.virtualHost, 'my-app.default.svc.cluster.local:9080', authority);
    assert.deepEqual(r.fault?.delay, { fixed_delay: '7s', percentage: { numerator: 100, denominator: 'HUNDRED' } });
    assert.deepEqual(r.clusters.map((x) => x.name), ['outbound|9080|v2|ratings.default.svc.cluster.local']);
  }
  const plain = simulate(routes, '9080', { authority: 'ratings:9080', path: '/' });
  assert.equal(plain.route, 'default');
  assert.equal(plain.fault, undefined);
});

test('sourceLabels are decided per proxy: a backend sidecar gets the other match of the same route', () => {
  const c = load('defaults');
  const snap = buildSnapshot(c.resources);
  const front = translate(snap, c.proxy).routes;
  const back = translate(snap, proxyFromNode({ id: 'b', metadata: { LABELS: { app: 'backend' } } })).routes;
  const via = (routes: typeof front, p: string) => simulate(routes, '80', { authority: 'rich', path: p });
  assert.equal(via(front, '/only-frontend').route, 'from-frontend');
  assert.equal(via(front, '/only-backend').route, 'main');
  assert.equal(via(back, '/only-backend').route, 'from-frontend');
  assert.equal(via(back, '/only-frontend').route, 'main');
  // the port-scoped match exists only on 8080
  assert.equal(via(front, '/alt').route, 'main');
  assert.equal(simulate(front, '8080', { authority: 'rich:8080', path: '/alt' }).route, 'alt-port-only');
  // query, scheme, authority and withoutHeaders conditions
  const q = (p: string, headers = {}) => simulate(front, '80', { authority: 'rich', path: p, headers }).route;
  assert.equal(q('/search/x?q=abc&debug'), 'search');
  assert.equal(q('/search/x?q=ABC&debug'), 'main');
  assert.equal(q('/search/x?q=abc&debug', { 'x-skip': '1' }), 'main');
  assert.equal(simulate(front, '80', { authority: 'rich', path: '/teapot', method: 'POST' }).directResponse?.status, 418);
});

test('sourceNamespace (HTTP and TCP matches) is decided per proxy: the namespace the request leaves from', () => {
  const c = parseCase(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: default }
spec:
  hosts: [db.default.svc.cluster.local, web.default.svc.cluster.local]
  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }, { number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: pg-replica, namespace: default }
spec:
  hosts: [pg-replica.default.svc.cluster.local, web-canary.default.svc.cluster.local]
  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }, { number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.2 }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: default }
spec:
  hosts: [db.default.svc.cluster.local]
  tcp:
  - match: [{ port: 5432, sourceNamespace: batch }]
    route: [{ destination: { host: pg-replica.default.svc.cluster.local } }]
  - route: [{ destination: { host: db.default.svc.cluster.local } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [web.default.svc.cluster.local]
  http:
  - name: batch
    match: [{ sourceNamespace: batch }]
    route: [{ destination: { host: web-canary.default.svc.cluster.local } }]
  - name: main
    route: [{ destination: { host: web.default.svc.cluster.local } }]
`);
  const snap = buildSnapshot(c.resources);
  const inNs = (ns: string) => translate(snap, proxyFromNode({ id: `x.${ns}`, metadata: { NAMESPACE: ns } }));
  const tcpTarget = (r: ReturnType<typeof translate>) => {
    const l = r.listeners.find((x) => (x as { name: string }).name === '0.0.0.0_5432') as { filter_chains: { filters: { name: string; typed_config: { cluster?: string } }[] }[] };
    return l.filter_chains[0]!.filters.find((f) => f.name === 'envoy.filters.network.tcp_proxy')!.typed_config.cluster;
  };
  assert.equal(tcpTarget(inNs('batch')), 'outbound|5432||pg-replica.default.svc.cluster.local');
  assert.equal(tcpTarget(inNs('default')), 'outbound|5432||db.default.svc.cluster.local');
  const httpRoute = (ns: string) => simulate(inNs(ns).routes, '80', { authority: 'web.default.svc.cluster.local', path: '/' }).route;
  assert.equal(httpRoute('batch'), 'batch');
  assert.equal(httpRoute('default'), 'main');
});

test('PeerAuthentication per port: STRICT for the workload, DISABLE on one application port (portLevelMtls)', () => {
  const c = parseCase(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: reviews, namespace: shop }
spec:
  selector: { matchLabels: { app: reviews } }
  portLevelMtls: { "8081": { mode: DISABLE } }
`);
  const node = (labels: Record<string, string>) => ({
    id: 'sidecar~10.0.0.7~reviews-1.shop~shop.svc.cluster.local',
    metadata: { NAMESPACE: 'shop', SERVICE: 'reviews', INBOUND_PORTS: '9080:8080,9081:8081', LABELS: labels },
  });
  const chainsOf = (labels: Record<string, string>, port: number) => {
    const l = translate(buildSnapshot(c.resources), proxyFromNode(node(labels))).listeners.find((x) => (x as { name: string }).name === `10.0.0.7_${port}`) as {
      filter_chains: { filter_chain_match?: { transport_protocol?: string }; transport_socket?: unknown }[];
    };
    return l.filter_chains.map((fc) => `${fc.filter_chain_match?.transport_protocol ?? 'any'}${fc.transport_socket ? '+tls' : ''}`);
  };
  const mtls = { app: 'reviews', 'security.istio.io/tlsMode': 'istio' };
  assert.deepEqual(chainsOf(mtls, 9080), ['tls+tls'], 'STRICT: the mTLS chain only');
  assert.deepEqual(chainsOf(mtls, 9081), ['any'], 'DISABLE on app port 8081: plaintext only');
  // a sidecar without a workload certificate cannot terminate mTLS: plaintext whatever the mode
  assert.deepEqual(chainsOf({ app: 'reviews' }, 9080), ['any']);
});

test('Sidecar scoping shrinks a proxy\'s config: fewer clusters, listeners and routes than without it', () => {
  const c = load('sidecar-scoping');
  const scoped = translate(buildSnapshot(c.resources), c.proxy);
  const open = translate(buildSnapshot(c.resources.filter((r) => r.kind !== 'Sidecar')), c.proxy);
  const names = (l: { name?: string }[]) => l.map((x) => x.name);
  assert.deepEqual(names(scoped.clusters), [
    'inbound|18080||',
    'outbound|4317||collector.istio-system.svc.cluster.local',
    'outbound|8080||cart.shop.svc.cluster.local',
    'outbound|8080||catalog.shop.svc.cluster.local',
    'outbound|8080||ledger.billing.svc.cluster.local', // a destination of the shop's VirtualService
  ]);
  assert.ok(open.clusters.length > scoped.clusters.length, `${open.clusters.length} > ${scoped.clusters.length}`);
  assert.ok(names(open.clusters).includes('outbound|9300||search.search.svc.cluster.local'));
  assert.ok(!names(open.clusters).some((n) => n?.includes('private.search')), 'exportTo "." hides a service from other namespaces');
  assert.ok(open.listeners.length > scoped.listeners.length);
  // REGISTRY_ONLY: unknown hosts get Istio's block_all (502)
  assert.equal(simulate(scoped.routes, '8080', { authority: 'unknown.example.com', path: '/' }).directResponse?.status, 502);
  assert.equal(simulate(open.routes, '8080', { authority: 'unknown.example.com', path: '/' }).virtualHost, undefined);
});

test('gateway: hosts and namespaces of servers decide which VirtualServices bind; redirect; SNI chains', () => {
  const c = load('gateway-https');
  const res = translate(buildSnapshot(c.resources), c.proxy);
  const https = simulate(res.routes, 'https.443.https.public.istio-system', { authority: 'shop.example.com', path: '/API/x' });
  assert.deepEqual(https.clusters.map((x) => x.name), ['outbound|8080||api.web.svc.cluster.local'], 'ignoreUriCase');
  // the HTTPS server admits only namespace "web": the admin VirtualService is not there...
  assert.equal(simulate(res.routes, 'https.443.https.public.istio-system', { authority: 'shop.example.com', path: '/admin' }).clusters[0]?.name, 'outbound|8080||frontend.web.svc.cluster.local');
  // ...but it is on the HTTP server, which admits every namespace (and redirects to HTTPS), after the web
  // VirtualService's routes (merged in order, so web's catch-all shadows it, as in Istio)
  const http = res.routes.find((r) => r.name === 'http.80')!;
  assert.equal(http.virtual_hosts[0].require_tls, 'ALL');
  assert.deepEqual(http.virtual_hosts[0].routes.map((r: any) => r.route.cluster), ['outbound|8080||api.web.svc.cluster.local', 'outbound|8080||frontend.web.svc.cluster.local', 'outbound|8080||admin.admin.svc.cluster.local']);
  assert.equal(simulate(res.routes, 'https.8443.https-partners.public.istio-system', { authority: 'partners.example.com', path: '/admin' }).clusters[0]?.name, 'outbound|8080||admin.admin.svc.cluster.local');
  assert.equal(res.listeners.find((l) => l.name === '0.0.0.0_8443')!.filter_chains[0].transport_socket.typed_config.require_client_certificate, true);
  const l443 = res.listeners.find((l) => l.name === '0.0.0.0_443')!;
  assert.deepEqual(l443.filter_chains[0].filter_chain_match, { server_names: ['shop.example.com'] });
  const pass = res.listeners.find((l) => l.name === '0.0.0.0_9443')!;
  assert.equal(pass.filter_chains[0].filters[0].typed_config.cluster, 'outbound|443||app.legacy.svc.cluster.local');
  assert.ok(!res.listeners.some((l) => l.name === '0.0.0.0_8000'), 'a Gateway whose selector does not match is not served');
});

test('BUILDERS: one builder per xDS type URL, equal to translate()', () => {
  const c = load('canary');
  const snap = buildSnapshot(c.resources);
  const all = translate(snap, c.proxy);
  assert.deepEqual(BUILDERS[TYPE_URL.CLUSTER]!(snap, c.proxy), all.clusters);
  assert.deepEqual(BUILDERS[TYPE_URL.ENDPOINT]!(snap, c.proxy), all.endpoints);
  assert.deepEqual(BUILDERS[TYPE_URL.ROUTE]!(snap, c.proxy), all.routes);
  assert.deepEqual(BUILDERS[TYPE_URL.LISTENER]!(snap, c.proxy), all.listeners);
  assert.equal(BUILDERS[TYPE_URL.SECRET], undefined);
});
