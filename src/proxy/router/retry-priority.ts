// The retry-priority family (Envoy's Upstream::RetryPriority, RetryPolicy.retry_priority): a per-request
// object that sees every host the request was attempted on and may change the priority load the cluster picks
// a level by for the next attempt (e.g. previous_priorities: leave the localities already tried).
//
// The factories are registered by type URL in extensions/registry.ts, like every extension; their lookup table
// lives here, in a module without imports, because the route compiler (retry-policy.ts) needs it and the
// registry imports the router filter, which imports the retry code: importing the registry from here would
// close that cycle.
import type { Host } from '../upstream/host.js';
import type { PriorityLoadOverride } from '../upstream/priority.js';

/** One request's retry priority. */
export interface RetryPriority extends PriorityLoadOverride {
  /** An attempt went to `host` (the first one included). */
  onHostAttempted(host: Host): void;
}

export interface RetryPriorityFactory {
  /** type URLs of the typed_config it takes, and its extension name */
  readonly names: readonly string[];
  /** Validate and compile the typed_config once (throws ConfigError naming `path`); returns what makes the
   *  per-request state. */
  compile(typedConfig: Record<string, unknown>, path: string): () => RetryPriority;
}

const factories = new Map<string, RetryPriorityFactory>();

export const retryPriorities = {
  register(names: readonly string[], f: RetryPriorityFactory): void {
    for (const n of names) {
      if (factories.has(n)) throw new Error(`retry priority: "${n}" registered twice`);
      factories.set(n, f);
    }
  },
  get(name: string): RetryPriorityFactory | undefined {
    return factories.get(name);
  },
  names(): string[] {
    return [...factories.keys()].sort();
  },
};
