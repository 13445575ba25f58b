// The control plane's xDS server: ADS (StreamAggregatedResources, DeltaAggregatedResources) and the standalone
// LDS/RDS/CDS/EDS/SDS services (Stream*, Delta*, Fetch*), one stream object per gRPC stream, a debounced push
// queue, and the per-proxy status /debug/syncz and /debug/config_dump read. What each proxy gets comes from a
// Generator; this file only moves it, following Envoy's xDS protocol document.
//
// Choices the protocol leaves open:
// - Versions are content hashes (version.ts), so a proxy reconnecting with unchanged config gets nothing again.
// - We do not wait for a type's ACK before sending its next response (as Istio; go-control-plane's SotW server
//   only answers requests instead). Envoy and gRPC apply a type's responses in order and answer each, so
//   nothing is lost, and waiting would hold every later change behind a slow or NACKing proxy and split the
//   make-before-break phases of one push across round trips. A SotW answer to an older nonce is stale and
//   ignored, as the protocol says.
// - A push regenerates every type of every connected stream and sends only the types whose content changed:
//   additions and changes first in CDS→EDS→LDS→RDS→SDS order, removals afterwards in reverse order (see
//   sotw-stream.ts and delta-stream.ts).
// - The one wait: after a CDS response that adds clusters, LDS and RDS responses and removals wait until the
//   client answers it (at most holdTimeoutMs), so that routes never reach a cluster still waiting for the
//   endpoints it is about to ask for (stream.ts explains).
import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE,
  SINGLE_TYPE_SERVICES,
  WILDCARD_TYPES,
  type Any,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type EncodedResponse,
  type NodeJson,
} from '../../api/xds/index.js';
import { logger } from '../../common/log.js';
import { DeltaStream } from './delta-stream.js';
import { PushQueue } from './push-queue.js';
import { SotwStream } from './sotw-stream.js';
import { Flow, Shared } from './shared.js';
import { shortTypeName, streamSyncStatus, syncState, type SyncState, type SyncStatus } from './status.js';
import type { Counters, StreamContext } from './stream.js';

export type { SyncState, SyncStatus, TypeSyncStatus } from './status.js';
export { contentVersion, resourceEntry, setVersion } from './version.js';

export interface ProxyInfo {
  connectionId: string;
  node: NodeJson;
  peer: string;
  connectedAt: Date;
  delta: boolean;
}

/** One resource as served: `json` is its proto3 JSON (for config_dump), `version` a hash of its content
 *  (resourceEntry() makes one). */
export interface ResourceEntry {
  name: string;
  any: Any;
  json: Record<string, unknown>;
  version: string;
}

/** What a proxy should have of one type: resource name → entry. `names` is '*' for a wildcard subscription,
 *  else the names asked for (return those that exist; others are simply absent). The server caches what it
 *  works out about a returned Map (its version, how it differs from another, its encoding) by identity, so a
 *  Map must not be changed once returned: build a new one when input changes, and hand the same one to every
 *  proxy that gets the same set, for as long as the set stays the same (keep an unchanged resource's entry
 *  too: entries are compared by identity before versions). The server passes the same `names` object for
 *  the same subscription and never changes it, so a generator may cache by its identity. */
export interface Generator {
  generate(proxy: ProxyInfo, typeUrl: string, names: ReadonlySet<string> | '*'): Map<string, ResourceEntry>;
  /** a stream identified its proxy (its first request); before any generate() for that stream */
  proxyConnected?(proxy: ProxyInfo): void;
  /** a stream that had identified its proxy ended */
  proxyDisconnected?(proxy: ProxyInfo): void;
}

export interface XdsServerOptions {
  generator: Generator;
  /** quiet time after the last requestPush() before pushing (default 100 ms) */
  debounceMs?: number;
  /** longest a push waits after the first requestPush() of a burst (default max(1000, 10 × debounceMs)) */
  maxDebounceMs?: number;
  /** sent as control_plane.identifier in every response */
  identifier?: string;
  /** longest LDS/RDS responses wait for a client to answer a CDS response that added clusters (default 5000;
   *  see XdsStream in stream.ts) */
  holdTimeoutMs?: number;
}

/** Counters for the control plane's own stats (exported elsewhere). */
export interface XdsMetrics extends Counters {
  /** distinct node ids with an open stream */
  connectedProxies: number;
  streams: number;
}

type Stream = SotwStream | DeltaStream;
type Kind = 'sotw' | 'delta' | 'fetch';

const log = logger('xds-server');

/** How many bytes of responses may be on their way to the sockets before more wait (see Flow). */
const FLOW_LIMIT_BYTES = 32 * 1024 * 1024;

