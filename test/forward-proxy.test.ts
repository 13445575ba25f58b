// End to end: `meshwork proxy` as an HTTP forward proxy, from a static bootstrap with Envoy's dynamic forward
// proxy (the envoy.filters.http.dynamic_forward_proxy filter + an envoy.clusters.dynamic_forward_proxy cluster
// sharing one DNS cache). curl -x sends http:// URLs in absolute form, which must reach the upstream as
// origin-form with the URL's authority as Host; https:// URLs go through CONNECT, terminated by a
// connect_matcher route with connect_config, to a local TLS server whose certificate curl verifies end to end.
// Names are resolved by the system resolver: only `localhost` and IP literals, nothing off this machine.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { makePki, type Pki } from './helpers/certs.js';
import { bootstrap, curl, hcmFilter, listener } from './helpers/protocols.js';
import { freePort, listenerPort, startProxy, stat, type RunningProxy } from './helpers/proxy.js';

const DFP_FILTER = 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig';
const DFP_CLUSTER = 'type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig';

let proxy: RunningProxy;
let pki: Pki;
let plain: http.Server;
let secure: https.Server;
const ports: Record<string, number> = {};
const seen: { url: string; host: string | undefined; proxyConnection: string | undefined }[] = [];

function dnsCache(name: string, extra: Record<string, unknown> = {}): object {
  return { name, dns_lookup_family: 'V4_ONLY', dns_query_timeout: '2s', ...extra };
}

function dfpCluster(name: string, cache: object): object {
  return {
    name,
    connect_timeout: '2s',
    lb_policy: 'CLUSTER_PROVIDED',
    cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: { '@type': DFP_CLUSTER, dns_cache_config: cache } },
  };
}

/** An HCM that proxies anything: CONNECT tunnels (terminated here) and absolute-form requests, through `cluster`. */
function forwardProxyHcm(statPrefix: string, cluster: string, cache: object, connect: boolean): object {
  const hcm = hcmFilter({
    statPrefix,
    routes: [
      { match: { connect_matcher: {} }, route: { cluster, timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } },
      { match: { prefix: '/' }, route: { cluster } },
    ],
    extra: connect ? { upgrade_configs: [{ upgrade_type: 'CONNECT' }] } : {},
  }) as { typed_config: { http_filters: object[] } };
  hcm.typed_config.http_filters.unshift({ name: 'envoy.filters.http.dynamic_forward_proxy', typed_config: { '@type': DFP_FILTER, dns_cache_config: cache } });
  return hcm;
}

before(async () => {
  pki = makePki();
  plain = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host, proxyConnection: req.headers['proxy-connection'] as string | undefined });
    res.setHeader('content-type', 'text/plain');
    res.end(`plain ${req.method} ${req.url} host=${req.headers.host}`);
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  ports.plain = (plain.address() as net.AddressInfo).port;
  const leaf = pki.leaf('localhost', { cn: 'localhost', dns: ['localhost'], usage: 'server' });
  secure = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => res.end(`secure ${req.url} host=${req.headers.host}`));
  await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
  ports.secure = (secure.address() as net.AddressInfo).port;
  ports.closed = await freePort();

  const main = dnsCache('fwd');
  const small = dnsCache('small', { max_hosts: 1 });
  proxy = await startProxy(
    bootstrap(
      [
        listener('fwd', [{ filters: [forwardProxyHcm('fwd', 'dfp', main, true)] }]),
        listener('noconnect', [{ filters: [forwardProxyHcm('noconnect', 'dfp', main, false)] }]),
        listener('small', [{ filters: [forwardProxyHcm('small', 'dfp_small', small, true)] }]),
      ],
      [dfpCluster('dfp', main), dfpCluster('dfp_small', small)],
    ),
  );
  for (const n of ['fwd', 'noconnect', 'small']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  plain?.closeAllConnections();
  secure?.closeAllConnections();
  await Promise.all([new Promise((r) => plain?.close(r)), new Promise((r) => secure?.close(r))]);
  if (pki) await import('node:fs').then((fs) => fs.rmSync(pki.dir, { recursive: true, force: true }));
});

