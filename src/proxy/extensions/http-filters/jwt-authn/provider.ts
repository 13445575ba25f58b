// A JwtProvider compiled once: its issuer, audience and subject checks, lifetime limits, token locations,
// what a verified token turns into (forwarded payload header, claim headers, dynamic metadata), its key source
// (local_jwks read and checked at load, or remote_jwks behind a cache) and an optional verified-token cache.
import fs from 'node:fs';
import { ConfigError } from '../../../../common/errors.js';
import { logger } from '../../../../common/log.js';
import type { Counter } from '../../../observability/stats.js';
import { compileStringMatcher, type StringMatcher } from '../../../router/matchers.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import type { ProviderLocations } from './extractor.js';
import { fetchWithRetry, parseJwksUri, type JwksRetry } from './jwks-fetcher.js';
import { Jwks } from './jwks.js';
import { AudienceChecker, Status, verifyTimeConstraint, type Jwt } from './jwt.js';
import { DEFAULT_CACHE_DURATION_MS, DEFAULT_FAILED_REFETCH_MS, RemoteJwks } from './remote-jwks.js';

const log = logger('jwt_authn');
const DEFAULT_CLOCK_SKEW_SEC = 60;
const DEFAULT_JWT_CACHE_SIZE = 100;

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

/** Where a provider's keys come from. */
export interface KeySource {
  /** Cached keys, a fetch in progress, or why there are none. */
  get(): Jwks | Status | Promise<Jwks | Status>;
  /** Remote sources: try again for a token whose kid no cached key has (rate-limited); undefined: no new keys. */
  refetchForUnknownKid?(): Promise<Jwks | undefined> | undefined;
}

export interface ClaimToHeader {
  readonly header: string;
  /** the claim's path: "a.b.c" → ["a", "b", "c"] */
  readonly claim: readonly string[];
}

export interface Provider {
  readonly name: string;
  readonly issuer: string;
  readonly audiences: AudienceChecker;
  readonly subjects: StringMatcher | undefined;
  /** seconds a token may still live (Infinity: exp required, any value); undefined: no limit */
  readonly maxLifetimeSec: number | undefined;
  readonly clockSkewSec: number;
  readonly forward: boolean;
  readonly forwardPayloadHeader: string;
  readonly padForwardPayloadHeader: boolean;
  readonly payloadInMetadata: string;
  readonly headerInMetadata: string;
  readonly spaceDelimitedClaims: readonly string[];
  readonly claimToHeaders: readonly ClaimToHeader[];
  readonly clearRouteCache: boolean;
  readonly locations: ProviderLocations;
  readonly keys: KeySource;
  readonly jwtCache: JwtCache | undefined;
}

export interface ProviderDeps {
  readonly clusterManager: ClusterManager;
  readonly stats: { readonly jwks_fetch_success: Counter; readonly jwks_fetch_failed: Counter };
}

/** Verified tokens (jwt_cache_config), most recently used last; time limits are checked again on every hit. */
export class JwtCache {
  private readonly map = new Map<string, Jwt>();
  constructor(private readonly size: number) {}

  lookup(token: string, nowSec: number, skewSec: number): Jwt | undefined {
    const jwt = this.map.get(token);
    if (!jwt) return undefined;
    this.map.delete(token);
    if (verifyTimeConstraint(jwt, nowSec, skewSec) !== Status.Ok) return undefined;
    this.map.set(token, jwt);
    return jwt;
  }

  insert(jwt: Jwt): void {
    this.map.delete(jwt.token);
    this.map.set(jwt.token, jwt);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
  }
}

