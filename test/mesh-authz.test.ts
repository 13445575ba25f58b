// AuthorizationPolicy end to end with real processes: a control plane running the CA, a server sidecar (b, service
// account b) in front of an HTTP app and a TCP echo app, and client sidecars that joined with the join token as
// service accounts x and y (namespace default) and z (namespace other), so requests between them carry SPIFFE
// identities over mTLS. Each test writes its policies and waits until the sidecar enforces them:
// allow-nothing, ALLOW by principal (x allowed, y denied with 403 "RBAC: access denied"), DENY beating ALLOW,
// namespaces, paths / methods / hosts / notPaths, `when` headers, ipBlocks, a TCP port behind the network RBAC
// filter, AUDIT and dry-run never blocking, request principals from a JWT, and every path-normalization bypass
// class of issue 6 against a DENY on /admin*.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { tcpEcho as echoThrough, TestMesh, tryRequest, type AppServer, type Reply, type Sidecar } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

let mesh: Awaited<ReturnType<typeof TestMesh.withCa>>;
let app: AppServer;
let server: Sidecar;
let x: Sidecar;
let y: Sidecar;
let z: Sidecar;
let echo: net.Server;
const ports = { http: 0, listen: 0, tcp: 0, tcpListen: 0 };

const policy = (name: string, spec: string, o: { namespace?: string; annotations?: string } = {}) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${o.namespace ?? 'default'}
${o.annotations ? `  annotations:\n    ${o.annotations}\n` : ''}spec:
  selector:
    matchLabels:
      app: b
${spec}`;

/** Through a client sidecar (mTLS, its identity) to b. */
const call = (client: Sidecar, path = '/', o: { method?: string; headers?: Record<string, string> } = {}) =>
  tryRequest(ports.http, { host: client.outboundBind, path, method: o.method, headers: { host: `b.default.svc.cluster.local:${ports.http}`, ...o.headers } });
/** Plaintext straight to b's inbound listener (no identity). */
const direct = (path = '/', o: { method?: string; headers?: Record<string, string> } = {}) => tryRequest(ports.listen, { path, method: o.method, headers: { host: 'b', ...o.headers } });

/** One request written byte for byte (so that no client library cleans the path up first). */
function raw(path: string, host = 'b'): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(ports.listen, '127.0.0.1');
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve({ status: Number(data.split(' ')[1]), head: data.split('\r\n\r\n')[0]! }));
    s.on('error', reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/** A TCP round trip through a client sidecar to b's echo port: the echoed text, or "closed". */
const tcpEcho = (client: Sidecar): Promise<string> => echoThrough(client, ports.tcp);

/**
 * Write the policies and wait until `ready` says the sidecar enforces them. The previous test's policies are
 * removed first, and their removal awaited, so that `ready` cannot be satisfied by what they did.
 */
async function apply(yaml: string, ready: () => Promise<boolean>, what: string): Promise<void> {
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    mesh.remove('authz.yaml');
  } catch {
    // the first test: nothing to remove
  }
  await waitFor(async () => ((await direct()).status === 200 && (await call(x)).status === 200 && (await tcpEcho(x)) === 'ping') || undefined, 'no policy left', 20_000).catch(fail);
  await flush();
  mesh.write('authz.yaml', yaml);
  await waitFor(async () => (await ready()) || undefined, what, 20_000).catch(fail);
  await flush();
}

/**
 * A listener update drains the old listener's connections, as Envoy's does: a request on a client sidecar's
 * pooled connection is still served by the old filter chain, and its response closes the connection. One
 * request per client moves every client onto the new listener.
 */
async function flush(): Promise<void> {
  for (const c of [x, y, z]) await call(c, '/flush');
}

const denied = (r: Reply) => r.status === 403 && r.body === 'RBAC: access denied';

before(async () => {
  ports.http = await freePort();
  ports.listen = await freePort();
  ports.tcp = await freePort();
  ports.tcpListen = await freePort();
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  mesh = await TestMesh.withCa();
  app = await mesh.app('b');
  const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
  const echoPort = (echo.address() as net.AddressInfo).port;
  server = await mesh.sidecar({ id: 'b-1', service: 'b', labels: 'app=b', ports: [`${ports.http}:${app.port}:${ports.listen}`, `${ports.tcp}:${echoPort}:${ports.tcpListen}/tcp`], args: join('b') });
  x = await mesh.sidecar({ id: 'x-1', args: join('x') });
  y = await mesh.sidecar({ id: 'y-1', args: join('y') });
  z = await mesh.sidecar({ id: 'z-1', namespace: 'other', args: join('z') });
  await waitFor(async () => (await Promise.all([x, y, z].map((c) => call(c)))).every((r) => r.status === 200) || undefined, 'b reachable from x, y and z', 30_000).catch((e) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  });
  await waitFor(async () => (await tcpEcho(x)) === 'ping' || undefined, 'b\'s TCP port reachable', 15_000);
});

after(async () => {
  await mesh?.close();
  echo?.close();
});

test('allow-nothing: an ALLOW policy without rules denies every request and connection', async () => {
  await apply(policy('allow-nothing', ''), async () => denied(await call(x)), 'allow-nothing enforced');
  for (const r of [await call(y), await call(z), await direct()]) assert.ok(denied(r), `${r.status} ${r.body}`);
  assert.equal(await tcpEcho(x), 'closed', 'the TCP port allows nothing either');
});

test('ALLOW by principal: service account x is allowed, y is denied with 403 "RBAC: access denied"', async () => {
  const p = policy('allow-x', `  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/x"]
