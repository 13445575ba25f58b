// The control plane's JWKS fetcher, Istio's default (PILOT_JWT_ENABLE_REMOTE_JWKS=false: istiod's JwksResolver):
// the key sets that RequestAuthentication rules name by `jwksUri` (or by `issuer` alone, through OpenID
// discovery) are fetched here, checked, cached and refreshed, and the translation inlines them into each
// provider as `local_jwks` (translate/security/jwt.ts). Proxies therefore never reach out to key servers, need no
// cluster for them, and all verify with the same keys; a change of keys is one push.
//
// Life of an entry (one per distinct jwksUri, or per issuer without one):
//  - it exists while some RequestAuthentication of the config names it (track()); bounded by maxEntries;
//  - fetched at once when it appears; until that first fetch succeeds the translation uses UNAVAILABLE_JWKS
//    (every token of that issuer is refused, requests without one pass), as Istio does with its fake JWKS;
//  - refreshed every refreshIntervalMs (Istio's PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, default 20 min, read from the
//    same environment variable); a set that differs (keys compared in a fixed order) calls onChange: a push;
//  - a failed fetch keeps the keys it had (a key server that is down must not lock everyone out) and is retried
//    with back-off: 1 s, 2 s, 4 s ... up to retryMaxMs (60 s); keys that could not be refreshed for evictAfterMs
//    (7 days, Istio's JwtPubKeyEvictionDuration) are dropped, and the provider falls back to UNAVAILABLE_JWKS.
// A response must be 2xx, at most maxBodyBytes, and hold at least one key a proxy can use (keys.ts): anything
// else is a failed fetch, so a broken key server can never push a set that proxies would reject.
import http from 'node:http';
import https from 'node:https';
import type { MeshResource } from '../../api/mesh/types.js';
import { logger } from '../../common/log.js';
import { parseDuration } from '../model/duration.js';
import { checkJwks, jwksFingerprint } from './keys.js';

const log = logger('jwks');

/** Istio's default timeout of a JWKS fetch (JWTRule.timeout). */
export const DEFAULT_FETCH_TIMEOUT_MS = 5000;
const DEFAULT_REFRESH_MS = 20 * 60_000;
const OPENID_SUFFIX = '/.well-known/openid-configuration';
const MAX_REDIRECTS = 5;

export interface JwksResolverOptions {
  /** a key set appeared, changed or was dropped: the listeners that inline it must be pushed again */
  onChange: (reason: string) => void;
  /** how often fetched sets are fetched again (default: $PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, else 20 min) */
  refreshIntervalMs?: number;
  /** the longest wait between retries of a failing fetch (default 60 s; never more than refreshIntervalMs) */
  retryMaxMs?: number;
  /** keys not refreshed successfully for this long are dropped (default 7 days) */
  evictAfterMs?: number;
  /** distinct key sets followed at most (default 1024); the rest are never fetched and fail their tokens */
  maxEntries?: number;
  /** largest response accepted (default 1 MiB) */
  maxBodyBytes?: number;
}

/** What one rule asks for: the keys of a URI, or of an issuer's OpenID configuration. */
export interface JwksTarget {
  issuer?: string;
  jwksUri?: string;
  timeoutMs?: number;
}

/** The cache key of a target: its jwksUri, or its issuer when the URI comes from OpenID discovery. */
export function targetKey(issuer: string | undefined, jwksUri: string | undefined): string {
  return jwksUri ? jwksUri : `openid:${issuer ?? ''}`;
}

/** The targets of a config: every JWT rule without inline `jwks` (inline keys need no fetching). */
export function jwksTargets(resources: readonly MeshResource[]): JwksTarget[] {
  const out: JwksTarget[] = [];
  for (const r of resources) {
    if (r.kind !== 'RequestAuthentication') continue;
    for (const rule of (r as MeshResource<'RequestAuthentication'>).spec.jwtRules ?? []) {
      if (rule.jwks || (!rule.jwksUri && !rule.issuer)) continue;
      out.push({ issuer: rule.issuer, jwksUri: rule.jwksUri, timeoutMs: parseDuration(rule.timeout) });
    }
  }
  return out;
}

interface Entry {
  readonly key: string;
  readonly issuer?: string;
  readonly jwksUri?: string;
  timeoutMs: number;
  /** the checked set (keys.ts), once a fetch succeeded */
  keys?: string;
  fingerprint?: string;
  /** the URI fetched last (the jwksUri, or what discovery said) */
  resolvedUri?: string;
  lastSuccess?: number;
  lastError?: string;
  failures: number;
  timer?: NodeJS.Timeout;
  fetching: boolean;
  /** settles after the first attempt, whatever its outcome */
  readonly first: Promise<void>;
  firstDone: () => void;
}

