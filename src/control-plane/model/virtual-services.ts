// VirtualServices with their hosts and destinations resolved against their namespace, indexed by what they
// bind to: "mesh" (every sidecar) or a gateway ("ns/name"). Order is the order the config store gave them
// (Istio orders by creation time; a store hands resources in a stable order, so the output is deterministic).
//
// Delegation (Istio's VirtualService chaining) is resolved here, once per snapshot, so the builders only ever see
// plain VirtualServices: a root's http route with `delegate` is replaced by the delegate's routes merged under it
// (mergeDelegateRoutes). A delegate (a VirtualService without hosts) is not indexed by itself; it takes effect
// only through the roots that name it.
import type { HTTPMatchRequest, HTTPRoute, MeshResource, StringMatch, TCPRoute, TLSRoute, VirtualServiceSpec } from '../../api/mesh/types.js';
import { covers, isExportedTo, resolveHost } from './hosts.js';

export const MESH_GATEWAY = 'mesh';

export interface VirtualService {
  readonly name: string;
  readonly namespace: string;
  /** resolved hosts */
  readonly hosts: readonly string[];
  /** "mesh" or "ns/name" */
  readonly gateways: readonly string[];
  /** routes with every destination host (and mirror) resolved against the VirtualService's namespace */
  readonly http: readonly HTTPRoute[];
  readonly tcp: readonly TCPRoute[];
  readonly tls: readonly TLSRoute[];
  readonly exportTo?: readonly string[];
}

/** A gateway reference as written in a VirtualService of `namespace` → "ns/name" (or "mesh"). */
export function gatewayKey(ref: string, namespace: string): string {
  if (ref === MESH_GATEWAY) return ref;
  return ref.includes('/') ? ref : `${namespace}/${ref}`;
}

function resolveDestinations<T extends { destination?: { host: string } }>(list: readonly T[] | undefined, ns: string): T[] {
  return (list ?? []).map((d) => (d.destination ? { ...d, destination: { ...d.destination, host: resolveHost(d.destination.host, ns) } } : d));
}

export function virtualServiceOf(r: MeshResource<'VirtualService'>): VirtualService {
  const ns = r.metadata.namespace;
  const spec: VirtualServiceSpec = r.spec;
  const gateways = (spec.gateways && spec.gateways.length > 0 ? spec.gateways : [MESH_GATEWAY]).map((g) => gatewayKey(g, ns));
  const http = (spec.http ?? []).map((h) => ({
    ...h,
    ...(h.route ? { route: resolveDestinations(h.route, ns) } : {}),
    ...(h.mirror ? { mirror: { ...h.mirror, host: resolveHost(h.mirror.host, ns) } } : {}),
    ...(h.mirrors ? { mirrors: h.mirrors.map((m) => ({ ...m, destination: { ...m.destination, host: resolveHost(m.destination.host, ns) } })) } : {}),
    ...(h.match ? { match: h.match.map((m) => (m.gateways ? { ...m, gateways: m.gateways.map((g) => gatewayKey(g, ns)) } : m)) } : {}),
  }));
  return Object.freeze({
    name: r.metadata.name,
    namespace: ns,
    hosts: Object.freeze((spec.hosts ?? []).map((h) => resolveHost(h, ns))),
    gateways: Object.freeze(gateways),
    http: Object.freeze(http),
    tcp: Object.freeze((spec.tcp ?? []).map((t) => ({ ...t, ...(t.route ? { route: resolveDestinations(t.route, ns) } : {}) }))),
    tls: Object.freeze((spec.tls ?? []).map((t) => ({ ...t, ...(t.route ? { route: resolveDestinations(t.route, ns) } : {}) }))),
    ...(spec.exportTo ? { exportTo: Object.freeze([...spec.exportTo]) } : {}),
  });
}

// ---- delegation, as Istio merges it (pilot's mergeHTTPRoutes / mergeHTTPMatchRequest) ----

/** Why a delegating route, or a delegate's route, does not take effect (read by `meshwork analyze`). */
export interface DelegateFinding {
  /** the resource the finding is about (the root, or the delegate whose route is dropped) */
  readonly resource: MeshResource<'VirtualService'>;
  /** reference: the delegate cannot be used; conflict: a delegate route's match falls outside the root's */
  readonly kind: 'reference' | 'conflict';
  readonly path: string;
  readonly reason: string;
}

const CONFLICT = Symbol('conflict');

