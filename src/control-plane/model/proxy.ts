// The proxy asking for config, read from its xDS node. Meshwork runs without Kubernetes, so what Istio learns
// from the pod (namespace, labels, the ports its workload serves) comes in the node's metadata, under names
// modelled on Istio's node metadata:
//
//   node.id                  any unique string; an Istio-style id "<type>~<ip>~<name>.<ns>~<ns>.svc.cluster.local"
//                            also supplies type, IP and namespace when the metadata leaves them out
//   node.locality            {region, zone, sub_zone} → the workload's locality
//   node.metadata:
//     MESH_TYPE      "sidecar" | "router"            default: from the id, else "sidecar"
//     NAMESPACE      string                          default: from the id, else "default"
//     LABELS         {string: string}                default: {}   (workload labels; gateway selectors match them)
//     INSTANCE_IPS   "10.0.0.5[,...]" (first used)   default: from the id, else "127.0.0.1"
//     SERVICE        "reviews" | FQDN                the service the sidecar's workload serves (no inbound side
//                                                    and no self-registration without it)
//     INBOUND_PORTS  "9080:8080,9443:8443:15443" or [{port, targetPort?, listenPort?, name?, protocol?}]
//                    port = service port; targetPort = the app's port on 127.0.0.1 (default: port);
//                    listenPort = where the sidecar's inbound listener listens and what other proxies dial
//                    (default: port); protocol default HTTP; name default "<protocol>-<port>" ("http-9080")
//     OUTBOUND_BIND  "127.0.0.1"                     address the sidecar's outbound listeners bind (default)
//     HTTP_PROXY_PORT 15080 (number or string)       port of the sidecar's HTTP proxy listener on OUTBOUND_BIND
//                                                    (apps set it as their HTTP proxy); 0 = none. Default 15080
//     WORKLOAD_NAME  string                          informational
//     SERVICE_ACCOUNT string                         the workload's identity: spiffe://<TRUST_DOMAIN>/ns/<NAMESPACE>/sa/<it>
//                                                    (default "default")
//     TRUST_DOMAIN   string                          default "cluster.local"
//   A proxy that holds a workload certificate from the mesh CA labels itself security.istio.io/tlsMode=istio, as
//   Istio's injector labels such pods: the label makes its endpoint take mTLS and its own listeners offer it.
import type { ConnectionPoolSettings, ServerTLSSettings } from '../../api/mesh/types.js';
import type { NodeJson } from '../../api/xds/index.js';
import { resolveHost } from './hosts.js';
import type { RegisteredInstance } from './instances.js';
import { NO_LABELS, type Labels } from './labels.js';
import { portProtocol, type Protocol } from './protocol.js';

export type ProxyType = 'sidecar' | 'router';

export interface InboundPort {
  readonly name: string;
  readonly protocol: Protocol;
  /** the service port */
  readonly port: number;
  /** where the sidecar's inbound listener listens (the endpoint port other proxies dial) */
  readonly listenPort: number;
  /** the application's port on 127.0.0.1 */
  readonly targetPort: number;
  // The rest is set only when a Sidecar's `ingress` listener defines the port (model/sidecars.ts inboundPorts).
  /** the listener's address (Sidecar ingress `bind`); absent: the proxy's IP */
  readonly bind?: string;
  /** where the application listens (defaultEndpoint `0.0.0.0:PORT` means the instance IP); absent: 127.0.0.1 */
  readonly endpointAddress?: string;
  /** TLS the inbound listener terminates (Sidecar ingress `tls`, certificates from files) */
  readonly tls?: ServerTLSSettings;
  /** limits of the inbound cluster (Sidecar ingress `connectionPool`) */
  readonly connectionPool?: ConnectionPoolSettings;
}

export interface Proxy {
  readonly id: string;
  readonly type: ProxyType;
  readonly namespace: string;
  readonly labels: Labels;
  readonly ip: string;
  readonly locality?: string;
  /** address of the outbound listeners (sidecars) */
  readonly outboundBind: string;
  /** port of the sidecar's HTTP proxy listener on outboundBind (translate/listeners/http-proxy.ts); 0: none */
  readonly httpProxyPort: number;
  /** FQDN of the service its workload serves */
  readonly service?: string;
  readonly inbound: readonly InboundPort[];
  readonly workloadName?: string;
  readonly serviceAccount: string;
  readonly trustDomain: string;
  /** it holds a workload certificate (label security.istio.io/tlsMode=istio): it can speak mTLS */
  readonly mtls: boolean;
}

