// What streams share. A push regenerates every type for every stream, and on a large fleet most streams hold
// the same sets: a generator hands every proxy that gets the same set the same Map (the Generator contract),
// and what a stream holds is the Map it was last sent. So the version of a set, the difference between two
// sets, a set's encoded SotW response and a resource's encoded delta entry are worked out once, for the first
// stream that needs them, and reused by the others; only the nonce is per stream. Before this, 1,000 streams
// each re-encoded the same 1,000 resources and re-compared them name by name on every push.
//
// Everything is keyed by object identity in WeakMaps: an entry lives as long as the Map (or resource) it
// describes, which is as long as some stream or the generator holds it.
import {
  EncodedResponse,
  encodeDeltaDiscoveryResponsePart,
  encodeDiscoveryResponsePart,
  type Any,
} from '../../api/xds/index.js';
import type { ResourceEntry } from './server.js';
import { setVersion } from './version.js';

export type Resources = ReadonlyMap<string, ResourceEntry>;

/** What a client has before a response, as the first Map of a pair. */
export const NO_RESOURCES: Resources = new Map();

const NO_NAMES: readonly string[] = Object.freeze([]);

/** How `next` differs from `prev`, computed on first use. Entries are compared by identity first (a generator
 *  keeps an unchanged resource's entry), then by version. The arrays are shared: do not change them. */
export class Change {
  private _upserts?: readonly ResourceEntry[];
  private _removed?: readonly string[];
  private _added?: boolean;
  private _withRemoved?: Resources;
  private _upsertSet?: Resources;

  constructor(
    readonly prev: Resources,
    readonly next: Resources,
  ) {}

  /** entries of `next` that `prev` lacks or has at another version */
  get upserts(): readonly ResourceEntry[] {
    if (this._upserts === undefined) {
      const out: ResourceEntry[] = [];
      let added = false;
      for (const e of this.next.values()) {
        const had = this.prev.get(e.name);
        if (had === e) continue;
        if (had === undefined) added = true;
        else if (had.version === e.version) continue;
        out.push(e);
      }
      this._upserts = out.length === 0 ? (NO_ENTRIES as ResourceEntry[]) : out;
      this._added = added;
    }
    return this._upserts;
  }

  /** `upserts` as a set: what a SotW response of a named type (EDS, RDS, SDS) carries. One Map for every
   *  stream making this change, so its encoding is shared too. */
  get upsertSet(): Resources {
    return (this._upsertSet ??= new Map(this.upserts.map((e) => [e.name, e])));
  }

  /** some name of `next` is new to `prev` */
  get added(): boolean {
    if (this._added === undefined) void this.upserts;
    return this._added!;
  }

  /** names `prev` has and `next` lacks */
  get removed(): readonly string[] {
    if (this._removed === undefined) {
      const out: string[] = [];
      if (this.prev.size > 0) for (const name of this.prev.keys()) if (!this.next.has(name)) out.push(name);
      this._removed = out.length === 0 ? NO_NAMES : out;
    }
    return this._removed;
  }

  /** `next` plus the entries about to be removed: what a client holds between the two phases of make before
   *  break. One Map for every stream making this change, so its version and encoding are shared too. */
  get withRemoved(): Resources {
    if (this._withRemoved === undefined) {
      const removed = this.removed;
      if (removed.length === 0) this._withRemoved = this.next;
      else {
        const both = new Map(this.next);
        for (const name of removed) both.set(name, this.prev.get(name)!);
        this._withRemoved = both;
      }
    }
    return this._withRemoved;
  }
}

const NO_ENTRIES: readonly ResourceEntry[] = Object.freeze([]);

/**
 * An encoded response that streams share, whole, nonce included: the copy a stream's write makes is then the
 * only one (gRPC frames every message into a buffer of its own anyway). Nonces come from one counter for the
 * whole server, so a stream's nonces only ever grow, and a stream may send a shared message as it is while its
 * nonce is greater than the last one the stream used; otherwise it sends `parts` with a fresh nonce
 * (XdsStream.sendShared). Nonces need only be unique per stream; they are opaque to clients.
 */