/**
 * Istio's stringMatchConflict: can `leaf` only match within `root`? Regexes only combine with an unset side; an
 * exact root takes the same exact leaf; a prefix root takes a leaf prefix or exact that starts with it.
 */
function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex && (leaf.regex || leaf.prefix || leaf.exact)) return true;
  if (leaf.regex && (root.regex || root.prefix || root.exact)) return true;
  if (root.exact) return !!leaf.prefix || leaf.exact !== root.exact;
  if (root.prefix) {
    if (leaf.prefix) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}

// Header names are case-insensitive (Istio compares them as written; lower-casing keeps "X-A" and "x-a" one header).
const lowerKeys = <T>(o: Record<string, T> | undefined): Record<string, T> | undefined => o && Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));

/** Istio's hasConflict: does the delegate's match ask for something the root's match cannot also require? */
export function matchConflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  for (const f of ['uri', 'scheme', 'method', 'authority'] as const) if (stringMatchConflict(root[f], leaf[f])) return true;
  const maps = [
    [lowerKeys(root.headers), lowerKeys(leaf.headers)],
    [lowerKeys(root.withoutHeaders), lowerKeys(leaf.withoutHeaders)],
    [root.queryParams, leaf.queryParams],
  ] as const;
  for (const [r, l] of maps) for (const [k, v] of Object.entries(l ?? {})) if (stringMatchConflict(r?.[k], v)) return true;
  if (!!root.ignoreUriCase !== !!leaf.ignoreUriCase) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    const rv = root.sourceLabels?.[k];
    if (rv !== undefined && rv !== v) return true;
  }
  // gateways: the root's must include every gateway the delegate names
  if (root.gateways?.length && leaf.gateways?.length && !leaf.gateways.every((g) => root.gateways!.includes(g))) return true;
  return false;
}

const joinNames = (root: string | undefined, leaf: string | undefined) => (leaf ? (root ? `${root}-${leaf}` : leaf) : root);

function mergeMaps<T>(root: Record<string, T> | undefined, leaf: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!root && !leaf) return undefined;
  const out = { ...root, ...leaf };
  return Object.keys(out).length ? out : undefined;
}

/** Istio's mergeHTTPMatchRequest: the delegate's conditions, with the root's filling what the delegate leaves unset. */
export function mergeMatch(root: HTTPMatchRequest, leaf: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = { ...leaf };
  const set = <K extends keyof HTTPMatchRequest>(k: K, v: HTTPMatchRequest[K] | undefined) => {
    if (v === undefined) delete out[k];
    else out[k] = v;
  };
  set('name', joinNames(root.name, leaf.name));
  for (const f of ['uri', 'scheme', 'method', 'authority'] as const) set(f, leaf[f] ?? root[f]);
  set('headers', mergeMaps(lowerKeys(root.headers), lowerKeys(leaf.headers)));
  set('withoutHeaders', mergeMaps(lowerKeys(root.withoutHeaders), lowerKeys(leaf.withoutHeaders)));
  set('queryParams', mergeMaps(root.queryParams, leaf.queryParams));
  set('sourceLabels', mergeMaps(root.sourceLabels, leaf.sourceLabels));
  set('port', leaf.port || root.port || undefined);
  set('sourceNamespace', leaf.sourceNamespace || root.sourceNamespace || undefined);
  set('gateways', leaf.gateways?.length ? leaf.gateways : root.gateways);
  set('statPrefix', leaf.statPrefix || root.statPrefix || undefined);
  return out;
}

/**
 * Istio's mergeHTTPMatchRequests: without conditions on one side, the other side's; otherwise every delegate
 * condition is merged with each root condition it does not conflict with, and one that fits none makes the whole
 * delegate route conflict.
 */