/** Istio's label on workloads whose proxy speaks mTLS; endpoints carrying it get mTLS from auto-mTLS clients. */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** spiffe://<trust domain>/ns/<namespace>/sa/<service account> */
export const spiffeIdentity = (trustDomain: string, namespace: string, serviceAccount: string): string => `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_IP = '127.0.0.1';
export const DEFAULT_OUTBOUND_BIND = '127.0.0.1';
/** Istio has no such listener; 15080 sits among its 150xx ports without taking one of them */
export const DEFAULT_HTTP_PROXY_PORT = 15080;

function httpProxyPortOf(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : DEFAULT_HTTP_PROXY_PORT;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function parseInbound(v: unknown): InboundPort[] {
  const items: { port: number; targetPort?: number; listenPort?: number; name?: string; protocol?: string }[] = [];
  if (typeof v === 'string') {
    for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [port, target, listen] = part.split(':').map(Number);
      items.push({ port: port!, targetPort: target, listenPort: listen });
    }
  } else if (Array.isArray(v)) {
    for (const x of v) if (x && typeof x === 'object') items.push(x as never);
  }
  return items
    .filter((i) => Number.isInteger(Number(i.port)) && Number(i.port) > 0)
    .map((i) => {
      const port = Number(i.port);
      const protocol = portProtocol(i.name, i.protocol ?? (i.name ? undefined : 'HTTP'));
      return Object.freeze({
        name: i.name ?? `${protocol.toLowerCase()}-${port}`,
        protocol,
        port,
        listenPort: Number(i.listenPort) || port,
        targetPort: Number(i.targetPort) || port,
      });
    });
}

/** The Proxy a node describes (see the layout above). Never throws: anything missing takes its default. */
export function proxyFromNode(node: NodeJson): Proxy {
  const md = (node.metadata ?? {}) as Record<string, unknown>;
  const id = node.id ?? '';
  // Istio's id: type~ip~podName.namespace~namespace.svc.cluster.local
  const parts = id.split('~');
  const fromId = parts.length === 4 ? { type: parts[0], ip: parts[1], namespace: parts[3]!.split('.')[0] } : {};
  const typeText = str(md.MESH_TYPE) ?? fromId.type;
  const type: ProxyType = typeText === 'router' ? 'router' : 'sidecar';
  const namespace = str(md.NAMESPACE) ?? str(fromId.namespace) ?? DEFAULT_NAMESPACE;
  const labels: Record<string, string> = {};
  if (md.LABELS && typeof md.LABELS === 'object') for (const [k, v] of Object.entries(md.LABELS)) if (typeof v === 'string') labels[k] = v;
  const ip = str(md.INSTANCE_IPS)?.split(',')[0]?.trim() || str(fromId.ip) || DEFAULT_IP;
  const loc = node.locality;
  const locality = loc && (loc.region || loc.zone || loc.sub_zone) ? [loc.region ?? '', loc.zone ?? '', loc.sub_zone ?? ''].join('/').replace(/\/+$/, '') : undefined;
  const service = str(md.SERVICE);
  return Object.freeze({
    id,
    type,
    namespace,
    labels: Object.keys(labels).length ? Object.freeze(labels) : NO_LABELS,
    ip,
    ...(locality ? { locality } : {}),
    outboundBind: str(md.OUTBOUND_BIND) ?? DEFAULT_OUTBOUND_BIND,
    httpProxyPort: httpProxyPortOf(md.HTTP_PROXY_PORT),
    ...(service ? { service: resolveHost(service, namespace) } : {}),
    inbound: Object.freeze(service ? parseInbound(md.INBOUND_PORTS) : []),
    ...(str(md.WORKLOAD_NAME) ? { workloadName: str(md.WORKLOAD_NAME) } : {}),
    serviceAccount: str(md.SERVICE_ACCOUNT) ?? DEFAULT_SERVICE_ACCOUNT,
    trustDomain: str(md.TRUST_DOMAIN) ?? DEFAULT_TRUST_DOMAIN,
    mtls: labels[TLS_MODE_LABEL] === 'istio',
  });
}

/**
 * The workload instance a sidecar registers for itself (Istio's WorkloadEntry auto-registration): its IP, its
 * inbound listen ports by port name, its labels and locality. Undefined for gateways and sidecars without a
 * service.
 */
export function instanceOfProxy(proxy: Proxy): RegisteredInstance | undefined {
  if (proxy.type !== 'sidecar' || !proxy.service) return undefined;
  const ports: Record<string, number> = {};
  for (const p of proxy.inbound) ports[p.name] = p.listenPort;
  return Object.freeze({
    id: proxy.id,
    namespace: proxy.namespace,
    address: proxy.ip,
    ports: Object.freeze(ports),
    labels: proxy.labels,
    ...(proxy.locality ? { locality: proxy.locality } : {}),
    weight: 1,
    health: 'HEALTHY' as const,
    serviceAccount: proxy.serviceAccount,
    service: proxy.service,
    servicePorts: Object.freeze(proxy.inbound.map((p) => ({ name: p.name, number: p.port, protocol: p.protocol }))),
  });
}
