// Shared by the xDS server's tests: a generator whose resources a test sets, and a real gRPC client stream
// (H1's service definitions over 127.0.0.1) with bounded waits.
import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE,
  packAny,
  resourceName,
  unpackAny,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type NodeJson,
} from '../../api/xds/index.js';
import { XdsServer, type Generator, type ProxyInfo, type ResourceEntry, type XdsServerOptions } from './server.js';
import { resourceEntry } from './version.js';

/** Resources per type URL, replaced wholesale by set() (a new Map each time, as the Generator contract asks). */
export class TestGenerator implements Generator {
  private readonly byType = new Map<string, Map<string, ResourceEntry>>();
  calls = 0;

  set(typeUrl: string, resources: Record<string, unknown>[]): void {
    const m = new Map<string, ResourceEntry>();
    for (const json of resources) {
      const name = String(json.name ?? json.cluster_name);
      m.set(name, resourceEntry(name, packAny(json, typeUrl), json));
    }
    this.byType.set(typeUrl, m);
  }

  generate(_proxy: ProxyInfo, typeUrl: string, names: ReadonlySet<string> | '*'): Map<string, ResourceEntry> {
    this.calls++;
    const all = this.byType.get(typeUrl) ?? new Map<string, ResourceEntry>();
    if (names === '*') return all;
    return new Map([...all].filter(([n]) => names.has(n)));
  }
}

export const cluster = (name: string, timeout = '1s') => ({ name, connect_timeout: timeout, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } });
export const endpoints = (cluster: string, port = 80) => ({
  cluster_name: cluster,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
});
export const listener = (name: string, port: number) => ({ name, address: { socket_address: { address: '127.0.0.1', port_value: port } } });
export const route = (name: string, cluster: string) => ({
  name,
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }],
});
export const secret = (name: string, ca: string) => ({ name, validation_context: { trusted_ca: { inline_string: ca } } });

/** One client stream with a queue of what the server sent; every wait is bounded. */
export class TestStream<Req, Res> {
  private readonly received: Res[] = [];
  private waiter: (() => void) | undefined;
  readonly status: Promise<grpc.StatusObject>;

  constructor(private readonly call: grpc.ClientDuplexStream<Req, Res>) {
    call.on('data', (m: Res) => {
      this.received.push(m);
      this.waiter?.();
    });
    this.status = new Promise((resolve) => call.on('status', resolve));
    call.on('error', () => {}); // the status promise reports it
  }

  send(req: Req): void {
    this.call.write(req);
  }

  async next(timeoutMs = 3000): Promise<Res> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no xDS response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.received.shift()!;
  }

  /** Responses received and not yet taken by next(). */
  get queued(): number {
    return this.received.length;
  }

  close(): void {
    this.call.cancel();
  }
}

export type SotwStreamClient = TestStream<DiscoveryRequest, DiscoveryResponse>;
export type DeltaStreamClient = TestStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

const AdsClient = grpc.makeGenericClientConstructor(ADS_SERVICE, 'AggregatedDiscoveryService');

export class TestAdsClient {
  private readonly client: grpc.Client;
  constructor(port: number) {
    this.client = new AdsClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }
  sotw(): SotwStreamClient {
    return new TestStream((this.client as unknown as Record<string, () => grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>>).StreamAggregatedResources!());
  }
  delta(): DeltaStreamClient {
    return new TestStream((this.client as unknown as Record<string, () => grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>>).DeltaAggregatedResources!());
  }
  close(): void {
    this.client.close();
  }
}

export function sotwRequest(typeUrl: string, node: NodeJson | undefined, opts: Partial<DiscoveryRequest> = {}): DiscoveryRequest {
  return { version_info: '', resource_names: [], type_url: typeUrl, response_nonce: '', ...(node ? { node } : {}), ...opts };
}

/** The ACK of a response, keeping the subscription `names`. */
export function ack(res: DiscoveryResponse, names: string[] = []): DiscoveryRequest {
  return sotwRequest(res.type_url, undefined, { version_info: res.version_info, response_nonce: res.nonce, resource_names: names });
}

export function deltaRequest(typeUrl: string, node: NodeJson | undefined, opts: Partial<DeltaDiscoveryRequest> = {}): DeltaDiscoveryRequest {
  return {
    type_url: typeUrl,
    resource_names_subscribe: [],
    resource_names_unsubscribe: [],
    initial_resource_versions: {},
    response_nonce: '',
    ...(node ? { node } : {}),
    ...opts,
  };
}

export async function until(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Names of the resources in a SotW response (decoded, so that the test checks what went on the wire). */
export function namesOf(res: DiscoveryResponse): string[] {
  return res.resources.map((a) => resourceName(a.type_url, unpackAny(a))).sort();
}

/** A server on 127.0.0.1:0 and a client to it; stop() closes both. */
export async function startServer(generator: Generator, opts: Partial<XdsServerOptions> = {}): Promise<{ server: XdsServer; client: TestAdsClient; port: number; stop(): Promise<void> }> {
  const server = new XdsServer({ generator, debounceMs: 0, ...opts });
  const { port } = await server.listen('127.0.0.1:0');
  const client = new TestAdsClient(port);
  return {
    server,
    client,
    port,
    async stop() {
      client.close();
      await server.close(500);
    },
  };
}
