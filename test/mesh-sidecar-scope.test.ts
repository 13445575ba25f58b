// Sidecar resources scope what a sidecar is sent: with services in two namespaces, a client sidecar in "shop"
// runs clusters for all of them; a Sidecar with `egress.hosts: ["./*"]` (its own namespace) shrinks its config
// dump to shop's clusters, and one naming a single service shrinks it to that service's, while it still reaches
// that service and a sidecar the Sidecar does not select keeps everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterNames, nextLoopback, TestMesh, tryRequest, type AppServer } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

const sidecarYaml = (hosts: string[]) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client-scope
  namespace: shop
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - hosts:
${hosts.map((h) => `    - "${h}"`).join('\n')}
`;

test('Sidecar egress hosts shrink a sidecar\'s clusters (config dump) and keep the allowed service reachable', async () => {
  const port = await freePort();
  const otherPort = await freePort();
  const mesh = await TestMesh.start();
  try {
    // shop: reviews, ratings; other: inventory, billing (its own port); each with one workload
    const workloads: [string, string, number][] = [['reviews', 'shop', port], ['ratings', 'shop', port], ['inventory', 'other', port], ['billing', 'other', otherPort]];
    const apps = new Map<string, AppServer>();
    for (const [svc, ns, p] of workloads) {
      const app = await mesh.app(svc);
      apps.set(svc, app);
      await mesh.sidecar({ id: `${svc}-1`, service: svc, namespace: ns, labels: `app=${svc}`, ports: [`${p}:${app.port}:${await freePort()}`] });
    }
    const client = await mesh.sidecar({ id: 'client', namespace: 'shop', labels: 'app=client' });
    const bystander = await mesh.sidecar({ id: 'bystander', namespace: 'shop', labels: 'app=bystander' });
    const call = (host: string) => tryRequest(port, { host: client.outboundBind, headers: { host: `${host}:${port}` } });
    const outbound = async (p: typeof client) => (await clusterNames(p)).filter((n) => n.startsWith('outbound|'));

    const all = ['billing.other', 'inventory.other', 'ratings.shop', 'reviews.shop'].map((s) => `outbound|${s.startsWith('billing') ? otherPort : port}||${s}.svc.cluster.local`).sort();
    await waitFor(async () => JSON.stringify(await outbound(client)) === JSON.stringify(all), 'the client running every service\'s cluster', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await outbound(client))}\n${mesh.logs()}`);
    });
    // CDS comes before LDS: the outbound listener may still be on its way
    await waitFor(async () => (await call('reviews')).body === 'reviews /', 'reviews through the client', 30_000);
    assert.equal((await call('inventory.other')).body, 'inventory /');
    const before = (await clusterNames(client)).length;

    // its own namespace only
    mesh.write('sidecar.yaml', sidecarYaml(['./*']));
    const shopOnly = all.filter((c) => c.endsWith('.shop.svc.cluster.local'));
    await waitFor(async () => JSON.stringify(await outbound(client)) === JSON.stringify(shopOnly), 'the client scoped to shop', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await outbound(client))}\n${mesh.logs()}`);
    });
    const scoped = (await clusterNames(client)).length;
    assert.ok(scoped < before, `${scoped} clusters with the Sidecar, ${before} before`);
    assert.equal((await call('reviews')).body, 'reviews /');
    assert.equal((await call('ratings')).body, 'ratings /');
    // another namespace's service has no virtual host (nor cluster) in this sidecar any more
    assert.notEqual((await call('inventory.other')).status, 200);
    // billing's port had only billing: its outbound listener went with it
    assert.equal((await tryRequest(otherPort, { host: client.outboundBind, headers: { host: `billing.other:${otherPort}` } })).status, 0, 'connection refused');

    // one service only
    mesh.write('sidecar.yaml', sidecarYaml(['shop/reviews.shop.svc.cluster.local']));
    await waitFor(async () => JSON.stringify(await outbound(client)) === JSON.stringify([`outbound|${port}||reviews.shop.svc.cluster.local`]), 'the client scoped to reviews', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await outbound(client))}`);
    });
    assert.ok((await clusterNames(client)).length < scoped);
    for (let i = 0; i < 10; i++) assert.equal((await call('reviews')).body, 'reviews /');
    assert.notEqual((await call('ratings')).status, 200);

    // the Sidecar selects app=client: the bystander in the same namespace still sees every service
    assert.deepEqual(await outbound(bystander), all);

    // a VirtualService the egress hosts admit brings its destinations along, mirrors included (Istio adds them
    // so that no route names a cluster the proxy lacks): reviews mirrored to ratings with \`mirrors\`
    mesh.write('reviews-vs.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
    mirrors:
    - destination:
        host: ratings
`);
    const withMirror = [`outbound|${port}||ratings.shop.svc.cluster.local`, `outbound|${port}||reviews.shop.svc.cluster.local`];
    await waitFor(async () => JSON.stringify(await outbound(client)) === JSON.stringify(withMirror), 'the mirror destination\'s cluster in the scoped client', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await outbound(client))}`);
    });
    const ratingsApp = apps.get('ratings')!;
    // the route with its mirror (RDS) and ratings' endpoints (EDS) may follow the cluster by a moment
    const copies = () => ratingsApp.requests.filter((r) => r.headers.host === `reviews-shadow:${port}`).length;
    await waitFor(async () => (await call('reviews')).body === 'reviews /' && copies() > 0, 'a copy of a reviews request at ratings', 30_000);
  } finally {
    await mesh.close();
  }
});