export interface JwksStatus {
  key: string;
  uri?: string;
  keys: number;
  lastSuccess?: string;
  lastError?: string;
  failures: number;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly refreshMs: number;
  private readonly retryMaxMs: number;
  private readonly evictAfterMs: number;
  private readonly maxEntries: number;
  private readonly maxBodyBytes: number;
  private closed = false;
  private overflowLogged = false;
  /** network fetches (Istio's pilot_jwks_resolver_network_fetch_success_total / _fail_total) */
  readonly counters = { fetchSuccess: 0, fetchFail: 0 };

  constructor(private readonly opts: JwksResolverOptions) {
    this.refreshMs = opts.refreshIntervalMs ?? refreshFromEnv();
    this.retryMaxMs = Math.min(opts.retryMaxMs ?? 60_000, this.refreshMs);
    this.evictAfterMs = opts.evictAfterMs ?? 7 * 24 * 3_600_000;
    this.maxEntries = opts.maxEntries ?? 1024;
    this.maxBodyBytes = opts.maxBodyBytes ?? 1024 * 1024;
  }

  /** The checked key set of a rule, or undefined while it has none (the translation then fails its tokens). */
  keys(issuer: string | undefined, jwksUri: string | undefined): string | undefined {
    return this.entries.get(targetKey(issuer, jwksUri))?.keys;
  }

  /** Follow exactly these targets: new ones are fetched now, ones no longer named are forgotten. */
  track(targets: Iterable<JwksTarget>): void {
    if (this.closed) return;
    const wanted = new Map<string, JwksTarget>();
    for (const t of targets) {
      const key = targetKey(t.issuer, t.jwksUri);
      const prev = wanted.get(key);
      // two rules naming one set: the longer timeout serves both
      if (!prev || (t.timeoutMs ?? 0) > (prev.timeoutMs ?? 0)) wanted.set(key, t);
    }
    for (const [key, e] of this.entries) {
      if (wanted.has(key)) continue;
      clearTimeout(e.timer);
      e.firstDone();
      this.entries.delete(key);
    }
    for (const [key, t] of wanted) {
      const timeoutMs = t.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
      const old = this.entries.get(key);
      if (old) {
        old.timeoutMs = timeoutMs;
        continue;
      }
      if (this.entries.size >= this.maxEntries) {
        if (!this.overflowLogged) log.warn({ maxEntries: this.maxEntries, key }, 'too many distinct JWKS sources: the rest are not fetched and their tokens fail');
        this.overflowLogged = true;
        continue;
      }
      let firstDone!: () => void;
      const first = new Promise<void>((resolve) => (firstDone = resolve));
      const e: Entry = { key, issuer: t.issuer, jwksUri: t.jwksUri, timeoutMs, failures: 0, fetching: false, first, firstDone };
      this.entries.set(key, e);
      void this.refresh(e);
    }
  }

