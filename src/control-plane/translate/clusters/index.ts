// CDS: the clusters of one proxy, named as Istio names them.
//  - outbound|<port>||<host> for every port of every service the proxy sees, and
//    outbound|<port>|<subset>|<host> for every subset of the service's DestinationRule (as the proxy sees it);
//    EDS over ADS for STATIC/NONE services, STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN) with the
//    addresses inline otherwise (with the locality priorities/weights of the proxy, as EDS gives them);
//  - inbound|<port>|| for each inbound port of a sidecar's own workload (its --port flags, or its Sidecar's
//    `ingress` listeners: model/sidecars.ts): a STATIC cluster to the application on 127.0.0.1:<targetPort>
//    (a Sidecar ingress defaultEndpoint 0.0.0.0:PORT: the instance IP), limited by the ingress connectionPool.
import type { Subset } from '../../../api/mesh/types.js';
import { trafficPolicyFor, type DestinationRule } from '../../model/destination-rules.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { InboundPort, Proxy } from '../../model/proxy.js';
import { inboundPortsOf, scopeOf } from '../../model/scope.js';
import type { Service, ServicePort } from '../../model/services.js';
import type { Endpoint } from '../../model/instances.js';
import { adsSource, byName, DEFAULT_CONNECT_TIMEOUT, inboundClusterName, outboundClusterName, type Json } from '../common.js';
import { loadAssignment, subsetEndpoints, usesEds } from '../endpoints/index.js';
import type { LocalityClient } from '../endpoints/locality.js';
import { applyTrafficPolicy, defaultThresholds } from './traffic-policy.js';
import { isHttp2 } from '../../model/protocol.js';
import { TYPE } from '../common.js';
import { httpProxyClusters } from '../listeners/http-proxy.js';
import { autoMtlsMatches, istioMutualTransport, mtlsSni, serviceIdentities } from '../security/mtls.js';

function dnsEndpoints(snapshot: MeshSnapshot, s: Service, port: ServicePort, subset: Subset | undefined): readonly Endpoint[] {
  const eps = subsetEndpoints(snapshot.endpoints.endpoints(s, port.number), subset);
  if (eps.length > 0 || subset) return eps;
  // a DNS ServiceEntry without endpoints resolves its own host name
  return [{ address: s.hostname, port: port.targetPort ?? port.number, labels: {}, weight: 1, health: 'HEALTHY', instanceId: s.source }];
}

export function outboundCluster(snapshot: MeshSnapshot, s: Service, port: ServicePort, dr: DestinationRule | undefined, subset?: Subset, client?: LocalityClient & Partial<Pick<Proxy, 'mtls' | 'trustDomain' | 'type'>>): Json | undefined {
  const name = outboundClusterName(port.number, subset?.name, s.hostname);
  const policy = trafficPolicyFor(dr, port.number, subset);
  const c: Json = { name };
  if (usesEds(s)) {
    c.type = 'EDS';
    c.eds_cluster_config = { eds_config: adsSource(), service_name: name };
  } else {
    let eps = dnsEndpoints(snapshot, s, port, subset);
    if (eps.some((e) => e.address.startsWith('*'))) return undefined; // a wildcard host cannot be resolved
    // LOGICAL_DNS takes exactly one address (Envoy rejects more)
    if (s.resolution === 'DNS_ROUND_ROBIN') eps = eps.slice(0, 1);
    c.type = s.resolution === 'DNS_ROUND_ROBIN' ? 'LOGICAL_DNS' : 'STRICT_DNS';
    c.dns_lookup_family = 'V4_ONLY';
    c.respect_dns_ttl = true;
    // inline endpoints get the locality priorities and weights EDS would give them (Istio does the same)
    c.load_assignment = loadAssignment(name, eps, client, policy);
  }
  c.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  applyTrafficPolicy(c, policy, port.protocol, s.hostname, client?.type === 'router');
  if (client?.trustDomain !== undefined) applyMtls(c, client as Proxy, snapshot, s, port, subset, policy.tls?.mode);
  return c;
}

/** Istio's mTLS to mesh workloads (security/mtls.ts): ISTIO_MUTUAL always; with no TLS setting, auto mTLS when
 *  the client itself holds a certificate; DISABLE, SIMPLE and MUTUAL as the DestinationRule says. */
function applyMtls(c: Json, proxy: Proxy, snapshot: MeshSnapshot, s: Service, port: ServicePort, subset: Subset | undefined, mode: string | undefined): void {
  if (mode !== 'ISTIO_MUTUAL' && (mode !== undefined || !proxy.mtls || s.location === 'MESH_EXTERNAL')) return;
  const sans = serviceIdentities(proxy, s.namespace, snapshot.endpoints.endpoints(s, port.number));
  const sni = mtlsSni(port.number, subset?.name, s.hostname);
  if (mode === 'ISTIO_MUTUAL') c.transport_socket = istioMutualTransport(proxy, sans, sni);
  else c.transport_socket_matches = autoMtlsMatches(proxy, sans, sni);
}

export function inboundCluster(p: InboundPort): Json {
  const name = inboundClusterName(p.listenPort);
  const c: Json = {
    name,
    type: 'STATIC',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [defaultThresholds()] },
    load_assignment: loadAssignment(name, [{ address: p.endpointAddress ?? '127.0.0.1', port: p.targetPort, labels: {}, weight: 1, health: 'HEALTHY', instanceId: 'app' }]),
  };
  // a Sidecar ingress connectionPool applies to the inbound cluster, as Istio applies it
  if (p.connectionPool) {
    applyTrafficPolicy(c, { connectionPool: p.connectionPool }, p.protocol, '');
    return c;
  }
  if (isHttp2(p.protocol)) c.typed_extension_protocol_options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': TYPE.HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } };
  return c;
}

/** Every cluster of a proxy, sorted by name. */
export function buildClusters(snapshot: MeshSnapshot, proxy: Proxy): Json[] {
  const scope = scopeOf(snapshot, proxy);
  const out: Json[] = [];
  for (const s of scope.services) {
    const dr = scope.destinationRule(s);
    for (const port of s.ports) {
      if (port.protocol === 'UDP') continue;
      for (const subset of [undefined, ...(dr?.spec.subsets ?? [])]) {
        const c = outboundCluster(snapshot, s, port, dr, subset, proxy);
        if (c) out.push(c);
      }
    }
  }
  if (proxy.type === 'sidecar') for (const p of inboundPortsOf(snapshot, proxy)) out.push(inboundCluster(p));
  out.push(...httpProxyClusters(snapshot, proxy, scope)); // PassthroughCluster (listeners/http-proxy.ts)
  return out.sort(byName);
}
