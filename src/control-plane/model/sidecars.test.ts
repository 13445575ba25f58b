// Sidecar egress listeners scoped by port, and the inbound listeners a Sidecar's ingress defines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResources } from '../translate/test-support.js';
import { proxyFromNode } from './proxy.js';
import { inboundPortsOf, scopeOf } from './scope.js';
import { buildSnapshot } from './snapshot.js';

const SE = (host: string, ports: [number, string][]) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${host}, namespace: shop }
spec:
  hosts: [${host}.shop.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [${ports.map(([n, name]) => `{ number: ${n}, name: ${name} }`).join(', ')}]
  endpoints: [{ address: 10.0.0.1 }]
---`;
const SERVICES = `${SE('a', [[9080, 'http'], [9090, 'http-admin']])}
${SE('b', [[9080, 'http'], [7000, 'tcp']])}
${SE('c', [[9090, 'http']])}`;
const sidecar = (egress: string, extra = '') => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: s, namespace: shop }
spec:
  egress: ${egress}
${extra}
---`;
const client = proxyFromNode({ id: 'client', metadata: { NAMESPACE: 'shop' } });
const short = (h: string) => h.split('.')[0];

function view(yaml: string) {
  const scope = scopeOf(buildSnapshot(parseResources(yaml).resources), client);
  return {
    outbound: Object.fromEntries(scope.outbound.map((o) => [o.port, [o.bind ?? '-', ...o.services.map((s) => short(s.hostname))].join(' ')])),
    services: Object.fromEntries(scope.services.map((s) => [short(s.hostname), s.ports.map((p) => p.number)])),
  };
}

test('without a Sidecar every service is reached on every port', () => {
  assert.deepEqual(view(SERVICES), {
    outbound: { 7000: '- b', 9080: '- a b', 9090: '- a c' },
    services: { a: [9080, 9090], b: [9080, 7000], c: [9090] },
  });
});

test('an egress listener with a port admits its hosts on that port only; the catch-all takes the other ports', () => {
  const v = view(`${SERVICES}${sidecar('[{ port: { number: 9080, protocol: HTTP, name: web }, bind: 127.0.0.9, hosts: ["./a.shop.svc.cluster.local"] }, { hosts: ["./*"] }]')}`);
  // b has 9080 too, but the 9080 listener admits a alone; the catch-all admits b on 7000 and c (and a) on 9090
  assert.deepEqual(v.outbound, { 7000: '- b', 9080: '127.0.0.9 a', 9090: '- a c' });
  assert.deepEqual(v.services, { a: [9080, 9090], b: [7000], c: [9090] });
});

test('without a catch-all only the declared ports exist; a service is a copy restricted to its admitted ports', () => {
  const v = view(`${SERVICES}${sidecar('[{ port: { number: 9080 }, hosts: ["./*"] }]')}`);
  assert.deepEqual(v.outbound, { 9080: '- a b' });
  assert.deepEqual(v.services, { a: [9080], b: [9080] });
});

test('a route destination keeps the ports its routes use: its own port, or the listener port of the host it serves', () => {
  const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a, namespace: shop }
spec:
  hosts: [a]
  http:
  - match: [{ uri: { prefix: /c } }]
    route: [{ destination: { host: c } }]
  - route: [{ destination: { host: b } }]
  tcp:
  - route: [{ destination: { host: b, port: { number: 7000 } } }]
---`;
  const v = view(`${SERVICES}${vs}${sidecar('[{ port: { number: 9080 }, hosts: ["./a.shop.svc.cluster.local"] }]')}`);
  // no listener for c or b: only their clusters (c's only port; b on a's listener port and on 7000)
  assert.deepEqual(v.outbound, { 9080: '- a' });
  assert.deepEqual(v.services, { a: [9080], b: [9080, 7000], c: [9090] });
});

test('Sidecar ingress: each listener replaces the flag listener of its port; bind, defaultEndpoint, TLS, pool', () => {
  const { resources } = parseResources(`${SERVICES}
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: reviews, namespace: shop }
spec:
  workloadSelector: { labels: { app: reviews } }
  ingress:
  - port: { number: 19080, protocol: HTTPS, name: https-web }
    defaultEndpoint: 127.0.0.1:8081
    tls: { mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem }
    connectionPool: { tcp: { maxConnections: 7 } }
  - port: { number: 15000, protocol: TCP, name: tcp-db }
    bind: 127.0.0.7
    defaultEndpoint: 0.0.0.0:5432
`);
  const snap = buildSnapshot(resources);
  const node = (labels: Record<string, string>) =>
    proxyFromNode({ id: 'r', metadata: { NAMESPACE: 'shop', LABELS: labels, SERVICE: 'reviews', INSTANCE_IPS: '127.0.0.5', INBOUND_PORTS: '9080:8080:19080,9443:8443' } });
  const ports = inboundPortsOf(snap, node({ app: 'reviews' }));
  assert.deepEqual(
    ports.map((p) => [p.port, p.listenPort, p.targetPort, p.protocol, p.bind ?? '-', p.endpointAddress ?? '-', p.tls?.mode ?? '-', p.connectionPool?.tcp?.maxConnections ?? '-']),
    [
      // the flag 9443 keeps its listener; 19080 is the flags' endpoint port of service port 9080: the ingress
      // listener replaces it (HTTPS terminated there: HTTP to the app at the ingress's defaultEndpoint)
      [9443, 9443, 8443, 'HTTP', '-', '-', '-', '-'],
      [15000, 15000, 5432, 'TCP', '127.0.0.7', '127.0.0.5', '-', '-'],
      [9080, 19080, 8081, 'HTTP', '-', '-', 'SIMPLE', 7],
    ],
  );
  // a proxy the Sidecar does not select keeps its flags
  assert.deepEqual(inboundPortsOf(snap, node({ app: 'other' })).map((p) => p.listenPort), [19080, 9443]);
});
