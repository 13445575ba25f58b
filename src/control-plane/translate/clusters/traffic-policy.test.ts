import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DestinationRule } from '../../model/destination-rules.js';
import { subsetOf, trafficPolicyFor } from '../../model/destination-rules.js';
import type { Json } from '../common.js';
import { applyTrafficPolicy, upstreamTls } from './traffic-policy.js';

const dr: DestinationRule = {
  name: 'r',
  namespace: 'default',
  host: 'r.default.svc.cluster.local',
  spec: {
    host: 'r',
    trafficPolicy: {
      loadBalancer: { simple: 'ROUND_ROBIN' },
      connectionPool: { tcp: { maxConnections: 10 } },
      portLevelSettings: [{ port: { number: 9090 }, loadBalancer: { simple: 'RANDOM' } }],
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 } }, portLevelSettings: [{ port: { number: 9090 }, loadBalancer: { consistentHash: { maglev: { tableSize: 65537 } } } }] } },
    ],
  },
};

test('merge order as Istio: top level < its port level < subset < subset port level (field by field)', () => {
  assert.equal(trafficPolicyFor(dr, 80).loadBalancer?.simple, 'ROUND_ROBIN');
  assert.equal(trafficPolicyFor(dr, 9090).loadBalancer?.simple, 'RANDOM');
  const v1 = subsetOf(dr, 'v1');
  assert.equal(trafficPolicyFor(dr, 80, v1).connectionPool?.tcp?.maxConnections, 1);
  assert.equal(trafficPolicyFor(dr, 80, v1).loadBalancer?.simple, 'ROUND_ROBIN', 'the subset does not set it: inherited');
  assert.equal(trafficPolicyFor(dr, 9090, v1).loadBalancer?.consistentHash?.maglev?.tableSize, 65537);
  assert.deepEqual(trafficPolicyFor(undefined, 80), {});
});

test('load balancer mapping: default LEAST_REQUEST, ring hash 1024 by default, maglev', () => {
  const lb = (policy: object) => {
    const c: Json = {};
    applyTrafficPolicy(c, policy, 'HTTP', 'h');
    return c;
  };
  assert.equal(lb({}).lb_policy, 'LEAST_REQUEST');
  assert.equal(lb({ loadBalancer: { simple: 'LEAST_CONN' } }).lb_policy, 'LEAST_REQUEST');
  assert.deepEqual(lb({ loadBalancer: { consistentHash: { useSourceIp: true } } }).ring_hash_lb_config, { minimum_ring_size: 1024 });
  assert.deepEqual(lb({ loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 7 } } } }).maglev_lb_config, { table_size: 7 });
  assert.equal(lb({}).typed_extension_protocol_options, undefined, 'plain HTTP/1.1 needs no protocol options');
  const grpc: Json = {};
  applyTrafficPolicy(grpc, {}, 'GRPC', 'h');
  assert.deepEqual(grpc.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config, { http2_protocol_options: {} });
  const od = lb({ outlierDetection: { consecutiveErrors: 3 } }).outlier_detection;
  assert.deepEqual(od, { enforcing_consecutive_gateway_failure: 100, enforcing_consecutive_5xx: 0, consecutive_gateway_failure: 3 });
});

test('client TLS: MUTUAL with files, SNI defaults to the host, ISTIO_MUTUAL and DISABLE give nothing', () => {
  const ts = upstreamTls({ mode: 'MUTUAL', clientCertificate: '/c.crt', privateKey: '/c.key', caCertificates: '/ca.crt' }, 'api.example.com')!;
  assert.equal(ts.typed_config.sni, 'api.example.com');
  assert.deepEqual(ts.typed_config.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/c.crt' }, private_key: { filename: '/c.key' } }]);
  assert.deepEqual(upstreamTls({ mode: 'SIMPLE', insecureSkipVerify: true, sni: 'x' }, '*.w')!.typed_config, { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: {}, sni: 'x' });
  assert.deepEqual(upstreamTls({ mode: 'SIMPLE' }, 'h')!.typed_config.common_tls_context.validation_context, { system_root_certs: {} });
  assert.equal(upstreamTls({ mode: 'ISTIO_MUTUAL' }, 'h'), undefined);
  assert.equal(upstreamTls({ mode: 'DISABLE' }, 'h'), undefined);
});

test('client TLS with credentialName: SDS secrets kubernetes://<name>(-cacert) on a gateway; a sidecar uses the files', () => {
  const tls = { mode: 'MUTUAL' as const, credentialName: 'partner', clientCertificate: '/c.crt', privateKey: '/c.key', subjectAltNames: ['api.example.com'] };
  const common = upstreamTls(tls, 'api.example.com', true)!.typed_config.common_tls_context;
  assert.deepEqual(common.tls_certificate_sds_secret_configs, [{ name: 'kubernetes://partner', sds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' } }]);
  assert.deepEqual(common.combined_validation_context, {
    default_validation_context: { match_subject_alt_names: [{ exact: 'api.example.com' }] },
    validation_context_sds_secret_config: { name: 'kubernetes://partner-cacert', sds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' } },
  });
  assert.equal(common.tls_certificates, undefined);
  // SIMPLE: only the CA
  const simple = upstreamTls({ mode: 'SIMPLE', credentialName: 'partner' }, 'h', true)!.typed_config.common_tls_context;
  assert.deepEqual(Object.keys(simple), ['combined_validation_context']);
  // a sidecar ignores credentialName
  assert.deepEqual(upstreamTls(tls, 'api.example.com', false)!.typed_config.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/c.crt' }, private_key: { filename: '/c.key' } }]);
});
