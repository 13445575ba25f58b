// External authorization through a real `meshwork proxy` (envoy.filters.http.ext_authz from a static bootstrap):
//  - a gRPC authorizer written here with @grpc/grpc-js (envoy.service.auth.v3.Authorization/Check, messages from
//    the Envoy protos with @grpc/proto-loader: an implementation independent of the proxy's codec) that decides
//    by the x-authz request header and keeps every CheckRequest it gets;
//  - an HTTP authorizer on node:http;
//  - an echo upstream that reports what reached it.
// Covers allow / deny by header, header changes upstream and downstream, the denied status/headers/body, dynamic
// metadata, per-route disabling and context_extensions, the CheckRequest attributes, the request body, an
// authorizer that is down (failure_mode_allow on and off), a slow one (timeout), and the statistics.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { authorizationService } from './helpers/envoy-grpc.js';
import { hcmListener, routerFilter, staticCluster } from './helpers/bootstrap.js';
import { accessLines, request, startUpstream, stdoutAccessLog, type Upstream } from './helpers/http-semantics.js';
import { freePort, listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

const EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const H2 = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };

// ---- the gRPC authorizer

interface GrpcAuthz {
  port: number;
  checks: any[];
  close(): Promise<void>;
}

async function startGrpcAuthz(): Promise<GrpcAuthz> {
  const def = { 'envoy.service.auth.v3.Authorization': authorizationService() };
  const service = (def['envoy.service.auth.v3.Authorization'] as any) as grpc.ServiceDefinition;
  const checks: any[] = [];
  const server = new grpc.Server();
  server.addService(service, {
    Check(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const req = call.request;
      checks.push(req);
      const verdict = req.attributes?.request?.http?.headers?.['x-authz'];
      if (verdict === 'allow') {
        cb(null, {
          status: { code: 0 },
          ok_response: {
            headers: [
              { header: { key: 'x-authz-user', value: 'alice' } },
              { header: { key: 'x-tags', value: 'checked' }, append: { value: true } },
            ],
            headers_to_remove: ['x-remove-me'],
            response_headers_to_add: [{ header: { key: 'x-authz-response', value: 'seen' } }],
          },
          // protobufjs's built-in google.protobuf.Value keeps its camelCase field names even with keepCase
          dynamic_metadata: { fields: { user: { stringValue: 'alice' } } },
        });
      } else if (verdict === 'slow') {
        setTimeout(() => cb(null, { status: { code: 0 } }), 1000);
      } else if (verdict === 'fail') {
        cb({ code: grpc.status.UNAVAILABLE, details: 'authorizer broken' });
      } else {
        cb(null, {
          status: { code: 7 },
          denied_response: {
            status: { code: 'Unauthorized' },
            headers: [{ header: { key: 'www-authenticate', value: 'Custom realm="test"' } }, { header: { key: 'x-denied-by', value: 'grpc-authz' } }],
            body: 'denied by the gRPC authorizer',
          },
        });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, checks, close: () => new Promise<void>((r) => server.tryShutdown(() => r())) };
}

// ---- the HTTP authorizer

interface HttpAuthz {
  port: number;
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

async function startHttpAuthz(): Promise<HttpAuthz> {
  const seen: HttpAuthz['seen'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const verdict = req.headers['x-authz'];
      if (verdict === 'allow') {
        res.writeHead(200, { 'x-authz-user': 'bob', 'x-authz-response': 'ok', 'x-not-forwarded': 'no', 'x-envoy-auth-headers-to-remove': 'x-remove-me' }).end();
      } else if (verdict === 'fail') {
        res.writeHead(500).end('boom');
      } else {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="http"', 'x-denied-by': 'http-authz', 'content-type': 'text/plain' }).end('denied by the HTTP authorizer');
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

let up: Upstream;
let gAuthz: GrpcAuthz;
let hAuthz: HttpAuthz;
let proxy: RunningProxy;
const ports: Record<string, number> = {};

const grpcFilter = (cluster: string, extra: object = {}) => ({
  name: 'envoy.filters.http.ext_authz',
  typed_config: { '@type': EXT_AUTHZ, transport_api_version: 'V3', grpc_service: { envoy_grpc: { cluster_name: cluster } }, ...extra },
});
const routes = (extra: object[] = []) => ({ virtual_hosts: [{ name: 'all', domains: ['*'], routes: [...extra, { match: { prefix: '/' }, route: { cluster: 'backend' } }] }] });

before(async () => {
  up = await startUpstream('backend');
  gAuthz = await startGrpcAuthz();
  hAuthz = await startHttpAuthz();
  const down = await freePort(); // nothing listens there
  proxy = await startProxy({
    static_resources: {
      listeners: [
        hcmListener('grpc', {
          access_log: [stdoutAccessLog('%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %DYNAMIC_METADATA(envoy.filters.http.ext_authz:user)%')],
          http_filters: [grpcFilter('authz-grpc', { stat_prefix: 'g' }), routerFilter()],
          route_config: routes([
            { match: { prefix: '/public' }, route: { cluster: 'backend' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, disabled: true } } },
            {
              match: { prefix: '/tenant' },
              route: { cluster: 'backend' },
              typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': PER_ROUTE, check_settings: { context_extensions: { tenant: 'blue' } } } },
            },
          ]),
        }),
        hcmListener('grpc_body', {
          http_filters: [grpcFilter('authz-grpc', { with_request_body: { max_request_bytes: 16, allow_partial_message: false } }), routerFilter()],
          route_config: routes(),
        }),
        hcmListener('down_closed', { http_filters: [grpcFilter('authz-down', { status_on_error: { code: 'ServiceUnavailable' } }), routerFilter()], route_config: routes() }),
        hcmListener('down_open', { http_filters: [grpcFilter('authz-down', { failure_mode_allow: true, failure_mode_allow_header_add: true }), routerFilter()], route_config: routes() }),
        hcmListener('http', {
          access_log: [stdoutAccessLog('%REQ(:PATH)% %RESPONSE_CODE% %DYNAMIC_METADATA(envoy.filters.http.ext_authz:x-authz-user)%')],
          http_filters: [
            {
              name: 'envoy.filters.http.ext_authz',
              typed_config: {
                '@type': EXT_AUTHZ,
                transport_api_version: 'V3',
                allowed_headers: { patterns: [{ prefix: 'x-authz' }] },
                with_request_body: { max_request_bytes: 64, allow_partial_message: true },
                http_service: {
                  server_uri: { uri: 'http://authz.test', cluster: 'authz-http', timeout: '1s' },
                  path_prefix: '/check',
                  authorization_request: { headers_to_add: [{ key: 'x-from-proxy', value: '%REQ(:METHOD)%-checked' }] },
                  authorization_response: {
                    allowed_upstream_headers: { patterns: [{ exact: 'x-authz-user' }] },
                    allowed_client_headers: { patterns: [{ exact: 'x-denied-by' }] },
                    allowed_client_headers_on_success: { patterns: [{ exact: 'x-authz-response' }] },
                    dynamic_metadata_from_headers: { patterns: [{ exact: 'x-authz-user' }] },
                  },
                },
              },
            },
            routerFilter(),
          ],
          route_config: routes(),
        }),
      ],
      clusters: [
        staticCluster('backend', [up.port]),
        staticCluster('authz-grpc', [gAuthz.port], H2),
        staticCluster('authz-down', [down], H2),
        staticCluster('authz-http', [hAuthz.port]),
      ],
    },
  });
  for (const n of ['grpc', 'grpc_body', 'down_closed', 'down_open', 'http']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  await up?.close();
  await gAuthz?.close();
  await hAuthz?.close();
});

const seen = (p: string) => up.requests.filter((r) => r.url === p);
const logLine = (p: string) => waitFor(() => accessLines(proxy.stdout()).find((l) => l.startsWith(`${p} `)), `access log for ${p}`);
const lastCheck = (p: string) => [...gAuthz.checks].reverse().find((c) => c.attributes?.request?.http?.path === p);

test('gRPC: an allowed request reaches the upstream with the authorizer\'s header changes; its response headers and metadata apply', async () => {
  const r = await request(ports.grpc!, { path: '/allowed?q=1', headers: { 'x-authz': 'allow', 'x-tags': 'client', 'x-remove-me': 'secret', 'x-authz-user': 'forged' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-authz-response'], 'seen');
  const [s] = seen('/allowed?q=1');
  assert.ok(s, 'reached the upstream');
  assert.deepEqual(s.headers['x-authz-user'], ['alice'], 'set, replacing what the client sent');
  assert.deepEqual(s.headers['x-tags'], ['client,checked'], 'append: true appends to the existing value');
  assert.equal(s.headers['x-remove-me'], undefined);
  assert.match(await logLine('/allowed?q=1'), /^\/allowed\?q=1 200 - \S+ alice$/);

  // the CheckRequest, as Envoy fills it
  const c = lastCheck('/allowed?q=1');
  const a = c.attributes;
  assert.equal(a.source.address.socket_address.address, '127.0.0.1');
  assert.ok(a.source.address.socket_address.port_value > 0);
  assert.equal(a.destination.address.socket_address.port_value, ports.grpc);
  const h = a.request.http;
  assert.equal(h.method, 'GET');
  assert.equal(h.path, '/allowed?q=1');
  assert.equal(h.host, `127.0.0.1:${ports.grpc}`);
  assert.equal(h.scheme, 'http');
  assert.equal(h.protocol, 'HTTP/1.1');
  assert.equal(h.headers[':method'], 'GET');
  assert.equal(h.headers['x-authz'], 'allow');
  assert.equal(h.headers['x-tags'], 'client');
  assert.ok(a.request.time.seconds > 0);
  assert.equal(a.context_extensions, undefined);
});

test('gRPC: a denied request gets the authorizer\'s status, headers and body, and never reaches the upstream', async () => {
  const r = await request(ports.grpc!, { path: '/denied', headers: { 'x-authz': 'no' } });
  assert.equal(r.status, 401);
  assert.equal(r.text, 'denied by the gRPC authorizer');
  assert.equal(r.headers['www-authenticate'], 'Custom realm="test"');
  assert.equal(r.headers['x-denied-by'], 'grpc-authz');
  assert.equal(seen('/denied').length, 0);
  assert.match(await logLine('/denied'), /^\/denied 401 UAEX ext_authz_denied -$/);
});

test('gRPC: a route with ExtAuthzPerRoute disabled is not checked; check_settings sends context_extensions', async () => {
  const before = gAuthz.checks.length;
  const r = await request(ports.grpc!, { path: '/public/x', headers: { 'x-authz': 'no' } });
  assert.equal(r.status, 200);
  assert.equal(gAuthz.checks.length, before, 'no check for a disabled route');
  const t = await request(ports.grpc!, { path: '/tenant/a', headers: { 'x-authz': 'allow' } });
  assert.equal(t.status, 200);
  assert.deepEqual(lastCheck('/tenant/a').attributes.context_extensions, { tenant: 'blue' });
});

test('gRPC: an authorizer that fails or answers too late (200 ms default timeout) is an error: 403 without failure_mode_allow', async () => {
  const f = await request(ports.grpc!, { path: '/fails', headers: { 'x-authz': 'fail' } });
  assert.equal(f.status, 403);
  assert.equal(f.text, '');
  const t0 = Date.now();
  const s = await request(ports.grpc!, { path: '/slow', headers: { 'x-authz': 'slow' } });
  assert.equal(s.status, 403);
  assert.ok(Date.now() - t0 < 900, `answered after the 200 ms timeout, not the authorizer's 1 s (${Date.now() - t0} ms)`);
  assert.equal(seen('/slow').length + seen('/fails').length, 0);
  assert.match(await logLine('/slow'), /^\/slow 403 UAEX ext_authz_error -$/);
});

test('gRPC: the request body goes into the check; over max_request_bytes without allow_partial_message it is 413', async () => {
  const r = await request(ports.grpc_body!, { method: 'POST', path: '/body', headers: { 'x-authz': 'allow', 'content-type': 'text/plain' }, body: 'hello authz' });
  assert.equal(r.status, 200, r.text);
  const h = lastCheck('/body').attributes.request.http;
  assert.equal(h.body, 'hello authz');
  assert.equal(h.size, 11);
  assert.equal(h.headers['x-envoy-auth-partial-body'], 'false');
  const [s] = seen('/body');
  assert.equal(s!.bodyLength, 11, 'the body still reaches the upstream');
  const big = await request(ports.grpc_body!, { method: 'POST', path: '/big', headers: { 'x-authz': 'allow' }, body: 'x'.repeat(100) });
  assert.equal(big.status, 413);
  assert.equal(lastCheck('/big'), undefined, 'nothing was checked');
});

test('authorizer down: failure_mode_allow lets the request through with x-envoy-auth-failure-mode-allowed; without it, status_on_error', async () => {
  const closed = await request(ports.down_closed!, { path: '/closed' });
  assert.equal(closed.status, 503, 'status_on_error');
  assert.equal(seen('/closed').length, 0);
  const open = await request(ports.down_open!, { path: '/open' });
  assert.equal(open.status, 200);
  const [s] = seen('/open');
  assert.deepEqual(s!.headers['x-envoy-auth-failure-mode-allowed'], ['true']);
  assert.equal(await stat(proxy, 'http.down_open.ext_authz.error'), 1);
  assert.equal(await stat(proxy, 'http.down_open.ext_authz.failure_mode_allowed'), 1);
  assert.equal(await stat(proxy, 'http.down_closed.ext_authz.error'), 1);
});

test('HTTP service: allowed requests carry the allowed headers, the prefix, headers_to_add and the body; the reply\'s headers go where configured', async () => {
  const r = await request(ports.http!, { method: 'POST', path: '/things?id=7', headers: { 'x-authz': 'allow', authorization: 'Bearer t', cookie: 'c=1', 'x-remove-me': 'secret', 'content-type': 'text/plain' }, body: 'payload' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers['x-authz-response'], 'ok', 'allowed_client_headers_on_success');
  const q = hAuthz.seen.at(-1)!;
  assert.equal(q.method, 'POST');
  assert.equal(q.url, '/check/things?id=7');
  assert.equal(q.headers['x-authz'], 'allow');
  assert.equal(q.headers.authorization, 'Bearer t');
  assert.equal(q.headers.host, `127.0.0.1:${ports.http}`);
  assert.equal(q.headers.cookie, undefined, 'not in allowed_headers');
  assert.equal(q.headers['x-from-proxy'], 'POST-checked');
  assert.equal(q.body, 'payload');
  assert.equal(q.headers['content-length'], '7');
  const [s] = seen('/things?id=7');
  assert.deepEqual(s!.headers['x-authz-user'], ['bob']);
  assert.equal(s!.headers['x-not-forwarded'], undefined);
  assert.equal(s!.headers['x-remove-me'], undefined, 'x-envoy-auth-headers-to-remove');
  assert.match(await logLine('/things?id=7'), /^\/things\?id=7 200 bob$/);
});

test('HTTP service: a denied request gets the authorizer\'s status and body and only the allowed client headers; a 5xx is an error', async () => {
  const r = await request(ports.http!, { path: '/nope', headers: { 'x-authz': 'no' } });
  assert.equal(r.status, 401);
  assert.equal(r.text, 'denied by the HTTP authorizer');
  assert.equal(r.headers['x-denied-by'], 'http-authz');
  assert.equal(r.headers['www-authenticate'], 'Basic realm="http"', 'always allowed on a denial');
  assert.equal(seen('/nope').length, 0);
  const e = await request(ports.http!, { path: '/boom', headers: { 'x-authz': 'fail' } });
  assert.equal(e.status, 403);
  assert.equal(e.text, '');
});

test('statistics: ok, denied, error under <hcm stat_prefix>ext_authz.[<stat_prefix>.]', async () => {
  assert.ok(((await stat(proxy, 'http.grpc.ext_authz.g.ok')) ?? 0) >= 2);
  assert.ok(((await stat(proxy, 'http.grpc.ext_authz.g.denied')) ?? 0) >= 1);
  assert.ok(((await stat(proxy, 'http.grpc.ext_authz.g.error')) ?? 0) >= 2);
  assert.ok(((await stat(proxy, 'http.http.ext_authz.ok')) ?? 0) >= 1);
  assert.ok(((await stat(proxy, 'http.http.ext_authz.denied')) ?? 0) >= 1);
});
