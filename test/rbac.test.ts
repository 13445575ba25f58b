// RBAC in a real `meshwork proxy` from a static bootstrap: envoy.filters.http.rbac (ALLOW / DENY / LOG, shadow
// rules with their statistics and dynamic metadata in the access log, per-route override and disable, SPIFFE
// identities from client certificates) and envoy.filters.network.rbac closing TCP connections. The path bypass
// classes of issue 6 are each sent to a DENY rule on the /admin prefix behind an HCM with normalize_path,
// merge_slashes and an escaped-slashes action, and must never reach the upstream as /admin.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { DOWNSTREAM_TLS, makePki, tlsCertificate, type CertFiles } from './helpers/certs.js';
import { accessLines, httpListener, request, ROUTER, startUpstream, staticCluster, stdoutAccessLog, type Upstream } from './helpers/http-semantics.js';
import { listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const RBAC_PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
const NETWORK_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';

const any = [{ any: true }];
const policy = (permissions: object[], principals: object[] = any) => ({ permissions, principals });
const urlPrefix = (p: string) => ({ url_path: { path: { prefix: p } } });
const rbacFilter = (cfg: object) => ({ name: 'envoy.filters.http.rbac', typed_config: { '@type': RBAC, ...cfg } });
const allRoutes = (extra: object = {}) => ({ virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }], ...extra }] });
const LOG_FORMAT = '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_engine_result)% %DYNAMIC_METADATA(envoy.filters.http.rbac:shadow_effective_policy_id)% %DYNAMIC_METADATA(envoy.common:access_log_hint)%';

// The DENY rules every normalization listener enforces. The last two are what an operator adds on top of a path
// rule (and what Istio's translation does): host names compared case-insensitively, and ';' refused outright for
// backends that read it as a path-parameter delimiter (Envoy, like Meshwork, forwards "/..;/admin" literally).
const denyRules = {
  action: 'DENY',
  policies: {
    'deny-admin': policy([urlPrefix('/admin')]),
    'deny-admin-host': policy([{ header: { name: ':authority', string_match: { exact: 'admin.example.com', ignore_case: true } } }]),
    'deny-delete': policy([{ header: { name: ':method', string_match: { exact: 'DELETE' } } }]),
  },
};
const normalizing = (escaped: string) => ({
  normalize_path: true,
  merge_slashes: true,
  path_with_escaped_slashes_action: escaped,
  route_config: allRoutes(),
});

let up: Upstream;
let tcpEcho: net.Server;
let echoConnections = 0;
let caPem: string;
let proxy: RunningProxy;
let certs: Record<string, CertFiles>;
const ports: Record<string, number> = {};

