// Incremental ("delta") xDS on one stream (DeltaAggregatedResources, or a standalone Delta* service). A
// response carries only the resources that changed, each with its own version, and the names removed; the
// client keeps everything else. Subscriptions are changed by subscribe/unsubscribe lists, and a reconnecting
// client lists what it already has (initial_resource_versions) so that only differences are sent.
import { WILDCARD_TYPES, type DeltaDiscoveryRequest } from '../../api/xds/index.js';
import { NO_NAMES, internNames } from './names.js';
import type { ResourceEntry } from './server.js';
import type { Change, Shared } from './shared.js';
import { pushOrder, XdsStream, type Resources, type TypeState } from './stream.js';

interface Diff {
  upserts: readonly ResourceEntry[];
  removed: readonly string[];
  /** some resource is new to the client */
  added: boolean;
  /** `next` plus what `removed` names: what the client holds between the two phases of make before break */
  withRemoved(): Resources;
  /** the shared Change this comes from, so that the responses made of it are shared too */
  change?: Change;
}

export class DeltaStream extends XdsStream<DeltaDiscoveryRequest> {
  readonly delta = true;

  protected onRequest(st: TypeState, req: DeltaDiscoveryRequest, first: boolean): void {
    // Each delta response stands on its own, so an answer to any response still pending counts (SotW, where
    // the latest response supersedes the others, ignores older nonces).
    if (req.response_nonce) this.settle(st, req.response_nonce, req.error_detail);

    // Subscription changes count whatever the nonce: they are differences, not a full list that the next
    // request would repeat.
    const subscribe = req.resource_names_subscribe;
    const unsubscribe = req.resource_names_unsubscribe;
    if (!first && subscribe.length === 0 && unsubscribe.length === 0) return; // an ACK or NACK
    if (first && subscribe.length === 0 && WILDCARD_TYPES.has(st.typeUrl)) st.wildcard = true; // legacy wildcard
    // The protocol requires sending a newly subscribed resource even when the server believes the client has
    // it (the client may have dropped it); on a reconnect, initial_resource_versions says what it really has.
    // Both are kept on `owed` until the request is answered, which a hold can postpone to a later push.
    const owed = (st.owed ??= { first, resend: new Set() });
    if (first) {
      // Without initial versions the client has nothing, which is what st.resources says on a fresh stream:
      // then the first answers are the same for every client, and shared (diff()).
      const initial = Object.entries(req.initial_resource_versions);
      if (initial.length > 0) owed.has = new Map(initial);
    }
    // st.names is shared with other streams (names.ts): a change makes (or finds) another shared set.
    const newNames: string[] = [];
    const dropped: string[] = [];
    for (const n of subscribe) {
      if (n === '*') st.wildcard = true;
      else {
        if (!st.names.has(n)) newNames.push(n);
        // (Not `n in req.initial_resource_versions`: that interns every name V8 has not seen as a key.)
        if (!(first && owed.has?.has(n))) owed.resend.add(n);
      }
    }
    for (const n of unsubscribe) {
      if (n === '*') st.wildcard = false;
      else {
        if (st.names.has(n) || newNames.includes(n)) dropped.push(n);
        owed.resend.delete(n);
      }
    }
    // The first request usually brings the whole subscription: intern it at once.
    st.names = st.names === NO_NAMES && dropped.length === 0 ? internNames(newNames) : st.names.changed(newNames, dropped);
    if (unsubscribe.length > 0) {
      // The client drops what it unsubscribed from; only a wildcard can still cover such a name.
      if (!st.wildcard) {
        if (owed.has) owed.has = new Map([...owed.has].filter(([n]) => st.names.has(n)));
        st.resources = this.ctx.shared.restrict(st.resources, st.names);
      }
    }
    if (this.held(st.typeUrl)) {
      this.deferred = true;
      return;
    }

    const next = this.generate(st);
    if (!next) return;
    const { upserts, removed, added, change } = diff(st, next, this.ctx.shared);
    // The first request of a type is always answered, even with nothing, so that the client knows where it
    // stands (an empty wildcard set, or a reconnect where nothing changed).
    st.owed = undefined;
    if (owed.first || upserts.length > 0 || removed.length > 0) this.respond(st, upserts, removed, next, added, change && { change, phase: 'answer' });
    else st.resources = next;
  }

