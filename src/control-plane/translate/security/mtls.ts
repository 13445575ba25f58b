// Mutual TLS between proxies, as Istio generates it, for proxies that hold a workload certificate from the
// mesh CA (Proxy.mtls; the proxy provides its certificate as the static secret `default`, and the control
// plane serves the trust bundle as the SDS secret `ROOTCA`, src/control-plane/xds/mesh-generator.ts).
//
// Client side (outbound clusters):
//  - auto mTLS (no DestinationRule TLS setting): transport_socket_matches send mTLS to endpoints labelled
//    security.istio.io/tlsMode=istio (EDS marks them, endpoints/index.ts) and plaintext to the others;
//  - DestinationRule `ISTIO_MUTUAL`: mTLS to every endpoint;
//  - either way the client checks the server's SPIFFE identity (URI SAN) against the service accounts of the
//    service's workloads, not just the chain (Istio's "secure naming").
// Server side (inbound listeners): PeerAuthentication's mode per port: STRICT (mTLS only), PERMISSIVE (mTLS and
// plaintext on one port, told apart by the tls_inspector: a TLS ClientHello takes the mTLS filter chain) or
// DISABLE (plaintext only). Unlike Istio, the mTLS chain is chosen by transport protocol, not by the
// istio-peer-exchange ALPN: an application's own TLS sent through a PERMISSIVE port is taken for mTLS.
import type { Endpoint } from '../../model/instances.js';
import { spiffeIdentity, type InboundPort, type Proxy } from '../../model/proxy.js';
import { effectiveMtls } from '../../model/peer-authentication.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { adsSource, TYPE, type Json } from '../common.js';

/** The secret names Istio uses: the workload's certificate and the mesh's trust bundle. */
export const WORKLOAD_SECRET = 'default';
export const ROOT_CA_SECRET = 'ROOTCA';

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** Endpoint metadata auto-mTLS matches on (Envoy's envoy.transport_socket_match namespace). */
export const TLS_MODE_MATCH = 'envoy.transport_socket_match';

/** The CommonTlsContext of both sides: the workload certificate, and the trust bundle from SDS; the peer's URI
 *  SAN must satisfy one of `san` (StringMatchers; none: any). A proxy without a certificate presents none (and so
 *  fails closed against a server that requires one). */
function commonTls(proxy: Proxy, san: readonly Json[], alpn: readonly string[]): Json {
  return {
    ...(alpn.length ? { alpn_protocols: [...alpn] } : {}),
    ...(proxy.mtls ? { tls_certificate_sds_secret_configs: [{ name: WORKLOAD_SECRET }] } : {}),
    combined_validation_context: {
      default_validation_context: san.length ? { match_typed_subject_alt_names: san.map((matcher) => ({ san_type: 'URI', matcher })) } : {},
      validation_context_sds_secret_config: { name: ROOT_CA_SECRET, sds_config: adsSource() },
    },
  };
}

/** The identities of a service's workloads, as the client checks them: spiffe://td/ns/<ns>/sa/<sa>. */
export function serviceIdentities(proxy: Proxy, namespace: string, endpoints: Iterable<Endpoint>): string[] {
  const out = new Set<string>();
  for (const e of endpoints) out.add(spiffeIdentity(proxy.trustDomain, namespace, e.serviceAccount ?? 'default'));
  return [...out].sort();
}

/** An UpstreamTlsContext transport socket for ISTIO_MUTUAL. */
export function istioMutualTransport(proxy: Proxy, sans: readonly string[], sni: string): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': TYPE.UPSTREAM_TLS, common_tls_context: commonTls(proxy, sans.map((exact) => ({ exact })), []), sni },
  };
}

/** Auto mTLS: mTLS to endpoints whose proxy speaks it, plaintext to the rest (Istio's two matches). */
export function autoMtlsMatches(proxy: Proxy, sans: readonly string[], sni: string): Json[] {
  return [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: istioMutualTransport(proxy, sans, sni) },
    { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': TYPE.RAW_BUFFER } } },
  ];
}

/** The SNI Istio's clients send: outbound_.<port>_.<subset>_.<host> (informational here; no chain matches it). */
export const mtlsSni = (port: number, subset: string | undefined, host: string): string => `outbound_.${port}_.${subset ?? ''}_.${host}`;

/** The DownstreamTlsContext of an inbound mTLS filter chain: the client must present a certificate from the mesh
 *  CA; any workload identity of the trust domain is accepted (AuthorizationPolicy decides who may do what). */
export function inboundMtlsTransport(proxy: Proxy, alpn: readonly string[]): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TYPE.DOWNSTREAM_TLS,
      require_client_certificate: true,
      // the trust domain, as a prefix: a certificate from the mesh CA for another trust domain is refused
      common_tls_context: commonTls(proxy, [{ prefix: `spiffe://${proxy.trustDomain}/` }], alpn),
    },
  };
}

/**
 * The filter chains of an inbound listener under `mode`, given the chain as it is without TLS (`plain`).
 * STRICT: the mTLS chain only (a plaintext connection matches nothing and is closed); PERMISSIVE: mTLS for a
 * TLS ClientHello, the plaintext chain otherwise; DISABLE: the plaintext chain. Proxies without a certificate
 * cannot terminate mTLS and keep the plaintext chain.
 */
export function inboundChains(proxy: Proxy, mode: MtlsMode, plain: Json, alpn: readonly string[]): { chains: Json[]; inspect: boolean } {
  if (!proxy.mtls || mode === 'DISABLE') return { chains: [plain], inspect: false };
  const mtls = { ...plain, name: `${plain.name ?? 'inbound'}-mtls`, filter_chain_match: { transport_protocol: 'tls' }, transport_socket: inboundMtlsTransport(proxy, alpn) };
  if (mode === 'STRICT') return { chains: [mtls], inspect: true };
  return { chains: [mtls, { ...plain, filter_chain_match: { transport_protocol: 'raw_buffer' } }], inspect: true };
}

/** PeerAuthentication's mode for an inbound port of `proxy` (workload > namespace > mesh, portLevelMtls by the
 *  application's port: model/peer-authentication.ts). */
export function peerAuthenticationMode(snapshot: MeshSnapshot, proxy: Proxy, port: InboundPort): MtlsMode {
  const m = effectiveMtls(snapshot, proxy);
  return m.ports.get(port.listenPort) ?? m.mode;
}
