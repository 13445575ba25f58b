// The bootstrap of a proxy that joins a Meshwork mesh (`meshwork proxy --sidecar` / `--gateway NAME`): no config
// file, only who it is and where the control plane is. Everything else (listeners, routes, clusters) comes over
// ADS. What Istio learns from the pod (namespace, labels, the ports the workload serves) travels in the node's
// metadata, in the layout the control plane reads (src/control-plane/model/proxy.ts documents it):
// MESH_TYPE, NAMESPACE, LABELS, INSTANCE_IPS, SERVICE, INBOUND_PORTS, OUTBOUND_BIND, HTTP_PROXY_PORT, WORKLOAD_NAME, plus
// SERVICE_ACCOUNT and ADMIN (this proxy's admin address, which the control plane's debug API shows).
//
// The result is an ordinary Envoy v3 bootstrap (an Envoy given the same YAML joins the same way), so it goes
// through the same loader, validation and `--config-yaml` merge as a file would.
import net from 'node:net';
import { MeshworkError } from '../../common/errors.js';

export type MeshProxyType = 'sidecar' | 'router';

export interface MeshPort {
  /** the service port (what clients of the service use) */
  port: number;
  /** the application's port on 127.0.0.1 (default: port) */
  targetPort?: number;
  /** where the sidecar's inbound listener listens, the endpoint port other proxies dial (default: port) */
  listenPort?: number;
  /** HTTP (default), HTTP2, GRPC, TCP, ... */
  protocol?: string;
}

export interface MeshProxyOptions {
  type: MeshProxyType;
  /** the control plane's xDS address, host:port */
  controlPlane: string;
  /** sidecar: the service its workload serves ("reviews" or an FQDN) */
  service?: string;
  /** gateway name (router) or workload name (sidecar): goes into the node id */
  name?: string;
  namespace: string;
  labels: Record<string, string>;
  ports: MeshPort[];
  /** the address other proxies reach this workload at (default 127.0.0.1) */
  ip: string;
  /** address the sidecar's outbound listeners bind (default 127.0.0.1); one per sidecar on a shared machine */
  outboundBind?: string;
  /** sidecar: port of its HTTP proxy listener on outboundBind (0: none; absent: the control plane's 15080) */
  httpProxyPort?: number;
  admin: { address: string; port: number };
  serviceAccount?: string;
  /** the mesh CA's trust domain (the SPIFFE identity's authority), when it is not cluster.local */
  trustDomain?: string;
  /** DeltaAggregatedResources instead of StreamAggregatedResources */
  delta?: boolean;
  /** node.id (default: Istio's form "<type>~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local") */
  nodeId?: string;
  /** node.cluster (default: the service, or the gateway name) */
  cluster?: string;
  /** where the proxy runs, "region[/zone[/subzone]]" → node.locality: the control plane orders endpoints by
   *  proximity to it (locality load balancing), and a sidecar's registered endpoint carries it */
  locality?: string;
}

const XDS_CLUSTER = 'xds-grpc';

