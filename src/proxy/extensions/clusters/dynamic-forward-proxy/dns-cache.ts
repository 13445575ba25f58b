// The dynamic forward proxy's DNS cache (Envoy's extensions/common/dynamic_forward_proxy DnsCacheImpl): one
// cache per DnsCacheConfig.name, shared by the HTTP filter (which resolves a request's host before the router
// runs) and the cluster (which turns resolved hosts into Hosts and picks one per request by its authority).
//
// Per request the filter and the balancer only look a key up in a Map: "host:port" as the request names it
// (the authority itself when it has a port, so no string is built for it). Everything else happens off the
// request path: the first request for a host starts one lookup and waits for it (later ones for the same host
// join the wait); each entry re-resolves every dns_refresh_rate, and an entry no request used for host_ttl is
// purged at its next refresh (as Envoy checks the TTL on its refresh timer). Resolution is the system resolver
// (getaddrinfo via clusters/dns.ts), so /etc/hosts applies and `localhost` works without a DNS server.
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { Counter, Gauge, StatsStore } from '../../../observability/stats.js';
import { resolveName, type LookupFamily } from '../dns.js';

const log = logger('dns_cache');

export interface DnsCacheSettings {
  readonly name: string;
  readonly family: LookupFamily;
  readonly refreshMs: number;
  readonly failureRefreshMs: number;
  readonly hostTtlMs: number;
  readonly maxHosts: number;
  readonly maxPendingRequests: number;
  readonly queryTimeoutMs: number;
  readonly preresolve: readonly { host: string; port: number }[];
}

/** DnsCacheConfig → settings with Envoy's defaults (refresh 60 s, host_ttl 5 m, max_hosts 1024, 1024 pending
 *  requests, query timeout 5 s; failed lookups retried at dns_failure_refresh_rate, else dns_refresh_rate). */
export function compileDnsCacheConfig(cfg: any, path: string): DnsCacheSettings {
  if (!cfg || typeof cfg.name !== 'string' || cfg.name === '') throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, 'a DNS cache needs a name');
  const refreshMs: number = cfg.dns_refresh_rate ?? 60_000;
  if (!(refreshMs >= 1)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.dns_refresh_rate`, 'must be at least 1ms');
  const hostTtlMs: number = cfg.host_ttl ?? 300_000;
  if (!(hostTtlMs > 0)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.host_ttl`, 'must be greater than 0');
  const maxHosts: number = cfg.max_hosts ?? 1024;
  if (!(maxHosts > 0)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.max_hosts`, 'must be greater than 0');
  const queryTimeoutMs: number = cfg.dns_query_timeout ?? 5000;
  if (!(queryTimeoutMs > 0)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.dns_query_timeout`, 'must be greater than 0');
  const failureBase = cfg.dns_failure_refresh_rate?.base_interval;
  if (cfg.dns_failure_refresh_rate && !(failureBase > 0)) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.dns_failure_refresh_rate.base_interval`, 'must be greater than 0');
  }
  const preresolve = (cfg.preresolve_hostnames ?? []).map((a: any, i: number) => {
    if (!a.address || !(a.port_value > 0)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.preresolve_hostnames[${i}]`, 'needs an address and a port_value');
    return Object.freeze({ host: String(a.address), port: Number(a.port_value) });
  });
  return Object.freeze({
    name: cfg.name,
    family: (cfg.dns_lookup_family ?? 'AUTO') as LookupFamily,
    refreshMs,
    failureRefreshMs: failureBase ?? refreshMs,
    hostTtlMs,
    maxHosts,
    maxPendingRequests: cfg.dns_cache_circuit_breaker?.max_pending_requests ?? 1024,
    queryTimeoutMs,
    preresolve: Object.freeze(preresolve),
  });
}

/**
 * The cache key of an authority: itself when it names a port, else "<authority>:<defaultPort>" (Envoy's
 * normalizeHostForDfp). The port is whatever follows the last ':' after any ']' (IPv6 literals are bracketed).
 */
export function cacheKey(authority: string, defaultPort: number): string {
  return authority.lastIndexOf(':') > authority.lastIndexOf(']') ? authority : `${authority}:${defaultPort}`;
}

