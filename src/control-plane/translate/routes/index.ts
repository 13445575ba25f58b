// RDS, named as Istio names route configurations:
//  - sidecars: one RouteConfiguration per outbound HTTP port, named "<port>", with a virtual host
//    "<host>:<port>" per visible service on that port. Its domains are the host, its short forms for in-mesh
//    services ("name" from the same namespace, "name.ns", "name.ns.svc") and its addresses, each also with
//    ":<port>". Its routes come from the VirtualService bound to "mesh" that names the host, else Istio's
//    default route. A Sidecar with outboundTrafficPolicy REGISTRY_ONLY adds Istio's "block_all" host (502).
//  - gateways: one RouteConfiguration per HTTP server port ("http.<port>") and per terminated HTTPS server
//    ("https.<port>.<port name>.<gateway>.<namespace>"), with a virtual host per host of the VirtualServices
//    bound to the gateway whose hosts meet the server's hosts (all VirtualServices of one host merged, in order).
import type { Server } from '../../../api/mesh/types.js';
import type { Gateway } from '../../model/gateways.js';
import { serverHosts } from '../../model/gateways.js';
import { intersects, meshNameParts, narrower } from '../../model/hosts.js';
import { isHttp } from '../../model/protocol.js';
import type { Proxy } from '../../model/proxy.js';
import { scopeOf } from '../../model/scope.js';
import type { Service } from '../../model/services.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import { MESH_GATEWAY } from '../../model/virtual-services.js';
import { byName, type Json } from '../common.js';
import { defaultRoute, translateHttpRoute, type RouteContext } from './http-route.js';

export { corsHttpFilter } from './cors.js';

/** The outbound HTTP ports of a sidecar: every HTTP port of the services it sees, ascending. */
export function outboundHttpPorts(snapshot: MeshSnapshot, proxy: Proxy): number[] {
  const ports = new Set<number>();
  for (const s of scopeOf(snapshot, proxy).services) for (const p of s.ports) if (isHttp(p.protocol)) ports.add(p.number);
  return [...ports].sort((a, b) => a - b);
}

/** Istio's virtual host domains for a service on a port, as seen from a proxy of `proxyNamespace`. */
export function serviceDomains(s: Service, port: number, proxyNamespace: string): string[] {
  const names = [s.hostname];
  const parts = meshNameParts(s.hostname);
  if (parts) {
    if (parts.namespace === proxyNamespace) names.push(parts.name);
    names.push(`${parts.name}.${parts.namespace}`, `${parts.name}.${parts.namespace}.svc`);
  }
  names.push(...s.addresses.filter((a) => !a.includes('/')));
  return names.flatMap((n) => [n, `${n}:${port}`]);
}

function sidecarRouteConfig(snapshot: MeshSnapshot, proxy: Proxy, port: number): Json {
  const scope = scopeOf(snapshot, proxy);
  const ctx: RouteContext = { snapshot, scope, proxy, port, gateway: MESH_GATEWAY };
  const vhosts: Json[] = [];
  // Envoy rejects a domain listed by two virtual hosts (addresses shared by the hosts of one ServiceEntry, a
  // short name of two namespaces): the first service keeps it, as Istio dedupes them
  const used = new Set<string>();
  for (const s of scope.services) {
    if (!s.ports.some((p) => p.number === port && isHttp(p.protocol))) continue;
    const vs = scope.meshVirtualServices.find((v) => v.hosts.includes(s.hostname)) ?? scope.meshVirtualServices.find((v) => v.hosts.some((h) => intersects(h, s.hostname)));
    let routes = vs ? vs.http.flatMap((h) => translateHttpRoute(ctx, h)) : [];
    if (routes.length === 0) routes = [defaultRoute(ctx, s.hostname)];
    const domains = serviceDomains(s, port, proxy.namespace).filter((d) => !used.has(d));
    for (const d of domains) used.add(d);
    vhosts.push({ name: `${s.hostname}:${port}`, domains, routes, include_request_attempt_count: true });
  }
  vhosts.sort(byName);
  if (scope.sidecar?.spec.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY') {
    vhosts.push({ name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }], include_request_attempt_count: true });
  }
  return { name: String(port), virtual_hosts: vhosts, validate_clusters: false };
}

