// Versions are content hashes, never counters: the same input gives the same versions in every control-plane
// process, so a proxy that reconnects to a restarted (or another) control plane with unchanged config reports a
// version we recognise, and nothing is pushed again.
import { createHash } from 'node:crypto';
import type { Any } from '../../api/xds/index.js';
import type { ResourceEntry } from './server.js';

function hash(data: string | Buffer, more?: string): string {
  const h = createHash('sha256').update(data);
  if (more !== undefined) h.update(more);
  return h.digest('hex').slice(0, 16);
}

/** The version of one encoded resource: a hash of its type URL and bytes. */
export function contentVersion(any: Any): string {
  return hash(any.value, any.type_url);
}

/** A ResourceEntry whose version is its content hash (what a Generator normally returns). */
export function resourceEntry(name: string, any: Any, json: Record<string, unknown>): ResourceEntry {
  return { name, any, json, version: contentVersion(any) };
}

/** The version of a set of resources: independent of order, changes when any member or membership changes. */
export function setVersion(entries: Iterable<ResourceEntry>): string {
  const lines: string[] = [];
  for (const e of entries) lines.push(`${e.name}\u0000${e.version}`);
  return hash(lines.sort().join('\n'));
}
