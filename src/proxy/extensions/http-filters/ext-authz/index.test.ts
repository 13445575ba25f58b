import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import { binaryToJson, jsonToBinary } from '../../../../api/xds/json.js';
import type { FilterCallbacks, LocalReplyOptions } from '../../../http/filter.js';
import { HeaderMap } from '../../../http/headers.js';
import { StatsStore } from '../../../observability/stats.js';
import { StreamInfo } from '../../../stream-info.js';
import { createCheckRequest, errorResponse, type AuthzResponse } from './check-request.js';
import { toResponse } from './grpc-client.js';
import { HttpAuthzClient } from './http-client.js';
import { applyRequestMutations, compileExtAuthz, extAuthzFilter, FAILURE_MODE_ALLOWED_HEADER } from './index.js';
import { compileHeaderKeyMatcher } from './matchers.js';

const TYPE = 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const decode = (cfg: object) => ({ '@type': `type.googleapis.com/${TYPE}`, ...(decodeMessage(TYPE, cfg) as object) });
const ctx = (stats = new StatsStore()) => ({ stats, statPrefix: 'http.in.', path: 'f', name: 'envoy.filters.http.ext_authz', clusterManager: undefined as never });
const GRPC = { grpc_service: { envoy_grpc: { cluster_name: 'authz' } } };

const ok = (extra: Partial<AuthzResponse> = {}): AuthzResponse => ({ ...errorResponse(), status: 'ok', statusCode: 200, ...extra });

test('config: a service is required; google_grpc and other API versions are refused', () => {
  assert.throws(() => compileExtAuthz(decodeMessage(TYPE, {}), ctx()), /one of grpc_service or http_service/);
  assert.throws(() => compileExtAuthz(decodeMessage(TYPE, { grpc_service: { google_grpc: { target_uri: 'x', stat_prefix: 'y' } } }), ctx()), /MW_CONFIG_UNSUPPORTED|envoy_grpc/);
  assert.throws(() => compileExtAuthz(decodeMessage(TYPE, { ...GRPC, with_request_body: { max_request_bytes: 0 } }), ctx()));
  const c = compileExtAuthz(decodeMessage(TYPE, { ...GRPC, status_on_error: { code: 'ServiceUnavailable' }, stat_prefix: 'waf' }), ctx());
  assert.equal(c.statusOnError, 503);
  assert.equal(compileExtAuthz(decodeMessage(TYPE, GRPC), ctx()).statusOnError, 403, 'default 403');
});

test('CheckRequest: addresses, principal from the peer URI SAN, http attributes, joined headers, allowed/disallowed headers', () => {
  const info = new StreamInfo({ remote: '10.0.0.9:5000', local: '[::1]:80', id: 1 });
  info.protocol = 'HTTP/2';
  info.downstreamTls = { sni: 'api.test', peerUriSan: ['spiffe://cluster.local/ns/a/sa/b'], peerDnsSan: ['x.test'], localUriSan: ['spiffe://cluster.local/ns/z/sa/srv'], peerCertificatePem: () => '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n' };
  const h = HeaderMap.from({ ':method': 'POST', ':path': '/p?q=1', ':authority': 'api.test', ':scheme': 'https', 'x-a': ['1', '2'], cookie: 'secret', 'content-length': '4' });
  const req = createCheckRequest(
    { headers: h, info, streamId: 7, contextExtensions: { k: 'v' }, body: Buffer.from('body'), partialBody: false },
    { allowedHeaders: undefined, disallowedHeaders: compileHeaderKeyMatcher({ patterns: [{ exact: 'cookie' }] }, 'p'), packAsBytes: false, includeTlsSession: true, includePeerCertificate: true, metadataContextNamespaces: [] },
  ) as any;
  const a = req.attributes;
  // include_peer_certificate: URL-encoded PEM, as Envoy sends it
  assert.equal(a.source.certificate, '-----BEGIN%20CERTIFICATE-----%0AAA%3D%3D%0A-----END%20CERTIFICATE-----%0A');
  assert.deepEqual(a.source.address, { socket_address: { address: '10.0.0.9', port_value: 5000 } });
  assert.deepEqual(a.destination.address, { socket_address: { address: '::1', port_value: 80 } });
  assert.equal(a.source.principal, 'spiffe://cluster.local/ns/a/sa/b');
  assert.equal(a.destination.principal, 'spiffe://cluster.local/ns/z/sa/srv');
  assert.deepEqual(a.tls_session, { sni: 'api.test' });
  const http = a.request.http;
  assert.deepEqual([http.id, http.method, http.path, http.host, http.scheme, http.protocol, http.size, http.body], ['7', 'POST', '/p?q=1', 'api.test', 'https', 'HTTP/2', 4, 'body']);
  assert.equal(http.headers['x-a'], '1,2');
  assert.equal(http.headers.cookie, undefined);
  assert.equal(http.headers['x-envoy-auth-partial-body'], 'false');
  assert.deepEqual(a.context_extensions, { k: 'v' });
  // and it encodes as the real CheckRequest
  const back = binaryToJson<any>('envoy.service.auth.v3.CheckRequest', jsonToBinary('envoy.service.auth.v3.CheckRequest', req));
  assert.equal(back.attributes.request.http.headers['x-a'], '1,2');
});