  push(): void {
    this.deferred = false;
    const plans: (Diff & { st: TypeState; next: Resources; answer: boolean })[] = [];
    for (const typeUrl of pushOrder(this.types.keys())) {
      const st = this.types.get(typeUrl)!;
      const next = this.generate(st);
      if (!next) continue;
      // A request the hold kept waiting is answered in one response, changes and removals together, as it
      // would have been at once.
      const answer = st.owed !== undefined;
      // The generator hands out the same Map while a set is unchanged: nothing to compare.
      if (next === st.resources && !answer) continue;
      const d = diff(st, next, this.ctx.shared);
      if (answer || d.upserts.length > 0 || d.removed.length > 0) plans.push({ ...d, st, next, answer });
    }
    // Make before break: additions and changes first in CDS→EDS→LDS→RDS→SDS order, removals afterwards in the
    // reverse order, so that nothing disappears while something still refers to it. A CDS response that adds
    // clusters holds LDS, RDS and the removals until the client answers it; the push that ends the hold sends
    // them.
    for (const p of plans) {
      if (p.upserts.length === 0 && !p.answer) continue;
      if (this.held(p.st.typeUrl)) {
        this.deferred = true;
        continue;
      }
      if (p.answer) {
        p.st.owed = undefined;
        this.respond(p.st, p.upserts, p.removed, p.next, p.added);
        p.removed = [];
        continue;
      }
      // Streams making the same change share these responses (shared.ts).
      const shareAs = p.change && { change: p.change, phase: 'make' };
      this.respond(p.st, p.upserts, [], p.removed.length === 0 ? p.next : p.withRemoved(), p.added, shareAs);
    }
    if (this.holding) {
      if (plans.some((p) => p.removed.length > 0)) this.deferred = true;
      return;
    }
    for (const p of plans.reverse()) {
      if (p.removed.length > 0) this.respond(p.st, [], p.removed, p.next, false, p.change && { change: p.change, phase: 'break' });
    }
  }

  /** `state` is what the client has once it applies this response; its hash is the system_version_info. */
  private respond(
    st: TypeState,
    upserts: readonly ResourceEntry[],
    removed: readonly string[],
    state: Resources,
    added: boolean,
    shareAs?: { change: Change; phase: string },
  ): void {
    const version = this.ctx.shared.version(state);
    this.send(st, this.ctx.shared.deltaMessage(st.typeUrl, version, upserts, removed, shareAs), version, state);
    this.holdIfAdded(st, added);
  }
}

/** What to send to bring the client from what it has to `next`: the resources it lacks or has at another
 *  version (and those it newly subscribed to), and the names it has (or newly subscribed to) that `next` lacks,
 *  which tells it at once that they do not exist rather than leaving it to its initial_fetch_timeout. `added`:
 *  some resource is new to the client. */
function diff(st: TypeState, next: Resources, shared: Shared): Diff {
  const owed = st.owed;
  if (!owed) {
    // The common case on a push: worked out once for all the streams that hold the same set.
    const c = shared.change(st.resources, next);
    return { upserts: c.upserts, removed: c.removed, added: c.added, withRemoved: () => c.withRemoved, change: c };
  }
  // A request being answered: what the client reported having (on a reconnect) or what we sent it, and the
  // names it newly subscribed to, which are sent whatever it has.
  const resources = st.resources;
  const has = owed.has;
  if (!has) {
    // A live stream changing its subscription (1,000 sidecars subscribing to a new cluster's endpoints): the
    // shared difference, when the newly subscribed names are in it anyway or do not exist.
    const c = shared.change(resources, next);
    let extra: string[] | undefined;
    let covered = true;
    for (const n of owed.resend) {
      const e = next.get(n);
      if (e === undefined) {
        if (!resources.has(n)) (extra ??= []).push(n);
      } else if (resources.get(n)?.version === e.version) {
        covered = false; // the client is to get it again although it has it
        break;
      }
    }
    if (covered) {
      const removed = extra ? [...c.removed, ...extra] : c.removed;
      return { upserts: c.upserts, removed, added: c.added, withRemoved: () => c.withRemoved, change: extra ? undefined : c };
    }
  }
  const versionOf = has ? (n: string) => has.get(n) : (n: string) => resources.get(n)?.version;
  const resend = owed.resend;
  const upserts = [...next.values()].filter((e) => versionOf(e.name) !== e.version || resend.has(e.name));
  const removed = [...new Set([...(has ?? resources).keys(), ...resend])].filter((n) => !next.has(n));
  return {
    upserts,
    removed,
    added: upserts.some((e) => versionOf(e.name) === undefined),
    withRemoved: () => {
      const both = new Map(next);
      for (const name of removed) both.set(name, resources.get(name)!);
      return both;
    },
  };
}
