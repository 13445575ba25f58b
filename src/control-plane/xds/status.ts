// Per-proxy sync status, the JSON /debug/syncz serves (and that later tools and the dashboard read): for each
// stream and type, what we sent, what the proxy ACKed or NACKed, and how long it has been behind.
import { TYPE_SHORT_NAME, isXdsTypeUrl } from '../../api/xds/index.js';
import type { TypeState, XdsStream } from './stream.js';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';

export interface TypeSyncStatus {
  /** version of our latest response ('' before the first) */
  sent: string;
  sentNonce: string;
  sentAt: string;
  acked?: string;
  ackedAt?: string;
  /** the latest NACK, kept after a later ACK for the record; `status` says whether it still applies */
  nacked?: { version: string; message: string; at: string };
  /** '*', or the subscribed names, sorted; a list longer than SYNCZ_MAX_NAMES is cut to its first
   *  SYNCZ_SHOWN_NAMES (subscribedCount says how many there are) */
  subscribed: string[] | '*';
  /** how many names are subscribed explicitly (0 for a plain wildcard) */
  subscribedCount: number;
  status: SyncState;
  /** how long the proxy has been behind our latest response (0 when SYNCED) */
  staleMs: number;
}

export interface SyncStatus {
  proxy: string;
  cluster: string;
  connectionId: string;
  peer: string;
  delta: boolean;
  connectedAt: string;
  /** the proxy's admin address, from its node metadata (ADMIN: what `meshwork proxy --sidecar/--gateway` send) */
  admin?: string;
  /** from node metadata when present: MESH_TYPE (sidecar | router), NAMESPACE, LABELS */
  type?: string;
  namespace?: string;
  labels?: Record<string, string>;
  /** keyed by lds/rds/cds/eds/sds (other type URLs by their full URL) */
  types: Record<string, TypeSyncStatus>;
}

/** Longer subscriptions are shown cut short: a fleet of sidecars each subscribed to 1,000 EDS names made a
 *  syncz of 60 MB that took a second to build, blocking the control plane meanwhile. */
export const SYNCZ_MAX_NAMES = 100;
export const SYNCZ_SHOWN_NAMES = 10;

export function shortTypeName(typeUrl: string): string {
  return isXdsTypeUrl(typeUrl) ? TYPE_SHORT_NAME[typeUrl] : typeUrl;
}

export function syncState(st: TypeState): SyncState {
  // A reconnecting SotW client that already runs our version is SYNCED without a response (empty nonce).
  return st.version === '' ? 'NOT_SENT' : st.acked === st.version ? 'SYNCED' : st.nacked?.version === st.version ? 'NACKED' : 'STALE';
}

export function typeSyncStatus(st: TypeState, now: number): TypeSyncStatus {
  const status = syncState(st);
  const names = st.names.list; // sorted
  const out: TypeSyncStatus = {
    sent: st.version,
    sentNonce: st.nonce,
    sentAt: st.sentAt?.toISOString() ?? '',
    subscribed: st.wildcard ? '*' : names.length > SYNCZ_MAX_NAMES ? names.slice(0, SYNCZ_SHOWN_NAMES) : names.slice(),
    subscribedCount: names.length,
    status,
    staleMs: status === 'STALE' || status === 'NACKED' ? Math.max(0, now - (st.sentAt?.getTime() ?? now)) : 0,
  };
  if (st.acked !== undefined) {
    out.acked = st.acked;
    out.ackedAt = st.ackedAt!.toISOString();
  }
  if (st.nacked) out.nacked = { version: st.nacked.version, message: st.nacked.message, at: st.nacked.at.toISOString() };
  return out;
}

export function streamSyncStatus(s: XdsStream, now: number): SyncStatus {
  const types: Record<string, TypeSyncStatus> = {};
  for (const st of s.types.values()) types[shortTypeName(st.typeUrl)] = typeSyncStatus(st, now);
  return {
    proxy: s.proxy?.node.id ?? '',
    cluster: s.proxy?.node.cluster ?? '',
    connectionId: s.connectionId,
    peer: s.peer,
    delta: s.delta,
    connectedAt: s.connectedAt.toISOString(),
    ...nodeFacts(s.proxy?.node.metadata),
    types,
  };
}

/** What a tool listing proxies wants from node metadata; only well-formed values, nothing else of it. */
function nodeFacts(md: Record<string, unknown> | undefined): Pick<SyncStatus, 'admin' | 'type' | 'namespace' | 'labels'> {
  if (!md) return {};
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const out: Pick<SyncStatus, 'admin' | 'type' | 'namespace' | 'labels'> = {};
  if (str(md.ADMIN)) out.admin = str(md.ADMIN);
  if (str(md.MESH_TYPE)) out.type = str(md.MESH_TYPE);
  if (str(md.NAMESPACE)) out.namespace = str(md.NAMESPACE);
  const labels = md.LABELS;
  if (labels && typeof labels === 'object' && !Array.isArray(labels) && Object.values(labels).every((v) => typeof v === 'string')) {
    out.labels = labels as Record<string, string>;
  }
  return out;
}