`);
  await apply(p, async () => denied(await call(y)), 'y denied');
  const r = await call(y);
  assert.ok(denied(r), `${r.status} ${r.body}`);
  assert.equal((await call(x)).status, 200);
  assert.ok(denied(await direct()), 'plaintext carries no identity');
  const stats = await (await server.admin(`/stats?filter=rbac`)).text();
  assert.match(stats, new RegExp(`http\\.inbound_0\\.0\\.0\\.0_${ports.listen}\\.rbac\\.denied: [1-9]`), stats);
});

test('DENY beats ALLOW; a request matching no ALLOW policy is denied', async () => {
  const yaml = [
    policy('allow-x', `  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/x"]
`),
    policy('deny-secret', `  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/x"]
    to:
    - operation:
        paths: ["/secret*"]
`),
  ].join('---\n');
  await apply(yaml, async () => denied(await call(x, '/secret/1')), 'the DENY policy enforced');
  assert.equal((await call(x, '/public')).status, 200);
  assert.ok(denied(await call(y, '/public')));
});

test('namespaces: a client of namespace "other" is allowed, default is not', async () => {
  await apply(policy('allow-other', `  rules:
  - from:
    - source:
        namespaces: ["other"]
`), async () => (await call(z)).status === 200 && denied(await call(x)), 'namespace policy enforced');
  assert.ok(denied(await call(y)));
});

test('paths, methods, hosts (case-insensitive) and notPaths', async () => {
  await apply(policy('api', `  rules:
  - to:
    - operation:
        methods: ["GET"]
        paths: ["/api/*"]
        notPaths: ["/api/private*"]
        hosts: ["api.example.com"]
`), async () => denied(await direct('/other', { headers: { host: 'api.example.com' } })), 'api policy enforced');
  assert.equal((await direct('/api/items', { headers: { host: 'api.example.com' } })).status, 200);
  assert.equal((await direct('/api/items', { headers: { host: 'API.Example.COM' } })).status, 200, 'hosts compare case-insensitively');
  assert.ok(denied(await direct('/api/items', { method: 'POST', headers: { host: 'api.example.com' } })));
  assert.ok(denied(await direct('/other', { headers: { host: 'api.example.com' } })));
  assert.ok(denied(await direct('/api/private/1', { headers: { host: 'api.example.com' } })));
  assert.ok(denied(await direct('/api/items', { headers: { host: 'other.example.com' } })));
  assert.ok(denied(await direct('/api/items', { headers: { host: 'api.example.com:80' } })), 'a port is part of the host, as in Istio');
});

test('when: request headers', async () => {
  await apply(policy('tenant', `  rules:
  - when:
    - key: request.headers[x-tenant]
      values: ["acme", "*-beta"]
`), async () => denied(await direct('/')), 'header policy enforced');
  assert.equal((await direct('/', { headers: { 'x-tenant': 'acme' } })).status, 200);
  assert.equal((await direct('/', { headers: { 'x-tenant': 'shop-beta' } })).status, 200);
  assert.ok(denied(await direct('/', { headers: { 'x-tenant': 'other' } })));
});

test('ipBlocks: the connection\'s source address', async () => {
  await apply(policy('ips', `  rules:
  - from:
    - source:
        ipBlocks: ["127.0.0.0/8"]
    to:
    - operation:
        paths: ["/loopback"]
  - from:
    - source:
        ipBlocks: ["10.0.0.0/8"]
    to:
    - operation:
        paths: ["/ten"]
`), async () => (await direct('/loopback')).status === 200 && denied(await direct('/ten')), 'ipBlocks enforced');
  assert.ok(denied(await direct('/other')));
});

test('a TCP port: the network RBAC filter lets x\'s connections through and closes y\'s', async () => {
  await apply(policy('tcp', `  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/x"]
    to:
    - operation:
        ports: ["${(echo.address() as net.AddressInfo).port}"]
`), async () => (await tcpEcho(y)) === 'closed', 'TCP policy enforced');
  assert.equal(await tcpEcho(x), 'ping');
  // the HTTP port is not among the rule's ports: nothing is allowed there
  assert.ok(denied(await call(x)));
  const stats = await (await server.admin('/stats?filter=tcp.rbac')).text();
  assert.match(stats, /tcp\.rbac\.denied: [1-9]/, stats);
});

test('AUDIT and dry-run policies never block; dry-run results are counted', async () => {
  const yaml = [
    policy('audit', `  action: AUDIT
  rules:
  - to:
    - operation:
        paths: ["/audited"]