test('gRPC CheckResponse → decision: ok with header options, denied with status (default 403), error-free metadata', () => {
  const r = toResponse({
    status: { code: 0 },
    ok_response: {
      headers: [{ header: { key: 'X-Set', value: 'a' } }, { header: { key: 'x-app', value: 'b' }, append: true }],
      headers_to_remove: ['X-Gone'],
      response_headers_to_add: [{ header: { key: 'x-r', value: '1' } }, { header: { key: 'x-s', value: '2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    },
    dynamic_metadata: { user: 'u' },
  });
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.headersToSet, [['x-set', 'a']]);
  assert.deepEqual(r.headersToAppend, [['x-app', 'b']]);
  assert.deepEqual(r.headersToRemove, ['x-gone']);
  assert.deepEqual(r.responseHeadersToAdd, [['x-r', '1']]);
  assert.deepEqual(r.responseHeadersToSet, [['x-s', '2']]);
  assert.deepEqual(r.dynamicMetadata, { user: 'u' });
  const d = toResponse({ status: { code: 7 }, denied_response: { status: { code: 'TooManyRequests' }, body: 'slow down' } });
  assert.deepEqual([d.status, d.statusCode, d.body], ['denied', 429, 'slow down']);
  assert.equal(toResponse({ status: { code: 16 } }).statusCode, 403);
});

test('request mutations: set, add, append, remove (never pseudo-headers or host), query parameters', () => {
  const h = HeaderMap.from({ ':path': '/a?x=1&y=2', host: 'h', 'x-1': 'old', 'x-2': 'v' });
  const changed = applyRequestMutations(h, ok({ headersToSet: [['x-1', 'new']], headersToAdd: [['x-m', 'a']], headersToAppend: [['x-2', 'w']], headersToRemove: [':path', 'host', 'x-m'], queryToSet: [['z', '3']], queryToRemove: ['x'] }));
  assert.ok(changed);
  assert.equal(h.get('x-1'), 'new');
  assert.equal(h.get('x-2'), 'v,w');
  assert.equal(h.get('x-m'), undefined);
  assert.equal(h.get('host'), 'h');
  assert.equal(h.get(':path'), '/a?y=2&z=3');
});

test('HTTP reply → decision: 200 ok (upstream, client-on-success, metadata, headers to remove), 4xx denied, 5xx error', () => {
  const m = (p: string) => compileHeaderKeyMatcher({ patterns: [{ exact: p }] }, 'p');
  const c = new HttpAuthzClient(undefined as never, {
    cluster: 'c', timeoutMs: 0, pathPrefix: '', requestHeaders: m('x')!, disallowedHeaders: undefined, headersToAdd: [],
    upstream: m('x-user'), upstreamAppend: undefined, client: { matches: (n) => n !== ':authority' }, clientOnSuccess: m('x-ok'), toMetadata: m('x-user'),
  });
  const r = c.toResponse(HeaderMap.from({ ':status': '200', 'x-user': 'bob', 'x-ok': '1', 'x-other': 'n', 'x-envoy-auth-headers-to-remove': 'a, b' }), Buffer.alloc(0));
  assert.deepEqual([r.status, r.headersToSet, r.responseHeadersToAdd, r.dynamicMetadata, r.headersToRemove], ['ok', [['x-user', 'bob']], [['x-ok', '1']], { 'x-user': 'bob' }, ['a', 'b']]);
  const d = c.toResponse(HeaderMap.from({ ':status': '401', 'www-authenticate': 'Basic' }), Buffer.from('no'));
  assert.deepEqual([d.status, d.statusCode, d.body], ['denied', 401, 'no']);
  assert.ok(d.headersToSet.some(([k]) => k === 'www-authenticate'));
  assert.equal(c.toResponse(HeaderMap.from({ ':status': '503' }), Buffer.alloc(0)).status, 'error');
});

/** A filter over a fake client that answers `answer`; returns what happened to one request. */
async function run(cfg: object, answer: AuthzResponse, opts: { metadata?: Record<string, Record<string, unknown>> } = {}) {
  const stats = new StatsStore();
  const compiled = extAuthzFilter.create(decode({ ...GRPC, ...cfg }), ctx(stats));
  const info = new StreamInfo({ remote: '1.2.3.4:5', local: '5.6.7.8:80', id: 1 });
  if (opts.metadata) info.dynamicMetadata = opts.metadata;
  const events: string[] = [];
  let reply: { status: number; body: string; opts?: LocalReplyOptions } | undefined;
  const headers = HeaderMap.from({ ':method': 'GET', ':path': '/', ':authority': 'a' });
  const cb = {
    streamInfo: info,
    requestHeaders: headers,
    perFilterConfig: () => undefined,
    continueDecoding: () => events.push('continue'),
    clearRouteCache: () => events.push('clearRouteCache'),
    sendLocalReply: (status: number, body: string | Buffer, o?: LocalReplyOptions) => {
      reply = { status, body: body.toString(), opts: o };
    },
  } as unknown as FilterCallbacks;
  const filter = compiled(cb);
  // swap the compiled client for the fake one: the network path is covered by test/ext-authz.test.ts
  (filter as any).c = { ...(filter as any).c, client: { check: () => ({ result: Promise.resolve(answer), cancel() {} }) } };
  const status = filter.decodeHeaders!(headers, true);
  await new Promise((r) => setImmediate(r));
  const counter = (n: string) => stats.counter(`http.in.ext_authz.${n}`).value;
  return { status, events, reply, headers, info, counter };
}

test('filter: ok continues with the changes; denied replies with the authorizer\'s answer; error honours failure_mode_allow', async () => {
  const a = await run({ clear_route_cache: true }, ok({ headersToSet: [['x-u', 'v']], dynamicMetadata: { k: 1 } }));
  assert.equal(a.status, 'stop');
  assert.deepEqual(a.events, ['clearRouteCache', 'continue']);
  assert.equal(a.headers.get('x-u'), 'v');
  assert.deepEqual(a.info.dynamicMetadata?.['envoy.filters.http.ext_authz'], { k: 1 });
  assert.equal(a.counter('ok'), 1);

  const d = await run({}, { ...errorResponse(), status: 'denied', statusCode: 418, body: 'teapot', headersToSet: [['x-why', 'tea'], [':status', '200']] });
  assert.deepEqual([d.reply?.status, d.reply?.body, d.reply?.opts?.details], [418, 'teapot', 'ext_authz_denied']);
  const out = new HeaderMap();
  d.reply!.opts!.mutateHeaders!(out);
  assert.equal(out.get('x-why'), 'tea');
  assert.equal(out.get(':status'), undefined);
  assert.equal(d.counter('denied'), 1);

  const e = await run({ status_on_error: { code: 'BadGateway' } }, errorResponse());
  assert.deepEqual([e.reply?.status, e.reply?.body, e.reply?.opts?.details], [502, '', 'ext_authz_error']);
  assert.equal(e.counter('error'), 1);

  const f = await run({ failure_mode_allow: true, failure_mode_allow_header_add: true }, errorResponse());
  assert.deepEqual(f.events, ['continue']);
  assert.equal(f.headers.get(FAILURE_MODE_ALLOWED_HEADER), 'true');
  assert.equal(f.counter('failure_mode_allowed'), 1);
});

test('filter: filter_enabled_metadata (Istio\'s CUSTOM gate) skips requests whose metadata does not match; deny_at_disable denies them', async () => {
  const gate = { filter_enabled_metadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { string_match: { prefix: 'istio-ext-authz' } } } };
  const skipped = await run(gate, ok());
  assert.equal(skipped.status, 'continue');
  assert.equal(skipped.counter('disabled'), 1);
  const checked = await run(gate, ok(), { metadata: { 'envoy.filters.http.rbac': { istio_ext_authz_shadow_effective_policy_id: 'istio-ext-authz-ns[a]-policy[b]-rule[0]' } } });
  assert.equal(checked.status, 'stop');
  assert.deepEqual(checked.events, ['continue']);
  const denied = await run({ ...gate, deny_at_disable: { default_value: true, runtime_key: 'k' } }, ok());
  assert.equal(denied.reply?.status, 403);
});