/** A server's TLS is terminated here (HTTPS served through an HTTP connection manager). */
export function terminatesTls(server: Server): boolean {
  const mode = server.tls?.mode ?? 'SIMPLE';
  return mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
}

/** Servers that carry HTTP routes, and the RouteConfiguration name Istio gives each. */
export function gatewayRouteName(gw: Gateway, server: Server): string | undefined {
  const proto = server.port.protocol.toUpperCase();
  if (proto === 'HTTPS' && terminatesTls(server)) return `https.${server.port.number}.${server.port.name ?? ''}.${gw.name}.${gw.namespace}`;
  if (proto === 'HTTP' || proto === 'HTTP2' || proto === 'GRPC' || proto === 'GRPC-WEB') return `http.${server.port.number}`;
  return undefined;
}

function gatewayVirtualHosts(snapshot: MeshSnapshot, proxy: Proxy, gw: Gateway, server: Server, into: Map<string, Json>): void {
  const port = server.port.number;
  const ctx: RouteContext = { snapshot, scope: scopeOf(snapshot, proxy), proxy, port, gateway: gw.key };
  const hosts = serverHosts(server, gw.namespace);
  for (const vs of snapshot.virtualServices.forGateway(gw.key)) {
    for (const vsHost of vs.hosts) {
      const sh = hosts.find((h) => (h.namespace === '*' || h.namespace === vs.namespace) && intersects(h.host, vsHost));
      if (!sh) continue;
      const domain = narrower(vsHost, sh.host);
      const name = `${domain}:${port}`;
      let vh = into.get(name);
      if (!vh) {
        vh = { name, domains: domain === '*' ? ['*'] : [domain, `${domain}:*`], routes: [] as Json[], include_request_attempt_count: true };
        if (server.tls?.httpsRedirect) vh.require_tls = 'ALL';
        into.set(name, vh);
      }
      vh.routes.push(...vs.http.flatMap((h) => translateHttpRoute(ctx, h)));
    }
  }
}

function gatewayRouteConfigs(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  const configs = new Map<string, Map<string, Json>>();
  for (const gw of snapshot.gateways.forProxy(proxy.labels)) {
    for (const server of gw.servers) {
      const name = gatewayRouteName(gw, server);
      if (!name) continue;
      const vhosts = configs.get(name) ?? configs.set(name, new Map()).get(name)!;
      gatewayVirtualHosts(snapshot, proxy, gw, server, vhosts);
      if (vhosts.size === 0) {
        // Istio's answer for a server no VirtualService binds to
        vhosts.set(`blackhole:${server.port.number}`, { name: `blackhole:${server.port.number}`, domains: ['*'], routes: [{ name: 'blackhole', match: { prefix: '/' }, direct_response: { status: 404 } }] });
      }
    }
  }
  return [...configs].map(([name, vhosts]) => {
    const list = [...vhosts.values()].filter((v) => v.routes.length > 0 || v.require_tls);
    // Istio drops the blackhole host once a real one exists
    const real = list.filter((v) => !String(v.name).startsWith('blackhole:'));
    return { name, virtual_hosts: (real.length ? real : list).sort(byName), validate_clusters: false };
  });
}

/** Every RouteConfiguration of a proxy, sorted by name. */
export function buildRoutes(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  const out = proxy.type === 'router' ? gatewayRouteConfigs(snapshot, proxy) : outboundHttpPorts(snapshot, proxy).map((p) => sidecarRouteConfig(snapshot, proxy, p));
  return out.sort(byName);
}
