import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { decodeMessage } from '../../../api/envoy/index.js';
import type { AuthorizationPolicy } from '../../model/authorization.js';
import { buildExtAuthz, configureExtensionProviders, extAuthzFilters, type BuildRbac } from './ext-authz.js';

after(() => configureExtensionProviders([]));

/** typed_config without its @type: what the decoder reads as the message */
const strip = ({ '@type': _, ...rest }: any) => rest;

const policy = (name: string, provider: string, dryRun = false): AuthorizationPolicy =>
  ({ key: `default/${name}`, name, namespace: 'default', action: 'CUSTOM', provider, rules: [{ to: [{ operation: { paths: ['/admin'] } }] }], dryRun }) as unknown as AuthorizationPolicy;
const rbac: BuildRbac = (list) => ({ rules: { action: 'DENY', policies: Object.fromEntries(list.map((p) => [`ns[${p.namespace}]-policy[${p.name}]-rule[0]`, { permissions: [{ any: true }], principals: [{ any: true }] }])) } });

test('CUSTOM → a shadow RBAC naming istio-ext-authz-* policies, then ext_authz gated on its metadata', () => {
  configureExtensionProviders([{ name: 'http', envoyExtAuthzHttp: { service: 'authz.foo.svc.cluster.local', port: 8000, pathPrefix: '/check', failOpen: true, statusOnError: '503', includeRequestHeadersInCheck: ['x-a', 'x-pre*', '*-suf'], headersToUpstreamOnAllow: ['x-user'], includeAdditionalHeadersInCheck: { 'x-b': '2', 'x-a': '1' } } }]);
  const out = extAuthzFilters([policy('p1', 'http'), policy('dry', 'http', true)], false, rbac)!;
  assert.equal(out.length, 2);
  const [shadow, ext] = out as any[];
  assert.deepEqual(Object.keys(shadow.typed_config.shadow_rules.policies), ['istio-ext-authz-ns[default]-policy[p1]-rule[0]'], 'dry-run CUSTOM policies are left out');
  assert.equal(shadow.typed_config.rules, undefined, 'nothing enforced');
  assert.equal(shadow.typed_config.shadow_rules_stat_prefix, 'istio_ext_authz_');
  const c = ext.typed_config;
  assert.equal(ext.name, 'envoy.filters.http.ext_authz');
  assert.deepEqual(c.filter_enabled_metadata.path, [{ key: 'istio_ext_authz_shadow_effective_policy_id' }]);
  assert.equal(c.http_service.server_uri.cluster, 'outbound|8000||authz.foo.svc.cluster.local');
  assert.equal(c.http_service.server_uri.timeout, '600s', "Istio's default");
  assert.deepEqual(c.allowed_headers.patterns, [{ exact: 'x-a', ignore_case: true }, { prefix: 'x-pre', ignore_case: true }, { suffix: '-suf', ignore_case: true }]);
  assert.deepEqual(c.http_service.authorization_request.headers_to_add.map((h: any) => h.key), ['x-a', 'x-b']);
  assert.deepEqual([c.failure_mode_allow, c.status_on_error], [true, { code: 503 }]);
  // what the proxy's own decoder accepts
  decodeMessage('envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', strip(c));
  decodeMessage('envoy.extensions.filters.http.rbac.v3.RBAC', strip(shadow.typed_config));
});

test('gRPC provider: envoy_grpc with a valid authority; HTTP provider on TCP is ignored, gRPC on TCP is a network RBAC shadow + network ext_authz; bad providers fail closed', () => {
  configureExtensionProviders([
    { name: 'grpc', envoyExtAuthzGrpc: { service: 'foo/opa.foo.svc.cluster.local', port: 9191, timeout: '250ms' } },
    { name: 'http', envoyExtAuthzHttp: { service: 'a.b.svc.cluster.local', port: 80 } },
  ]);
  const g = buildExtAuthz({ name: 'grpc', envoyExtAuthzGrpc: { service: 'foo/opa.foo.svc.cluster.local', port: 9191, timeout: '250ms' } }) as any;
  assert.deepEqual(g.grpc_service, { envoy_grpc: { cluster_name: 'outbound|9191||opa.foo.svc.cluster.local', authority: 'outbound_.9191_._.opa.foo.svc.cluster.local' }, timeout: '0.25s' });
  decodeMessage('envoy.extensions.filters.http.ext_authz.v3.ExtAuthz', strip(g));
  assert.deepEqual(extAuthzFilters([policy('p', 'http')], true, rbac), []);
  const tcp = extAuthzFilters([policy('p', 'grpc')], true, rbac) as any[];
  assert.deepEqual(
    tcp.map((f) => f.name),
    ['envoy.filters.network.rbac', 'envoy.filters.network.ext_authz'],
  );
  assert.deepEqual(Object.keys(tcp[0].typed_config.shadow_rules.policies), ['istio-ext-authz-ns[default]-policy[p]-rule[0]']);
  assert.equal(tcp[1].typed_config.grpc_service.envoy_grpc.cluster_name, 'outbound|9191||opa.foo.svc.cluster.local');
  assert.deepEqual(tcp[1].typed_config.filter_enabled_metadata.filter, 'envoy.filters.network.rbac');
  decodeMessage('envoy.extensions.filters.network.rbac.v3.RBAC', strip(tcp[0].typed_config));
  decodeMessage('envoy.extensions.filters.network.ext_authz.v3.ExtAuthz', strip(tcp[1].typed_config));
  assert.equal(extAuthzFilters([policy('p', 'nowhere')], false, rbac), undefined);
  assert.equal(extAuthzFilters([policy('p', 'grpc'), policy('q', 'http')], false, rbac), undefined, 'one provider per workload');
  assert.deepEqual(extAuthzFilters([], false, rbac), []);
});
