// One request/response exchange with a service through the proxy's own upstream machinery, as Envoy's async
// clients do (ext_authz's authorizer, jwt_authn's remote JWKS): the named cluster's load
// balancer picks the host and the request goes over that host's connection pool, so the cluster's TLS (mesh
// mTLS included), circuit breakers, outlier detection and connection stats apply exactly as for routed traffic.
// The cluster is looked up per call: it may arrive over CDS after the filter, or go away.
import { HeaderMap } from '../../http/headers.js';
import type { Cluster } from '../../upstream/cluster.js';
import type { ClusterManager } from '../../upstream/cluster-manager.js';
import type { UpstreamStream } from '../../upstream/pool.js';

/** The reply is held in memory (a decision, a key set: small), so a huge one is refused. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface CallResult {
  readonly headers: HeaderMap;
  readonly body: Buffer;
  readonly trailers: HeaderMap | undefined;
}

export interface UpstreamCall {
  readonly result: Promise<CallResult>;
  cancel(): void;
}

export interface CallTarget {
  readonly cluster: string;
  /** 0: no timeout */
  readonly timeoutMs: number;
  /** gRPC needs HTTP/2: a `downstream`-protocol cluster is asked for its HTTP/2 pool */
  readonly http2?: boolean;
}

/** `retriable`: worth another try (no host yet, a reset, a timeout); not for a missing cluster or an oversized
 *  answer, which the next try would meet again. */
export class CallFailure extends Error {
  constructor(
    message: string,
    readonly retriable = true,
  ) {
    super(message);
  }
}

/** Sends `headers` (pseudo-headers included; :scheme is filled from the cluster's TLS) and `body`. */
export function callUpstream(cm: ClusterManager, t: CallTarget, headers: HeaderMap, body: Buffer | undefined): UpstreamCall {
  let stream: UpstreamStream | undefined;
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let rejectFn: (e: Error) => void = () => {};
  const result = new Promise<CallResult>((resolve, reject) => {
    rejectFn = reject;
    const finish = (err: Error | undefined, value?: CallResult) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (err) {
        stream?.reset();
        reject(err);
      } else resolve(value!);
    };
    const cluster: Cluster | undefined = cm.get(t.cluster);
    if (!cluster) return finish(new CallFailure(`cluster "${t.cluster}" does not exist`, false));
    if (t.http2 && cluster.transport.protocol === 'http1') return finish(new CallFailure(`cluster "${t.cluster}" does not speak HTTP/2, which gRPC needs (set http2_protocol_options)`, false));
    const host = cluster.chooseHost(undefined);
    if (!host) return finish(new CallFailure(`cluster "${t.cluster}" has no healthy host`));
    if (t.timeoutMs > 0) timer = setTimeout(() => finish(new CallFailure(`no answer within ${t.timeoutMs}ms`)), t.timeoutMs);
    let resHeaders: HeaderMap | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const complete = (trailers: HeaderMap | undefined) => finish(undefined, { headers: resHeaders!, body: Buffer.concat(chunks), trailers });
    const pool = t.http2 ? cluster.poolFor(host, 'http2') : cluster.pool(host);
    stream = pool.newStream(
      {
        onHeaders(h, endStream) {
          resHeaders = h;
          if (endStream) complete(undefined);
        },
        onData(chunk, endStream) {
          if (done) return;
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) return finish(new CallFailure(`the answer is larger than ${MAX_RESPONSE_BYTES} bytes`, false));
          chunks.push(chunk);
          if (endStream) complete(undefined);
        },
        onTrailers(tr) {
          complete(tr);
        },
        onReset(reason, detail) {
          finish(new CallFailure(`${reason}${detail ? ` (${detail})` : ''}`));
        },
      },
      { method: headers.get(':method') ?? 'POST', upgrade: false },
    );
    if (done) return; // reset synchronously (overflow)
    if (!headers.has(':scheme')) headers.set(':scheme', (host.transport ?? cluster.transport).tls ? 'https' : 'http');
    const hasBody = body !== undefined && body.length > 0;
    stream.sendHeaders(headers, !hasBody);
    if (hasBody) stream.sendData(body, true);
  });
  return {
    result,
    cancel() {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      stream?.reset();
      rejectFn(new CallFailure('cancelled'));
    },
  };
}

export { HeaderMap };