/** "host:port" / "[v6]:port" → the name to resolve and the port; null when it is not an authority. */
export function splitKey(key: string): { host: string; port: number } | null {
  const c = key.lastIndexOf(':');
  if (c <= 0) return null;
  let host = key.slice(0, c);
  const portText = key.slice(c + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  if (host.startsWith('[')) {
    if (!host.endsWith(']') || host.length < 3) return null;
    host = host.slice(1, -1);
  } else if (host.includes(':') || host.includes('[') || host.includes(']')) return null;
  return { host, port };
}

/** Someone waiting for an entry's first resolution (the filter of a paused request). */
export interface DnsWaiter {
  onDnsResolved(entry: DnsHostEntry): void;
}

/** Told when entries get or change an address, and when they are purged (the cluster). */
export interface DnsCacheListener {
  onHostAddOrUpdate(entry: DnsHostEntry): void;
  onHostRemove(entry: DnsHostEntry): void;
}

export class DnsHostEntry {
  /** the resolved address (the first answer for the lookup family); kept when a refresh fails */
  address: string | undefined;
  /** the Host id the address and port make ("ip:port", "[v6]:port") */
  hostId: string | undefined;
  /** why the last lookup failed, while the entry has no address */
  error: string | undefined;
  /** the first lookup has not finished yet */
  resolving = false;
  /** a request used the entry since its last refresh (the TTL check reads and clears it: no clock read per request) */
  used = true;
  lastUsedMs = performance.now();
  waiters: DnsWaiter[] | null = null;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
  ) {}
}

/** What `load` returns instead of an entry when the cache cannot take the request. */
export const HOST_OVERFLOW = 1;
export const PENDING_OVERFLOW = 2;

interface CacheStats {
  dns_query_attempt: Counter;
  dns_query_success: Counter;
  dns_query_failure: Counter;
  dns_query_timeout: Counter;
  host_added: Counter;
  host_removed: Counter;
  host_address_changed: Counter;
  host_overflow: Counter;
  dns_rq_pending_overflow: Counter;
  num_hosts: Gauge;
}

export type Resolver = (name: string, family: LookupFamily) => Promise<string[]>;

export class DnsCache {
  private readonly entries = new Map<string, DnsHostEntry>();
  private readonly listeners = new Set<DnsCacheListener>();
  /** requests waiting on a lookup (dns_cache_circuit_breaker.max_pending_requests) */
  private pending = 0;
  private stats: CacheStats | undefined;
  private stopped = false;

  constructor(
    readonly settings: DnsCacheSettings,
    private readonly resolver: Resolver = resolveName,
  ) {
    for (const p of settings.preresolve) this.startEntry(cacheKey(p.host.includes(':') ? `[${p.host}]` : p.host, p.port));
  }

  /** Count in `dns_cache.<name>.*` of this store (the first store given wins; the cluster has none of its own). */
  bindStats(store: StatsStore): void {
    if (this.stats) return;
    const s = store.scope(`dns_cache.${this.settings.name}.`);
    this.stats = {
      dns_query_attempt: s.counter('dns_query_attempt'),
      dns_query_success: s.counter('dns_query_success'),
      dns_query_failure: s.counter('dns_query_failure'),
      dns_query_timeout: s.counter('dns_query_timeout'),
      host_added: s.counter('host_added'),
      host_removed: s.counter('host_removed'),
      host_address_changed: s.counter('host_address_changed'),
      host_overflow: s.counter('host_overflow'),
      dns_rq_pending_overflow: s.counter('dns_rq_pending_overflow'),
      num_hosts: s.gauge('num_hosts'),
    };
    this.stats.num_hosts.set(this.entries.size);
  }

  /** The entry of a key, marking it used (the balancer's per-request lookup). */
  lookup(key: string): DnsHostEntry | undefined {
    const e = this.entries.get(key);
    if (e) e.used = true;
    return e;
  }

  /**
   * The entry for an authority, starting its lookup when it is new. While `entry.resolving`, `waiter` has been
   * queued and is called once the lookup ends (unless cancelled). An entry without an address then failed.
   * HOST_OVERFLOW: max_hosts entries exist; PENDING_OVERFLOW: too many requests wait already.
   */
  load(authority: string, defaultPort: number, waiter: DnsWaiter): DnsHostEntry | typeof HOST_OVERFLOW | typeof PENDING_OVERFLOW | null {
    const key = cacheKey(authority, defaultPort);
    let e = this.entries.get(key);
    if (e && !e.resolving) {
      e.used = true;
      return e;
    }
    if (this.pending >= this.settings.maxPendingRequests) {
      this.stats?.dns_rq_pending_overflow.inc();
      return PENDING_OVERFLOW;
    }
    if (!e) {
      if (this.entries.size >= this.settings.maxHosts) {
        this.stats?.host_overflow.inc();
        return HOST_OVERFLOW;
      }
      const started = this.startEntry(key);
      if (!started) return null;
      e = started;
    }
    (e.waiters ??= []).push(waiter);
    this.pending++;
    return e;
  }