export class XdsServer {
  private readonly generator: Generator;
  private readonly grpc: grpc.Server;
  private readonly streams = new Set<Stream>();
  private readonly queue: PushQueue;
  private readonly counters: Counters = { pushes: 0, pushRequests: 0, pushTimeMsLast: 0, pushTimeMsTotal: 0, responses: 0, acks: 0, nacks: 0, holdTimeouts: 0 };
  private readonly ctx: StreamContext;
  private nextConnection = 0;
  private closing: Promise<void> | undefined;
  /** when the oldest config change not yet pushed was asked for */
  private firstUnpushedChange: number | undefined;
  /** config change → ACK per (proxy, type) response, seconds */
  readonly convergence = new SecondsHistogram(CONVERGENCE_BUCKETS);

  constructor(opts: XdsServerOptions) {
    this.generator = opts.generator;
    const debounceMs = opts.debounceMs ?? 100;
    this.queue = new PushQueue((reasons) => this.pushAll(reasons), debounceMs, opts.maxDebounceMs ?? Math.max(1000, 10 * debounceMs));
    const controlPlane = { identifier: opts.identifier ?? 'meshwork' };
    this.ctx = {
      generator: opts.generator,
      controlPlane,
      counters: this.counters,
      log,
      holdTimeoutMs: opts.holdTimeoutMs ?? 5000,
      shared: new Shared(controlPlane),
      flow: new Flow(FLOW_LIMIT_BYTES),
      changeSince: undefined,
      convergence: this.convergence,
    };
    // Server-side keepalive notices proxies that vanished without closing their connection, so that syncz
    // does not list them forever.
    this.grpc = new grpc.Server({ 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 });
    this.grpc.addService(ADS_SERVICE, this.implement(ADS_SERVICE));
    for (const [typeUrl, service] of Object.entries(SINGLE_TYPE_SERVICES)) this.grpc.addService(service, this.implement(service, typeUrl));
  }

