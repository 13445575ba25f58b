// Sidecar outboundTrafficPolicy ALLOW_ANY with an egressProxy, with real processes: an app sends requests for a
// host the mesh does not know through its sidecar's HTTP proxy listener; the sidecar's catch-all sends them to
// the egress gateway (a `meshwork proxy --gateway` whose Gateway and VirtualService route that host to a
// backend the client's Sidecar does not import), instead of resolving the host itself (PassthroughCluster).
// The backend sees the request coming from the egress gateway, and the gateway's stats count it. Without the
// egressProxy, the same request goes straight to DNS (and fails: the host does not resolve).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestMesh } from './helpers/mesh.js';
import { curl } from './helpers/protocols.js';
import { freePort, waitFor } from './helpers/proxy.js';

const UNKNOWN = 'unknown.egress.test';

test('egressProxy: unknown destinations leave through the egress gateway', async () => {
  const gatewayPort = await freePort(); // where the egress gateway listens
  const egressServicePort = await freePort(); // the egress gateway's service port (its client-side listener)
  const backendPort = await freePort();
  const sidecar = (egressProxy: boolean) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
spec:
  egress:
  - hosts:
    - "istio-system/*"
  outboundTrafficPolicy:
    mode: ALLOW_ANY
${egressProxy ? `    egressProxy:\n      host: istio-egressgateway.istio-system.svc.cluster.local\n      port:\n        number: ${egressServicePort}\n` : ''}`;
  const mesh = await TestMesh.start({ 'sidecar.yaml': sidecar(true) });
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const backend = await mesh.app('backend', (req, res) => {
      res.end(`backend ${req.url} host=${req.headers.host}`);
      return true;
    });
    mesh.write('egress.yaml', `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: istio-egressgateway
  namespace: istio-system
spec:
  hosts:
  - istio-egressgateway.istio-system.svc.cluster.local
  location: MESH_INTERNAL
  ports:
  - number: ${egressServicePort}
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
      http: ${gatewayPort}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: egress
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: ${gatewayPort}
      name: http
      protocol: HTTP
    hosts:
    - "*"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: unknown-via-egress
spec:
  hosts:
  - ${UNKNOWN}
  gateways:
  - egress
  http:
  - route:
    - destination:
        host: backend.outside.internal
        port:
          number: ${backendPort}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: backend
  namespace: outside
spec:
  hosts:
  - backend.outside.internal
  location: MESH_EXTERNAL
  ports:
  - number: ${backendPort}
    name: http
    protocol: HTTP
  resolution: STATIC
  endpoints:
  - address: 127.0.0.1
    ports:
      http: ${backend.port}
`);
    const gateway = await mesh.gateway({ id: 'egress-gateway', name: 'egress', labels: 'istio=egressgateway' });
    const client = await mesh.sidecar({ id: 'client' });
    const viaProxy = (url: string) => curl(['-x', `http://${client.outboundBind}:15080`, '-w', '|%{http_code}', url]);

    await waitFor(async () => (await viaProxy(`http://${UNKNOWN}/hello`)).stdout === `backend /hello host=${UNKNOWN}|200`, 'the unknown host through the egress gateway', 30_000).catch(fail);
    for (let i = 0; i < 5; i++) assert.equal((await viaProxy(`http://${UNKNOWN}/n${i}`)).stdout, `backend /n${i} host=${UNKNOWN}|200`);
    // it went through the gateway: its outbound cluster to the backend carried the requests
    // (/stats?filter= takes a regex: the cluster name's `|` and `.` are escaped, and the line is found by its name)
    const name = `cluster.outbound|${backendPort}||backend.outside.internal.upstream_rq_total`;
    const stats = await (await gateway.admin(`/stats?filter=${encodeURIComponent(name.replace(/[|.]/g, '\\$&'))}`)).text();
    const m = new RegExp(`^${name.replace(/[|.]/g, '\\$&')}: (\\d+)$`, 'm').exec(stats);
    assert.ok(m && Number(m[1]) >= 6, `gateway stats: ${stats}`);
    // and the client sidecar sent them to the egress gateway's cluster, not to PassthroughCluster
    const clientStats = await (await client.admin(`/stats?filter=${encodeURIComponent('istio-egressgateway')}`)).text();
    assert.match(clientStats, new RegExp(`outbound\\|${egressServicePort}\\|\\|istio-egressgateway\\.istio-system\\.svc\\.cluster\\.local\\.upstream_rq_total: ([6-9]|\\d\\d+)`));

    // without egressProxy, ALLOW_ANY resolves the host itself: it does not exist, so the request fails there
    mesh.write('sidecar.yaml', sidecar(false));
    await waitFor(async () => !(await viaProxy(`http://${UNKNOWN}/direct`)).stdout.endsWith('|200'), 'PassthroughCluster once egressProxy is gone', 30_000).catch(fail);
    const requestsSeen = backend.requests.length;
    const direct = await viaProxy(`http://${UNKNOWN}/direct`);
    assert.notEqual(direct.stdout.slice(-3), '200', direct.stdout);
    assert.equal(backend.requests.length, requestsSeen, 'the backend saw no request without the egress gateway');
  } finally {
    await mesh.close();
  }
});
