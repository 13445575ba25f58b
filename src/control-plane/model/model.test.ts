import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResources } from '../translate/test-support.js';
import { parseDuration, protoDuration } from './duration.js';
import { covers, mostSpecific, resolveHost } from './hosts.js';
import { instanceOfProxy, proxyFromNode } from './proxy.js';
import { portProtocol } from './protocol.js';
import { scopeOf } from './scope.js';
import { buildSnapshot } from './snapshot.js';

const SE = (name: string, ns: string, hosts: string[], extra = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [${hosts.join(', ')}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http }]
${extra}
---`;

test('hosts: short names resolve against the namespace; FQDNs and wildcards stay; wildcard matching', () => {
  assert.equal(resolveHost('reviews', 'default'), 'reviews.default.svc.cluster.local');
  assert.equal(resolveHost('reviews.prod', 'default'), 'reviews.prod');
  assert.equal(resolveHost('*.example.com', 'default'), '*.example.com');
  assert.ok(covers('*.example.com', 'a.example.com'));
  assert.ok(covers('*.example.com', '*.b.example.com'));
  assert.ok(!covers('*.example.com', 'example.com'));
  assert.ok(covers('*', 'anything'));
  assert.equal(mostSpecific('a.b.com', ['*', '*.b.com', 'a.b.com', '*.com'], (x) => x), 'a.b.com');
  assert.equal(mostSpecific('x.b.com', ['*', '*.com', '*.b.com'], (x) => x), '*.b.com');
});

test('protocols are inferred from port names as Istio does; durations parse', () => {
  assert.equal(portProtocol('http-web', undefined), 'HTTP');
  assert.equal(portProtocol('grpc', undefined), 'GRPC');
  assert.equal(portProtocol('grpc-web', undefined), 'GRPC-WEB');
  assert.equal(portProtocol('http2-x', undefined), 'HTTP2');
  assert.equal(portProtocol('mysql', undefined), 'TCP');
  assert.equal(portProtocol('http', 'tcp'), 'TCP');
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('x'), undefined);
  assert.equal(protoDuration(250), '0.25s');
  assert.equal(protoDuration(7000), '7s');
});

test('proxyFromNode: metadata layout, Istio-style id and defaults', () => {
  const d = proxyFromNode({ id: 'x' });
  assert.deepEqual({ type: d.type, ns: d.namespace, ip: d.ip, bind: d.outboundBind, inbound: d.inbound, labels: d.labels }, { type: 'sidecar', ns: 'default', ip: '127.0.0.1', bind: '127.0.0.1', inbound: [], labels: {} });
  const r = proxyFromNode({ id: 'router~10.1.1.1~gw-1.istio-system~istio-system.svc.cluster.local' });
  assert.deepEqual([r.type, r.ip, r.namespace], ['router', '10.1.1.1', 'istio-system']);
  const s = proxyFromNode({
    id: 'b-1',
    locality: { region: 'r', zone: 'z' },
    metadata: { NAMESPACE: 'shop', LABELS: { app: 'b', version: 'v2' }, INSTANCE_IPS: '10.0.0.7,10.0.0.8', SERVICE: 'b', INBOUND_PORTS: '9080:8080,9090:9091:15090', OUTBOUND_BIND: '127.0.0.9' },
  });
  assert.equal(s.service, 'b.shop.svc.cluster.local');
  assert.equal(s.ip, '10.0.0.7');
  assert.equal(s.locality, 'r/z');
  assert.equal(s.outboundBind, '127.0.0.9');
  assert.deepEqual(s.inbound, [
    { name: 'http-9080', protocol: 'HTTP', port: 9080, listenPort: 9080, targetPort: 8080 },
    { name: 'http-9090', protocol: 'HTTP', port: 9090, listenPort: 15090, targetPort: 9091 },
  ]);
  const inst = instanceOfProxy(s)!;
  assert.deepEqual(inst.ports, { 'http-9080': 9080, 'http-9090': 15090 });
  assert.equal(instanceOfProxy(r), undefined);
});

test('endpoint ports: the instance port by name, else targetPort, else the port number', () => {
  const { resources } = parseResources(`${SE('r', 'default', ['r.default.svc.cluster.local'], '  workloadSelector: { labels: { app: r } }')}
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: a }
spec: { address: 10.0.0.1, labels: { app: r }, ports: { http: 7000 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: b }
spec: { address: 10.0.0.2, labels: { app: r } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: c, namespace: other }
spec: { address: 10.0.0.3, labels: { app: r } }
`);
  const snap = buildSnapshot(resources);
  const svc = snap.services.get('r.default.svc.cluster.local', 'default')!;
  assert.deepEqual(snap.endpoints.endpoints(svc, 9080).map((e) => `${e.address}:${e.port}`), ['10.0.0.1:7000', '10.0.0.2:9080']);
});

test('a registered workload joins and leaves: only its services change, the rest is shared', () => {
  const { resources } = parseResources(`${SE('a', 'default', ['a.default.svc.cluster.local'], '  workloadSelector: { labels: { app: a } }')}
${SE('b', 'default', ['b.default.svc.cluster.local'], '  endpoints: [{ address: 10.0.0.2 }]')}`);
  const s0 = buildSnapshot(resources);
  const a = s0.services.get('a.default.svc.cluster.local', 'default')!;
  const b = s0.services.get('b.default.svc.cluster.local', 'default')!;
  assert.equal(s0.endpoints.endpoints(a, 9080).length, 0);
  const joining = instanceOfProxy(proxyFromNode({ id: 'a-1', metadata: { LABELS: { app: 'a' }, INSTANCE_IPS: '10.0.0.1', SERVICE: 'a', INBOUND_PORTS: [{ port: 9080, name: 'http', listenPort: 15001 }] } }))!;
  const s1 = s0.withInstance(joining);
  assert.deepEqual(s1.endpoints.endpoints(a, 9080).map((e) => `${e.address}:${e.port}`), ['10.0.0.1:15001']);
  assert.notEqual(s1.version, s0.version);
  assert.equal(s1.configVersion, s0.configVersion);
  assert.equal(s1.endpoints.of(b), s0.endpoints.of(b), 'the other service keeps its endpoint set (and version)');
  assert.equal(s1.services, s0.services, 'no implicit service appeared: the service index is shared');
  assert.equal(s1.destinationRules, s0.destinationRules);
  const s2 = s1.withoutInstance('a-1');
  assert.equal(s2.endpoints.endpoints(a, 9080).length, 0);
  assert.equal(s2.version, s0.version, 'content version: same content, same version');
  assert.equal(s2.withoutInstance('a-1'), s2);
});

test('a sidecar registering for a ServiceEntry whose port names differ from its own is matched by port number', () => {
  const { resources } = parseResources(SE('a', 'default', ['a.default.svc.cluster.local'], '  workloadSelector: { labels: { app: a } }'));
  const s0 = buildSnapshot(resources);
  const a = s0.services.get('a.default.svc.cluster.local', 'default')!;
  // `meshwork proxy --sidecar --service a --port 9080:8080:15009`: its port is named "http-9080", the entry's "http"
  const inst = instanceOfProxy(proxyFromNode({ id: 'a-2', metadata: { LABELS: { app: 'a' }, SERVICE: 'a', INBOUND_PORTS: '9080:8080:15009' } }))!;
  assert.deepEqual(s0.withInstance(inst).endpoints.endpoints(a, 9080).map((e) => `${e.address}:${e.port}`), ['127.0.0.1:15009']);
});

test('a workload registering for an undeclared service creates an implicit in-mesh service, removed when it leaves', () => {
  const s0 = buildSnapshot([]);
  const inst = instanceOfProxy(proxyFromNode({ id: 'c-1', metadata: { NAMESPACE: 'shop', INSTANCE_IPS: '10.0.0.5', SERVICE: 'c', INBOUND_PORTS: '8080:3000' } }))!;
  const s1 = s0.withInstance(inst);
  const c = s1.services.get('c.shop.svc.cluster.local', 'shop')!;
  assert.deepEqual([c.location, c.resolution, c.ports.map((p) => `${p.name}/${p.number}/${p.protocol}`)], ['MESH_INTERNAL', 'STATIC', ['http-8080/8080/HTTP']]);
  assert.deepEqual(s1.endpoints.endpoints(c, 8080).map((e) => `${e.address}:${e.port}`), ['10.0.0.5:8080']);
  const s2 = s1.withoutInstance('c-1');
  assert.equal(s2.services.get('c.shop.svc.cluster.local', 'shop'), undefined);
});

test('DestinationRule lookup: proxy namespace, then the service namespace, then the root; most specific host; exportTo', () => {
  const dr = (name: string, ns: string, host: string, extra = '') => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${ns} }
spec:
  host: "${host}"
${extra}
---`;
  const { resources } = parseResources(`${SE('r', 'prod', ['r.prod.svc.cluster.local'])}
${dr('root', 'istio-system', '*.svc.cluster.local')}
${dr('svc-ns', 'prod', 'r')}
${dr('svc-ns-private', 'prod', 'r.prod.svc.cluster.local', '  exportTo: ["."]')}
${dr('client-wild', 'client', '*.prod.svc.cluster.local')}
${dr('client-exact', 'client', 'r.prod.svc.cluster.local')}
${dr('selected', 'client', 'r.prod.svc.cluster.local', '  workloadSelector: { matchLabels: { app: special } }')}`);
  const idx = buildSnapshot(resources).destinationRules;
  const look = (ns: string, labels = {}) => idx.lookup('r.prod.svc.cluster.local', 'prod', ns, labels)?.name;
  assert.equal(look('client'), 'client-exact');
  assert.equal(look('client', { app: 'special' }), 'selected');
  assert.equal(look('prod'), 'svc-ns', 'own namespace: the first of equally specific rules');
  assert.equal(look('elsewhere'), 'svc-ns', 'the "." rule is not exported');
  assert.equal(idx.lookup('x.other.svc.cluster.local', 'other', 'elsewhere', {})?.name, 'root');
});

