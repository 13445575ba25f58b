// LDS. Meshwork proxies do not capture traffic with iptables, so where Istio has virtual listeners
// (15001/15006) with one filter chain per destination, a Meshwork sidecar has real listeners:
//  - outbound "0.0.0.0_<port>" (Istio's name) bound on the proxy's OUTBOUND_BIND (default 127.0.0.1) for each
//    port of the services it sees: an HTTP connection manager reading RDS "<port>" for HTTP ports, tcp_proxy
//    to the port's service for TCP ports (one TCP service per port: without the destination IP there is no
//    telling two apart);
//  - inbound "<ip>_<listenPort>" in front of its own application, to the inbound|<listenPort>|| cluster.
// A gateway gets one listener "0.0.0.0_<port>" per Gateway server port on 0.0.0.0: plain HTTP (RDS
// "http.<port>"), terminated HTTPS (a filter chain per server, matched by SNI, DownstreamTlsContext from the
// certificate files, RDS "https.<port>.<name>.<gateway>.<ns>"), TLS passthrough (tcp_proxy chosen by SNI from
// the VirtualServices' tls routes) and TCP (tcp_proxy from their tcp routes).
// Only filters the Meshwork proxy implements are used: http_connection_manager, fault, router, tcp_proxy and
// the tls_inspector listener filter.
import type { RouteDestination, Server, ServerTLSSettings, TCPRoute } from '../../../api/mesh/types.js';
import type { Gateway } from '../../model/gateways.js';
import { serverHosts } from '../../model/gateways.js';
import { intersects } from '../../model/hosts.js';
import { isHttp } from '../../model/protocol.js';
import type { InboundPort, Proxy } from '../../model/proxy.js';
import { scopeOf, type ProxyScope } from '../../model/scope.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { MESH_GATEWAY, type VirtualService } from '../../model/virtual-services.js';
import { adsSource, byName, FILTER, inboundClusterName, listenerName, outboundClusterName, socketAddress, TYPE, type Json } from '../common.js';
import { gatewayRouteName, terminatesTls } from '../routes/index.js';

const WILDCARD = '0.0.0.0';

function httpConnectionManager(statPrefix: string, routes: Json, opts: { fault: boolean; remote: boolean }): Json {
  return {
    name: FILTER.HCM,
    typed_config: {
      '@type': TYPE.HCM,
      stat_prefix: statPrefix,
      ...routes,
      http_filters: [
        ...(opts.fault ? [{ name: FILTER.FAULT, typed_config: { '@type': TYPE.FAULT } }] : []),
        { name: FILTER.ROUTER, typed_config: { '@type': TYPE.ROUTER } },
      ],
      use_remote_address: opts.remote,
      normalize_path: true,
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
function tcpRouteFor(vs: VirtualService | undefined, port: number, gateway: string): TCPRoute | undefined {
  return vs?.tcp.find((t) => !t.match || t.match.some((m) => (m.port === undefined || m.port === port) && (!m.gateways?.length || m.gateways.includes(gateway))));
}

function outboundListeners(snapshot: MeshSnapshot, proxy: Proxy, scope: ProxyScope): Json[] {
  const http = new Set<number>();
  const tcp = new Map<number, string>();
  for (const s of scope.services) {
    for (const p of s.ports) {
      if (p.protocol === 'UDP') continue;
      if (isHttp(p.protocol)) http.add(p.number);
      else if (!tcp.has(p.number)) tcp.set(p.number, s.hostname);
    }
  }
  const out: Json[] = [];
  for (const port of http) {
    const name = listenerName(WILDCARD, port);
    out.push({
      name,
      address: socketAddress(proxy.outboundBind, port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [httpConnectionManager(`outbound_${name}`, rds(String(port)), { fault: true, remote: false })] }],
    });
  }
  for (const [port, hostname] of tcp) {
    if (http.has(port)) continue; // HTTP wins a port both use
    const name = listenerName(WILDCARD, port);
    const vs = scope.meshVirtualServices.find((v) => v.hosts.includes(hostname));
    const tr = tcpRouteFor(vs, port, MESH_GATEWAY);
    const clusters = tr ? l4Clusters(tr.route, port) : [{ name: outboundClusterName(port, undefined, hostname), weight: 100 }];
    out.push({
      name,
      address: socketAddress(proxy.outboundBind, port),
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [tcpProxy(outboundClusterName(port, undefined, hostname), clusters)] }],
    });
  }
  return out;
}

function inboundListener(proxy: Proxy, p: InboundPort): Json {
  const cluster = inboundClusterName(p.listenPort);
  const name = listenerName(proxy.ip, p.listenPort);
  const filter = isHttp(p.protocol)
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
        { fault: false, remote: false },
      )
    : tcpProxy(cluster, [{ name: cluster, weight: 100 }]);
  return { name, address: socketAddress(proxy.ip, p.listenPort), traffic_direction: 'INBOUND', filter_chains: [{ name: cluster, filters: [filter] }] };
}

