// Reading a ClusterLoadAssignment (load_assignment) into Host objects; shared by the STATIC, DNS and (later)
// EDS cluster types so that weights, priorities, localities and health mean the same everywhere.
import { ConfigError } from '../../common/errors.js';
import { Host, type Locality } from './host.js';

export interface EndpointSpec {
  address: string;
  port: number;
  weight: number;
  priority: number;
  locality: Locality | undefined;
  /** the locality's load_balancing_weight (locality-weighted balancing) */
  localityWeight: number | undefined;
  hostname: string | undefined;
  healthy: boolean;
  metadata: Record<string, unknown> | undefined;
  path: string;
  /** `address` is a Unix domain socket path (Address.pipe); port is 0 */
  pipe?: boolean;
}

// EDS health statuses that take a host out of rotation (Envoy: UNHEALTHY, DRAINING, TIMEOUT, DEGRADED is
// still used but at lower preference; we treat DEGRADED as healthy).
const UNHEALTHY = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

export function endpointSpecs(cluster: any, path: string): EndpointSpec[] {
  const out: EndpointSpec[] = [];
  const la = cluster.load_assignment;
  if (!la) return out;
  (la.endpoints ?? []).forEach((lle: any, i: number) => {
    const lp = `${path}.load_assignment.endpoints[${i}]`;
    const priority = lle.priority ?? 0;
    (lle.lb_endpoints ?? []).forEach((lbe: any, j: number) => {
      const ep = `${lp}.lb_endpoints[${j}]`;
      const pipe = lbe.endpoint?.address?.pipe;
      if (pipe) {
        if (!pipe.path) throw new ConfigError('MW_CONFIG_INVALID', `${ep}.endpoint.address.pipe.path`, 'a pipe needs a path');
        if (pipe.path.startsWith('@')) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ep}.endpoint.address.pipe.path`, 'abstract sockets (@name) are not supported');
        out.push({ address: pipe.path, port: 0, pipe: true, weight: lbe.load_balancing_weight ?? 1, priority, locality: lle.locality, localityWeight: lle.load_balancing_weight, hostname: lbe.endpoint.hostname, healthy: !UNHEALTHY.has(lbe.health_status ?? 'UNKNOWN'), metadata: lbe.metadata?.filter_metadata, path: ep });
        return;
      }
      const sa = lbe.endpoint?.address?.socket_address;
      if (!sa) throw new ConfigError('MW_CONFIG_INVALID', `${ep}.endpoint.address`, 'an endpoint needs a socket_address or a pipe (envoy_internal_address is not supported)');
      if (sa.named_port !== undefined || sa.port_value === undefined) {
        throw new ConfigError('MW_CONFIG_INVALID', `${ep}.endpoint.address.socket_address.port_value`, 'a port_value is required');
      }
      if (sa.protocol && sa.protocol !== 'TCP') throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ep}.endpoint.address.socket_address.protocol`, `${sa.protocol} is not supported`);
      out.push({
        address: sa.address,
        port: sa.port_value,
        weight: lbe.load_balancing_weight ?? 1,
        priority,
        locality: lle.locality,
        localityWeight: lle.load_balancing_weight,
        hostname: lbe.endpoint.hostname,
        healthy: !UNHEALTHY.has(lbe.health_status ?? 'UNKNOWN'),
        metadata: lbe.metadata?.filter_metadata,
        path: ep,
      });
    });
  });
  return out;
}

export function hostFromSpec(spec: EndpointSpec, address = spec.address, hostname = spec.hostname): Host {
  const h = new Host(address, spec.port, { weight: spec.weight, priority: spec.priority, locality: spec.locality, localityWeight: spec.localityWeight, hostname, metadata: spec.metadata, pipe: spec.pipe === true });
  h.healthy = spec.healthy;
  return h;
}

/** DNS clusters resolve names: a pipe endpoint there is a config error (Envoy: only STATIC and EDS take pipes). */
export function refusePipes(specs: readonly EndpointSpec[], clusterType: string): void {
  const p = specs.find((s) => s.pipe);
  if (p) throw new ConfigError('MW_CONFIG_INVALID', `${p.path}.endpoint.address.pipe`, `a ${clusterType} cluster resolves host names; a pipe endpoint belongs in a STATIC or EDS cluster`);
}