before(async () => {
  up = await startUpstream('backend');
  tcpEcho = net.createServer((s) => {
    echoConnections++;
    s.pipe(s);
  });
  await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', r));
  const pki = makePki();
  caPem = pki.ca.certPem;
  certs = {
    server: pki.leaf('server', { cn: 'rbac.example.com', dns: ['rbac.example.com'], usage: 'server' }),
    sleep: pki.leaf('sleep', { cn: 'sleep', uri: [SLEEP], usage: 'client' }),
    other: pki.leaf('other', { cn: 'other', uri: ['spiffe://cluster.local/ns/default/sa/other'], dns: ['sleep.default.svc'], usage: 'client' }),
  };
  const tcpListener = (name: string, rules: object) => ({
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          { name: 'envoy.filters.network.rbac', typed_config: { '@type': NETWORK_RBAC, stat_prefix: name, ...rules } },
          { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster: 'echo' } },
        ],
      },
    ],
  });
  proxy = await startProxy({
    static_resources: {
      listeners: [
        // normalization + DENY, with escaped slashes redirected to the unescaped path
        httpListener('redirect', { ...normalizing('UNESCAPE_AND_REDIRECT'), access_log: [stdoutAccessLog(`redirect ${LOG_FORMAT}`)], http_filters: [rbacFilter({ rules: denyRules }), ROUTER] }),
        // the same with escaped slashes rejected, and the ';' rule of the mitigation
        httpListener('reject', {
          ...normalizing('REJECT_REQUEST'),
          http_filters: [rbacFilter({ rules: { ...denyRules, policies: { ...denyRules.policies, 'deny-path-params': policy([{ url_path: { path: { contains: ';' } } }]) } } }), ROUTER],
        }),
        // ALLOW only GET; /open turns the filter off, /locked allows nothing; shadow rules deny /admin
        httpListener('api', {
          // shadow_rules_stat_prefix also prefixes the metadata keys
          access_log: [stdoutAccessLog(`api ${LOG_FORMAT.replace(/shadow_/g, 'canary_shadow_')}`)],
          http_filters: [
            rbacFilter({
              rules: { action: 'ALLOW', policies: { 'allow-get': policy([{ header: { name: ':method', string_match: { exact: 'GET' } } }]) } },
              shadow_rules: { action: 'DENY', policies: { 'shadow-deny-admin': policy([urlPrefix('/admin')]) } },
              shadow_rules_stat_prefix: 'canary_',
            }),
            ROUTER,
          ],
          route_config: {
            virtual_hosts: [
              {
                name: 'all',
                domains: ['*'],
                routes: [
                  { match: { prefix: '/open' }, route: { cluster: 'backend' }, typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE } } },
                  {
                    match: { prefix: '/locked' },
                    route: { cluster: 'backend' },
                    typed_per_filter_config: { 'envoy.filters.http.rbac': { '@type': RBAC_PER_ROUTE, rbac: { rules: { action: 'ALLOW', policies: {} } } } },
                  },
                  { match: { prefix: '/' }, route: { cluster: 'backend' } },
                ],
              },
            ],
          },
        }),
        // LOG: never denies, marks matching requests for the access log
        httpListener('audit', {
          access_log: [stdoutAccessLog(`audit ${LOG_FORMAT}`)],
          http_filters: [rbacFilter({ rules: { action: 'LOG', policies: { 'log-admin': policy([urlPrefix('/admin')]) } } }), ROUTER],
          route_config: allRoutes(),
        }),
        // mTLS: only the sleep service account
        {
          name: 'mtls',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': DOWNSTREAM_TLS,
                  require_client_certificate: true,
                  common_tls_context: { tls_certificates: [tlsCertificate(certs.server!)], validation_context: { trusted_ca: { filename: pki.ca.cert } } },
                },
              },
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'mtls',
                    route_config: allRoutes(),
                    http_filters: [
                      rbacFilter({ rules: { action: 'ALLOW', policies: { 'allow-sleep': policy([{ any: true }], [{ authenticated: { principal_name: { exact: SLEEP } } }]) } } }),
                      ROUTER,
                    ],
                  },
                },
              ],
            },
          ],
        },
        tcpListener('tcp_denied', { rules: { action: 'DENY', policies: { 'deny-loopback': policy(any, [{ remote_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }]) } } }),
        tcpListener('tcp_allowed', {
          rules: { action: 'ALLOW', policies: { 'allow-loopback': policy(any, [{ direct_remote_ip: { address_prefix: '127.0.0.1', prefix_len: 32 } }]) } },
          shadow_rules: { action: 'DENY', policies: { all: policy(any) } },
          enforcement_type: 'CONTINUOUS',
        }),
      ],
      clusters: [staticCluster('backend', up.port), staticCluster('echo', (tcpEcho.address() as net.AddressInfo).port)],
    },
  });
  for (const l of ['redirect', 'reject', 'api', 'audit', 'mtls', 'tcp_denied', 'tcp_allowed']) ports[l] = await listenerPort(proxy, l);
});

after(async () => {
  await proxy?.stop();
  await up?.close();
  tcpEcho?.close();
});

const reachedAdmin = () => up.requests.filter((r) => r.url.toLowerCase().replace(/\/+/g, '/').startsWith('/admin'));
const logLine = (prefix: string) => waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(prefix)), `access log "${prefix}"`);

