// Fetching a remote JWKS as Envoy's JwksFetcher does: a GET of http_uri.uri sent through the cluster that
// http_uri.cluster names, with http_uri.timeout for the whole exchange. It uses the proxy's own upstream
// machinery — the cluster's load balancer picks the host and the request goes over that host's connection pool
// — so the cluster's TLS settings, circuit breakers and connection stats apply exactly as for routed traffic.
// The cluster is looked up per fetch, because it may arrive (over CDS) after the filter config.
//
// retry_policy (Envoy: retry_on "5xx,gateway-error,connect-failure,reset"; num_retries default 1; back-off with
// full jitter from base_interval, default 1 s, capped at max_interval, default 10 × base) applies to every fetch.
import { HeaderMap } from '../../../http/headers.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import type { UpstreamStream } from '../../../upstream/pool.js';

/** A JWKS larger than this is refused: a key set is a few KiB, and the body is held in memory. */
const MAX_BODY_BYTES = 1024 * 1024;

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
export function fetchOnce(cm: ClusterManager, t: JwksHttpTarget): Promise<string> {
  return new Promise((resolve, reject) => {
    const cluster = cm.get(t.cluster);
    if (!cluster) return reject(new FetchFailure(`cluster "${t.cluster}" does not exist`, false));
    const host = cluster.chooseHost(undefined);
    if (!host) return reject(new FetchFailure(`cluster "${t.cluster}" has no healthy host`, true));
    let done = false;
    let stream: UpstreamStream | undefined;
    let status = 0;
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: FetchFailure | undefined, body?: string) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (err) {
        stream?.reset();
        reject(err);
      } else resolve(body!);
    };
    const timer = t.timeoutMs > 0 ? setTimeout(() => finish(new FetchFailure(`no response within ${t.timeoutMs}ms`, true)), t.timeoutMs) : undefined;
    stream = cluster.pool(host).newStream(
      {
        onHeaders(headers, endStream) {
          status = Number(headers.get(':status'));
          if (status !== 200) return finish(new FetchFailure(`status ${status}`, status >= 500));
          if (endStream) finish(undefined, '');
        },
        onData(chunk, endStream) {
          if (done) return;
          size += chunk.length;
          if (size > MAX_BODY_BYTES) return finish(new FetchFailure(`the JWKS is larger than ${MAX_BODY_BYTES} bytes`, false));
          chunks.push(chunk);
          if (endStream) finish(undefined, Buffer.concat(chunks).toString('utf8'));
        },
        onTrailers() {
          finish(undefined, Buffer.concat(chunks).toString('utf8'));
        },
        onReset(reason, detail) {
          finish(new FetchFailure(`${reason}${detail ? ` (${detail})` : ''}`, true));
        },
      },
      { method: 'GET', upgrade: false },
    );
    if (done) return; // reset synchronously (overflow)
    const h = new HeaderMap();
    h.add(':method', 'GET');
    h.add(':scheme', t.scheme);
    h.add(':authority', t.authority);
    h.add(':path', t.path);
    h.add('accept', 'application/json');
    stream.sendHeaders(h, true);
  });
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
