// One gRPC stream from one xDS client, SotW or delta: the proxy it belongs to and, per type URL, what the
// client subscribed to, what we sent it and what it ACKed or NACKed. The protocol variants (sotw-stream.ts,
// delta-stream.ts) decide what to send; this base keeps the bookkeeping they share.
import * as grpc from '@grpc/grpc-js';
import { PUSH_ORDER, TYPE_URL, type EncodedResponse, type NodeJson, type Status } from '../../api/xds/index.js';
import type { Logger } from '../../common/log.js';
import { NO_NAMES, type NameSet } from './names.js';
import type { Generator, ProxyInfo } from './server.js';
import { NO_RESOURCES, type Flow, type Resources, type Shared, type SharedMessage } from './shared.js';

export type { Resources } from './shared.js';

export interface Counters {
  pushes: number;
  pushRequests: number;
  pushTimeMsLast: number;
  pushTimeMsTotal: number;
  responses: number;
  acks: number;
  nacks: number;
  /** holds that ended by holdTimeoutMs instead of the client's answer */
  holdTimeouts: number;
}

/** What a stream needs from its server. */
export interface StreamContext {
  readonly generator: Generator;
  readonly controlPlane?: { identifier: string };
  readonly counters: Counters;
  readonly log: Logger;
  /** versions, differences and encodings of sets, worked out once for every stream that holds the same sets */
  readonly shared: Shared;
  /** responses written to all streams and not yet sent, and those waiting for them */
  readonly flow: Flow;
  /** longest LDS/RDS wait for the client's answer to a CDS response that added clusters (see XdsStream.hold) */
  readonly holdTimeoutMs: number;
  /** While a push for a config change runs: when that change was first asked for (performance.now()). A
   *  response sent then is tagged with it, and its ACK tells how long the change took to be live there. */
  changeSince: number | undefined;
  /** change → ACK, in seconds, per (proxy, type) response (meshwork_xds_convergence_seconds) */
  readonly convergence: { record(seconds: number): void };
}

/** The state of one type URL on one stream. */
export class TypeState {
  /** subscribed to everything the server has for this proxy ('*', or an empty first LDS/CDS subscription) */
  wildcard = false;
  /** explicitly subscribed names (next to the wildcard, newer clients may name more); shared with the streams
   *  that subscribed to the same names, so replaced (internNames()), never changed */
  names: NameSet = NO_NAMES;
  /** what the client has, as far as we know: our last SotW response, or everything delta sent and did not
   *  remove since. Counting a response as applied before it is ACKed keeps a NACKed response from being sent
   *  again and again; the next change sends a new version anyway. Usually a Map the generator returned, so
   *  that streams holding the same one share the work of the next push (shared.ts). */
  resources: Resources = NO_RESOURCES;
  version = '';
  nonce = '';
  sentAt?: Date;
  /** responses not yet ACKed or NACKed, oldest first; `since`: the config change a push sent it for */
  pending: { nonce: string; version: string; since?: number }[] = [];
  acked?: string;
  ackedAt?: Date;
  nacked?: { version: string; message: string; at: Date };
  /** A request the hold kept us from answering (LDS/RDS only): the next push answers it even when nothing
   *  differs, as the protocol asks of a changed subscription. Delta keeps what it needs to answer it: `has`,
   *  what the client reported on a first request (initial_resource_versions), and `resend`, the newly
   *  subscribed names, which are sent whether or not the client has them. */
  owed?: { first: boolean; has?: Map<string, string>; resend: Set<string> };

  constructor(readonly typeUrl: string) {}
}

/** At most one log line per `intervalMs`. */
class LogLimiter {
  private last = -Infinity;
  constructor(private readonly intervalMs: number) {}
  allow(): boolean {
    const now = performance.now();
    if (now - this.last < this.intervalMs) return false;
    this.last = now;
    return true;
  }
}
const holdWarnings = new LogLimiter(10_000);

// LDS and RDS responses wait behind a CDS response that added clusters (XdsStream.hold).
const HELD_TYPES: ReadonlySet<string> = new Set([TYPE_URL.LISTENER, TYPE_URL.ROUTE]);

// A client that never answers must not grow this list without bound; older entries can only matter to a
// client that answers responses out of order, which no xDS client does.
const MAX_PENDING = 16;

type Request = { node?: NodeJson; type_url: string; response_nonce: string; error_detail?: Status };