  /** Another gRPC service on the xDS port (the CA's CreateCertificate, as istiod serves it next to xDS). */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.grpc.addService(service, implementation);
  }

  listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.grpc.bindAsync(address, credentials, (err, port) => {
        if (err) reject(err);
        else {
          log.info({ address, port }, 'xDS server listening');
          resolve({ port });
        }
      });
    });
  }

  /** Input changed: regenerate for every connected proxy and push what changed (debounced). */
  requestPush(reason: string): void {
    this.counters.pushRequests++;
    this.firstUnpushedChange ??= performance.now();
    this.queue.request(reason);
  }

  /** One entry per open stream that has identified its proxy. */
  syncz(): SyncStatus[] {
    const now = Date.now();
    const out: SyncStatus[] = [];
    for (const s of this.streams) if (s.proxy) out.push(streamSyncStatus(s, now));
    return out;
  }

  /** How many (stream, type) pairs are in each sync state, by short type name: what syncz() would count,
   *  without building it (metrics read this on every scrape). */
  syncCounts(): Map<string, Map<SyncState, number>> {
    const out = new Map<string, Map<SyncState, number>>();
    for (const s of this.streams) {
      if (!s.proxy) continue;
      for (const st of s.types.values()) {
        const type = shortTypeName(st.typeUrl);
        let byState = out.get(type);
        if (!byState) out.set(type, (byState = new Map()));
        const state = syncState(st);
        byState.set(state, (byState.get(state) ?? 0) + 1);
      }
    }
    return out;
  }

  /** What we last sent the proxy with this node id, per type, as proto3 JSON; undefined if it is not connected.
   *  A proxy with several streams (standalone services) gets them merged, the newest stream winning. */
  configDump(proxyId: string): unknown | undefined {
    const mine = [...this.streams].filter((s) => s.proxy?.node.id === proxyId);
    if (mine.length === 0) return undefined;
    const types: Record<string, { type_url: string; version: string; resources: Record<string, unknown>[] }> = {};
    for (const s of mine) {
      for (const st of s.types.values()) {
        if (st.version === '') continue;
        const resources = [...st.resources.values()].map((e) => ({ '@type': st.typeUrl, ...e.json }));
        types[shortTypeName(st.typeUrl)] = { type_url: st.typeUrl, version: st.version, resources };
      }
    }
    return { node: mine[mine.length - 1]!.proxy!.node, types };
  }

  metrics(): XdsMetrics {
    const ids = new Set<string>();
    for (const s of this.streams) if (s.proxy) ids.add(s.proxy.node.id ?? '');
    return { ...this.counters, connectedProxies: ids.size, streams: this.streams.size };
  }

  /** Stop taking streams, end the open ones with UNAVAILABLE (their clients reconnect, to another replica or
   *  to our successor), wait up to graceMs for the connections to wind down, then cut what is left. */
  close(graceMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      this.queue.close();
      const drained = new Promise<void>((resolve) => this.grpc.tryShutdown(() => resolve()));
      for (const s of this.streams) s.end('control plane shutting down');
      this.streams.clear();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
      if (await Promise.race([drained.then(() => false), timedOut])) this.grpc.forceShutdown();
      clearTimeout(timer);
      log.info('xDS server closed');
    })();
    return this.closing;
  }

  private async pushAll(reasons: string[]): Promise<void> {
    const start = performance.now();
    // the change this push carries: every response it sends is tagged with when it was asked for
    const since = this.firstUnpushedChange ?? start;
    this.firstUnpushedChange = undefined;
    let n = 0;
    for (const s of [...this.streams]) {
      if (s.closed || !s.proxy) continue;
      this.ctx.changeSince = since;
      try {
        s.push();
      } finally {
        this.ctx.changeSince = undefined;
      }
      // Let requests and other work in between on a large fleet.
      if (++n % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const ms = performance.now() - start;
    this.counters.pushes++;
    this.counters.pushTimeMsLast = ms;
    this.counters.pushTimeMsTotal += ms;
    log.debug({ reasons, streams: n, ms: Math.round(ms) }, 'push done');
  }

  private implement(service: grpc.ServiceDefinition, serviceType?: string): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const [method, def] of Object.entries(service)) {
      const kind: Kind = !def.requestStream ? 'fetch' : method.startsWith('Delta') ? 'delta' : 'sotw';
      if (kind === 'fetch') impl[method] = (call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>) => this.fetch(call, cb, serviceType);
      else impl[method] = ((call) => this.open(call, kind === 'delta', serviceType)) as grpc.handleBidiStreamingCall<unknown, unknown>;
    }
    return impl;
  }

  private open(call: grpc.ServerDuplexStream<unknown, unknown>, delta: boolean, serviceType: string | undefined): void {
    if (this.closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane shutting down' });
      return;
    }
    const id = `c${++this.nextConnection}`;
    // Streams write EncodedResponses, which the services' responseSerialize passes through (shared.ts).
    const s: Stream = delta
      ? new DeltaStream(this.ctx, id, call as unknown as grpc.ServerDuplexStream<DeltaDiscoveryRequest, EncodedResponse>, serviceType)
      : new SotwStream(this.ctx, id, call as unknown as grpc.ServerDuplexStream<DiscoveryRequest, EncodedResponse>, serviceType);
    this.streams.add(s);
    const gone = () => {
      if (!this.streams.delete(s)) return;
      s.dispose();
      log.info({ proxy: s.proxy?.node.id, connection: id }, 'xDS stream closed');
    };
    call.on('data', (req: DiscoveryRequest & DeltaDiscoveryRequest) => {
      try {
        s.handle(req);
      } catch (err) {
        log.error({ err, proxy: s.proxy?.node.id, connection: id }, 'xDS request failed');
      }
    });
    // The client half-closed: it wants no more responses.
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('cancelled', gone);
    call.on('error', gone);
    call.on('close', gone);
  }

  private fetch(call: grpc.ServerUnaryCall<DiscoveryRequest, DiscoveryResponse>, cb: grpc.sendUnaryData<DiscoveryResponse>, serviceType?: string): void {
    const req = call.request;
    const typeUrl = req.type_url || serviceType!;
    const proxy: ProxyInfo = { connectionId: `f${++this.nextConnection}`, node: req.node ?? {}, peer: call.getPeer(), connectedAt: new Date(), delta: false };
    const names = req.resource_names.filter((n) => n !== '*');
    const wildcard = req.resource_names.includes('*') || (names.length === 0 && WILDCARD_TYPES.has(typeUrl));
    try {
      const resources = this.generator.generate(proxy, typeUrl, wildcard ? '*' : new Set(names));
      cb(null, {
        version_info: this.ctx.shared.version(resources),
        resources: [...resources.values()].map((e) => e.any),
        type_url: typeUrl,
        nonce: '',
        control_plane: this.ctx.controlPlane,
      });
    } catch (err) {
      log.error({ err, proxy: proxy.node.id, type: typeUrl }, 'generator failed');
      cb({ code: grpc.status.INTERNAL, details: `Cannot generate ${typeUrl}: ${(err as Error).message}` });
    }
  }
}

/** Istio's pilot_proxy_convergence_time buckets, and finer ones below 100 ms (a Meshwork push on loopback). */
const CONVERGENCE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3, 5, 10, 20, 30];

/** A Prometheus histogram of seconds: per-bucket counts, sum and count. */
export class SecondsHistogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }
  record(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const i = this.bounds.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i]!++;
  }
}