export interface SharedMessage {
  readonly delta: boolean;
  /** sent by several streams (else joined only when serialized) */
  readonly shared: boolean;
  readonly nonce: number;
  /** every field but the nonce, encoded */
  readonly parts: readonly Uint8Array[];
  /** the whole message with `nonce`, joined on first use (a message only one stream sends is joined when
   *  gRPC serializes it, one at a time per stream, not when it is queued) */
  readonly whole: Buffer;
}

class Sealed implements SharedMessage {
  private joined?: Buffer;

  constructor(
    readonly delta: boolean,
    readonly shared: boolean,
    readonly nonce: number,
    readonly parts: readonly Uint8Array[],
  ) {}

  get whole(): Buffer {
    return (this.joined ??= Buffer.concat([...this.parts, nonceField(this.delta, this.nonce)]));
  }
}

export class Shared {
  private readonly versions = new WeakMap<Resources, string>();
  private readonly changes = new WeakMap<Resources, WeakMap<Resources, Change>>();
  private readonly sotwMessages = new WeakMap<Resources, { typeUrl: string; version: string; message: SharedMessage }>();
  private readonly deltaMessages = new WeakMap<Change, Map<string, SharedMessage>>();
  private readonly deltaEntries = new WeakMap<ResourceEntry, Buffer>();
  private readonly restricted = new WeakMap<Resources, WeakMap<ReadonlySet<string>, Resources>>();
  private lastNonce = 0;

  constructor(private readonly controlPlane: { identifier: string } | undefined) {}

  /** A nonce no stream has used. */
  newNonce(): number {
    return ++this.lastNonce;
  }

  /** setVersion() of a set. */
  version(resources: Resources): string {
    let v = this.versions.get(resources);
    if (v === undefined) this.versions.set(resources, (v = setVersion(resources.values())));
    return v;
  }

  /** How `next` differs from `prev`. */
  change(prev: Resources, next: Resources): Change {
    let byNext = this.changes.get(prev);
    if (!byNext) this.changes.set(prev, (byNext = new WeakMap()));
    let c = byNext.get(next);
    if (!c) byNext.set(next, (c = new Change(prev, next)));
    return c;
  }

  /** The entries of `resources` that `names` covers: what a delta client keeps after unsubscribing. Streams
   *  that hold the same set and unsubscribe alike (1,000 sidecars dropping a removed cluster's endpoints) get
   *  the same Map, so their next push stays shared; a Map of their own each made every stream of that push
   *  compare and encode its own difference. */
  restrict(resources: Resources, names: ReadonlySet<string>): Resources {
    let byNames = this.restricted.get(resources);
    if (!byNames) this.restricted.set(resources, (byNames = new WeakMap()));
    let out = byNames.get(names);
    if (!out) {
      const kept = new Map<string, ResourceEntry>();
      for (const [n, e] of resources) if (names.has(n)) kept.set(n, e);
      byNames.set(names, (out = kept.size === resources.size ? resources : kept));
    }
    return out;
  }

  /** The SotW DiscoveryResponse carrying `resources`, encoded once per set. */
  sotwMessage(typeUrl: string, resources: Resources, version: string): SharedMessage {
    const cached = this.sotwMessages.get(resources);
    if (cached && cached.typeUrl === typeUrl && cached.version === version) return cached.message;
    const any: Any[] = [];
    for (const e of resources.values()) any.push(e.any);
    const body = encodeDiscoveryResponsePart({ version_info: version, resources: any, type_url: typeUrl, control_plane: this.controlPlane });
    const message = this.seal(false, [body], true);
    this.sotwMessages.set(resources, { typeUrl, version, message });
    return message;
  }

