// Test helpers for proxies driven by xDS: a real xDS server in the test process (the control plane's
// XdsServer with a generator the test fills), Envoy v3 resources as proto3 JSON, and a bootstrap whose
// dynamic_resources point at the server over ADS.
import http from 'node:http';
import type net from 'node:net';
import { packAny, TYPE_URL } from '../../src/api/xds/index.js';
import { XdsServer, resourceEntry, type Generator, type ResourceEntry, type SyncStatus } from '../../src/control-plane/xds/server.js';
import { setLogLevel } from '../../src/common/log.js';
import { HCM, routerFilter, staticCluster } from './bootstrap.js';

// the in-process xDS server logs every stream and NACK; the assertions say what matters
setLogLevel('error');

export { TYPE_URL };

/** The resources each type serves, replaced by set(); every proxy gets the same. */
class TestGenerator implements Generator {
  private readonly byType = new Map<string, Map<string, ResourceEntry>>();

  set(typeUrl: string, resources: Record<string, unknown>[]): void {
    const m = new Map<string, ResourceEntry>();
    for (const json of resources) {
      const name = String(json.name ?? json.cluster_name);
      m.set(name, resourceEntry(name, packAny(json, typeUrl), json));
    }
    this.byType.set(typeUrl, m);
  }

  generate(_proxy: unknown, typeUrl: string, names: ReadonlySet<string> | '*'): Map<string, ResourceEntry> {
    const all = this.byType.get(typeUrl) ?? new Map<string, ResourceEntry>();
    return names === '*' ? all : new Map([...all].filter(([n]) => names.has(n)));
  }
}

export interface TestXds {
  port: number;
  /** replace one type's resources (proto3 JSON) and push; set several types then push once with `push: false` */
  set(typeUrl: string, resources: Record<string, unknown>[], push?: boolean): void;
  push(): void;
  syncz(): SyncStatus[];
  close(): Promise<void>;
}

export async function startXds(): Promise<TestXds> {
  const generator = new TestGenerator();
  const server = new XdsServer({ generator, debounceMs: 10 });
  const { port } = await server.listen('127.0.0.1:0');
  return {
    port,
    set(typeUrl, resources, push = true) {
      generator.set(typeUrl, resources);
      if (push) server.requestPush('test');
    },
    push: () => server.requestPush('test'),
    syncz: () => server.syncz(),
    close: () => server.close(100),
  };
}

/** A bootstrap with an `xds` static cluster at the server and ADS for LDS and CDS (SotW, or delta). */
export function adsBootstrap(xdsPort: number, o: { delta?: boolean; lds?: boolean; cds?: boolean; static?: { listeners?: object[]; clusters?: object[]; secrets?: object[] }; node?: object; initialFetchTimeout?: string } = {}): any {
  const source = (extra: object = {}) => ({ ads: {}, resource_api_version: 'V3', ...(o.initialFetchTimeout ? { initial_fetch_timeout: o.initialFetchTimeout } : {}), ...extra });
  return {
    node: o.node ?? { id: 'proxy-1', cluster: 'test' },
    static_resources: {
      listeners: o.static?.listeners ?? [],
      clusters: [staticCluster('xds', [xdsPort], { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }), ...(o.static?.clusters ?? [])],
      ...(o.static?.secrets ? { secrets: o.static.secrets } : {}),
    },
    dynamic_resources: {
      ads_config: { api_type: o.delta ? 'DELTA_GRPC' : 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }], set_node_on_first_message_only: true },
      ...(o.lds !== false ? { lds_config: source() } : {}),
      ...(o.cds !== false ? { cds_config: source() } : {}),
    },
  };
}

// ---- resources (proto3 JSON, as a control plane sends them)

export function edsCluster(name: string, extra: object = {}): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, ...extra };
}

export function assignment(cluster: string, ports: number[]): Record<string, unknown> {
  return {
    cluster_name: cluster,
    endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }],
  };
}

export function hcm(statPrefix: string, routes: { rds: string } | { inline: object }, extra: object = {}): object {
  const r = 'rds' in routes ? { rds: { route_config_name: routes.rds, config_source: { ads: {}, resource_api_version: 'V3' } } } : { route_config: routes.inline };
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': HCM, stat_prefix: statPrefix, ...r, http_filters: [routerFilter()], ...extra } };
}

/** A listener on 127.0.0.1:`port` (0: kernel-chosen) with one HCM using RDS `routeName`. */
export function rdsListener(name: string, routeName: string, o: { port?: number; hcm?: object; chain?: object } = {}): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: o.port ?? 0 } },
    filter_chains: [{ filters: [hcm(name, { rds: routeName }, o.hcm)], ...o.chain }],
  };
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
  close(): Promise<void>;
}

/** An HTTP/1.1 server answering every request with its name (and `?delay=ms` to hold the response). */
export async function namedUpstream(name: string): Promise<NamedUpstream> {
  const open = new Set<net.Socket>();
  const u: NamedUpstream = { name, port: 0, connections: 0, open, close: async () => {} };
  const server = http.createServer((req, res) => {
    const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => res.end(name), delay);
  });
  server.on('connection', (s) => {
    u.connections++;
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  u.port = (server.address() as net.AddressInfo).port;
  u.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return u;
}

/** GET through the proxy on a keep-alive agent: status, body, headers. */
export function get(port: number, path = '/', agent?: http.Agent, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: agent ?? false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}
