// LDS. Meshwork proxies do not capture traffic with iptables, so where Istio has virtual listeners
// (15001/15006) with one filter chain per destination, a Meshwork sidecar has real listeners:
//  - outbound "0.0.0.0_<port>" (Istio's name; "<bind>_<port>" for an egress listener with `bind`) bound on the
//    proxy's OUTBOUND_BIND (default 127.0.0.1) or the egress listener's `bind`, for each port its scope
//    reaches services on (model/scope.ts: Sidecar egress listeners admit their hosts on their port): an HTTP
//    connection manager reading RDS "<port>" for HTTP ports; for a port carrying TLS (TLS and HTTPS service
//    ports), one filter chain per service chosen by SNI (tls_inspector), from the VirtualServices' `tls` routes
//    (sniHosts) first, then each service's own host name, and a TCP service, if the port has one, for
//    connections whose SNI matches none; tcp_proxy to the port's service for TCP ports (one TCP service per
//    port: without the destination IP there is no telling two apart; `meshwork analyze` names the others);
//  - inbound "<ip>_<listenPort>" in front of its own application, to the inbound|<listenPort>|| cluster: one
//    per --port flag, or per Sidecar `ingress` listener (its bind, TLS and port; model/sidecars.ts).
// A gateway gets one listener "0.0.0.0_<port>" per Gateway server port on 0.0.0.0: plain HTTP (RDS
// "http.<port>"), terminated HTTPS (a filter chain per server, matched by SNI, DownstreamTlsContext from the
// certificate files, RDS "https.<port>.<name>.<gateway>.<ns>"), TLS passthrough (tcp_proxy chosen by SNI from
// the VirtualServices' tls routes) and TCP (tcp_proxy from their tcp routes).
// Only filters the Meshwork proxy implements are used: http_connection_manager, jwt_authn (inbound and gateway
// connection managers, from RequestAuthentications: security/jwt.ts), the HTTP and network RBAC filters
// (inbound and gateway listeners, from AuthorizationPolicies: security/authz.ts), fault, router, tcp_proxy and
// the tls_inspector listener filter.
import type { RouteDestination, Server, ServerTLSSettings, TCPRoute } from '../../../api/mesh/types.js';
import type { Gateway } from '../../model/gateways.js';
import { serverHosts } from '../../model/gateways.js';
import { intersects } from '../../model/hosts.js';
import { selects } from '../../model/labels.js';
import { isHttp } from '../../model/protocol.js';
import type { InboundPort, Proxy } from '../../model/proxy.js';
import { inboundPortsOf, scopeOf, type OutboundPort, type ProxyScope } from '../../model/scope.js';
import type { Service } from '../../model/services.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { MESH_GATEWAY, type VirtualService } from '../../model/virtual-services.js';
import { caSecretName, credentialSecretName } from '../../credentials/names.js';
import { adsSource, byName, FILTER, inboundClusterName, listenerName, outboundClusterName, socketAddress, TYPE, type Json } from '../common.js';
import { corsHttpFilter, gatewayRouteName, terminatesTls } from '../routes/index.js';
import { httpProxyListeners } from './http-proxy.js';
import { inboundChains, peerAuthenticationMode, type MtlsMode } from '../security/mtls.js';
import { jwtAuthnFilters, type JwksSource } from '../security/jwt.js';
import { AUTHZ_PATH_NORMALIZATION, authzHttpFilters, authzNetworkFilters } from '../security/authz.js';
import { istioStatsFilter } from '../observability/istio-stats.js';

const WILDCARD = '0.0.0.0';

/** The proxy whose security policies an inbound or gateway connection manager enforces (outbound ones: none,
 *  as in Istio), and the key sets the control plane fetched for its RequestAuthentications. */
export interface SecurityInputs {
  snapshot: MeshSnapshot;
  proxy: Proxy;
  jwks?: JwksSource;
  /** a sidecar inbound listener: the application port it serves (AuthorizationPolicy ports are workload ports) */
  workloadPort?: number;
}

