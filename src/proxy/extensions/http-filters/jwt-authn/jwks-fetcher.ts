// Fetching a remote JWKS as Envoy's JwksFetcher does: a GET of http_uri.uri sent through the cluster that
// http_uri.cluster names, with http_uri.timeout for the whole exchange, through the proxy's own upstream
// machinery (common/upstream-call.ts: the cluster's balancer, pools, TLS and breakers; a body over 1 MiB refused).
//
// retry_policy (Envoy: retry_on "5xx,gateway-error,connect-failure,reset"; num_retries default 1; back-off with
// full jitter from base_interval, default 1 s, capped at max_interval, default 10 × base) applies to every fetch.
import { HeaderMap } from '../../../http/headers.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import { callUpstream, CallFailure } from '../../common/upstream-call.js';

export interface JwksHttpTarget {
  readonly cluster: string;
  readonly authority: string;
  readonly path: string;
  readonly scheme: string;
  /** 0: no timeout */
  readonly timeoutMs: number;
}

export interface JwksRetry {
  readonly numRetries: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

class FetchFailure extends Error {
  constructor(message: string, readonly retriable: boolean) {
    super(message);
  }
}

/** One GET through the cluster: resolves with the body of a 200, rejects with a FetchFailure otherwise. */
export async function fetchOnce(cm: ClusterManager, t: JwksHttpTarget): Promise<string> {
  const h = new HeaderMap();
  h.add(':method', 'GET');
  h.add(':scheme', t.scheme);
  h.add(':authority', t.authority);
  h.add(':path', t.path);
  h.add('accept', 'application/json');
  let res;
  try {
    res = await callUpstream(cm, { cluster: t.cluster, timeoutMs: t.timeoutMs }, h, undefined).result;
  } catch (e) {
    throw new FetchFailure((e as Error).message, e instanceof CallFailure ? e.retriable : true);
  }
  const status = Number(res.headers.get(':status'));
  if (status !== 200) throw new FetchFailure(`status ${status}`, status >= 500);
  return res.body.toString('utf8');
}

/** fetchOnce with the retry policy: connect failures, resets, timeouts and 5xx are retried. */
export async function fetchWithRetry(cm: ClusterManager, t: JwksHttpTarget, retry: JwksRetry | undefined): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(cm, t);
    } catch (e) {
      const f = e as FetchFailure;
      if (!retry || !f.retriable || attempt >= retry.numRetries) throw e;
      const cap = Math.min(retry.maxMs, retry.baseMs * 2 ** attempt);
      await new Promise((r) => setTimeout(r, Math.random() * cap).unref());
    }
  }
}

/** http_uri → where to send the GET; throws with a reason for a URI Envoy would not accept. */
export function parseJwksUri(uri: string): { authority: string; path: string; scheme: string } {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`"${uri}" is not an absolute URI`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${uri}" must be an http:// or https:// URI`);
  return { authority: u.host, path: (u.pathname || '/') + u.search, scheme: u.protocol.slice(0, -1) };
}
