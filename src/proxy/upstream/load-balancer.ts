// The load-balancer family's interface. As in undici's pool-base/BalancedPool split, a balancer only picks a
// host: connection pools, retries, health and priorities belong to the cluster, which hands the balancer the
// hosts it may choose from and calls `update` whenever that set changes (so per-pick work stays O(1) or
// O(log n): rings and tables are rebuilt in `update`, never in `chooseHost`).
import type { Host } from './host.js';

export interface LbContext {
  /** a 64-bit hash computed by the route's hash_policy, when it has one (RING_HASH / MAGLEV use it) */
  hash?: bigint;
  /** hosts the caller would rather not get (e.g. a retry's previous hosts); the balancer may still return one */
  shouldSkip?: (host: Host) => boolean;
  /** how many picks the balancer may make while shouldSkip rejects them: Envoy's hostSelectionRetryCount() + 1,
   *  from the retry policy's host_selection_retry_max_attempts; absent, about one pick per host */
  maxPicks?: number;
  /** a retry's retry_priority (retry_priority extension): it sets the priority load of the retry's pick */
  retryPriority?: import('./priority.js').PriorityLoadOverride;
  /** the request's headers, for balancers that pick by them (a cluster-provided balancer, e.g. the dynamic
   *  forward proxy's, which picks the host :authority names); the router passes them only to clusters whose
   *  `usesRequest` is set, so other requests pay nothing */
  downstreamHeaders?: import('../http/headers.js').HeaderMap;
}

export interface LoadBalancer {
  /** Replace the set of hosts to choose from (already filtered to one priority / health set by the cluster). */
  update(hosts: readonly Host[]): void;
  /** Pick a host, or null when there is none. */
  chooseHost(ctx: LbContext | undefined): Host | null;
}

/**
 * Builds a balancer from the cluster's decoded config (the Cluster resource, snake_case as in the v3 API;
 * e.g. `cluster.ring_hash_lb_config`, `cluster.least_request_lb_config`).
 */
export type LoadBalancerFactory = (cluster: Record<string, any>) => LoadBalancer;