function httpConnectionManager(statPrefix: string, routes: Json, opts: { fault: boolean; remote: boolean; stats: Json; security?: SecurityInputs; xfcc?: boolean }): Json {
  // AuthorizationPolicy (security/authz.ts): CUSTOM, AUDIT, DENY, ALLOW RBAC filters
  const authz = opts.security ? authzHttpFilters(opts.security.snapshot, opts.security.proxy, opts.security.workloadPort) : [];
  return {
    name: FILTER.HCM,
    typed_config: {
      '@type': TYPE.HCM,
      stat_prefix: statPrefix,
      ...routes,
      http_filters: [
        // Istio's metrics and metadata exchange (observability/istio-stats.ts) see every response
        opts.stats,
        // authentication first (security/jwt.ts: RequestAuthentication), then authorization, which reads it
        ...(opts.security ? jwtAuthnFilters(opts.security.snapshot, opts.security.proxy, opts.security.jwks) : []),
        ...authz,
        ...(opts.fault ? [{ name: FILTER.FAULT, typed_config: { '@type': TYPE.FAULT } }] : []),
        corsHttpFilter(),
        { name: FILTER.ROUTER, typed_config: { '@type': TYPE.ROUTER } },
      ],
      use_remote_address: opts.remote,
      // a sidecar's inbound side tells its app who called (Istio's default): the client's identity from its mTLS
      // certificate, appended to what earlier hops said; with no mTLS the header is stripped
      ...(opts.xfcc ? { forward_client_cert_details: 'APPEND_FORWARD', set_current_client_cert_details: { subject: true, dns: true, uri: true } } : {}),
      normalize_path: true,
      // where policies decide on paths, one canonical path first (Istio's DECODE_AND_MERGE_SLASHES)
      ...(authz.length ? AUTHZ_PATH_NORMALIZATION : {}),
    },
  };
}

const rds = (name: string): Json => ({ rds: { config_source: adsSource(), route_config_name: name } });

function tcpProxy(statPrefix: string, clusters: { name: string; weight: number }[]): Json {
  const target = clusters.length === 1 ? { cluster: clusters[0]!.name } : { weighted_clusters: { clusters } };
  return { name: FILTER.TCP_PROXY, typed_config: { '@type': TYPE.TCP_PROXY, stat_prefix: statPrefix, ...target } };
}

/** L4 destinations → (cluster, weight) pairs; a destination without a port takes `port`. */
function l4Clusters(route: readonly RouteDestination[] | undefined, port: number): { name: string; weight: number }[] {
  const list = route ?? [];
  return list
    .filter((d) => list.length === 1 || (d.weight ?? 0) > 0)
    .map((d) => ({ name: outboundClusterName(d.destination.port?.number ?? port, d.destination.subset, d.destination.host), weight: d.weight ?? 100 }));
}

/** The first tcp route of `vs` that applies on `port` (and gateway), as Istio picks it. */
function tcpRouteFor(vs: VirtualService | undefined, port: number, gateway: string, source: Proxy): TCPRoute | undefined {
  return vs?.tcp.find((t) => !t.match || t.match.some((m) => l4Applies(m, port, gateway, source)));
}

/** Does an L4 / TLS match clause apply to the listener being built: its port and gateway, and the proxy the
 *  connection leaves from (sourceLabels, sourceNamespace: Istio matches them against the client workload, which is
 *  this proxy). */
function l4Applies(m: { port?: number; gateways?: string[]; sourceLabels?: Record<string, string>; sourceNamespace?: string }, port: number, gateway: string, source: Proxy): boolean {
  if (m.port !== undefined && m.port !== port) return false;
  if (m.gateways?.length && !m.gateways.includes(gateway)) return false;
  if (m.sourceLabels && !selects(m.sourceLabels, source.labels)) return false;
  return m.sourceNamespace === undefined || m.sourceNamespace === source.namespace;
}

/** The protocol a service declares on a port. */
const protocolOn = (s: Service, port: number) => s.ports.find((p) => p.number === port)?.protocol;
const carriesTls = (s: Service, port: number) => {
  const p = protocolOn(s, port);
  return p === 'TLS' || p === 'HTTPS';
};

/** tcp_proxy to one service of a port: its VirtualService's tcp route, else its own cluster. */
function serviceTcpProxy(proxy: Proxy, scope: ProxyScope, s: Service, port: number): Json {
  const vs = scope.meshVirtualServices.find((v) => v.hosts.includes(s.hostname));
  const tr = tcpRouteFor(vs, port, MESH_GATEWAY, proxy);
  const clusters = tr ? l4Clusters(tr.route, port) : [{ name: outboundClusterName(port, undefined, s.hostname), weight: 100 }];
  return tcpProxy(outboundClusterName(port, undefined, s.hostname), clusters);
}