export function meshBootstrap(o: MeshProxyOptions): Record<string, unknown> {
  const name = o.name ?? o.service?.split('.')[0] ?? o.type;
  const id = o.nodeId ?? `${o.type}~${o.ip}~${name}.${o.namespace}~${o.namespace}.svc.cluster.local`;
  const metadata: Record<string, unknown> = {
    MESH_TYPE: o.type,
    NAMESPACE: o.namespace,
    LABELS: o.labels,
    INSTANCE_IPS: o.ip,
    WORKLOAD_NAME: name,
    ADMIN: `${o.admin.address}:${o.admin.port}`,
  };
  if (o.serviceAccount) metadata.SERVICE_ACCOUNT = o.serviceAccount;
  if (o.trustDomain) metadata.TRUST_DOMAIN = o.trustDomain;
  if (o.service) metadata.SERVICE = o.service;
  if (o.ports.length > 0) {
    metadata.INBOUND_PORTS = o.ports.map((p) => ({
      port: p.port,
      ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
      ...(p.listenPort !== undefined ? { listenPort: p.listenPort } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
    }));
  }
  if (o.outboundBind) metadata.OUTBOUND_BIND = o.outboundBind;
  if (o.httpProxyPort !== undefined) metadata.HTTP_PROXY_PORT = o.httpProxyPort;

  const { host, port } = splitHostPort(o.controlPlane, '--control-plane');
  const ads = { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id, cluster: o.cluster ?? o.service ?? name, ...(o.locality ? { locality: parseLocality(o.locality) } : {}), metadata },
    admin: { address: { socket_address: { address: o.admin.address, port_value: o.admin.port } } },
    stats_config: ISTIO_STATS_CONFIG,
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      lds_config: ads,
      cds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          // a name is resolved (and re-resolved) by DNS; an IP needs no resolver
          type: net.isIP(host) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}

/** "host:port" or "[v6]:port" → parts; MW_CLI_USAGE naming `flag` when malformed. */
export function splitHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 0 || port > 65535) throw new MeshworkError('MW_CLI_USAGE', `${flag} must be HOST:PORT, not "${value}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * `--port` values: "SERVICE_PORT[:APP_PORT[:LISTEN_PORT]][/PROTOCOL]", e.g. "9080:8080" (the service's port 9080
 * is served by the app on 8080) or "9080:8080:15006/http".
 */
export function parsePortSpec(spec: string): MeshPort {
  const m = /^(\d{1,5})(?::(\d{1,5}))?(?::(\d{1,5}))?(?:\/([A-Za-z0-9-]+))?$/.exec(spec);
  const nums = m ? [m[1], m[2], m[3]].map((v) => (v === undefined ? undefined : Number(v))) : [];
  if (!m || nums.some((n) => n !== undefined && (n < 1 || n > 65535))) {
    throw new MeshworkError('MW_CLI_USAGE', `--port must be SERVICE_PORT[:APP_PORT[:LISTEN_PORT]][/PROTOCOL] with ports 1-65535, not "${spec}"`);
  }
  return {
    port: nums[0]!,
    ...(nums[1] !== undefined ? { targetPort: nums[1] } : {}),
    ...(nums[2] !== undefined ? { listenPort: nums[2] } : {}),
    ...(m[4] ? { protocol: m[4].toUpperCase() } : {}),
  };
}

/** `--locality` values: "region[/zone[/subzone]]" (Istio's locality syntax) → an Envoy node.locality. */
export function parseLocality(spec: string): { region: string; zone?: string; sub_zone?: string } {
  const parts = spec.split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || /[\s*]/.test(p))) {
    throw new MeshworkError('MW_CLI_USAGE', `--locality must be REGION[/ZONE[/SUBZONE]] without empty parts or "*", not "${spec}"`);
  }
  const [region, zone, subZone] = parts;
  return { region: region!, ...(zone ? { zone } : {}), ...(subZone ? { sub_zone: subZone } : {}) };
}

/** `--labels` values: "k=v,k2=v2" (several flags add up); label syntax as Kubernetes'. */
export function parseLabels(specs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    for (const pair of spec.split(',')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const key = eq > 0 ? pair.slice(0, eq) : '';
      const value = eq > 0 ? pair.slice(eq + 1) : '';
      if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key) || !/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value)) {
        throw new MeshworkError('MW_CLI_USAGE', `--labels takes KEY=VALUE[,KEY=VALUE...] with Kubernetes label syntax, not "${pair}"`);
      }
      out[key] = value;
    }
  }
  return out;
}

/** A port that was free a moment ago on `address` (for an admin listener the control plane must be told of). */
export async function freePort(address: string): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, address, resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Istio's bootstrap stats tags (its envoy_bootstrap.json), so that /stats/prometheus labels mesh stats as Istio's
 * dashboards read them: cluster_name="outbound|9080||reviews.default.svc.cluster.local" whole (Envoy's default
 * rule would stop at the first dot), response_code, tcp_prefix, ... and none of Envoy's other default tags.
 * The POSIX classes of Istio's RE2 regexes are written as JavaScript ones.
 */
const ISTIO_STATS_CONFIG = {
  use_all_default_tags: false,
  stats_tags: [
    { tag_name: 'cluster_name', regex: String.raw`^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)` },
    { tag_name: 'tcp_prefix', regex: String.raw`^tcp\.((.*?)\.)\w+?$` },
    { tag_name: 'response_code', regex: String.raw`_rq(_(\d{3}))$` },
    { tag_name: 'response_code_class', regex: String.raw`_rq(_(\dxx))$` },
    { tag_name: 'http_conn_manager_listener_prefix', regex: String.raw`^listener(?=\.).*?\.http\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)` },
    { tag_name: 'http_conn_manager_prefix', regex: String.raw`^http\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)` },
    { tag_name: 'listener_address', regex: String.raw`^listener\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)` },
  ],
};