  /** Resolves once every entry tracked now has had its first fetch (or after `timeoutMs`). */
  async settled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.all([...this.entries.values()].map((e) => e.first)), timeout]);
    clearTimeout(timer);
  }

  status(): JwksStatus[] {
    return [...this.entries.values()].map((e) => ({
      key: e.key,
      ...(e.resolvedUri ? { uri: e.resolvedUri } : {}),
      keys: e.keys ? (JSON.parse(e.keys) as { keys: unknown[] }).keys.length : 0,
      ...(e.lastSuccess ? { lastSuccess: new Date(e.lastSuccess).toISOString() } : {}),
      ...(e.lastError ? { lastError: e.lastError } : {}),
      failures: e.failures,
    }));
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      clearTimeout(e.timer);
      e.firstDone();
    }
    this.entries.clear();
  }

  private live(e: Entry): boolean {
    return !this.closed && this.entries.get(e.key) === e;
  }

  private schedule(e: Entry, ms: number): void {
    clearTimeout(e.timer);
    e.timer = setTimeout(() => void this.refresh(e), ms);
    // a pending refresh never keeps the control plane alive
    e.timer.unref();
  }

  private async refresh(e: Entry): Promise<void> {
    if (e.fetching || !this.live(e)) return;
    e.fetching = true;
    try {
      const uri = e.jwksUri ?? (await this.discover(e));
      e.resolvedUri = uri;
      const checked = checkJwks(await this.get(uri, e.timeoutMs));
      if (!checked.ok) throw new Error(`no usable key in the response: ${checked.reason}`);
      this.counters.fetchSuccess++;
      if (!this.live(e)) return;
      const fingerprint = jwksFingerprint(checked.text);
      const first = e.keys === undefined;
      if (e.failures > 0) log.info({ uri, after: e.failures }, 'JWKS fetched again after failures');
      e.failures = 0;
      e.lastError = undefined;
      e.lastSuccess = Date.now();
      if (fingerprint !== e.fingerprint) {
        e.keys = checked.text;
        e.fingerprint = fingerprint;
        log.info({ uri, keys: checked.keys }, first ? 'JWKS fetched' : 'JWKS changed');
        this.opts.onChange(`jwks ${uri} ${first ? 'fetched' : 'changed'}`);
      }
      this.schedule(e, this.refreshMs);
    } catch (err) {
      this.counters.fetchFail++;
      if (!this.live(e)) return;
      e.failures++;
      e.lastError = (err as Error).message;
      // first failure and every tenth: a server that stays down should not flood the log
      if (e.failures === 1 || e.failures % 10 === 0) {
        log.warn({ key: e.key, failures: e.failures, err: e.lastError, keeping: e.keys !== undefined }, e.keys ? 'JWKS refresh failed: keeping the keys fetched before' : 'JWKS fetch failed: tokens of this issuer are refused until it succeeds');
      }
      if (e.keys !== undefined && e.lastSuccess !== undefined && Date.now() - e.lastSuccess >= this.evictAfterMs) {
        log.warn({ key: e.key, lastSuccess: new Date(e.lastSuccess).toISOString() }, 'JWKS not refreshed for too long: dropped');
        e.keys = e.fingerprint = undefined;
        this.opts.onChange(`jwks ${e.key} dropped`);
      }
      this.schedule(e, Math.min(1000 * 2 ** Math.min(e.failures - 1, 20), this.retryMaxMs));
    } finally {
      e.fetching = false;
      e.firstDone();
    }
  }

  /** OpenID discovery (Istio's resolveJwksURIUsingOpenID): `<issuer>/.well-known/openid-configuration`. */
  private async discover(e: Entry): Promise<string> {
    const issuer = (e.issuer ?? '').replace(/\/$/, '');
    const body = await this.get(issuer + OPENID_SUFFIX, e.timeoutMs);
    let uri: unknown;
    try {
      uri = (JSON.parse(body) as { jwks_uri?: unknown }).jwks_uri;
    } catch {
      throw new Error(`${issuer}${OPENID_SUFFIX} is not JSON`);
    }
    if (typeof uri !== 'string' || !/^https?:\/\//i.test(uri)) throw new Error(`${issuer}${OPENID_SUFFIX} has no http(s) jwks_uri`);
    return uri;
  }

  /** GET a small document: 2xx only, redirects followed (as Go's client does for Istio), size and time bounded.
   *  No connection reuse (Istio's DisableKeepAlives): fetches are minutes apart. */
  private get(uri: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const once = (target: string, hops: number): Promise<string> =>
      new Promise((resolve, reject) => {
        let u: URL;
        try {
          u = new URL(target);
        } catch {
          reject(new Error(`"${target}" is not a URL`));
          return;
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') {
          reject(new Error(`"${target}": only http and https are fetched`));
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          reject(new Error(`timed out after ${timeoutMs} ms`));
          return;
        }
        const mod = u.protocol === 'https:' ? https : http;
        const req = mod.get(u, { agent: false, headers: { accept: 'application/json' }, signal: AbortSignal.timeout(left) }, (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400 && res.headers.location) {
            res.resume();
            if (hops >= MAX_REDIRECTS) reject(new Error(`more than ${MAX_REDIRECTS} redirects`));
            else once(new URL(res.headers.location, u).toString(), hops + 1).then(resolve, reject);
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.maxBodyBytes) {
              // settled first: whatever the socket still emits (an 'end' with half a body) changes nothing
              reject(new Error(`response larger than ${this.maxBodyBytes} bytes`));
              req.destroy();
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8');
            if (status < 200 || status >= 300) reject(new Error(`status ${status} from ${target}: ${JSON.stringify(body.slice(0, 100))}`));
            else resolve(body);
          });
          res.on('error', reject);
        });
        req.on('error', (err: Error) => reject(err.name === 'AbortError' || err.name === 'TimeoutError' ? new Error(`timed out after ${timeoutMs} ms (${target})`) : new Error(`${target}: ${err.message}`)));
      });
    return once(uri, 0);
  }
}

/** PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, as Istio reads it (a duration such as "20m"), else 20 minutes. */
function refreshFromEnv(): number {
  const v = process.env.PILOT_JWT_PUB_KEY_REFRESH_INTERVAL;
  if (v === undefined || v === '') return DEFAULT_REFRESH_MS;
  const ms = parseDuration(v);
  if (ms === undefined || ms < 100) {
    log.warn({ value: v }, 'PILOT_JWT_PUB_KEY_REFRESH_INTERVAL is not a duration of at least 100ms: using 20m');
    return DEFAULT_REFRESH_MS;
  }
  return ms;
}
