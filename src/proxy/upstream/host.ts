// Host: one upstream endpoint of a cluster, shared by the cluster's load balancer, connection pools,
// health checking and the admin API. A host's identity is its "address:port".

export interface Locality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}

export class Host {
  readonly address: string; // IP literal (or a hostname for LOGICAL_DNS before resolution; a pipe's path)
  readonly port: number;
  readonly id: string; // "address:port" ([v6]:port for IPv6; the path for a pipe, as Envoy prints it)
  /** Envoy's Address.pipe: a Unix domain socket path to connect to instead of address:port */
  readonly pipe: string | undefined;
  /** load_balancing_weight (1 when unset) */
  weight: number;
  priority: number;
  locality: Locality | undefined;
  /** the hostname the endpoint was configured with (Endpoint.hostname or the DNS name it came from) */
  hostname: string | undefined;
  metadata: Record<string, unknown> | undefined;
  /** its cluster's transport for it (transport_socket_matches by metadata), set when the cluster takes the host */
  transport: import('./cluster.js').ClusterTransport | undefined;
  /** health as the last health check / EDS status said; true until something says otherwise */
  healthy = true;
  /** ejected by outlier detection (Envoy's FAILED_OUTLIER_CHECK): out of the balancer's set until it returns */
  ejected = false;
  /** active health checking (health-check-manager.ts) failed this host, or has not passed it yet; Envoy's
   * FAILED_ACTIVE_HC flag. Only the health checker sets it; the cluster reads it when it rebuilds. */
  failedActiveHc = false;
  /** LocalityLbEndpoints.load_balancing_weight of the host's locality (locality-weighted balancing) */
  localityWeight: number | undefined;
  /** in-flight requests, maintained by the router; LEAST_REQUEST reads it */
  activeRequests = 0;
  /** open upstream connections, maintained by the pools */
  activeConnections = 0;
  // per-host stats the admin /clusters page shows
  rqTotal = 0;
  rqError = 0;
  rqSuccess = 0;
  cxConnectFail = 0;

  constructor(address: string, port: number, opts?: { weight?: number; priority?: number; locality?: Locality; localityWeight?: number; hostname?: string; metadata?: Record<string, unknown>; pipe?: boolean }) {
    this.address = address;
    this.port = port;
    this.pipe = opts?.pipe ? address : undefined;
    this.id = opts?.pipe ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    this.weight = opts?.weight ?? 1;
    this.priority = opts?.priority ?? 0;
    this.locality = opts?.locality;
    this.localityWeight = opts?.localityWeight;
    this.hostname = opts?.hostname;
    this.metadata = opts?.metadata;
  }
}

/** What net.connect / tls.connect take to reach a host: its socket address, or its pipe's path. */
export function connectTarget(h: Host): { host: string; port: number } | { path: string } {
  return h.pipe !== undefined ? { path: h.pipe } : { host: h.address, port: h.port };
}