function readDataSource(ds: any, path: string): string {
  if (ds.filename !== undefined) {
    try {
      return fs.readFileSync(ds.filename, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw invalid(`${path}.filename`, `Cannot read "${ds.filename}": ${err.code ?? err.message}`);
    }
  }
  if (ds.inline_string !== undefined) return ds.inline_string;
  if (ds.inline_bytes !== undefined) return Buffer.from(ds.inline_bytes).toString('utf8');
  if (ds.environment_variable !== undefined) {
    const v = process.env[ds.environment_variable];
    if (v === undefined) throw invalid(`${path}.environment_variable`, `Cannot read "${ds.environment_variable}": the environment variable is not set`);
    return v;
  }
  throw invalid(path, 'a DataSource needs one of filename, inline_string, inline_bytes, environment_variable');
}

function compileRetry(rp: any, path: string): JwksRetry | undefined {
  if (!rp) return undefined;
  if (rp.retry_priority || rp.retry_host_predicate?.length) throw unsupported(path, 'retry priorities and host predicates are not supported for JWKS fetches');
  const baseMs = rp.retry_back_off?.base_interval ?? 1000;
  const maxMs = rp.retry_back_off?.max_interval ?? baseMs * 10;
  // Envoy's validateCoreRetryPolicy
  if (baseMs <= 0) throw invalid(`${path}.retry_back_off.base_interval`, 'must be greater than zero');
  if (maxMs < baseMs) throw invalid(`${path}.retry_back_off.max_interval`, 'must be greater than or equal to base_interval');
  return { numRetries: rp.num_retries ?? 1, baseMs, maxMs };
}

function compileKeys(p: any, path: string, name: string, deps: ProviderDeps): KeySource {
  if (p.local_jwks !== undefined) {
    if (p.remote_jwks !== undefined) throw invalid(path, 'set either local_jwks or remote_jwks, not both');
    const parsed = Jwks.parse(readDataSource(p.local_jwks, `${path}.local_jwks`));
    // Envoy only logs a warning and lets every request fail; a key set that cannot verify anything is a
    // configuration mistake, so Meshwork rejects it where it is written.
    if (!(parsed instanceof Jwks)) throw invalid(`${path}.local_jwks`, `${parsed.status}: ${parsed.detail}`);
    return { get: () => parsed };
  }
  const r = p.remote_jwks;
  if (!r) throw invalid(path, 'a provider needs local_jwks or remote_jwks');
  const rp = `${path}.remote_jwks`;
  const uri = r.http_uri;
  if (!uri?.uri) throw invalid(`${rp}.http_uri.uri`, 'a JWKS URI is required');
  if (!uri.cluster) throw invalid(`${rp}.http_uri.cluster`, 'the cluster to fetch the JWKS through is required');
  let target;
  try {
    target = parseJwksUri(uri.uri);
  } catch (e) {
    throw invalid(`${rp}.http_uri.uri`, (e as Error).message);
  }
  const retry = compileRetry(r.retry_policy, `${rp}.retry_policy`);
  const http = { ...target, cluster: uri.cluster as string, timeoutMs: uri.timeout ?? 1000 };
  const cm = deps.clusterManager;
  const source = new RemoteJwks({
    fetch: () => fetchWithRetry(cm, http, retry),
    cacheDurationMs: r.cache_duration ?? DEFAULT_CACHE_DURATION_MS,
    asyncFetch: r.async_fetch ? { failedRefetchMs: r.async_fetch.failed_refetch_duration || DEFAULT_FAILED_REFETCH_MS } : undefined,
    onFetch: (ok, reason) => {
      if (ok) deps.stats.jwks_fetch_success.inc();
      else {
        deps.stats.jwks_fetch_failed.inc();
        log.warn({ provider: name, uri: uri.uri, cluster: uri.cluster, reason }, 'JWKS fetch failed');
      }
    },
  });
  source.start();
  return source;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function compileProvider(name: string, p: any, path: string, deps: ProviderDeps): Provider {
  const fromHeaders = (p.from_headers ?? []).map((h: any, i: number) => {
    if (!h.name || !HEADER_NAME.test(h.name)) throw invalid(`${path}.from_headers[${i}].name`, `"${h.name ?? ''}" is not a valid header name`);
    return { name: String(h.name).toLowerCase(), valuePrefix: h.value_prefix ?? '' };
  });
  const claimToHeaders: ClaimToHeader[] = (p.claim_to_headers ?? []).map((c: any, i: number) => {
    if (!c.header_name || !HEADER_NAME.test(c.header_name)) throw invalid(`${path}.claim_to_headers[${i}].header_name`, `"${c.header_name ?? ''}" is not a valid header name`);
    if (!c.claim_name) throw invalid(`${path}.claim_to_headers[${i}].claim_name`, 'a claim name is required');
    return { header: String(c.header_name).toLowerCase(), claim: String(c.claim_name).split('.') };
  });
  const forwardPayloadHeader = String(p.forward_payload_header ?? '').toLowerCase();
  if (forwardPayloadHeader && !HEADER_NAME.test(forwardPayloadHeader)) throw invalid(`${path}.forward_payload_header`, `"${forwardPayloadHeader}" is not a valid header name`);
  if (p.failed_status_in_metadata) throw unsupported(`${path}.failed_status_in_metadata`, 'writing the failure status to dynamic metadata is not supported');
  let maxLifetimeSec: number | undefined = p.require_expiration ? Infinity : undefined;
  // max_lifetime takes precedence over require_expiration (Envoy)
  if (p.max_lifetime !== undefined) maxLifetimeSec = p.max_lifetime / 1000;
  const sanitize = [...(forwardPayloadHeader ? [forwardPayloadHeader] : []), ...claimToHeaders.map((c) => c.header)];
  return Object.freeze({
    name,
    issuer: p.issuer ?? '',
    audiences: new AudienceChecker(p.audiences ?? []),
    subjects: p.subjects ? compileStringMatcher(p.subjects, `${path}.subjects`) : undefined,
    maxLifetimeSec,
    clockSkewSec: p.clock_skew_seconds || DEFAULT_CLOCK_SKEW_SEC,
    forward: p.forward === true,
    forwardPayloadHeader,
    padForwardPayloadHeader: p.pad_forward_payload_header === true,
    payloadInMetadata: p.payload_in_metadata ?? '',
    headerInMetadata: p.header_in_metadata ?? '',
    spaceDelimitedClaims: p.normalize_payload_in_metadata?.space_delimited_claims ?? [],
    claimToHeaders,
    clearRouteCache: p.clear_route_cache === true,
    locations: Object.freeze({ issuer: p.issuer ?? '', fromHeaders, fromParams: p.from_params ?? [], fromCookies: p.from_cookies ?? [], sanitize }),
    keys: compileKeys(p, path, name, deps),
    jwtCache: p.jwt_cache_config ? new JwtCache(p.jwt_cache_config.jwt_cache_size || DEFAULT_JWT_CACHE_SIZE) : undefined,
  });
}

/** A claim's value as a header value: strings as they are, integers without a fraction, booleans as words. */
export function claimHeaderValue(payload: Readonly<Record<string, unknown>>, path: readonly string[]): string | undefined {
  let v: unknown = payload;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    // Envoy prints unsigned integers as integers and anything else as C++ std::to_string(double) ("%f")
    if (Number.isInteger(v) && v >= 0 && v < 2 ** 64) return BigInt(v).toString();
    return v.toFixed(6);
  }
  return undefined; // arrays and objects are not copied
}