const TLS_VERSION: Record<string, string> = { TLS_AUTO: 'TLS_AUTO', TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

/** A Gateway server's SIMPLE/MUTUAL settings with certificate files → a DownstreamTlsContext transport socket.
 *  Undefined when the server names no certificate files (credentialName needs a secret store: not yet). */
export function downstreamTls(tls: ServerTLSSettings | undefined, alpn: string[]): Json | undefined {
  if (!tls?.serverCertificate || !tls.privateKey) return undefined;
  const mutual = tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL';
  const common: Json = {
    ...(alpn.length ? { alpn_protocols: alpn } : {}),
    tls_certificates: [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }],
  };
  if (tls.minProtocolVersion || tls.maxProtocolVersion || tls.cipherSuites?.length) {
    common.tls_params = {
      ...(tls.minProtocolVersion ? { tls_minimum_protocol_version: TLS_VERSION[tls.minProtocolVersion] } : {}),
      ...(tls.maxProtocolVersion ? { tls_maximum_protocol_version: TLS_VERSION[tls.maxProtocolVersion] } : {}),
      ...(tls.cipherSuites?.length ? { cipher_suites: tls.cipherSuites } : {}),
    };
  }
  if (tls.caCertificates) {
    common.validation_context = {
      trusted_ca: { filename: tls.caCertificates },
      ...(tls.subjectAltNames?.length ? { match_subject_alt_names: tls.subjectAltNames.map((exact) => ({ exact })) } : {}),
      ...(tls.verifyCertificateSpki?.length ? { verify_certificate_spki: tls.verifyCertificateSpki } : {}),
      ...(tls.verifyCertificateHash?.length ? { verify_certificate_hash: tls.verifyCertificateHash } : {}),
    };
  }
  return {
    name: FILTER.TLS,
    typed_config: { '@type': TYPE.DOWNSTREAM_TLS, common_tls_context: common, ...(tls.mode === 'MUTUAL' ? { require_client_certificate: true } : {}) },
  };
}

function sniNames(gw: Gateway, server: Server): string[] {
  return serverHosts(server, gw.namespace).map((h) => h.host).filter((h) => h !== '*');
}

function gatewayChains(snapshot: MeshSnapshot, gw: Gateway, server: Server): Json[] {
  const port = server.port.number;
  const proto = server.port.protocol.toUpperCase();
  const statPrefix = `outbound_${listenerName(WILDCARD, port)}`;
  const routeName = gatewayRouteName(gw, server);
  if (routeName && proto !== 'HTTPS') return [{ filters: [httpConnectionManager(statPrefix, rds(routeName), { fault: true, remote: true })] }];
  if (routeName) {
    const ts = downstreamTls(server.tls, ['h2', 'http/1.1']);
    if (!ts) return [];
    const names = sniNames(gw, server);
    return [{ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), transport_socket: ts, filters: [httpConnectionManager(statPrefix, rds(routeName), { fault: true, remote: true })] }];
  }
  const hosts = serverHosts(server, gw.namespace);
  const bound = snapshot.virtualServices.forGateway(gw.key).filter((vs) => vs.hosts.some((h) => hosts.some((sh) => (sh.namespace === '*' || sh.namespace === vs.namespace) && intersects(sh.host, h))));
  const passthrough = (proto === 'TLS' || proto === 'HTTPS') && server.tls?.mode === 'PASSTHROUGH';
  if (passthrough) {
    // one chain per tls route, chosen by SNI
    const chains: Json[] = [];
    for (const vs of bound) {
      for (const t of vs.tls) {
        const m = t.match.find((x) => (x.port === undefined || x.port === port) && (!x.gateways?.length || x.gateways.includes(gw.key)));
        if (!m) continue;
        const clusters = l4Clusters(t.route, port);
        if (clusters.length) chains.push({ filter_chain_match: { server_names: m.sniHosts }, filters: [tcpProxy(statPrefix, clusters)] });
      }
    }
    return chains;
  }
  // TCP, or TLS terminated here then proxied as TCP
  for (const vs of bound) {
    const tr = tcpRouteFor(vs, port, gw.key);
    const clusters = tr ? l4Clusters(tr.route, port) : [];
    if (!clusters.length) continue;
    if (proto === 'TLS') {
      const ts = downstreamTls(server.tls, []);
      if (!ts) return [];
      const names = sniNames(gw, server);
      return [{ ...(names.length ? { filter_chain_match: { server_names: names } } : {}), transport_socket: ts, filters: [tcpProxy(statPrefix, clusters)] }];
    }
    return [{ filters: [tcpProxy(statPrefix, clusters)] }];
  }
  return [];
}

function gatewayListeners(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
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
      const chains = gatewayChains(snapshot, gw, server);
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
export function buildListeners(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  if (proxy.type === 'router') return gatewayListeners(snapshot, proxy).sort(byName);
  const scope = scopeOf(snapshot, proxy);
  return [...outboundListeners(snapshot, proxy, scope), ...proxy.inbound.map((p) => inboundListener(proxy, p))].sort(byName);
}