export abstract class XdsStream<Req extends Request = Request> {
  abstract readonly delta: boolean;
  proxy?: ProxyInfo;
  readonly types = new Map<string, TypeState>();
  readonly connectedAt = new Date();
  readonly peer: string;
  closed = false;
  /** the nonce of our latest response: nonces come from the server's one counter (Shared.newNonce), so on a
   *  stream they only grow, which keeps them unique when responses are shared among streams */
  private lastNonce = 0;
  /** this stream's share of ctx.flow */
  private inflight = 0;
  /**
   * Set while a CDS response that added clusters is unanswered; LDS and RDS responses, and the removal phase
   * of pushes, wait until the client ACKs or NACKs it (or holdTimeoutMs passes). Why: a client warms a new
   * cluster until its endpoints arrive, but applies routes at once, and Envoy does not warm routes ("the
   * management plane must ensure that clusters referenced by a route are in place", envoyproxy/envoy#4040).
   * The EDS subscription for new clusters is a request we can only answer once the client sent it, which it
   * does while handling the CDS response (Envoy and Meshwork's proxy before their ACK), so routes pushed right
   * behind the CDS response reach a cluster that is still warming: 503 NC for a moment. EDS and SDS are not
   * held, so by the time the CDS answer arrives the endpoints are on the wire ahead of the routes. A first
   * response on a fresh stream counts every cluster as added, which covers reconnects.
   */
  private hold: { nonce: string; timer: NodeJS.Timeout } | undefined;
  /** something waited behind the hold: push when it ends */
  protected deferred = false;

  constructor(
    protected readonly ctx: StreamContext,
    readonly connectionId: string,
    protected readonly call: grpc.ServerDuplexStream<Req, EncodedResponse>,
    /** the type of a standalone LDS/RDS/CDS/EDS/SDS service, whose requests may leave type_url empty */
    private readonly serviceType?: string,
  ) {
    this.peer = call.getPeer();
  }

  handle(req: Req): void {
    if (this.closed) return;
    // Only the first request must carry the node; it identifies the proxy for the life of the stream.
    if (!this.proxy) {
      this.proxy = { connectionId: this.connectionId, node: req.node ?? {}, peer: this.peer, connectedAt: this.connectedAt, delta: this.delta };
      this.ctx.log.info({ proxy: this.proxy.node.id, connection: this.connectionId, peer: this.peer, delta: this.delta }, 'xDS stream opened');
      try {
        this.ctx.generator.proxyConnected?.(this.proxy);
      } catch (err) {
        this.ctx.log.error({ err, proxy: this.proxy.node.id }, 'generator failed on a new proxy');
      }
    }
    const typeUrl = req.type_url || this.serviceType;
    if (!typeUrl) {
      this.ctx.log.warn({ proxy: this.proxy.node.id, connection: this.connectionId }, 'ignoring an ADS request without type_url');
      return;
    }
    let st = this.types.get(typeUrl);
    const first = st === undefined;
    if (!st) this.types.set(typeUrl, (st = new TypeState(typeUrl)));
    this.onRequest(st, req, first);
  }

  /** Handle one request for `st`'s type; `first` when it is the first request of that type on this stream. */
  protected abstract onRequest(st: TypeState, req: Req, first: boolean): void;

  /** Regenerate every type the client asked for and send what changed, in make-before-break order, and answer
   *  the requests that waited behind the hold. */
  abstract push(): void;

  /** Whether responses of this type wait now. */
  protected held(typeUrl: string): boolean {
    return this.hold !== undefined && HELD_TYPES.has(typeUrl);
  }

  protected get holding(): boolean {
    return this.hold !== undefined;
  }

  /** After sending `st`'s latest response: hold LDS/RDS if it is a CDS response that added clusters. */
  protected holdIfAdded(st: TypeState, added: boolean): void {
    if (!added || st.typeUrl !== TYPE_URL.CLUSTER) return;
    if (this.hold) clearTimeout(this.hold.timer);
    const timer = setTimeout(() => {
      // A whole fleet reconnecting at once times out together: one line per burst, the count in the metrics.
      const n = ++this.ctx.counters.holdTimeouts;
      if (holdWarnings.allow()) {
        this.ctx.log.warn(
          { proxy: this.proxy?.node.id, connection: this.connectionId, nonce: this.hold?.nonce, ms: this.ctx.holdTimeoutMs, holdTimeoutsTotal: n },
          'the client did not answer a CDS response that added clusters; sending the held routes anyway (further ones within 10 s are only counted)',
        );
      }
      this.endHold();
    }, this.ctx.holdTimeoutMs);
    timer.unref();
    this.hold = { nonce: st.nonce, timer };
  }

  private endHold(): void {
    if (!this.hold) return;
    clearTimeout(this.hold.timer);
    this.hold = undefined;
    // After the request being handled (an ACK may carry a subscription change too), and after the requests
    // that came with it, such as the EDS subscription for the new clusters.
    if (this.deferred) queueMicrotask(() => !this.closed && this.push());
  }

