// Test helpers for proxies driven by xDS: a real xDS server in the test process (the control plane's
// XdsServer with a generator the test fills), Envoy v3 resources as proto3 JSON, and a bootstrap whose
// dynamic_resources point at the server over ADS.
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type net from 'node:net';
import { TYPE_URL } from '../../src/api/xds/index.js';
import { XdsServer, type SyncStatus } from '../../src/control-plane/xds/server.js';
import { TestGenerator } from '../../src/control-plane/xds/test-support.js';
import { setLogLevel } from '../../src/common/log.js';
import { HCM, routerFilter, staticCluster } from './bootstrap.js';
import { waitFor } from './proxy.js';

// the in-process xDS server logs every stream and NACK; the assertions say what matters
setLogLevel('error');

export { TYPE_URL };

// TestGenerator: the resources each type serves, replaced by set(); every proxy gets the same (shared with the
// control plane's own unit tests).

export interface TestXds {
  /** the port the server listens on; stays the same across down()/up() */
  port: number;
  /** replace one type's resources (proto3 JSON) and push; set several types then push once with `push: false` */
  set(typeUrl: string, resources: Record<string, unknown>[], push?: boolean): void;
  push(): void;
  syncz(): SyncStatus[];
  /** stop the server (its streams end with UNAVAILABLE); the resources stay, so up() serves them again */
  down(): Promise<void>;
  /** a fresh server on the same port, serving what set() holds (changes made while down included) */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startXds(): Promise<TestXds> {
  const generator = new TestGenerator();
  let server: XdsServer | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = new XdsServer({ generator, debounceMs: 10 });
    server = s;
    return (await s.listen(`127.0.0.1:${port}`)).port;
  };
  const port = await listen(0);
  const down = async () => {
    const s = server;
    server = undefined;
    await s?.close(100);
  };
  return {
    port,
    set(typeUrl, resources, push = true) {
      generator.set(typeUrl, resources);
      if (push) server?.requestPush('test');
    },
    push: () => server?.requestPush('test'),
    syncz: () => server?.syncz() ?? [],
    down,
    async up() {
      if (server) return;
      await listen(port);
    },
    close: down,
  };
}

/** The sync status of the one proxy connected (waits for it), as the server's /debug/syncz shows it. */
export async function proxySync(xds: TestXds, id?: string): Promise<SyncStatus> {
  return waitFor(() => xds.syncz().find((s) => id === undefined || s.proxy === id), `proxy ${id ?? ''} on the xDS server`, 10_000);
}

/** Wait until the server saw the proxy ACK every type in `types` at the server's latest version. */
export function waitSynced(xds: TestXds, types: string[], timeoutMs = 15_000): Promise<SyncStatus> {
  return waitFor(() => {
    const s = xds.syncz()[0];
    return s && types.every((k) => s.types[k]?.status === 'SYNCED') && s;
  }, `${types.join(', ')} SYNCED`, timeoutMs);
}

/** ADS config source, as the resources below name it (initial_fetch_timeout when given). */
export function adsSource(initialFetchTimeout?: string): object {
  return { ads: {}, resource_api_version: 'V3', ...(initialFetchTimeout ? { initial_fetch_timeout: initialFetchTimeout } : {}) };
}

export interface AdsBootstrapOptions {
  delta?: boolean;
  lds?: boolean;
  cds?: boolean;
  static?: { listeners?: object[]; clusters?: object[]; secrets?: object[] };
  node?: object;
  initialFetchTimeout?: string;
  /** envoy_grpc.retry_policy.retry_back_off of the ADS stream, e.g. { base_interval: '0.05s', max_interval: '0.2s' } */
  backoff?: { base_interval: string; max_interval?: string };
}

/** A bootstrap with an `xds` static cluster at the server and ADS for LDS and CDS (SotW, or delta). */
export function adsBootstrap(xdsPort: number, o: AdsBootstrapOptions = {}): any {
  const source = () => adsSource(o.initialFetchTimeout);
  return {
    node: o.node ?? { id: 'proxy-1', cluster: 'test' },
    static_resources: {
      listeners: o.static?.listeners ?? [],
      clusters: [staticCluster('xds', [xdsPort], { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }), ...(o.static?.clusters ?? [])],
      ...(o.static?.secrets ? { secrets: o.static.secrets } : {}),
    },
    dynamic_resources: {
      ads_config: {
        api_type: o.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds', ...(o.backoff ? { retry_policy: { retry_back_off: o.backoff } } : {}) } }],
        set_node_on_first_message_only: true,
      },
      ...(o.lds !== false ? { lds_config: source() } : {}),
      ...(o.cds !== false ? { cds_config: source() } : {}),
    },
  };
}

// ---- resources (proto3 JSON, as a control plane sends them)

export function edsCluster(name: string, extra: object = {}): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: adsSource() }, ...extra };
}

export function assignment(cluster: string, ports: number[]): Record<string, unknown> {
  return {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }],
  };
}

export function hcm(statPrefix: string, routes: { rds: string; source?: object } | { inline: object }, extra: object = {}): object {
  const r = 'rds' in routes ? { rds: { route_config_name: routes.rds, config_source: routes.source ?? adsSource() } } : { route_config: routes.inline };
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, stat_prefix: statPrefix, ...r, http_filters: [routerFilter()], ...extra } };
}

