// State-of-the-world xDS on one stream (StreamAggregatedResources, or a standalone Stream* service). An LDS or
// CDS response carries the whole set, and a resource missing from it is deleted. The named types (RDS, EDS,
// SDS) are grouped into responses as in delta, which the protocol allows ("all resource types except Listener
// and Cluster are grouped into responses in the same way as in the incremental protocol variants"): a response
// carries the resources that changed or were newly subscribed, a resource missing from it is unchanged, and
// the client drops one when nothing refers to it any more (Envoy's GrpcMuxImpl and gRPC's xDS client both
// work this way). A first response on a stream carries the whole subscription. Why: one endpoint change used
// to send each of 1,000 clients all 1,000 of its ClusterLoadAssignments (215 KB) again; now it sends one.
// The version stays that of the whole subscribed set, so ACKs and /debug/syncz mean the same either way.
import { TYPE_URL, WILDCARD_TYPES, type DiscoveryRequest } from '../../api/xds/index.js';
import { internNames } from './names.js';
import type { Change } from './shared.js';
import { pushOrder, XdsStream, type Resources, type TypeState } from './stream.js';

interface Plan {
  st: TypeState;
  next: Resources;
  version: string;
  change: Change;
  /** LDS/CDS names the client has that `next` drops */
  removed: readonly string[];
  /** something is added or changed (or a named type changed at all): goes out in the first phase */
  makes: boolean;
}

export class SotwStream extends XdsStream<DiscoveryRequest> {
  readonly delta = false;

  protected onRequest(st: TypeState, req: DiscoveryRequest, first: boolean): void {
    // A request that answers an older response than our latest is stale (the protocol says not to answer it):
    // the client will answer the latest one too, with its full current subscription. Before our first
    // response on this stream, a nonce can only be left over from the client's previous stream.
    if (req.response_nonce && st.nonce && req.response_nonce !== st.nonce) {
      this.ctx.log.debug({ proxy: this.proxy?.node.id, type: st.typeUrl, nonce: req.response_nonce, latest: st.nonce }, 'ignoring a stale request');
      return;
    }
    if (req.response_nonce) this.settle(st, req.response_nonce, req.error_detail);

    const star = req.resource_names.includes('*');
    const names = star ? req.resource_names.filter((n) => n !== '*') : req.resource_names;
    // LDS/CDS: an empty list on the first request means wildcard, and keeps meaning it afterwards (legacy
    // clients send empty lists forever); '*' is the explicit form any type may use.
    const wildcard = star || (names.length === 0 && WILDCARD_TYPES.has(st.typeUrl) && (first || st.wildcard));
    if (!first && wildcard === st.wildcard && st.names.equals(names)) return; // an ACK or NACK, nothing new to send
    st.wildcard = wildcard;
    st.names = internNames(names);

    const next = this.generate(st);
    if (!next) return;
    const version = this.ctx.shared.version(next);
    // A client reconnecting (to us after a restart, or from another replica) tells us the version it runs;
    // versions are content hashes, so an equal one means it already has exactly this.
    if (first && req.version_info !== '' && req.version_info === version) {
      st.version = version;
      st.resources = next;
      st.acked = version;
      st.ackedAt = new Date();
      return;
    }
    // A changed subscription is answered even when the content did not change: the protocol requires newly
    // requested resources to be sent again. Behind a hold, the push that ends it answers.
    if (this.held(st.typeUrl)) {
      st.owed = { first, resend: new Set() };
      this.deferred = true;
      return;
    }
    // Named types: what the client lacks (newly subscribed or changed since our last response). An
    // unsubscription alone gets a response without resources, which moves the client to the new version.
    this.respond(st, next, version, first ? next : this.partial(st, next));
  }

  /** What a response moving `st` to `next` carries: the whole set for LDS/CDS, the difference for named types. */
  private partial(st: TypeState, next: Resources): Resources {
    return WILDCARD_TYPES.has(st.typeUrl) ? next : this.ctx.shared.change(st.resources, next).upsertSet;
  }

  push(): void {
    this.deferred = false;
    const plans: Plan[] = [];
    for (const typeUrl of pushOrder(this.types.keys())) {
      const st = this.types.get(typeUrl)!;
      const next = this.generate(st);
      if (!next) continue;
      const version = this.ctx.shared.version(next);
      if (version === st.version && !st.owed) continue;
      // Worked out once for all the streams that move from the same set to the same set (shared.ts).
      const change = this.ctx.shared.change(st.resources, next);
      const removed = WILDCARD_TYPES.has(typeUrl) ? change.removed : [];
      const makes = st.owed !== undefined || removed.length === 0 || change.upserts.length > 0;
      plans.push({ st, next, version, change, removed, makes });
    }
    // Make before break: first every type that adds or changes something, in CDS→EDS→LDS→RDS→SDS order, with
    // the LDS/CDS resources about to go still included; then the removals in the reverse order, once the
    // routes and listeners that used them have moved on. A CDS response that adds clusters holds LDS, RDS and
    // the removals until the client answers it; the push that ends the hold sends them.
    for (const p of plans) {
      if (!p.makes) continue;
      if (this.held(p.st.typeUrl)) {
        this.deferred = true;
        continue;
      }
      // A request answered late (behind a hold) gets the whole subscription, as on a first response.
      const carried = p.st.owed ? p.next : this.partial(p.st, p.next);
      p.st.owed = undefined;
      if (p.removed.length === 0) {
        this.respond(p.st, p.next, p.version, carried);
        continue;
      }
      const both = p.change.withRemoved;
      this.respond(p.st, both, this.ctx.shared.version(both));
    }
    if (this.holding) {
      if (plans.some((p) => p.removed.length > 0)) this.deferred = true;
      return;
    }
    for (const p of plans.reverse()) if (p.removed.length > 0) this.respond(p.st, p.next, p.version);
  }

  /** Move the client to `resources` (at `version`) with a response carrying `carried` (see partial()). */
  private respond(st: TypeState, resources: Resources, version: string, carried: Resources = resources): void {
    // What the client has is our previous response (a fresh stream: nothing), so a first CDS response adds.
    const added = st.typeUrl === TYPE_URL.CLUSTER && this.ctx.shared.change(st.resources, resources).added;
    // Encoded once per set, and sent as it is by every stream that gets this set.
    this.send(st, this.ctx.shared.sotwMessage(st.typeUrl, carried, version), version, resources);
    this.holdIfAdded(st, added);
  }
}
