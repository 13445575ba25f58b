// The workload SDS socket (--workload-sds-socket), istio-agent's role for a co-located Envoy: a mesh sidecar that
// joined the mesh's mTLS serves its workload certificate (`default`) and the trust bundle (`ROOTCA`) over SDS on a
// Unix socket. Consumers, all real:
//  - a second `meshwork proxy` from a static bootstrap written as Istio writes Envoy's: the static cluster
//    `sds-grpc` with a pipe address, and TLS listeners naming `default` and `ROOTCA` from it, one over
//    SotW (api_type GRPC) and one over delta (DELTA_GRPC); openssl sees the sidecar's certificate on both, and
//    after the CA's 20 s TTL makes the sidecar renew, the new one, with no restart;
//  - a @grpc/grpc-js client of envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets (messages from the
//    Envoy protos with @grpc/proto-loader, independent of Meshwork's codec), as Envoy itself asks.
// The socket is owner-only (0600).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { envoyService } from './helpers/envoy-grpc.js';
import { handshakeSerial } from './helpers/certs.js';
import { TestMesh } from './helpers/mesh.js';
import { freePort, listenerPort, startProxy, tmpDir, waitFor } from './helpers/proxy.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** Istio's reference to the agent's socket, over SotW (GRPC) or delta (DELTA_GRPC). */
const fromAgent = (name: string, apiType: 'GRPC' | 'DELTA_GRPC') => ({
  name,
  sds_config: { api_config_source: { api_type: apiType, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] }, resource_api_version: 'V3' },
});

const tlsListener = (name: string, apiType: 'GRPC' | 'DELTA_GRPC') => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
  filter_chains: [
    {
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': DOWNSTREAM_TLS,
          common_tls_context: { tls_certificate_sds_secret_configs: [fromAgent('default', apiType)], validation_context_sds_secret_config: fromAgent('ROOTCA', apiType) },
        },
      },
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM,
            stat_prefix: name,
            route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: name } } }] }] },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
          },
        },
      ],
    },
  ],
});

function sdsClient(socket: string) {
  const Ctor = grpc.makeClientConstructor(envoyService('envoy/service/secret/v3/sds.proto', 'envoy.service.secret.v3.SecretDiscoveryService') as any, 'SecretDiscoveryService');
  return new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as any;
}

test('--workload-sds-socket: the workload certificate and trust bundle over SDS on a Unix socket, rotations pushed', async () => {
  const mesh = await TestMesh.withCa({}, ['--workload-cert-ttl', '20s']);
  const dir = tmpDir('meshwork-agent-');
  fs.chmodSync(dir, 0o700);
  const socket = path.join(dir, 'socket');
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  try {
    const app = await mesh.app('a');
    const sidecar = await mesh.sidecar({
      id: 'a-1',
      service: 'a',
      labels: 'app=a',
      ports: [`${await freePort()}:${app.port}:${await freePort()}`],
      args: ['--join-token-file', mesh.joinTokenFile, '--service-account', 'a', '--workload-sds-socket', socket],
    });
    await waitFor(() => fs.existsSync(socket), 'the SDS socket', 20_000).catch(fail);
    assert.equal(fs.statSync(socket).mode & 0o777, 0o600, 'the socket is owner-only');
    const workloadSerial = async () => ((await (await sidecar.admin('/certs')).json()) as { workload_certificate: { serial: string } }).workload_certificate.serial.toUpperCase();

    // a consumer proxy whose bootstrap is Istio's shape for Envoy
    const consumer = await startProxy({
      static_resources: {
        listeners: [tlsListener('sotw', 'GRPC'), tlsListener('delta', 'DELTA_GRPC')],
        clusters: [
          {
            name: 'sds-grpc',
            type: 'STATIC',
            connect_timeout: '1s',
            typed_extension_protocol_options: {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } },
            },
            load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socket } } } }] }] },
          },
        ],
      },
    });
    try {
      const ports = { sotw: await listenerPort(consumer, 'sotw'), delta: await listenerPort(consumer, 'delta') };
      const first = await workloadSerial();
      for (const p of [ports.sotw, ports.delta]) {
        await waitFor(async () => (await handshakeSerial(p, 'a').catch(() => '')) === first, `the consumer presents the sidecar's certificate on ${p}`, 20_000).catch(fail);
      }
      // the trust bundle came too: the mesh CA's root
      const dump: any = await (await consumer.admin('/config_dump?include_eds')).json();
      const secrets = dump.configs.find((c: any) => c['@type'].endsWith('SecretsConfigDump'));
      const names = (secrets?.dynamic_active_secrets ?? []).map((s: any) => s.name);
      assert.ok(names.includes('default') && names.includes('ROOTCA'), JSON.stringify(names));

      // Envoy's own service, asked the way Envoy asks it
      const client = sdsClient(socket);
      const call = client.StreamSecrets();
      const response = await new Promise<any>((resolve, reject) => {
        call.once('data', resolve);
        call.once('error', reject);
        call.write({ node: { id: 'envoy-test' }, type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', resource_names: ['default'] });
      });
      call.cancel();
      client.close();
      assert.equal(response.resources.length, 1);
      // the Any holds a Secret; its certificate chain starts with the sidecar's certificate (decoded by the test's
      // own reading of the PEM in the bytes, not by Meshwork's codec)
      const bytes: Buffer = response.resources[0].value;
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(bytes.toString('latin1'))?.[0];
      assert.ok(pem, 'a certificate in the secret');
      const cert = new crypto.X509Certificate(pem);
      assert.equal(cert.serialNumber.toUpperCase(), first);
      assert.ok(cert.subjectAltName?.includes('URI:spiffe://cluster.local/ns/default/sa/a'), cert.subjectAltName);
      assert.ok(bytes.toString('latin1').includes('PRIVATE KEY'), 'the key travels with it, over the socket only');

      // rotation: the sidecar renews at about half of the 20 s lifetime; both streams get the new certificate
      await waitFor(async () => (await workloadSerial()) !== first, 'the sidecar renews', 30_000).catch(fail);
      const second = await workloadSerial();
      for (const p of [ports.sotw, ports.delta]) {
        await waitFor(async () => (await handshakeSerial(p, 'a').catch(() => '')) === second, `the renewed certificate on ${p}`, 10_000).catch(fail);
      }
    } finally {
      await consumer.stop();
    }
  } finally {
    await mesh.close();
  }
});
