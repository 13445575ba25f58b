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
    const resend = new Set<string>();
    for (const n of subscribe) {
      if (n === '*') st.wildcard = true;
      else {
        st.names.add(n);
        if (!(first && n in req.initial_resource_versions)) resend.add(n);
      }
    }
    let has = first ? new Map(Object.entries(req.initial_resource_versions)) : versions(st.resources);
    if (unsubscribe.length > 0) {
      for (const n of unsubscribe) {
        if (n === '*') st.wildcard = false;
        else st.names.delete(n);
      }
      // The client drops what it unsubscribed from; only a wildcard can still cover such a name.
      if (!st.wildcard) {
        has = new Map([...has].filter(([n]) => st.names.has(n)));
        st.resources = new Map([...st.resources].filter(([n]) => st.names.has(n)));
      }
    }

    const next = this.generate(st);
    if (!next) return;
    const upserts = [...next.values()].filter((e) => has.get(e.name) !== e.version || resend.has(e.name));
    // Known names that are gone, and newly subscribed names that do not exist: telling the client at once
    // spares it waiting for its initial_fetch_timeout.
    const removed = [...new Set([...has.keys(), ...resend])].filter((n) => !next.has(n));
    // The first request of a type is always answered, even with nothing, so that the client knows where it
    // stands (an empty wildcard set, or a reconnect where nothing changed).
    if (first || upserts.length > 0 || removed.length > 0) this.respond(st, upserts, removed, next);
    else st.resources = next;
  }

  push(): void {
    const plans: { st: TypeState; next: Resources; upserts: ResourceEntry[]; removed: string[] }[] = [];
    for (const typeUrl of pushOrder(this.types.keys())) {
      const st = this.types.get(typeUrl)!;
      const next = this.generate(st);
      if (!next) continue;
      const upserts = [...next.values()].filter((e) => st.resources.get(e.name)?.version !== e.version);
      const removed = [...st.resources.keys()].filter((n) => !next.has(n));
      if (upserts.length > 0 || removed.length > 0) plans.push({ st, next, upserts, removed });
    }
    // Make before break: additions and changes first in CDS→EDS→LDS→RDS→SDS order, removals afterwards in the
    // reverse order, so that nothing disappears while something still refers to it.
    for (const p of plans) {
      if (p.upserts.length === 0) continue;
      if (p.removed.length === 0) {
        this.respond(p.st, p.upserts, [], p.next);
        continue;
      }
      const stillThere = new Map(p.next);
      for (const name of p.removed) stillThere.set(name, p.st.resources.get(name)!);
      this.respond(p.st, p.upserts, [], stillThere);
    }
    for (const p of plans.reverse()) if (p.removed.length > 0) this.respond(p.st, [], p.removed, p.next);
  }

  /** `state` is what the client has once it applies this response; its hash is the system_version_info. */
  private respond(st: TypeState, upserts: readonly ResourceEntry[], removed: string[], state: Resources): void {
    const nonce = this.nextNonce();
    const version = this.ctx.version(state);
    const resources: XdsResource[] = upserts.map((e) => ({ name: e.name, version: e.version, resource: e.any }));
    const message: DeltaDiscoveryResponse = { system_version_info: version, resources, type_url: st.typeUrl, removed_resources: removed, nonce };
    if (this.ctx.controlPlane) message.control_plane = this.ctx.controlPlane;
    this.send(st, message, nonce, version, state);
  }
}

function versions(resources: Resources): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, e] of resources) out.set(name, e.version);
  return out;
}