test('Sidecar: selector match first, then the namespace default, then the root namespace; egress scoping', () => {
  const sc = (name: string, ns: string, hosts: string[], selector = '') => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: ${name}, namespace: ${ns} }
spec:
${selector}
  egress: [{ hosts: [${hosts.map((h) => `"${h}"`).join(', ')}] }]
---`;
  const { resources } = parseResources(`${SE('a', 'a', ['x.a.svc.cluster.local'])}
${SE('b', 'b', ['y.b.svc.cluster.local'])}
${SE('ext', 'b', ['api.example.com'])}
${sc('special', 'a', ['b/*'], '  workloadSelector: { labels: { app: special } }')}
${sc('default', 'a', ['./*'])}
${sc('root', 'istio-system', ['*/*.example.com'])}`);
  const snap = buildSnapshot(resources);
  const hosts = (ns: string, labels = {}) => scopeOf(snap, proxyFromNode({ id: 'p', metadata: { NAMESPACE: ns, LABELS: labels } })).services.map((s) => s.hostname);
  assert.deepEqual(hosts('a'), ['x.a.svc.cluster.local']);
  assert.deepEqual(hosts('a', { app: 'special' }), ['api.example.com', 'y.b.svc.cluster.local']);
  assert.deepEqual(hosts('c'), ['api.example.com']);
  const gw = scopeOf(snap, proxyFromNode({ id: 'g', metadata: { MESH_TYPE: 'router', NAMESPACE: 'c' } }));
  assert.equal(gw.services.length, 3, 'Sidecar resources do not scope gateways');
});

test('Sidecar scope: an admitted VirtualService brings its route and mirror destinations, `mirrors` included', () => {
  const { resources } = parseResources(`${SE('r', 'a', ['r.a.svc.cluster.local'])}
${SE('m1', 'a', ['m1.a.svc.cluster.local'])}
${SE('m2', 'a', ['m2.a.svc.cluster.local'])}
${SE('d', 'a', ['d.a.svc.cluster.local'])}
${SE('other', 'a', ['other.a.svc.cluster.local'])}
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: a }
spec:
  hosts: [r]
  http:
  - route: [{ destination: { host: d } }]
    mirror: { host: m1 }
    mirrors: [{ destination: { host: m2 } }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: s, namespace: a }
spec:
  egress: [{ hosts: ["./r.a.svc.cluster.local"] }]
`);
  const snap = buildSnapshot(resources);
  const scope = scopeOf(snap, proxyFromNode({ id: 'p', metadata: { NAMESPACE: 'a' } }));
  assert.deepEqual(scope.services.map((s) => s.hostname), ['d.a.svc.cluster.local', 'm1.a.svc.cluster.local', 'm2.a.svc.cluster.local', 'r.a.svc.cluster.local']);
});