/**
 * The filter chains of a port several TLS services share, told apart by SNI as Istio's
 * buildSidecarOutboundTLSFilterChainOpts does: a chain per `tls` route match of the VirtualServices for the
 * port's hosts (its sniHosts), then one per service not covered yet (its host name), then the port's first TCP
 * service without SNI match (plain TCP, or an SNI no chain names). Envoy rejects a server name listed by two
 * chains of one listener, so a name already taken is left out.
 */
function sniChains(proxy: Proxy, scope: ProxyScope, o: OutboundPort): Json[] {
  const port = o.port;
  const taken = new Set<string>();
  const chains: Json[] = [];
  const add = (names: readonly string[], filter: () => Json | undefined) => {
    const free = names.filter((n) => !taken.has(n));
    if (free.length === 0) return;
    const f = filter();
    if (!f) return;
    for (const n of free) taken.add(n);
    chains.push({ filter_chain_match: { server_names: free }, filters: [f] });
  };
  for (const vs of scope.meshVirtualServices) {
    if (!vs.hosts.some((h) => o.services.some((s) => intersects(h, s.hostname)))) continue;
    for (const t of vs.tls) {
      for (const m of t.match) {
        if (!l4Applies(m, port, MESH_GATEWAY, proxy)) continue;
        const clusters = l4Clusters(t.route, port);
        add(m.sniHosts, () => (clusters.length ? tcpProxy(clusters[0]!.name, clusters) : undefined));
      }
    }
  }
  for (const s of o.services) if (carriesTls(s, port)) add([s.hostname], () => serviceTcpProxy(proxy, scope, s, port));
  const fallback = o.services.find((s) => !carriesTls(s, port));
  if (fallback) chains.push({ filters: [serviceTcpProxy(proxy, scope, fallback, port)] });
  return chains;
}

function outboundListeners(proxy: Proxy, scope: ProxyScope): Json[] {
  const out: Json[] = [];
  for (const o of scope.outbound) {
    const port = o.port;
    const name = listenerName(o.bind ?? WILDCARD, port);
    const common = { name, address: socketAddress(o.bind ?? proxy.outboundBind, port), traffic_direction: 'OUTBOUND' };
    // HTTP wins a port both use
    if (o.services.some((s) => isHttp(protocolOn(s, port)!))) {
      out.push({ ...common, filter_chains: [{ filters: [httpConnectionManager(`outbound_${name}`, rds(String(port)), { fault: true, remote: false, stats: istioStatsFilter(proxy, 'SOURCE') })] }] });
      continue;
    }
    const tlsServices = o.services.filter((s) => carriesTls(s, port));
    const tlsRoutes = scope.meshVirtualServices.some((v) => v.tls.length > 0 && v.hosts.some((h) => o.services.some((s) => intersects(h, s.hostname))));
    if (tlsServices.length > 0 && (o.services.length > 1 || tlsRoutes)) {
      const chains = sniChains(proxy, scope, o);
      if (chains.length) out.push({ ...common, listener_filters: [{ name: FILTER.TLS_INSPECTOR, typed_config: { '@type': TYPE.TLS_INSPECTOR } }], filter_chains: chains });
      continue;
    }
    const target = o.services[0]!;
    out.push({ ...common, filter_chains: [{ filters: [istioStatsFilter(proxy, 'SOURCE', target.hostname), serviceTcpProxy(proxy, scope, target, port)] }] });
  }
  return out;
}

function inboundListener(proxy: Proxy, p: InboundPort, mtlsMode: MtlsMode, security: SecurityInputs): Json {
  const cluster = inboundClusterName(p.listenPort);
  const address = p.bind ?? proxy.ip;
  const name = listenerName(address, p.listenPort);
  const http = isHttp(p.protocol);
  const filter = http
    ? httpConnectionManager(
        `inbound_${WILDCARD}_${p.listenPort}`,
        {
          route_config: {
            name: cluster,
            virtual_hosts: [
              {
                name: `inbound|http|${p.port}`,
                domains: ['*'],
                routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: '0s', max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' } } }],
              },
            ],
            validate_clusters: false,
          },
        },
        { fault: false, remote: false, stats: istioStatsFilter(proxy, 'DESTINATION'), security: { ...security, workloadPort: p.targetPort }, xfcc: true },
      )
    : tcpProxy(cluster, [{ name: cluster, weight: 100 }]);
  const alpn = http ? ['h2', 'http/1.1'] : [];
  // a Sidecar ingress listener's TLS: terminated here, as on a gateway server (ALPN for HTTP ports)
  const ts = p.tls ? downstreamTls(p.tls, alpn) : undefined;
  // TCP: Istio's TCP metrics first (they see every connection), then AuthorizationPolicy
  const filters = http ? [filter] : [istioStatsFilter(proxy, 'DESTINATION'), ...authzNetworkFilters(security.snapshot, proxy, p.targetPort), filter];
  const plain: Json = { name: cluster, ...(ts ? { transport_socket: ts } : {}), filters };
  // Otherwise the mesh's mTLS, as PeerAuthentication says for this port (security/mtls.ts).
  const { chains, inspect } = ts ? { chains: [plain], inspect: false } : inboundChains(proxy, mtlsMode, plain, alpn);
  return {
    name,
    address: socketAddress(address, p.listenPort),
    traffic_direction: 'INBOUND',
    ...(inspect ? { listener_filters: [{ name: FILTER.TLS_INSPECTOR, typed_config: { '@type': TYPE.TLS_INSPECTOR } }] } : {}),
    filter_chains: chains,
  };
}