test('DENY on /admin: 403 "RBAC: access denied", the policy in the response details, counted as denied', async () => {
  const r = await request(ports.redirect!, { path: '/admin/users' });
  assert.equal(r.status, 403);
  assert.equal(r.text, 'RBAC: access denied');
  const line = await logLine('redirect /admin/users ');
  assert.match(line, /^redirect \/admin\/users 403 rbac_access_denied_matched_policy\[deny-admin\] /);
  const ok = await request(ports.redirect!, { path: '/public' });
  assert.equal(ok.status, 200);
  assert.equal(await stat(proxy, 'http.redirect.rbac.denied'), 1);
  assert.equal(await stat(proxy, 'http.redirect.rbac.allowed'), 1);
});

test('bypass classes: each is denied (403), rejected (400) or redirected to the path that is then denied', async () => {
  const before = up.requests.length;
  const cases: [string, number, number][] = [
    // path, port, expected status
    ['/a/../admin', ports.redirect!, 403],
    ['/a/./../admin/x', ports.redirect!, 403],
    ['//admin', ports.redirect!, 403],
    ['/public/..//admin', ports.redirect!, 403],
    ['/%2e%2e/admin', ports.redirect!, 403],
    ['/%61dmin', ports.redirect!, 403], // an escaped unreserved character is decoded before matching
    ['/admin?x', ports.redirect!, 403],
    ['/admin?x=/public', ports.redirect!, 403],
    ['/admin#x', ports.redirect!, 400], // a fragment is refused (Envoy's default)
    ['/public#/../admin', ports.redirect!, 400],
    ['/admin%00', ports.redirect!, 400],
    ['/%00/../admin', ports.redirect!, 400],
    ['/%2Fadmin', ports.reject!, 400],
    ['/%5Cadmin', ports.reject!, 400],
    ['/..;/admin', ports.reject!, 403], // forwarded literally, so the ';' rule denies it
  ];
  for (const [path, port, want] of cases) {
    const r = await request(port, { path });
    assert.equal(r.status, want, `${path} on ${port === ports.redirect ? 'redirect' : 'reject'}`);
  }
  // UNESCAPE_AND_REDIRECT: 307 to the unescaped, normalized path, which is then denied
  for (const path of ['/%2Fadmin', '/%2fadmin', '/x/%2E%2E%2Fadmin', '/%5Cadmin']) {
    const r = await request(ports.redirect!, { path });
    assert.equal(r.status, 307, path);
    assert.equal(r.headers.location, '/admin', path);
    assert.equal((await request(ports.redirect!, { path: r.headers.location })).status, 403);
  }
  assert.deepEqual(reachedAdmin(), [], 'no bypass reached the upstream as /admin');
  assert.equal(up.requests.length, before);
  assert.ok((await stat(proxy, 'http.reject.downstream_rq_failed_path_normalization'))! >= 2);
  assert.ok((await stat(proxy, 'http.redirect.downstream_rq_redirected_with_normalized_path'))! >= 4);
});

test('what is matched is what is forwarded: the normalized path reaches the upstream; ";" is literal as in Envoy', async () => {
  const r = await request(ports.redirect!, { path: '/a/../public//x/%7Euser?q=/../admin' });
  assert.equal(r.status, 200);
  assert.equal(r.json().url, '/public/x/~user?q=/../admin');
  // without the ';' rule, "/..;/admin" is not /admin to RBAC, and it is forwarded exactly as sent
  const semi = await request(ports.redirect!, { path: '/..;/admin' });
  assert.equal(semi.status, 200);
  assert.equal(semi.json().url, '/..;/admin');
});

test('host names: a case-insensitive host rule denies Admin.example.com', async () => {
  for (const host of ['admin.example.com', 'Admin.Example.COM']) {
    const r = await request(ports.redirect!, { path: '/public', headers: { host } });
    assert.equal(r.status, 403, host);
  }
  const line = await logLine('redirect /public 403 ');
  assert.match(line, /rbac_access_denied_matched_policy\[deny-admin-host\]/);
});