test('an absolute-form request (curl -x, http:// URL) reaches the named host as origin-form with its authority as Host', async () => {
  seen.length = 0;
  const r = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, `http://localhost:${ports.plain}/hello/world?x=1&y=2`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `plain GET /hello/world?x=1&y=2 host=localhost:${ports.plain}`);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.url, '/hello/world?x=1&y=2');
  assert.equal(seen[0]!.proxyConnection, undefined, 'Proxy-Connection is hop-by-hop');
  // an IP literal needs no lookup, and a second name for the same address shares its host
  const ip = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, `http://127.0.0.1:${ports.plain}/ip`]);
  assert.equal(ip.stdout, `plain GET /ip host=127.0.0.1:${ports.plain}`);
  assert.ok((await stat(proxy, 'dns_cache.fwd.host_added'))! >= 2);
  assert.ok((await stat(proxy, 'cluster.dfp.upstream_rq_2xx'))! >= 2);
  assert.equal(await stat(proxy, 'cluster.dfp.membership_total'), 1, 'localhost and 127.0.0.1 resolve to one host');
});

test('a request body and several requests on one proxy connection go through', async () => {
  const r = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, '-d', 'payload', `http://localhost:${ports.plain}/post`, `http://localhost:${ports.plain}/again`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `plain POST /post host=localhost:${ports.plain}plain POST /again host=localhost:${ports.plain}`);
});

test('a name that does not resolve is answered 503 "DNS resolution failure"', async () => {
  const r = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, '-w', '\n%{http_code}', 'http://no-such-host.invalid/']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'DNS resolution failure\n503');
  assert.ok((await stat(proxy, 'dns_cache.fwd.dns_query_failure'))! >= 1);
});

test('an https:// URL tunnels through CONNECT to a local TLS server, verified end to end', async () => {
  const before = (await stat(proxy, 'http.fwd.downstream_cx_upgrades_total')) ?? 0;
  const r = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, '--cacert', pki.ca.cert, `https://localhost:${ports.secure}/tls?q=1`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `secure /tls?q=1 host=localhost:${ports.secure}`);
  assert.equal(await stat(proxy, 'http.fwd.downstream_cx_upgrades_total'), before + 1);
  // curl's --proxytunnel does the same for plain http:// (CONNECT, then HTTP inside the tunnel)
  const t = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, '-p', '-v', `http://localhost:${ports.plain}/inside`]);
  assert.equal(t.code, 0, t.stderr);
  assert.equal(t.stdout, `plain GET /inside host=localhost:${ports.plain}`);
  assert.match(t.stderr, /CONNECT localhost:\d+ HTTP\/1.1/);
  assert.match(t.stderr, /HTTP\/1.1 200/);
});

test('CONNECT to a port nobody listens on is 503; without upgrade_configs CONNECT the HCM refuses it with 403', async () => {
  const refused = await curl(['-x', `http://127.0.0.1:${ports.fwd}`, '-p', `http://localhost:${ports.closed}/`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /CONNECT tunnel failed, response 503/);
  const off = await curl(['-x', `http://127.0.0.1:${ports.noconnect}`, '--cacert', pki.ca.cert, `https://localhost:${ports.secure}/`]);
  assert.notEqual(off.code, 0);
  assert.match(off.stderr, /CONNECT tunnel failed, response 403/);
  // the same listener still proxies absolute-form requests
  const ok = await curl(['-x', `http://127.0.0.1:${ports.noconnect}`, `http://localhost:${ports.plain}/x`]);
  assert.equal(ok.stdout, `plain GET /x host=localhost:${ports.plain}`);
});

test('max_hosts: a host beyond the cache size is answered 503 "DNS cache overflow"', async () => {
  const first = await curl(['-x', `http://127.0.0.1:${ports.small}`, `http://localhost:${ports.plain}/one`]);
  assert.equal(first.stdout, `plain GET /one host=localhost:${ports.plain}`);
  const second = await curl(['-x', `http://127.0.0.1:${ports.small}`, '-w', '\n%{http_code}', `http://127.0.0.1:${ports.plain}/two`]);
  assert.equal(second.stdout, 'DNS cache overflow\n503');
  assert.equal(await stat(proxy, 'dns_cache.small.host_overflow'), 1);
  // the cached host keeps working
  const again = await curl(['-x', `http://127.0.0.1:${ports.small}`, `http://localhost:${ports.plain}/three`]);
  assert.equal(again.stdout, `plain GET /three host=localhost:${ports.plain}`);
});