const TLS_VERSION: Record<string, string> = { TLS_AUTO: 'TLS_AUTO', TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

/** A Gateway server's SIMPLE/MUTUAL settings → a DownstreamTlsContext transport socket. `credentialName` (which
 *  wins over files, as in Istio) names SDS secrets the control plane serves from its credential store:
 *  `kubernetes://<name>` and, for MUTUAL, `kubernetes://<name>-cacert` combined with the SAN/SPKI/hash checks.
 *  Certificate files are inline filename DataSources, which Meshwork's proxy follows (a replaced file reaches new
 *  handshakes). Undefined when the server names neither. */
export function downstreamTls(tls: ServerTLSSettings | undefined, alpn: string[]): Json | undefined {
  const credential = tls?.credentialName;
  if (!credential && (!tls?.serverCertificate || !tls.privateKey)) return undefined;
  const common: Json = {
    ...(alpn.length ? { alpn_protocols: alpn } : {}),
    ...(credential
      ? { tls_certificate_sds_secret_configs: [{ name: credentialSecretName(credential), sds_config: adsSource() }] }
      : { tls_certificates: [{ certificate_chain: { filename: tls!.serverCertificate }, private_key: { filename: tls!.privateKey } }] }),
  };
  if (tls!.minProtocolVersion || tls!.maxProtocolVersion || tls!.cipherSuites?.length) {
    common.tls_params = {
      ...(tls!.minProtocolVersion ? { tls_minimum_protocol_version: TLS_VERSION[tls!.minProtocolVersion] } : {}),
      ...(tls!.maxProtocolVersion ? { tls_maximum_protocol_version: TLS_VERSION[tls!.maxProtocolVersion] } : {}),
      ...(tls!.cipherSuites?.length ? { cipher_suites: tls!.cipherSuites } : {}),
    };
  }
  const checks: Json = {
    ...(tls!.subjectAltNames?.length ? { match_subject_alt_names: tls!.subjectAltNames.map((exact) => ({ exact })) } : {}),
    ...(tls!.verifyCertificateSpki?.length ? { verify_certificate_spki: tls!.verifyCertificateSpki } : {}),
    ...(tls!.verifyCertificateHash?.length ? { verify_certificate_hash: tls!.verifyCertificateHash } : {}),
  };
  if (credential && tls!.mode === 'MUTUAL') {
    common.combined_validation_context = { default_validation_context: checks, validation_context_sds_secret_config: { name: caSecretName(credential), sds_config: adsSource() } };
  } else if (!credential && tls!.caCertificates) {
    common.validation_context = { trusted_ca: { filename: tls!.caCertificates }, ...checks };
  }
  return {
    name: FILTER.TLS,
    typed_config: { '@type': TYPE.DOWNSTREAM_TLS, common_tls_context: common, ...(tls!.mode === 'MUTUAL' ? { require_client_certificate: true } : {}) },
  };
}

function sniNames(gw: Gateway, server: Server): string[] {
  return serverHosts(server, gw.namespace).map((h) => h.host).filter((h) => h !== '*');
}

function gatewayChains(snapshot: MeshSnapshot, gw: Gateway, server: Server, security: SecurityInputs): Json[] {
  const port = server.port.number;
  const proto = server.port.protocol.toUpperCase();
  const statPrefix = `outbound_${listenerName(WILDCARD, port)}`;
  const routeName = gatewayRouteName(gw, server);
  // TCP chains: AuthorizationPolicy as network RBAC filters before tcp_proxy (security/authz.ts)
  const l4 = (clusters: { name: string; weight: number }[]) => [...authzNetworkFilters(snapshot, security.proxy), tcpProxy(statPrefix, clusters)];
  if (routeName && proto !== 'HTTPS') return [{ filters: [httpConnectionManager(statPrefix, rds(routeName), { fault: true, remote: true, stats: istioStatsFilter(security.proxy, 'SOURCE'), security })] }];
  if (routeName) {
    const ts = downstreamTls(server.tls, ['h2', 'http/1.1']);
    if (!ts) return [];
    const names = sniNames(gw, server);
    return [{ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), transport_socket: ts, filters: [httpConnectionManager(statPrefix, rds(routeName), { fault: true, remote: true, stats: istioStatsFilter(security.proxy, 'SOURCE'), security })] }];
  }
  const hosts = serverHosts(server, gw.namespace);
  const bound = snapshot.virtualServices.forGateway(gw.key).filter((vs) => vs.hosts.some((h) => hosts.some((sh) => (sh.namespace === '*' || sh.namespace === vs.namespace) && intersects(sh.host, h))));
  const passthrough = (proto === 'TLS' || proto === 'HTTPS') && server.tls?.mode === 'PASSTHROUGH';
  if (passthrough) {
    // one chain per tls route, chosen by SNI
    const chains: Json[] = [];
    for (const vs of bound) {
      for (const t of vs.tls) {
        const m = t.match.find((x) => l4Applies(x, port, gw.key, security.proxy));
        if (!m) continue;
        const clusters = l4Clusters(t.route, port);
        if (clusters.length) chains.push({ filter_chain_match: { server_names: m.sniHosts }, filters: l4(clusters) });
      }
    }
    return chains;
  }
  // TCP, or TLS terminated here then proxied as TCP
  for (const vs of bound) {
    const tr = tcpRouteFor(vs, port, gw.key, security.proxy);
    const clusters = tr ? l4Clusters(tr.route, port) : [];
    if (!clusters.length) continue;
    if (proto === 'TLS') {
      const ts = downstreamTls(server.tls, []);
      if (!ts) return [];
      const names = sniNames(gw, server);
      return [{ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), transport_socket: ts, filters: l4(clusters) }];
    }
    return [{ filters: l4(clusters) }];
  }
  return [];
}

