// Incremental ("delta") xDS on one stream (DeltaAggregatedResources, or a standalone Delta* service). A
// response carries only the resources that changed, each with its own version, and the names removed; the
// client keeps everything else. Subscriptions are changed by subscribe/unsubscribe lists, and a reconnecting
// client lists what it already has (initial_resource_versions) so that only differences are sent.
import {
  WILDCARD_TYPES,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type XdsResource,
} from '../../api/xds/index.js';
import type { ResourceEntry } from './server.js';
import { pushOrder, XdsStream, type Resources, type TypeState } from './stream.js';

export class DeltaStream extends XdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
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
    if (first) owed.has = new Map(Object.entries(req.initial_resource_versions));
    for (const n of subscribe) {
      if (n === '*') st.wildcard = true;
      else {
        st.names.add(n);
        if (!(first && n in req.initial_resource_versions)) owed.resend.add(n);
      }
    }
    if (unsubscribe.length > 0) {
      for (const n of unsubscribe) {
        if (n === '*') st.wildcard = false;
        else {
          st.names.delete(n);
          owed.resend.delete(n);
        }
      }
      // The client drops what it unsubscribed from; only a wildcard can still cover such a name.
      if (!st.wildcard) {
        if (owed.has) owed.has = new Map([...owed.has].filter(([n]) => st.names.has(n)));
        st.resources = new Map([...st.resources].filter(([n]) => st.names.has(n)));
      }
    }
    if (this.held(st.typeUrl)) {
      this.deferred = true;
      return;
    }

    const next = this.generate(st);
    if (!next) return;
    const { upserts, removed, added } = diff(st, next);
    // The first request of a type is always answered, even with nothing, so that the client knows where it
    // stands (an empty wildcard set, or a reconnect where nothing changed).
    st.owed = undefined;
    if (owed.first || upserts.length > 0 || removed.length > 0) this.respond(st, upserts, removed, next, added);
    else st.resources = next;
  }

  push(): void {
    this.deferred = false;
    const plans: { st: TypeState; next: Resources; upserts: ResourceEntry[]; removed: string[]; added: boolean; answer: boolean }[] = [];
    for (const typeUrl of pushOrder(this.types.keys())) {
      const st = this.types.get(typeUrl)!;
      const next = this.generate(st);
      if (!next) continue;
      const d = diff(st, next);
      // A request the hold kept waiting is answered in one response, changes and removals together, as it
      // would have been at once.
      const answer = st.owed !== undefined;
      if (answer || d.upserts.length > 0 || d.removed.length > 0) plans.push({ st, next, ...d, answer });
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
      if (p.removed.length === 0) {
        this.respond(p.st, p.upserts, [], p.next, p.added);
        continue;
      }
      const stillThere = new Map(p.next);
      for (const name of p.removed) stillThere.set(name, p.st.resources.get(name)!);
      this.respond(p.st, p.upserts, [], stillThere, p.added);
    }
    if (this.holding) {
      if (plans.some((p) => p.removed.length > 0)) this.deferred = true;
      return;
    }
    for (const p of plans.reverse()) if (p.removed.length > 0) this.respond(p.st, [], p.removed, p.next, false);
  }

  /** `state` is what the client has once it applies this response; its hash is the system_version_info. */
  private respond(st: TypeState, upserts: readonly ResourceEntry[], removed: string[], state: Resources, added: boolean): void {
    const nonce = this.nextNonce();
    const version = this.ctx.version(state);
    const resources: XdsResource[] = upserts.map((e) => ({ name: e.name, version: e.version, resource: e.any }));
    const message: DeltaDiscoveryResponse = { system_version_info: version, resources, type_url: st.typeUrl, removed_resources: removed, nonce };
    if (this.ctx.controlPlane) message.control_plane = this.ctx.controlPlane;
    this.send(st, message, nonce, version, state);
    this.holdIfAdded(st, added);
  }
}

/** What to send to bring the client from what it has to `next`: the resources it lacks or has at another
 *  version (and those it newly subscribed to), and the names it has (or newly subscribed to) that `next` lacks,
 *  which tells it at once that they do not exist rather than leaving it to its initial_fetch_timeout. `added`:
 *  some resource is new to the client. */
function diff(st: TypeState, next: Resources): { upserts: ResourceEntry[]; removed: string[]; added: boolean } {
  const has = st.owed?.has ?? versions(st.resources);
  const resend = st.owed?.resend;
  const upserts = [...next.values()].filter((e) => has.get(e.name) !== e.version || resend?.has(e.name));
  const removed = [...new Set([...has.keys(), ...(resend ?? [])])].filter((n) => !next.has(n));
  return { upserts, removed, added: upserts.some((e) => !has.has(e.name)) };
}

function versions(resources: Resources): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, e] of resources) out.set(name, e.version);
  return out;
}
