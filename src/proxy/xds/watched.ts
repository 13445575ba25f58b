// Named xDS resources the proxy follows (RDS route configurations, EDS assignments, SDS secrets): one entry per
// name, holding the last accepted value, its version, and a `ready` promise that settles on the first value or
// when the config source's initial_fetch_timeout expires (Envoy's init target: what listener and cluster
// warming wait on). Which names are wanted is decided by the dynamic configuration (dynamic-config.ts) from the
// listeners and clusters it runs; consumers only read entries. This module is loaded by every proxy, so it
// stays free of gRPC and protobuf.
import { createHash } from 'node:crypto';
import { ConfigError } from '../../common/errors.js';
import type { Counter, Gauge, StatsStore } from '../observability/stats.js';

/** A resolved ConfigSource: which discovery stream serves it, and how long a first fetch may take. */
export interface SourceRef {
  /** identifies the stream (one AdsClient): 'ads', or the api_config_source target */
  readonly key: string;
  /** initial_fetch_timeout in ms; 0 waits forever */
  readonly initialFetchTimeoutMs: number;
}

/** Resolves a decoded ConfigSource (rds.config_source, eds_config, sds_config) or throws ConfigError naming `path`. */
export type SourceResolver = (configSource: any, path: string) => SourceRef;

/** The resolver of a proxy without dynamic_resources: nothing can be discovered. */
export const NO_DISCOVERY: SourceResolver = (_cs, path) => {
  throw new ConfigError('MW_CONFIG_INVALID', path, 'this resource comes from a discovery server, but the bootstrap has no dynamic_resources.ads_config');
};

export class Watched<T> {
  value: T | undefined;
  /** version_info of the response that delivered the value */
  version = '';
  lastUpdated: Date | undefined;
  /** bumped on every accepted update; lazy consumers (TLS contexts) compare it instead of subscribing */
  revision = 0;
  /** the first value arrived, or the initial fetch timed out */
  readonly ready: Promise<void>;
  timedOut = false;
  private settle!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private readonly watchers = new Set<(value: T) => void>();

  constructor(
    readonly name: string,
    readonly source: SourceRef | undefined,
    onTimeout?: (w: Watched<T>) => void,
  ) {
    this.ready = new Promise((resolve) => (this.settle = resolve));
    if (source && source.initialFetchTimeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.timedOut = true;
        onTimeout?.(this);
        this.settle();
      }, source.initialFetchTimeoutMs);
      this.timer.unref();
    }
  }

  /** Accept a new value: consumers that watch are called now, lazy ones see the new revision. */
  set(value: T, version: string): void {
    this.value = value;
    this.version = version;
    this.lastUpdated = new Date();
    this.revision++;
    this.stopTimer();
    this.settle();
    for (const w of this.watchers) w(value);
  }

  /** Call `fn` with every new value (and now, when one is known); returns the unsubscribe function. */
  watch(fn: (value: T) => void): () => void {
    this.watchers.add(fn);
    if (this.value !== undefined) fn(this.value);
    return () => this.watchers.delete(fn);
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** The entries of one resource type, by name. */
export class ResourceSet<T> {
  private readonly entries = new Map<string, Watched<T>>();
  constructor(
    private readonly onTimeout?: (w: Watched<T>) => void,
    /** told of every entry made (a consumer that follows a name across the entries made for it) */
    private readonly onCreate?: (w: Watched<T>) => void,
  ) {}

  get(name: string): Watched<T> | undefined {
    return this.entries.get(name);
  }

  /** The entry for `name`, made on first use (which starts its initial fetch timeout). */
  want(name: string, source: SourceRef): Watched<T> {
    let e = this.entries.get(name);
    if (!e) {
      this.entries.set(name, (e = new Watched<T>(name, source, this.onTimeout)));
      this.onCreate?.(e);
    }
    return e;
  }

  /** Forget entries nothing uses any more; consumers still draining keep the last value they hold. */
  retain(keep: ReadonlySet<string>): void {
    for (const [name, e] of this.entries) {
      if (keep.has(name)) continue;
      e.stopTimer();
      this.entries.delete(name);
    }
  }

  /** The subscription of each stream: source key → names. */
  bySource(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const e of this.entries.values()) {
      if (!e.source) continue;
      let s = out.get(e.source.key);
      if (!s) out.set(e.source.key, (s = new Set()));
      s.add(e.name);
    }
    return out;
  }

  all(): Watched<T>[] {
    return [...this.entries.values()];
  }
}

/** Envoy's per-subscription statistics (<prefix>update_attempt, update_success, ...). */
export interface SubscriptionStats {
  update_attempt: Counter;
  update_success: Counter;
  update_rejected: Counter;
  update_failure: Counter;
  update_empty: Counter;
  init_fetch_timeout: Counter;
  /** a hash of version_info, as Envoy's uint64 `version` gauge */
  version: Gauge;
}

export function subscriptionStats(scope: StatsStore): SubscriptionStats {
  return {
    update_attempt: scope.counter('update_attempt'),
    update_success: scope.counter('update_success'),
    update_rejected: scope.counter('update_rejected'),
    update_failure: scope.counter('update_failure'),
    update_empty: scope.counter('update_empty'),
    init_fetch_timeout: scope.counter('init_fetch_timeout'),
    version: scope.gauge('version'),
  };
}

/** version_info → a number for the `version` gauge (48 bits of its SHA-256, exact in a double). */
export function versionHash(version: string): number {
  if (!version) return 0;
  return parseInt(createHash('sha256').update(version).digest('hex').slice(0, 12), 16);
}