function gatewayListeners(snapshot: MeshSnapshot, proxy: Proxy, jwks?: JwksSource): Json[] {
  const security: SecurityInputs = { snapshot, proxy, jwks };
  const byPort = new Map<number, Json[]>();
  const plainHttp = new Set<number>();
  for (const gw of snapshot.gateways.forProxy(proxy.labels)) {
    for (const server of gw.servers) {
      const port = server.port.number;
      const routeName = gatewayRouteName(gw, server);
      // every plain HTTP server of a port shares the one RouteConfiguration "http.<port>": one chain
      if (routeName?.startsWith('http.')) {
        if (plainHttp.has(port)) continue;
        plainHttp.add(port);
      }
      const chains = gatewayChains(snapshot, gw, server, security);
      if (chains.length) byPort.set(port, [...(byPort.get(port) ?? []), ...chains]);
    }
  }
  return [...byPort].map(([port, chains]) => {
    const sni = chains.some((c) => c.filter_chain_match?.server_names || c.transport_socket);
    return {
      name: listenerName(WILDCARD, port),
      address: socketAddress(WILDCARD, port),
      traffic_direction: 'OUTBOUND',
      ...(sni ? { listener_filters: [{ name: FILTER.TLS_INSPECTOR, typed_config: { '@type': TYPE.TLS_INSPECTOR } }] } : {}),
      filter_chains: chains,
    };
  });
}

/** Every listener of a proxy, sorted by name. */
export function buildListeners(snapshot: MeshSnapshot, proxy: Proxy, jwks?: JwksSource): Json[] {
  if (proxy.type === 'router') return gatewayListeners(snapshot, proxy, jwks).sort(byName);
  const security: SecurityInputs = { snapshot, proxy, jwks };
  const scope = scopeOf(snapshot, proxy);
  return [...outboundListeners(proxy, scope), ...inboundPortsOf(snapshot, proxy).map((p) => inboundListener(proxy, p, peerAuthenticationMode(snapshot, proxy, p), security)), ...httpProxyListeners(snapshot, proxy, scope)].sort(byName);
}