export function mergeMatches(root: readonly HTTPMatchRequest[] | undefined, leaf: readonly HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined | typeof CONFLICT {
  if (!root?.length) return leaf ? [...leaf] : undefined;
  if (!leaf?.length) return [...root];
  const out: HTTPMatchRequest[] = [];
  for (const l of leaf) {
    const fits = root.filter((r) => !matchConflict(r, l));
    if (fits.length === 0) return CONFLICT;
    for (const r of fits) out.push(mergeMatch(r, l));
  }
  return out;
}

// Fields of the root route that apply where the delegate's route leaves them unset (Istio's mergeHTTPRoute).
const INHERITED = ['rewrite', 'directResponse', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercentage', 'corsPolicy', 'mirrors', 'headers'] as const;

/** One delegate route under its root route; undefined when their matches conflict (Istio drops it). */
export function mergeDelegateRoute(root: HTTPRoute, leaf: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match, leaf.match);
  if (match === CONFLICT) return undefined;
  const out: HTTPRoute = { ...leaf };
  if (match) out.match = match;
  else delete out.match;
  const name = joinNames(root.name, leaf.name);
  if (name) out.name = name;
  for (const f of INHERITED) if (out[f] === undefined && root[f] !== undefined) (out as Record<string, unknown>)[f] = root[f];
  return out;
}

/** The VirtualServices to index: roots with their delegating routes replaced, delegates left out. */
export function resolveDelegation(resources: readonly MeshResource<'VirtualService'>[]): { virtualServices: VirtualService[]; findings: DelegateFinding[] } {
  const delegates = new Map<string, { r: MeshResource<'VirtualService'>; vs: VirtualService }>();
  const withHosts = new Set<string>();
  for (const r of resources) {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    if ((r.spec.hosts ?? []).length === 0) delegates.set(key, { r, vs: virtualServiceOf(r) });
    else withHosts.add(key);
  }
  const findings: DelegateFinding[] = [];
  const virtualServices: VirtualService[] = [];
  for (const r of resources) {
    if ((r.spec.hosts ?? []).length === 0) continue;
    const vs = virtualServiceOf(r);
    if (!vs.http.some((h) => h.delegate)) {
      virtualServices.push(vs);
      continue;
    }
    const http: HTTPRoute[] = [];
    vs.http.forEach((h, i) => {
      if (!h.delegate) {
        http.push(h);
        return;
      }
      const path = `spec.http[${i}].delegate`;
      const key = `${h.delegate.namespace || vs.namespace}/${h.delegate.name}`;
      const d = delegates.get(key);
      if (!d) {
        const why = withHosts.has(key) ? `VirtualService ${key} has hosts, so it is not a delegate` : `no VirtualService ${key} is defined`;
        findings.push({ resource: r, kind: 'reference', path, reason: `delegate ${key} not found (${why}): this route is left out` });
        return;
      }
      if (!isExportedTo(d.vs.exportTo, d.vs.namespace, vs.namespace)) {
        findings.push({ resource: r, kind: 'reference', path, reason: `delegate ${key} is not exported to namespace ${vs.namespace}: this route is left out` });
        return;
      }
      // the root's delegate field is dropped: its routes are the delegate's
      const { delegate: _d, ...root } = h;
      d.vs.http.forEach((leaf, j) => {
        const merged = mergeDelegateRoute(root, leaf);
        if (merged) http.push(merged);
        else findings.push({ resource: d.r, kind: 'conflict', path: `spec.http[${j}].match`, reason: `conflicts with the match of VirtualService ${vs.namespace}/${vs.name} spec.http[${i}], which delegates to it: the route is left out there` });
      });
    });
    virtualServices.push(Object.freeze({ ...vs, http: Object.freeze(http) }));
  }
  return { virtualServices, findings };
}

export class VirtualServiceIndex {
  private readonly byGateway = new Map<string, VirtualService[]>();

  constructor(resources: readonly MeshResource<'VirtualService'>[]) {
    for (const vs of resolveDelegation(resources).virtualServices) {
      for (const g of vs.gateways) (this.byGateway.get(g) ?? this.byGateway.set(g, []).get(g)!).push(vs);
    }
  }

  /** VirtualServices bound to sidecars ("mesh") and exported to `namespace`. */
  forMesh(namespace: string): readonly VirtualService[] {
    return (this.byGateway.get(MESH_GATEWAY) ?? []).filter((v) => isExportedTo(v.exportTo, v.namespace, namespace));
  }

  /** VirtualServices bound to a gateway ("ns/name"). */
  forGateway(key: string): readonly VirtualService[] {
    return this.byGateway.get(key) ?? [];
  }

  /**
   * The VirtualService routing `hostname` for sidecars of `namespace`: one naming the host exactly, else the
   * first whose wildcard host covers it (Istio gives a service one VirtualService on the sidecar side).
   */
  forMeshHost(hostname: string, namespace: string): VirtualService | undefined {
    const list = this.forMesh(namespace);
    return list.find((v) => v.hosts.includes(hostname)) ?? list.find((v) => v.hosts.some((h) => covers(h, hostname)));
  }
}
