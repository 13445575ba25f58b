// The config store of the mesh API: where the Istio-style resources (Gateway, VirtualService, DestinationRule,
// ServiceEntry, WorkloadEntry, Sidecar) come from. A watched directory of YAML files is the embedded default
// (file/mesh-store.ts); etcd and Kubernetes plug in behind the same interface, and every implementation runs
// the same conformance suite (store-conformance.ts), as Hono's adapters share one test suite.
//
// What every store guarantees:
// - list() holds only valid resources (parsed and validated), at most one per (kind, namespace, name);
// - a resource whose new version is invalid keeps its last good version listed, with its errors in errors()
//   (Istio's API server rejects the write; here the write already happened, so the old version stays served);
// - an unchanged resource keeps its object across changes (consumers may compare by identity);
// - subscribers are told after every change of list(), never for a rejected edit alone.
import type { ConfigError } from '../../common/errors.js';
import type { MeshResource } from '../../api/mesh/types.js';

export interface MeshConfigStore {
  /** the accepted resources, sorted by kind, namespace and name; do not mutate */
  list(): readonly MeshResource[];
  /** current problems: rejected resources and documents (what they replaced is still listed) */
  errors(): readonly ConfigError[];
  /** `fn` runs after list() changed; returns the unsubscribe function */
  subscribe(fn: (reason: string) => void): () => void;
  /** reads the current state (resolves once list() reflects it) and starts watching */
  start(): Promise<void>;
  close(): void;
}

/** "Kind/namespace/name": a resource's identity in every store. */
export function resourceKey(r: Pick<MeshResource, 'kind' | 'metadata'>): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

/** The order list() gives. */
export function compareResources(a: MeshResource, b: MeshResource): number {
  const ka = resourceKey(a);
  const kb = resourceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
