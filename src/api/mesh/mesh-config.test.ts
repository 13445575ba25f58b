import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadMeshConfigText } from './mesh-config.js';

test('mesh config: extensionProviders load; everything else is refused with file:line:column', () => {
  const good = loadMeshConfigText(
    `extensionProviders:
- name: opa
  envoyExtAuthzGrpc:
    service: opa.authz.svc.cluster.local
    port: 9191
    failOpen: true
- name: oauth2
  envoyExtAuthzHttp:
    service: authz/oauth2.authz.svc.cluster.local
    port: 4180
    headersToUpstreamOnAllow: ["x-auth-*"]
`,
    'mesh.yaml',
  );
  assert.deepEqual(good.errors, []);
  assert.deepEqual(good.config.extensionProviders.map((p) => p.name), ['opa', 'oauth2']);
  assert.ok(Object.isFrozen(good.config.extensionProviders[0]));

  const bad = loadMeshConfigText(
    `extensionProviders:
- name: a
  envoyExtAuthzHttp:
    service: s
    port: 80
    sevice: typo
- name: b
  zipkin: {service: z, port: 9411}
enableTracing: true
surprise: 1
`,
    'mesh.yaml',
  );
  const msgs = bad.errors.map((e) => e.message);
  assert.ok(msgs.some((m) => m.startsWith('mesh.yaml:6:5: extensionProviders[0].envoyExtAuthzHttp.sevice: unknown field')), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('mesh.yaml:8:3:') && /zipkin providers are not supported/.test(m)));
  assert.ok(msgs.some((m) => m.startsWith('mesh.yaml:9:1:') && /MeshConfig.enableTracing is not supported/.test(m)));
  assert.ok(msgs.some((m) => m.startsWith('mesh.yaml:10:1:') && /unknown field "surprise"/.test(m)));
  assert.equal(bad.config.extensionProviders.length, 0, 'nothing is used from a config with errors');
});

test('mesh config: Istio\'s provider rules', () => {
  const r = loadMeshConfigText(
    `extensionProviders:
- name: a
  envoyExtAuthzHttp: {service: s, port: 0, statusOnError: "999", pathPrefix: check, headersToDownstreamOnDeny: ["*"]}
- name: a
  envoyExtAuthzGrpc: {service: s, port: 1, timeout: 5m5}
- name: c
`,
    'm.yaml',
  );
  const msgs = r.errors.map((e) => e.message).join('\n');
  for (const want of [/port must be in the range/, /unsupported statusOnError 999/, /pathPrefix must begin with/, /single wildcard/, /name must be unique, found duplicate: a/, /"5m5" is not a duration/]) {
    assert.match(msgs, want);
  }
  const r2 = loadMeshConfigText('extensionProviders:\n- name: c\n', 'm.yaml');
  assert.match(r2.errors[0]!.message, /m.yaml:2:3: .*needs envoyExtAuthzHttp or envoyExtAuthzGrpc/);
});