`),
    policy('deny-all-dry-run', `  action: DENY
  rules:
  - {}
`, { annotations: 'istio.io/dry-run: "true"' }),
  ].join('---\n');
  const shadowDenied = async () => {
    const m = /istio_dry_run_deny_shadow_denied: (\d+)/.exec(await (await server.admin('/stats?filter=shadow')).text());
    return m ? Number(m[1]) : 0;
  };
  await apply(yaml, async () => (await direct('/audited')).status === 200 && (await shadowDenied()) > 0, 'dry-run counted');
  const before = await shadowDenied();
  assert.equal((await direct('/audited')).status, 200);
  assert.equal((await call(y, '/anything')).status, 200);
  assert.ok((await shadowDenied()) >= before + 2, 'each request counted as denied by the dry-run policy');
});

test('request principals: an ALLOW on the JWT\'s iss/sub', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const iss = 'https://issuer.example.com';
  const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(privateKey);
  const yaml = [
    `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: jwt
  namespace: default
spec:
  selector:
    matchLabels:
      app: b
  jwtRules:
  - issuer: ${iss}
    jwks: '${JSON.stringify({ keys: [jwk] })}'
`,
    policy('users', `  rules:
  - from:
    - source:
        requestPrincipals: ["${iss}/alice", "${iss}/svc-*"]
`),
  ].join('---\n');
  const alice = await token('alice');
  await apply(yaml, async () => (await direct('/', { headers: { authorization: `Bearer ${alice}` } })).status === 200 && denied(await direct('/')), 'request principals enforced');
  assert.equal((await direct('/', { headers: { authorization: `Bearer ${await token('svc-batch')}` } })).status, 200);
  assert.ok(denied(await direct('/', { headers: { authorization: `Bearer ${await token('bob')}` } })), 'another subject');
  assert.equal((await direct('/', { headers: { authorization: 'Bearer not.a.token' } })).status, 401, 'an invalid token never reaches RBAC');
});

test('normalization: every bypass class of issue 6 against a DENY on /admin*, an admin host and DELETE', async () => {
  const yaml = policy('deny-admin', `  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
  - to:
    - operation:
        hosts: ["admin.example.com"]
  - to:
    - operation:
        methods: ["DELETE"]
`);
  await apply(yaml, async () => (await raw('/admin')).status === 403, 'deny-admin enforced');
  const seen = app.requests.length;
  assert.equal((await raw('/a/../admin')).status, 403, 'dot segments removed first');
  assert.equal((await raw('/%2e%2e/admin')).status, 403);
  assert.equal((await raw('//admin')).status, 403, 'slashes merged first');
  assert.equal((await raw('/admin?x')).status, 403, 'the query is not part of the path');
  assert.equal((await raw('/admin?x=/public')).status, 403);
  assert.equal((await raw('/admin#x')).status, 400, 'a fragment is refused');
  assert.equal((await raw('/admin%00')).status, 400, '%00 is refused');
  const esc = await raw('/%2Fadmin');
  assert.equal(esc.status, 307, '%2F: redirected to the unescaped path');
  assert.match(esc.head, /\r\nlocation: \/\/?admin\r\n/i);
  assert.equal((await raw('/admin', 'Admin.Example.COM')).status, 403, 'hosts compare case-insensitively');
  assert.equal((await raw('/public')).status, 200);
  // "/..;/admin": ';' is an ordinary path character for Envoy and RFC 3986, so "..;" is no dot segment and the
  // path is forwarded literally: it does not start with /admin (docs/security.md)
  assert.equal((await raw('/..;/admin')).status, 200);
  assert.ok(app.requests.some((r) => r.url === '/..;/admin'), 'forwarded literally, never as /admin');
  // lower-case methods over HTTP/2: refused by the codec (methods are case-sensitive); DELETE is denied
  const h2 = http2.connect(`http://127.0.0.1:${ports.listen}`);
  h2.on('error', () => {});
  const send = (method: string) =>
    new Promise<number>((resolve, reject) => {
      const req = h2.request({ ':method': method, ':path': '/public', ':authority': 'b' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
  try {
    assert.equal(await send('GET'), 200);
    assert.equal(await send('DELETE'), 403);
    assert.equal(await send('delete'), 400);
  } finally {
    h2.close();
  }
  const reached = app.requests.slice(seen).map((r) => `${r.method} ${r.url}`);
  assert.ok(!reached.some((r) => /^\S+ \/+admin/.test(r) || r.startsWith('DELETE') || r.startsWith('delete')), `nothing denied reached the app: ${reached.join(', ')}`);
});