test('methods over HTTP/2: DELETE is denied, a lower-case "delete" is refused before any filter', async () => {
  const client = http2.connect(`http://127.0.0.1:${ports.redirect}`);
  client.on('error', () => {});
  const send = (method: string) =>
    new Promise<number>((resolve, reject) => {
      const req = client.request({ ':method': method, ':path': '/public' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
  try {
    assert.equal(await send('GET'), 200);
    assert.equal(await send('DELETE'), 403);
    assert.equal(await send('delete'), 400);
    assert.equal(await send('Delete'), 400);
  } finally {
    client.close();
  }
  assert.equal(up.requests.filter((r) => r.method.toUpperCase() === 'DELETE').length, 0);
});

test('ALLOW with shadow rules: shadow results in stats and the access log; per-route disable and allow-nothing', async () => {
  assert.equal((await request(ports.api!, { path: '/admin/x' })).status, 200, 'shadow rules never deny');
  assert.equal((await request(ports.api!, { method: 'POST', path: '/data', body: 'x' })).status, 403);
  assert.equal((await request(ports.api!, { method: 'POST', path: '/open/data', body: 'x' })).status, 200, 'RBACPerRoute without rbac: filter off');
  assert.equal((await request(ports.api!, { path: '/locked' })).status, 403, 'RBACPerRoute with an empty ALLOW: nothing allowed');
  assert.match(await logLine('api /admin/x '), /^api \/admin\/x 200 \S+ denied shadow-deny-admin -$/);
  assert.match(await logLine('api /data '), /^api \/data 403 rbac_access_denied_matched_policy\[none\] allowed - -$/);
  assert.match(await logLine('api /open/data '), /^api \/open\/data 200 \S+ - - -$/);
  assert.match(await logLine('api /locked '), /^api \/locked 403 rbac_access_denied_matched_policy\[none\] - - -$/);
  assert.equal(await stat(proxy, 'http.api.rbac.canary_shadow_denied'), 1);
  assert.equal(await stat(proxy, 'http.api.rbac.canary_shadow_allowed'), 1);
  assert.equal(await stat(proxy, 'http.api.rbac.allowed'), 1);
  assert.equal(await stat(proxy, 'http.api.rbac.denied'), 2);
});

test('LOG: requests pass, the access log hint says which matched', async () => {
  assert.equal((await request(ports.audit!, { method: 'POST', path: '/admin/op', body: 'x' })).status, 200);
  assert.equal((await request(ports.audit!, { path: '/other' })).status, 200);
  assert.match(await logLine('audit /admin/op '), / true$/);
  assert.match(await logLine('audit /other '), / false$/);
  assert.equal(await stat(proxy, 'http.audit.rbac.allowed'), 2);
});

function mtlsGet(client: CertFiles): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: ports.mtls, path: '/whoami', servername: 'rbac.example.com', ca: caPem, cert: client.certPem, key: client.keyPem, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('authenticated: the SPIFFE URI SAN of the client certificate decides (a DNS SAN or subject of another does not)', async () => {
  const ok = await mtlsGet(certs.sleep!);
  assert.equal(ok.status, 200);
  const denied = await mtlsGet(certs.other!);
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'RBAC: access denied');
});

function tcpRoundTrip(port: number): Promise<{ echoed: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let echoed = '';
    s.on('error', () => {});
    s.on('connect', () => s.write('ping'));
    s.on('data', (d) => {
      echoed += d;
      if (echoed === 'ping') {
        s.destroy();
        resolve({ echoed, closed: false });
      }
    });
    s.on('close', () => resolve({ echoed, closed: true }));
    setTimeout(() => {
      s.destroy();
      resolve({ echoed, closed: false });
    }, 3000);
  });
}

test('network RBAC: a denied TCP connection is closed before any byte is proxied; an allowed one is', async () => {
  assert.deepEqual(await tcpRoundTrip(ports.tcp_denied!), { echoed: '', closed: true });
  assert.equal(echoConnections, 0, 'the denied connection never reached tcp_proxy');
  assert.deepEqual(await tcpRoundTrip(ports.tcp_allowed!), { echoed: 'ping', closed: false });
  assert.equal(await stat(proxy, 'tcp_denied.rbac.denied'), 1);
  assert.equal(await stat(proxy, 'tcp_allowed.rbac.allowed'), 1);
  assert.equal(await stat(proxy, 'tcp_allowed.rbac.shadow_denied'), 1);
});
