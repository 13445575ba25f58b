// Host names as Istio reads them. A short name in a VirtualService, DestinationRule or Sidecar is relative to
// the resource's namespace ("reviews" in "default" → "reviews.default.svc.cluster.local"); a name with a dot is
// taken as fully qualified; wildcards ("*", "*.example.com") stay as written. Matching follows Istio's
// host.Name: a wildcard covers every name (and every narrower wildcard) under its suffix.

/** Istio's default cluster domain suffix (meshConfig / --domain). */
export const DOMAIN_SUFFIX = 'svc.cluster.local';
/** Istio's root namespace: its Sidecar and DestinationRules are the mesh-wide defaults. */
export const ROOT_NAMESPACE = 'istio-system';

export function isWildcard(host: string): boolean {
  return host.startsWith('*');
}

/** A host as written in a resource of `namespace` → the name Istio compares (ResolveShortnameToFQDN). */
export function resolveHost(host: string, namespace: string): string {
  if (isWildcard(host) || host.includes('.')) return host;
  return `${host}.${namespace}.${DOMAIN_SUFFIX}`;
}

/** `pattern` covers `host`: equal, "*", or a "*.suffix" whose suffix ends `host` (a wildcard host included). */
export function covers(pattern: string, host: string): boolean {
  if (pattern === host || pattern === '*') return true;
  if (!isWildcard(pattern)) return false;
  const suffix = pattern.slice(1); // ".example.com"
  if (isWildcard(host)) return host.slice(1).endsWith(suffix);
  return host.endsWith(suffix) && host.length > suffix.length;
}

/** Some name is matched by both (Istio's Matches: one covers the other). */
export function intersects(a: string, b: string): boolean {
  return covers(a, b) || covers(b, a);
}

/** The narrower of two intersecting hosts (what a gateway virtual host uses when a VirtualService host and a
 *  server host overlap). */
export function narrower(a: string, b: string): string {
  return covers(a, b) ? b : a;
}

/**
 * Of the candidates matching `host`, the most specific (Istio's MostSpecificHostMatch): an exact name first,
 * then the wildcard with the longest suffix. Ties keep the first candidate.
 */
export function mostSpecific<T>(host: string, candidates: Iterable<T>, hostOf: (c: T) => string): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const c of candidates) {
    const h = hostOf(c);
    if (!covers(h, host)) continue;
    const score = h === host ? Number.MAX_SAFE_INTEGER : h.length;
    if (score > bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** The service's short name and namespace when it is an in-mesh name ("name.ns.svc.<suffix>"). */
export function meshNameParts(hostname: string): { name: string; namespace: string } | undefined {
  const tail = `.svc.${DOMAIN_SUFFIX.slice('svc.'.length)}`;
  if (!hostname.endsWith(tail)) return undefined;
  const parts = hostname.slice(0, -tail.length).split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { name: parts[0], namespace: parts[1] };
}

/**
 * exportTo as Istio reads it: absent or empty = "*" (every namespace), "." = the resource's own namespace,
 * "~" = none, else namespace names.
 */
export function isExportedTo(exportTo: readonly string[] | undefined, ownNamespace: string, toNamespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === '*' || e === toNamespace || (e === '.' && ownNamespace === toNamespace)) return true;
  }
  return false;
}