  protected generate(st: TypeState): Resources | undefined {
    const { generator } = this.ctx;
    const proxy = this.proxy!;
    try {
      if (!st.wildcard) return generator.generate(proxy, st.typeUrl, st.names);
      const all = generator.generate(proxy, st.typeUrl, '*');
      // Names subscribed next to '*' may be resources the wildcard set does not cover (on-demand ones).
      if (st.names.size === 0) return all;
      const extra = [...st.names].filter((n) => !all.has(n));
      if (extra.length === 0) return all;
      const merged = new Map(all);
      for (const [name, e] of generator.generate(proxy, st.typeUrl, new Set(extra))) merged.set(name, e);
      return merged;
    } catch (err) {
      this.ctx.log.error({ err, proxy: proxy.node.id, type: st.typeUrl }, 'generator failed; the proxy keeps what it has');
      return undefined;
    }
  }

  /** Record the ACK or NACK of one of our responses; false when we are not waiting on that nonce. */
  protected settle(st: TypeState, nonce: string, error: Status | undefined): boolean {
    const i = st.pending.findIndex((p) => p.nonce === nonce);
    if (i < 0) return false;
    const { version, since } = st.pending[i]!;
    // Clients process a type's responses in order: an answer to this one settles the older ones too.
    st.pending.splice(0, i + 1);
    // a config change is live on this proxy once it ACKs the response that carried it
    if (!error && since !== undefined) this.ctx.convergence.record((performance.now() - since) / 1000);
    const at = new Date();
    if (error) {
      st.nacked = { version, message: error.message, at };
      this.ctx.counters.nacks++;
      this.ctx.log.warn({ proxy: this.proxy?.node.id, connection: this.connectionId, type: st.typeUrl, version, code: error.code, message: error.message }, 'xDS NACK');
    } else {
      st.acked = version;
      st.ackedAt = at;
      this.ctx.counters.acks++;
    }
    // An answer to the held-for CDS response, or to a later one (which settles it too), ends the hold.
    if (this.hold && st.typeUrl === TYPE_URL.CLUSTER && !st.pending.some((p) => p.nonce === this.hold!.nonce)) this.endHold();
    return true;
  }

  /** Send a response (shared with other streams where possible) and record it as what the client now has. */
  protected send(st: TypeState, shared: SharedMessage, version: string, resources: Resources): void {
    const { response, nonce: n } = this.ctx.shared.response(shared, this.lastNonce);
    this.lastNonce = n;
    const nonce = String(n);
    let bytes = 0;
    for (const p of response.parts) bytes += p.length;
    // Written now, or after earlier writes (of any stream) went out when too much is on its way (Flow).
    this.ctx.flow.submit(bytes, () => {
      if (this.closed) return false;
      this.inflight += bytes;
      this.call.write(response, () => {
        if (this.closed) return; // dispose() gave it back
        this.inflight -= bytes;
        this.ctx.flow.done(bytes);
      });
      return true;
    });
    st.version = version;
    st.nonce = nonce;
    st.sentAt = new Date();
    st.resources = resources;
    const since = this.ctx.changeSince;
    st.pending.push(since === undefined ? { nonce, version } : { nonce, version, since });
    if (st.pending.length > MAX_PENDING) st.pending.shift();
    this.ctx.counters.responses++;
    this.ctx.log.debug({ proxy: this.proxy?.node.id, connection: this.connectionId, type: st.typeUrl, version, nonce }, 'xDS response sent');
  }

  /** The stream is gone: send nothing more. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.proxy) {
      try {
        this.ctx.generator.proxyDisconnected?.(this.proxy);
      } catch (err) {
        this.ctx.log.error({ err, proxy: this.proxy.node.id }, 'generator failed on a proxy that left');
      }
    }
    // gRPC does not call back for what a cancelled stream never wrote.
    this.ctx.flow.done(this.inflight);
    this.inflight = 0;
    if (this.hold) clearTimeout(this.hold.timer);
  }

  /** End the stream with UNAVAILABLE, which xDS clients answer by reconnecting (elsewhere, or here later). */
  end(details: string): void {
    if (this.closed) return;
    this.dispose();
    this.call.emit('error', { code: grpc.status.UNAVAILABLE, details });
  }
}

/** CDS, EDS, LDS, RDS, SDS, then any other type (in the order given). */
export function pushOrder(typeUrls: Iterable<string>): string[] {
  const order = PUSH_ORDER as readonly string[];
  const rank = (u: string) => (order.includes(u) ? order.indexOf(u) : order.length);
  return [...typeUrls].sort((a, b) => rank(a) - rank(b));
}