  /** A waiting request went away. */
  cancel(entry: DnsHostEntry, waiter: DnsWaiter): void {
    const i = entry.waiters?.indexOf(waiter) ?? -1;
    if (i < 0) return;
    entry.waiters!.splice(i, 1);
    this.pending--;
  }

  /** Listen to address changes from now on (`resolved()` has the current ones). Returns the unsubscribe. */
  addListener(l: DnsCacheListener): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  /** The entries that have an address. */
  resolved(): DnsHostEntry[] {
    return [...this.entries.values()].filter((e) => e.address !== undefined);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stop refreshing (a newer config replaced this cache); lookups still work, once. */
  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  private startEntry(key: string): DnsHostEntry | null {
    const parts = splitKey(key);
    if (!parts) return null;
    const e = new DnsHostEntry(key, parts.host, parts.port);
    this.entries.set(key, e);
    this.stats?.host_added.inc();
    this.stats?.num_hosts.set(this.entries.size);
    e.resolving = true;
    this.resolve(e);
    return e;
  }

  private resolve(e: DnsHostEntry): void {
    const st = this.stats;
    st?.dns_query_attempt.inc();
    let done = false;
    // getaddrinfo cannot be cancelled: the timeout only stops waiting for it
    const timeout = setTimeout(() => {
      st?.dns_query_timeout.inc();
      finish(undefined, 'resolution timeout');
    }, this.settings.queryTimeoutMs);
    timeout.unref();
    const finish = (address: string | undefined, error: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      if (this.entries.get(e.key) !== e) return; // purged meanwhile
      if (address !== undefined) {
        st?.dns_query_success.inc();
        const changed = address !== e.address;
        if (changed && e.address !== undefined) st?.host_address_changed.inc();
        e.address = address;
        e.hostId = address.includes(':') ? `[${address}]:${e.port}` : `${address}:${e.port}`;
        e.error = undefined;
        if (changed) for (const l of this.listeners) l.onHostAddOrUpdate(e);
      } else {
        st?.dns_query_failure.inc();
        // as Envoy: a failed refresh keeps the address the host had
        if (e.address === undefined) e.error = error;
        log.debug({ cache: this.settings.name, host: e.host, error }, 'DNS lookup failed');
      }
      e.resolving = false;
      this.scheduleRefresh(e, e.address !== undefined ? this.settings.refreshMs : this.settings.failureRefreshMs);
      const waiters = e.waiters;
      e.waiters = null;
      if (waiters) {
        this.pending -= waiters.length;
        for (const w of waiters) w.onDnsResolved(e);
      }
    };
    this.resolver(e.host, this.settings.family).then(
      (addrs) => finish(addrs[0], addrs.length > 0 ? undefined : 'no address for the lookup family'),
      (err: NodeJS.ErrnoException) => finish(undefined, err.code ?? err.message),
    );
  }

  private scheduleRefresh(e: DnsHostEntry, ms: number): void {
    if (this.stopped) return;
    e.timer = setTimeout(() => this.onRefresh(e), ms);
    e.timer.unref();
  }

  /** host_ttl: an entry no request used since the last refresh, for longer than the TTL, goes; others re-resolve. */
  private onRefresh(e: DnsHostEntry): void {
    e.timer = undefined;
    const now = performance.now();
    if (e.used) {
      e.used = false;
      e.lastUsedMs = now;
    }
    if (now - e.lastUsedMs >= this.settings.hostTtlMs) {
      this.entries.delete(e.key);
      this.stats?.host_removed.inc();
      this.stats?.num_hosts.set(this.entries.size);
      if (e.address !== undefined) for (const l of this.listeners) l.onHostRemove(e);
      return;
    }
    this.resolve(e);
  }
}

/** Envoy's DnsCacheManager: caches by name. Configs naming the same cache must agree on its settings; a
 *  config that changes them (a reload) gets a new cache, and the old one stops refreshing. */
const caches = new Map<string, { key: string; cache: DnsCache }>();

export function acquireDnsCache(cfg: any, path: string): DnsCache {
  const settings = compileDnsCacheConfig(cfg, path);
  const key = JSON.stringify(settings);
  const known = caches.get(settings.name);
  if (known && known.key === key) return known.cache;
  if (known) known.cache.stop();
  const cache = new DnsCache(settings);
  caches.set(settings.name, { key, cache });
  return cache;
}