  /** A DeltaDiscoveryResponse. Each resource is encoded once, whichever responses carry it; with `shareAs`
   *  (a Change and which response of it), so is the whole message, for every stream that makes that change. */
  deltaMessage(
    typeUrl: string,
    version: string,
    upserts: readonly ResourceEntry[],
    removed: readonly string[],
    shareAs?: { change: Change; phase: string },
  ): SharedMessage {
    let byPhase: Map<string, SharedMessage> | undefined;
    if (shareAs) {
      byPhase = this.deltaMessages.get(shareAs.change);
      if (!byPhase) this.deltaMessages.set(shareAs.change, (byPhase = new Map()));
      const cached = byPhase.get(shareAs.phase);
      if (cached) return cached;
    }
    const parts: Uint8Array[] = [
      encodeDeltaDiscoveryResponsePart({ system_version_info: version, type_url: typeUrl, control_plane: this.controlPlane, removed_resources: removed as string[] }),
    ];
    for (const e of upserts) {
      let bytes = this.deltaEntries.get(e);
      if (!bytes) this.deltaEntries.set(e, (bytes = encodeDeltaDiscoveryResponsePart({ resources: [{ name: e.name, version: e.version, resource: e.any }] })));
      parts.push(bytes);
    }
    const message = this.seal(true, parts, shareAs !== undefined);
    byPhase?.set(shareAs!.phase, message);
    return message;
  }

  /** What a stream whose latest nonce is `lastNonce` sends for `m`: `m` with its own nonce when that is new to
   *  the stream (the whole message as it is, when streams share it), else `m` with a fresh nonce. */
  response(m: SharedMessage, lastNonce: number): { response: EncodedResponse; nonce: number } {
    if (m.nonce > lastNonce) return { response: m.shared ? new EncodedResponse([m.whole]) : new EncodedResponse([...m.parts, nonceField(m.delta, m.nonce)]), nonce: m.nonce };
    const nonce = this.newNonce();
    return { response: new EncodedResponse([...m.parts, nonceField(m.delta, nonce)]), nonce };
  }

  private seal(delta: boolean, parts: Uint8Array[], shared: boolean): SharedMessage {
    return new Sealed(delta, shared, this.newNonce(), parts);
  }
}

function nonceField(delta: boolean, nonce: number): Buffer {
  return delta ? encodeDeltaDiscoveryResponsePart({ nonce: String(nonce) }) : encodeDiscoveryResponsePart({ nonce: String(nonce) });
}

/**
 * Bytes handed to gRPC and not yet written out, over all streams, and the writes waiting for them to go down.
 * gRPC copies each message into a frame buffer of its own when it starts writing it; a push to 1,000 streams
 * made 1,000 such copies of a 235 KB response at once, far ahead of what the sockets could take, and the memory
 * stayed with the process afterwards. Past `limit`, writes wait in one queue, in order (so each stream's
 * responses stay in order), holding only references to encoded messages that streams share; each write that
 * completes lets the next ones go. While clients read as fast as we write, nothing waits. Clients that stop
 * reading hold their bytes until their streams close: when no write completes for `stallMs`, whatever waits
 * goes out anyway, as it would without the queue.
 */
export class Flow {
  private bytes = 0;
  private queue: { bytes: number; write: () => boolean }[] = [];
  private head = 0;
  private completed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limit: number,
    private readonly stallMs = 1000,
  ) {}

  get inflight(): number {
    return this.bytes;
  }

  /** Calls `write` now, or once enough earlier writes completed. `write` returns false when it wrote nothing
   *  after all (its stream closed meanwhile); otherwise done(bytes) must follow when the write completes. */
  submit(bytes: number, write: () => boolean): void {
    if (this.head === this.queue.length && this.bytes < this.limit) {
      if (write()) this.bytes += bytes;
      return;
    }
    this.queue.push({ bytes, write });
    this.watch(this.completed);
  }

  done(bytes: number): void {
    this.bytes -= bytes;
    this.completed++;
    this.release(this.limit);
  }

  private release(limit: number): void {
    while (this.head < this.queue.length && this.bytes < limit) {
      const next = this.queue[this.head++]!;
      if (next.write()) this.bytes += next.bytes;
    }
    if (this.head === this.queue.length && this.head > 0) {
      this.queue = [];
      this.head = 0;
    }
  }

  private watch(completed: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.head === this.queue.length) return;
      if (this.completed === completed) this.release(Infinity); // stalled
      else this.watch(this.completed);
    }, this.stallMs);
    this.timer.unref();
  }
}