/** A listener on 127.0.0.1:`port` (0: kernel-chosen) with one HCM (stat_prefix `name`) using RDS `routeName`;
 *  `rdsSource` replaces the RDS config source, `chain` adds fields to the filter chain (a transport_socket). */
export function rdsListener(name: string, routeName: string, o: { port?: number; hcm?: object; chain?: object; rdsSource?: object } = {}): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: o.port ?? 0 } },
    filter_chains: [{ filters: [hcm(name, { rds: routeName, source: o.rdsSource }, o.hcm)], ...o.chain }],
  };
}

/** A listener (stat_prefix `name`) with an inline route_config sending everything to `cluster`; validate_clusters
 *  is off, as Envoy needs for a static route table whose cluster comes from CDS. */
export function inlineListener(name: string, cluster: string, tag = name): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [hcm(name, { inline: { ...routeTo(`${name}-routes`, cluster, tag), validate_clusters: false } })] }],
  };
}

/** A downstream TLS transport socket whose certificate comes from SDS secret `secret` (for rdsListener's chain). */
export function sdsTlsChain(secret: string): object {
  return {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: adsSource() }] },
      },
    },
  };
}

/** An SDS Secret carrying a certificate and key inline. */
export function certSecret(name: string, certPem: string, keyPem: string): Record<string, unknown> {
  return { name, tls_certificate: { certificate_chain: { inline_string: certPem }, private_key: { inline_string: keyPem } } };
}

/** A RouteConfiguration sending everything to `cluster`, with an x-route response header naming `tag`. */
export function routeTo(name: string, cluster: string, tag = name): Record<string, unknown> {
  return {
    name,
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }], response_headers_to_add: [{ header: { key: 'x-route', value: tag } }] }],
  };
}

// ---- upstreams

export interface NamedUpstream {
  name: string;
  port: number;
  /** TCP connections accepted so far */
  connections: number;
  /** connections open now */
  open: Set<net.Socket>;
  /** requests with `?hold` waiting for release() */
  held: number;
  /** answer every held request */
  release(): void;
  close(): Promise<void>;
}

/** An HTTP/1.1 server answering every request with its name; `?hold` parks the response until release(),
 *  `?delay=ms` holds it that long. */
export async function namedUpstream(name: string): Promise<NamedUpstream> {
  const open = new Set<net.Socket>();
  let parked: (() => void)[] = [];
  const u: NamedUpstream = {
    name,
    port: 0,
    connections: 0,
    open,
    get held() {
      return parked.length;
    },
    release() {
      const p = parked;
      parked = [];
      for (const fn of p) fn();
    },
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    if (q.has('hold')) parked.push(() => res.end(name));
    else setTimeout(() => res.end(name), Number(q.get('delay') ?? 0));
  });
  server.on('connection', (s) => {
    u.connections++;
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  u.port = (server.address() as net.AddressInfo).port;
  u.close = () => {
    u.release();
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return u;
}

export interface GetResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** the client side's port: the same value on two requests means the same connection */
  localPort: number;
}

/** GET through the proxy (on `agent`, or a fresh connection): status, body, headers, client port. */
export function get(port: number, path = '/', agent?: http.Agent, headers: Record<string, string> = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false, headers }, (res) => {
      const localPort = res.socket.localPort ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers, localPort }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

/** GET over TLS (no verification: the test reads the certificate): status, body and the server certificate's CN. */
export function getTls(port: number, agent?: https.Agent): Promise<{ status: number; body: string; cn: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', agent: agent ?? false, rejectUnauthorized: false, servername: 'example.com' }, (res) => {
      const sock = res.socket as tls.TLSSocket;
      const cn = String(sock.getPeerCertificate().subject?.CN ?? '');
      const localPort = sock.localPort ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, cn, localPort }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

export interface LoadResult {
  ok: number;
  /** responses that were not 2xx, as "status body" */
  bad: string[];
  errors: string[];
  /** bodies seen (upstream names) with counts */
  bodies: Map<string, number>;
}

/**
 * Continuous load: `workers` loops, each sending keep-alive GETs back to back over its own connection, until
 * stop(). What a config change must not disturb: every answer is counted, every failure kept.
 */
export function loadLoop(port: number, o: { workers?: number; path?: string } = {}): { stop(): Promise<LoadResult>; result: LoadResult } {
  const result: LoadResult = { ok: 0, bad: [], errors: [], bodies: new Map() };
  let running = true;
  const agents: http.Agent[] = [];
  const worker = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    while (running) {
      try {
        const r = await get(port, o.path ?? '/', agent);
        if (r.status >= 200 && r.status < 300) result.ok++;
        else result.bad.push(`${r.status} ${r.body}`);
        result.bodies.set(r.body, (result.bodies.get(r.body) ?? 0) + 1);
      } catch (err) {
        result.errors.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: o.workers ?? 2 }, worker));
  return {
    result,
    async stop() {
      running = false;
      await done;
      for (const a of agents) a.destroy();
      return result;
    },
  };
}