test('Sidecar egress listeners with a port: their hosts on that port only (and on their bind address); the catch-all on the others', async () => {
  const web = await freePort();
  const admin = await freePort();
  const mesh = await TestMesh.start();
  try {
    // reviews serves web; ratings serves web and admin
    const reviewsApp = await mesh.app('reviews');
    const ratingsApp = await mesh.app('ratings');
    await mesh.sidecar({ id: 'reviews-1', service: 'reviews', namespace: 'shop', labels: 'app=reviews', ports: [`${web}:${reviewsApp.port}:${await freePort()}`] });
    await mesh.sidecar({ id: 'ratings-1', service: 'ratings', namespace: 'shop', labels: 'app=ratings', ports: [`${web}:${ratingsApp.port}:${await freePort()}`, `${admin}:${ratingsApp.port}:${await freePort()}`] });
    const client = await mesh.sidecar({ id: 'client', namespace: 'shop', labels: 'app=client' });
    const call = (host: string, port: number, bind = client.outboundBind) => tryRequest(port, { host: bind, headers: { host: `${host}:${port}` } });
    // reviews registers on its own time too: wait for it as well before asserting on it
    const ready = async () => (await call('ratings', web)).body === 'ratings /' && (await call('ratings', admin)).body === 'ratings /' && (await call('reviews', web)).body === 'reviews /';
    await waitFor(ready, 'ratings on both ports, reviews on web', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    assert.equal((await call('reviews', web)).body, 'reviews /');

    // the web listener (on a bind address of its own) admits reviews only; the catch-all admits all of shop
    const bind = nextLoopback();
    mesh.write('sidecar.yaml', `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: client-scope
  namespace: shop
spec:
  workloadSelector:
    labels:
      app: client
  egress:
  - port:
      number: ${web}
      protocol: HTTP
      name: http-web
    bind: ${bind}
    hosts:
    - "./reviews.shop.svc.cluster.local"
  - hosts:
    - "./*"
`);
    await waitFor(async () => (await call('reviews', web, bind)).body === 'reviews /', 'reviews on the web listener\'s bind address', 30_000).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await call('reviews', web, bind))}\n${mesh.logs()}`);
    });
    // ratings has the web port too, but the web listener does not admit it: no virtual host (404), no cluster
    assert.equal((await call('ratings', web, bind)).status, 404);
    assert.ok(!(await clusterNames(client)).includes(`outbound|${web}||ratings.shop.svc.cluster.local`));
    // on the other port the catch-all admits ratings
    assert.equal((await call('ratings', admin)).body, 'ratings /');
    // the web port left the default bind address
    assert.equal((await call('reviews', web)).status, 0, 'connection refused');
  } finally {
    await mesh.close();
  }
});
