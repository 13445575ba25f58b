// CDS: the clusters of one proxy, named as Istio names them.
//  - outbound|<port>||<host> for every port of every service the proxy sees, and
//    outbound|<port>|<subset>|<host> for every subset of the service's DestinationRule (as the proxy sees it);
//    EDS over ADS for STATIC/NONE services, STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN) with the
//    addresses inline otherwise;
//  - inbound|<port>|| for each inbound port of a sidecar's own workload: a STATIC cluster to the application
//    on 127.0.0.1:<targetPort>.
import type { Subset } from '../../../api/mesh/types.js';
import { trafficPolicyFor, type DestinationRule } from '../../model/destination-rules.js';
import type { MeshSnapshot } from '../../model/snapshot.js';
import type { InboundPort, Proxy } from '../../model/proxy.js';
import { scopeOf } from '../../model/scope.js';
import type { Service, ServicePort } from '../../model/services.js';
import type { Endpoint } from '../../model/instances.js';
import { adsSource, byName, DEFAULT_CONNECT_TIMEOUT, inboundClusterName, outboundClusterName, type Json } from '../common.js';
import { loadAssignment, subsetEndpoints, usesEds } from '../endpoints/index.js';
import { applyTrafficPolicy, defaultThresholds } from './traffic-policy.js';
import { isHttp2 } from '../../model/protocol.js';
import { TYPE } from '../common.js';

function dnsEndpoints(snapshot: MeshSnapshot, s: Service, port: ServicePort, subset: Subset | undefined): readonly Endpoint[] {
  const eps = subsetEndpoints(snapshot.endpoints.endpoints(s, port.number), subset);
  if (eps.length > 0 || subset) return eps;
  // a DNS ServiceEntry without endpoints resolves its own host name
  return [{ address: s.hostname, port: port.targetPort ?? port.number, labels: {}, weight: 1, health: 'HEALTHY', instanceId: s.source }];
}

export function outboundCluster(snapshot: MeshSnapshot, s: Service, port: ServicePort, dr: DestinationRule | undefined, subset?: Subset): Json | undefined {
  const name = outboundClusterName(port.number, subset?.name, s.hostname);
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
    c.load_assignment = loadAssignment(name, eps);
  }
  c.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  applyTrafficPolicy(c, trafficPolicyFor(dr, port.number, subset), port.protocol, s.hostname);
  return c;
}

export function inboundCluster(p: InboundPort): Json {
  const name = inboundClusterName(p.listenPort);
  const c: Json = {
    name,
    type: 'STATIC',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [defaultThresholds()] },
    load_assignment: loadAssignment(name, [{ address: '127.0.0.1', port: p.targetPort, labels: {}, weight: 1, health: 'HEALTHY', instanceId: 'app' }]),
  };
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
        const c = outboundCluster(snapshot, s, port, dr, subset);
        if (c) out.push(c);
      }
    }
  }
  if (proxy.type === 'sidecar') for (const p of proxy.inbound) out.push(inboundCluster(p));
  return out.sort(byName);
}
