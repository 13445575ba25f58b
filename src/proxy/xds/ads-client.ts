// The proxy's xDS transport: one ADS stream (state of the world or delta) to the control plane, carrying every
// resource type the dynamic config subscribes to. It speaks the protocol the way Envoy's grpc_mux_impl (SotW)
// and new_grpc_mux_impl + delta_subscription_state (delta) do — what goes in each request, when it is sent, how
// ACK/NACK, wildcard and removal work, how it reconnects — and hands decoded resources to one synchronous
// TypeHandler per type URL. Applying them (warming, merging with static config) is dynamic-config.ts's job.
//
// Rules that shape the code:
//  - Per type we keep the last ACCEPTED version_info and the resources we hold; a NACK or a lost stream never
//    touches them, so the proxy keeps serving its last good config while the control plane is away.
//  - The nonce belongs to one stream: a new stream starts with an empty response_nonce and, for SotW, the last
//    accepted version_info (so the server may skip what we already have); for delta, initial_resource_versions.
//  - A handler may subscribe to other types while it runs (CDS → EDS names, LDS → RDS names). Like Envoy, which
//    pauses EDS/RDS during a CDS/LDS update, those requests go out when the handler returns, before the ACK of
//    the response being handled; a change to the type being handled rides on its ACK.
import * as grpc from '@grpc/grpc-js';
import {
  ADS_SERVICE,
  PUSH_ORDER,
  resourceName,
  unpackAny,
  type Any,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type NodeJson,
  type Status,
} from '../../api/xds/index.js';
import { MeshworkError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import type { Gauge, StatsStore } from '../observability/stats.js';

const log = logger('xds');

export interface TypeUpdate {
  typeUrl: string;
  /** SotW version_info or delta system_version_info */
  version: string;
  /** resources added or changed in this response, proto3 JSON (unpackAny output) by name */
  resources: Map<string, Record<string, unknown>>;
  /** names removed: SotW wildcard (LDS/CDS) = held names absent from the response; delta = removed_resources
   *  (those we subscribed to). Names dropped by subscribe() are never reported: the caller dropped them. */
  removed: string[];
  /** SotW: `resources` is the complete set for a wildcard type, and for named types the complete set of the
   *  subscribed resources the server had */
  stateOfTheWorld: boolean;
}

export interface TypeHandler {
  /** Validate and apply; return → ACK, throw → NACK with the error's message. Synchronous: do the validation,
   *  start any async work (warming), return; do not wait for other types. */
  onUpdate(u: TypeUpdate): void;
  /** initial_fetch_timeout expired for these names with no answer ('*' for a wildcard subscription); Envoy then
   *  stops waiting on them (a warming cluster or listener goes ahead without them). */
  onFetchTimeout?(names: string[]): void;
  /** The stream failed (closed, or could not be opened) while these names ('*': a wildcard) were subscribed:
   *  Envoy counts update_failure for each subscription. What the handler holds stays as it is. */
  onStreamFailure?(names: string[] | '*'): void;
}

export interface SubscribeOptions {
  /** this subscription's ConfigSource.initial_fetch_timeout; defaults to the client's */
  initialFetchTimeoutMs?: number;
}

export interface AdsClientOptions {
  /** host:port of the control plane */
  target: string;
  node: NodeJson;
  /** DeltaAggregatedResources instead of StreamAggregatedResources */
  delta: boolean;
  channelCredentials?: grpc.ChannelCredentials;
  /** ConfigSource.initial_fetch_timeout: Envoy's default is 15 s; 0 waits forever */
  initialFetchTimeoutMs?: number;
  /** ApiConfigSource.set_node_on_first_message_only; Envoy's default (false) sends the node on every request */
  setNodeOnFirstMessageOnly?: boolean;
  /** reconnect back-off (the ADS grpc_service's retry_back_off); Envoy: 500 ms base, 30 s max */
  backoff?: { baseMs?: number; maxMs?: number };
  /** where `control_plane.connected_state` lives */
  stats?: StatsStore;
  /** [0, 1) source for the back-off jitter (tests) */
  random?: () => number;
}

export interface TypeStatus {
  /** last accepted version_info (SotW) or system_version_info (delta) */
  version: string;
  /** latest nonce received on the current stream */
  nonce: string;
  names: string[] | '*';
  /** message of the last NACK, cleared by the next accepted update */
  lastError?: string;
  /** when the last update was accepted (ISO 8601) */
  lastUpdated?: string;
  connected: boolean;
}

const WILDCARD = '*';
/** google.rpc.Code INTERNAL: what Envoy puts in error_detail.code of every NACK (grpc_mux_impl, delta too) */
const NACK_CODE = 13;
/** Envoy truncates NACK messages (Config::Utility::truncateGrpcStatusMessage) so a huge error cannot break the
 *  stream's message size limit */
const MAX_NACK_MESSAGE = 4096;

/**
 * Envoy's JitteredExponentialBackOffStrategy ("full jitter"): the wait is uniform in [0, interval), the interval
 * starts at base, doubles after each attempt and stops at max; a received message resets it.
 */
export class JitteredBackoff {
  private interval: number;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {
    this.interval = baseMs;
  }

  nextMs(): number {
    const ceiling = this.interval;
    this.interval = Math.min(this.interval * 2, this.maxMs);
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.interval = this.baseMs;
  }
}

class Subscription {
  /** subscribed names; {'*'} for a wildcard subscription */
  interest = new Set<string>();
  version = '';
  nonce = '';
  /** resources we hold: name → version (delta: the resource's own version; SotW: the version_info it came in) */
  readonly held = new Map<string, string>();
  lastError: string | undefined;
  lastUpdated: Date | undefined;
  /** names (or '*') with no answer yet → the fetch timer that waits for them */
  readonly awaiting = new Map<string, NodeJS.Timeout>();
  // Per stream:
  /** a request for this type went out on the current stream */
  sentOnStream = false;
  /** SotW: a request on this stream carried names (or '*'); from then on an empty list means "nothing", not the
   *  legacy wildcard (xDS protocol, "How the client specifies what resources to return") */
  namedOnStream = false;
  /** SotW: the subscription changed and the server has not been told */
  dirty = false;
  /** delta: changes not yet sent */
  readonly toSubscribe = new Set<string>();
  readonly toUnsubscribe = new Set<string>();

  constructor(
    readonly typeUrl: string,
    public handler: TypeHandler,
    public fetchTimeoutMs: number,
  ) {}

  get wildcard(): boolean {
    return this.interest.has(WILDCARD);
  }

  freshStream(): void {
    this.nonce = '';
    this.sentOnStream = false;
    this.namedOnStream = false;
    this.dirty = true;
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
  }
}

type AdsCall = grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse | DeltaDiscoveryResponse>;

const AdsServiceClient = grpc.makeGenericClientConstructor(ADS_SERVICE, 'AggregatedDiscoveryService');

export class AdsClient {
  private readonly subs = new Map<string, Subscription>();
  private readonly backoff: JitteredBackoff;
  private readonly connectedGauge: Gauge | undefined;
  private readonly defaultFetchTimeoutMs: number;
  private started = false;
  private closed = false;
  /** bumped for every stream (and on close) so events of an old stream are ignored */
  private generation = 0;
  private client: grpc.Client | undefined;
  private call: AdsCall | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private firstMessageOnStream = true;
  /** the subscription whose handler is running: requests wait until it returns */
  private dispatching: Subscription | undefined;
  private readonly fetchTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: AdsClientOptions) {
    this.backoff = new JitteredBackoff(opts.backoff?.baseMs ?? 500, opts.backoff?.maxMs ?? 30_000, opts.random);
    this.defaultFetchTimeoutMs = opts.initialFetchTimeoutMs ?? 15_000;
    this.connectedGauge = opts.stats?.gauge('control_plane.connected_state');
    this.connectedGauge?.set(0);
  }

  /**
   * Register a type (names '*' = wildcard, for LDS/CDS) or change its subscription; the server is told at once
   * (SotW: a request with the last accepted version and the latest nonce; delta: subscribe/unsubscribe lists).
   */
  subscribe(typeUrl: string, names: ReadonlySet<string> | '*', handler: TypeHandler, opts: SubscribeOptions = {}): void {
    const next = names === WILDCARD ? new Set([WILDCARD]) : new Set(names);
    let sub = this.subs.get(typeUrl);
    if (!sub) this.subs.set(typeUrl, (sub = new Subscription(typeUrl, handler, this.defaultFetchTimeoutMs)));
    sub.handler = handler;
    if (opts.initialFetchTimeoutMs !== undefined) sub.fetchTimeoutMs = opts.initialFetchTimeoutMs;
    const added = [...next].filter((n) => !sub.interest.has(n));
    const removed = [...sub.interest].filter((n) => !next.has(n));
    if (added.length === 0 && removed.length === 0) return;
    sub.interest = next;
    for (const n of removed) {
      sub.awaiting.delete(n);
      // With a wildcard still in place the server decides whether we keep it (it answers the unsubscription).
      if (!sub.wildcard) sub.held.delete(n);
    }
    if (removed.includes(WILDCARD)) for (const n of sub.held.keys()) if (!next.has(n)) sub.held.delete(n);
    // Delta: a name removed then added before a request goes out must still be subscribed again, since the
    // caller may have forgotten its copy (delta_subscription_state does the same).
    for (const n of added) {
      sub.toUnsubscribe.delete(n);
      sub.toSubscribe.add(n);
    }
    for (const n of removed) {
      sub.toSubscribe.delete(n);
      sub.toUnsubscribe.add(n);
    }
    sub.dirty = true;
    if (this.started) this.armFetchTimeout(sub, added);
    this.flush();
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    for (const sub of this.subs.values()) this.armFetchTimeout(sub, [...sub.interest]);
    this.connect();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    clearTimeout(this.retryTimer);
    for (const t of this.fetchTimers) clearTimeout(t);
    this.fetchTimers.clear();
    for (const sub of this.subs.values()) sub.awaiting.clear();
    this.call?.cancel();
    this.client?.close();
    this.call = this.client = undefined;
    this.setConnected(false);
  }

  /** for the admin API: per type URL */
  status(): Record<string, TypeStatus> {
    const out: Record<string, TypeStatus> = {};
    for (const sub of this.ordered()) {
      out[sub.typeUrl] = {
        version: sub.version,
        nonce: sub.nonce,
        names: sub.wildcard && sub.interest.size === 1 ? WILDCARD : [...sub.interest],
        ...(sub.lastError !== undefined && { lastError: sub.lastError }),
        ...(sub.lastUpdated && { lastUpdated: sub.lastUpdated.toISOString() }),
        connected: this.connected,
      };
    }
    return out;
  }

  // ---- stream lifecycle ----

  private connect(): void {
    const gen = ++this.generation;
    // A fresh channel per stream: grpc-js channels keep their own reconnect back-off (1 s initial, up to 120 s),
    // which would stack on ours; with one channel per attempt, Envoy's back-off is the only one.
    const client = new AdsServiceClient(this.opts.target, this.opts.channelCredentials ?? grpc.credentials.createInsecure(), {
      // Envoy's gRPC client has no receive limit by default; a SotW CDS/EDS response for a big mesh passes 4 MB.
      'grpc.max_receive_message_length': -1,
    });
    const method = this.opts.delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
    const call = (client as unknown as Record<typeof method, () => AdsCall>)[method]();
    this.client = client;
    this.call = call;
    this.firstMessageOnStream = true;
    for (const sub of this.subs.values()) sub.freshStream();
    call.on('data', (m: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (gen === this.generation) this.onResponse(m);
    });
    // 'status' reports every end of the stream; 'error' needs a listener so that it is not thrown.
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => {
      if (gen === this.generation) this.onStreamClosed(s);
    });
    this.watchReady(client, gen);
    this.flush();
  }

  /** connected_state follows the channel: 1 once the connection to the control plane is up, 0 when it fails. */
  private watchReady(client: grpc.Client, gen: number): void {
    const channel = client.getChannel();
    const check = (): void => {
      if (gen !== this.generation) return;
      const state = channel.getConnectivityState(false);
      if (state === grpc.connectivityState.READY) return this.setConnected(true);
      if (state !== grpc.connectivityState.SHUTDOWN) channel.watchConnectivityState(state, Infinity, check);
    };
    check();
  }

  private onStreamClosed(s: grpc.StatusObject): void {
    this.client?.close();
    this.call = this.client = undefined;
    this.setConnected(false);
    const delay = this.backoff.nextMs();
    const msg = `ADS stream to ${this.opts.target} closed: ${grpc.status[s.code] ?? s.code} ${s.details}; reconnecting in ${delay} ms`;
    // delayMs as a field too: tools (and the reconnect test) read the back-off without parsing the message
    const fields = { target: this.opts.target, code: grpc.status[s.code] ?? s.code, delayMs: delay };
    if (s.code === grpc.status.OK) log.info(fields, msg);
    else log.warn(fields, msg);
    for (const sub of this.ordered()) {
      if (sub.interest.size === 0) continue;
      try {
        sub.handler.onStreamFailure?.(sub.wildcard ? WILDCARD : [...sub.interest]);
      } catch (err) {
        log.error({ err }, `${sub.typeUrl} stream-failure handler failed`);
      }
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private setConnected(up: boolean): void {
    this.connected = up;
    this.connectedGauge?.set(up ? 1 : 0);
  }

  // ---- requests ----

  /** subscriptions in the order requests go out on a new stream: CDS, EDS, LDS, RDS, SDS, then any other type */
  private ordered(): Subscription[] {
    const rank = (t: string): number => {
      const i = PUSH_ORDER.indexOf(t as (typeof PUSH_ORDER)[number]);
      return i < 0 ? PUSH_ORDER.length : i;
    };
    return [...this.subs.values()].sort((a, b) => rank(a.typeUrl) - rank(b.typeUrl));
  }

  /** send whatever the subscriptions have to say, unless a handler is running (it flushes when it returns) */
  private flush(except?: Subscription): void {
    if (!this.call || this.dispatching) return;
    for (const sub of this.ordered()) if (sub !== except && this.wantsRequest(sub)) this.send(sub);
  }

  private wantsRequest(sub: Subscription): boolean {
    if (this.opts.delta) {
      // Envoy's subscriptionUpdatePending(): a new stream restates all interest; a named type with no names
      // says nothing (an empty first request would be a legacy wildcard subscription).
      return sub.sentOnStream ? sub.toSubscribe.size + sub.toUnsubscribe.size > 0 : sub.interest.size > 0;
    }
    // Likewise in SotW, an empty resource_names is only sent to drop names this stream has asked for.
    return sub.dirty && (sub.interest.size > 0 || sub.namedOnStream);
  }

  /** ack: answer to the response with this nonce (error → NACK) */
  private send(sub: Subscription, ack?: { nonce: string; error?: Status }): void {
    const node = this.firstMessageOnStream || !this.opts.setNodeOnFirstMessageOnly ? this.opts.node : undefined;
    let req: DiscoveryRequest | DeltaDiscoveryRequest;
    if (this.opts.delta) {
      const fresh = !sub.sentOnStream;
      req = {
        ...(node && { node }),
        type_url: sub.typeUrl,
        // The first request on a stream restates all interest and what we hold, since the server may be new.
        resource_names_subscribe: [...(fresh ? sub.interest : sub.toSubscribe)],
        resource_names_unsubscribe: fresh ? [] : [...sub.toUnsubscribe],
        initial_resource_versions: fresh ? Object.fromEntries(sub.held) : {},
        // Spontaneous subscription changes carry no nonce (xDS protocol, incremental).
        response_nonce: ack?.nonce ?? '',
        ...(ack?.error && { error_detail: ack.error }),
      };
      sub.toSubscribe.clear();
      sub.toUnsubscribe.clear();
    } else {
      const names = [...sub.interest];
      // A lone wildcard goes as the legacy empty list, as Envoy sends LDS/CDS, until this stream has carried
      // names: after that only an explicit '*' still means "everything".
      const legacyWildcard = names.length === 1 && names[0] === WILDCARD && !sub.namedOnStream;
      const resourceNames = legacyWildcard ? [] : names;
      if (resourceNames.length > 0) sub.namedOnStream = true;
      req = {
        version_info: sub.version,
        ...(node && { node }),
        resource_names: resourceNames,
        type_url: sub.typeUrl,
        response_nonce: sub.nonce,
        ...(ack?.error && { error_detail: ack.error }),
      };
    }
    sub.sentOnStream = true;
    sub.dirty = false;
    this.firstMessageOnStream = false;
    this.call!.write(req);
  }

  // ---- responses ----

  private onResponse(m: DiscoveryResponse | DeltaDiscoveryResponse): void {
    // Like Envoy: every message proves the stream healthy, so the next failure starts from the base back-off.
    this.backoff.reset();
    this.setConnected(true);
    const sub = this.subs.get(m.type_url);
    if (!sub) {
      log.warn(`Ignoring an xDS response for ${m.type_url}: nothing subscribes to it`);
      return;
    }
    sub.nonce = m.nonce;
    if (this.opts.delta) this.onDelta(sub, m as DeltaDiscoveryResponse);
    else this.onSotw(sub, m as DiscoveryResponse);
  }

  private onSotw(sub: Subscription, res: DiscoveryResponse): void {
    if (sub.interest.size === 0) {
      // Nothing subscribed (the last cluster that used EDS just went away): as Envoy does, take an empty
      // response as is and answer anything else with the version we run, without applying it.
      if (res.resources.length === 0) sub.version = res.version_info;
      else this.send(sub, { nonce: res.nonce });
      return;
    }
    this.dispatch(sub, res.nonce, () => {
      this.answered(sub, []);
      const resources = new Map<string, Record<string, unknown>>();
      const seen = new Set<string>();
      res.resources.forEach((any, i) => {
        const json = unpackChecked(any, res.type_url, i);
        const name = resourceName(res.type_url, json);
        if (seen.has(name)) throw duplicate(name, res.type_url);
        seen.add(name);
        // Resources we did not ask for are ignored (xDS protocol: resource hints).
        if (sub.wildcard || sub.interest.has(name)) resources.set(name, json);
      });
      this.answered(sub, resources.keys());
      // Only wildcard responses are complete: there, a name we hold that is missing has been deleted. For named
      // types a missing resource just was not in this response.
      const removed = sub.wildcard ? [...sub.held.keys()].filter((n) => !resources.has(n)) : [];
      // An empty wildcard response still matters (it ends the initial fetch, or deletes everything); an empty
      // named one is a no-op for the client, as in Envoy.
      if (sub.wildcard || resources.size > 0) {
        sub.handler.onUpdate({ typeUrl: sub.typeUrl, version: res.version_info, resources, removed, stateOfTheWorld: true });
      }
      sub.version = res.version_info;
      for (const n of removed) sub.held.delete(n);
      for (const n of resources.keys()) sub.held.set(n, res.version_info);
    });
  }

  private onDelta(sub: Subscription, res: DeltaDiscoveryResponse): void {
    this.dispatch(sub, res.nonce, () => {
      this.answered(sub, []);
      const resources = new Map<string, Record<string, unknown>>();
      const versions = new Map<string, string>();
      const seen = new Set<string>();
      res.resources.forEach((r, i) => {
        if (seen.has(r.name)) throw duplicate(r.name, res.type_url);
        seen.add(r.name);
        // A resource without a body is a TTL heartbeat (same version as ours) or an unresolved alias.
        if (!r.resource && (sub.held.get(r.name) === r.version || (r.aliases?.length ?? 0) > 0)) return;
        const json = unpackChecked(r.resource ?? { type_url: '', value: Buffer.alloc(0) }, res.type_url, i);
        const name = r.name || resourceName(res.type_url, json);
        if (sub.wildcard || sub.interest.has(name)) {
          resources.set(name, json);
          versions.set(name, r.version);
        }
      });
      for (const n of res.removed_resources) {
        if (seen.has(n)) throw invalid(`Cannot accept ${res.type_url} response: "${n}" is both added and removed`);
      }
      const removed = res.removed_resources.filter((n) => sub.wildcard || sub.interest.has(n));
      this.answered(sub, [...resources.keys(), ...removed]);
      if (sub.wildcard || resources.size > 0 || removed.length > 0) {
        sub.handler.onUpdate({ typeUrl: sub.typeUrl, version: res.system_version_info, resources, removed, stateOfTheWorld: false });
      }
      sub.version = res.system_version_info;
      for (const [n, v] of versions) sub.held.set(n, v);
      for (const n of removed) sub.held.delete(n);
    });
  }

  /** run `apply` (decode + handler); ACK if it returns, NACK with its message if it throws */
  private dispatch(sub: Subscription, nonce: string, apply: () => void): void {
    const gen = this.generation;
    let error: Status | undefined;
    this.dispatching = sub;
    try {
      apply();
      sub.lastError = undefined;
      sub.lastUpdated = new Date();
    } catch (err) {
      const message = truncate(err instanceof Error ? err.message : String(err));
      error = { code: NACK_CODE, message };
      sub.lastError = message;
      log.warn(`${sub.typeUrl} update rejected (NACK): ${message}`);
    } finally {
      this.dispatching = undefined;
    }
    // The handler may have closed the client; then there is nobody to answer.
    if (gen !== this.generation || !this.call) return;
    this.flush(sub);
    this.send(sub, { nonce, error });
  }

  // ---- initial fetch timeout ----

  private armFetchTimeout(sub: Subscription, names: string[]): void {
    if (sub.fetchTimeoutMs <= 0 || names.length === 0) return;
    const timer = setTimeout(() => {
      this.fetchTimers.delete(timer);
      // Names answered or unsubscribed meanwhile no longer point at this timer.
      const expired = names.filter((n) => sub.awaiting.get(n) === timer);
      for (const n of expired) sub.awaiting.delete(n);
      if (expired.length === 0) return;
      log.warn(`${sub.typeUrl}: no answer for ${expired.join(', ')} within initial_fetch_timeout (${sub.fetchTimeoutMs} ms)`);
      try {
        sub.handler.onFetchTimeout?.(expired);
      } catch (err) {
        log.error({ err }, `${sub.typeUrl} fetch-timeout handler failed`);
      }
    }, sub.fetchTimeoutMs);
    this.fetchTimers.add(timer);
    for (const n of names) sub.awaiting.set(n, timer);
  }

  /** a response (accepted or not) answered these names; any response answers a wildcard subscription */
  private answered(sub: Subscription, names: Iterable<string>): void {
    if (sub.awaiting.size === 0) return;
    const touched = new Set<NodeJS.Timeout>();
    for (const n of [WILDCARD, ...names]) {
      const t = sub.awaiting.get(n);
      if (t === undefined) continue;
      sub.awaiting.delete(n);
      touched.add(t);
    }
    if (touched.size === 0) return;
    // A timer shared by a batch of names is only cancelled once none of them waits any more.
    const live = new Set(sub.awaiting.values());
    for (const t of touched) {
      if (live.has(t)) continue;
      clearTimeout(t);
      this.fetchTimers.delete(t);
    }
  }
}

/** unpack one resource of a response, checking its type URL against the response's (as Envoy does) */
function unpackChecked(any: Any, typeUrl: string, index: number): Record<string, unknown> {
  if (any.type_url !== typeUrl) {
    throw invalid(`Cannot accept resource ${index} of ${typeUrl} response: its type URL "${any.type_url}" does not match`);
  }
  try {
    return unpackAny(any);
  } catch (err) {
    throw invalid(`Cannot decode resource ${index} of ${typeUrl} response: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function duplicate(name: string, typeUrl: string): MeshworkError {
  return invalid(`Cannot accept ${typeUrl} response: resource "${name}" appears twice`);
}

function invalid(message: string, cause?: unknown): MeshworkError {
  return new MeshworkError('MW_CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}

function truncate(message: string): string {
  return message.length <= MAX_NACK_MESSAGE ? message : message.slice(0, MAX_NACK_MESSAGE) + '...(truncated)';
}
