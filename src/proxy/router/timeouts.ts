// The timeouts a route decides, computed per request from values compiled with the route:
//  - for the router (Envoy's FilterUtility::finalTimeout): the global timeout covering all attempts, the
//    per-try and per-try-idle timeouts, and what x-envoy-expected-rq-timeout-ms tells the upstream;
//  - for the connection manager (Envoy's refreshIdleTimeout / refreshDurationTimeout): the route's
//    idle_timeout and max_stream_duration, which may come from the request's grpc-timeout header.
import type { HeaderMap } from '../http/headers.js';
import type { RouteActionEntry } from './route-table.js';

const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A grpc-timeout header value ("100m", "5S": at most 8 digits and a unit) in ms, truncated; undefined when malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m ? Math.floor(Number(m[1]) * GRPC_UNIT_MS[m[2]!]!) : undefined;
}

/** ms → the grpc-timeout form Envoy writes (milliseconds, or a coarser unit when it would not fit in 8 digits). */
export function formatGrpcTimeout(ms: number): string {
  if (ms < 1e8) return `${ms}m`;
  if (ms / 1000 < 1e8) return `${Math.ceil(ms / 1000)}S`;
  if (ms / 60_000 < 1e8) return `${Math.ceil(ms / 60_000)}M`;
  return `${Math.min(99_999_999, Math.ceil(ms / 3_600_000))}H`;
}

export function isGrpcRequest(h: HeaderMap): boolean {
  const ct = h.get('content-type');
  return ct !== undefined && ct.startsWith('application/grpc');
}

export interface AttemptTimeouts {
  /** covers all attempts, from the end of the request; 0 = none */
  globalMs: number;
  /** per attempt; 0 = none */
  perTryMs: number;
  perTryIdleMs: number;
}

function headerMs(h: HeaderMap, name: string): number | undefined {
  const v = h.get(name);
  if (v === undefined) return undefined;
  h.remove(name);
  return /^\d+$/.test(v.trim()) ? Number(v.trim()) : undefined;
}

/**
 * The router's timeouts for one request. Consumes x-envoy-upstream-rq-timeout-ms and
 * x-envoy-upstream-rq-per-try-timeout-ms (only internal requests still have them) — or, with
 * respect_expected_rq_timeout, reads x-envoy-expected-rq-timeout-ms instead — and sets
 * x-envoy-expected-rq-timeout-ms for the upstream when `insertExpected`.
 */
export function attemptTimeouts(
  entry: RouteActionEntry,
  perTryMs: number,
  perTryIdleMs: number,
  h: HeaderMap,
  opts: { respectExpected: boolean; insertExpected: boolean },
  // the headers read here are all x-envoy-*: one scan (the caller's, if it made it already) tells whether any is there
  envoyHeaders = h.hasPrefix('x-envoy-'),
): AttemptTimeouts {
  let globalMs = entry.timeoutMs;
  const grpc = entry.maxGrpcTimeoutMs !== undefined && isGrpcRequest(h);
  if (grpc) {
    // deprecated max_grpc_timeout: the client's grpc-timeout (less the offset), capped; 0 means no limit
    const max = entry.maxGrpcTimeoutMs!;
    let t = parseGrpcTimeout(h.get('grpc-timeout')) ?? 0;
    const off = entry.grpcTimeoutOffsetMs ?? 0;
    if (off > 0 && off < t) t -= off;
    if (max !== 0 && (t === 0 || t > max)) t = max;
    globalMs = t;
  }
  if (envoyHeaders) {
    // an upstream Envoy trusts the budget its downstream Envoy announced, else the client's own header
    const expected = opts.respectExpected ? h.get('x-envoy-expected-rq-timeout-ms') : undefined;
    if (expected !== undefined && /^\d+$/.test(expected.trim())) globalMs = Number(expected.trim());
    else globalMs = headerMs(h, 'x-envoy-upstream-rq-timeout-ms') ?? globalMs;
    perTryMs = headerMs(h, 'x-envoy-upstream-rq-per-try-timeout-ms') ?? perTryMs;
  }
  // a per-try timeout that cannot fire before the global one is ignored
  if (globalMs !== 0 && perTryMs >= globalMs) perTryMs = 0;
  const budget = perTryMs || globalMs;
  if (opts.insertExpected && budget > 0) h.set('x-envoy-expected-rq-timeout-ms', msString(budget));
  // so that a gRPC server learns the deadline it actually has, including the per-try one
  if (grpc && budget > 0) h.set('grpc-timeout', formatGrpcTimeout(budget));
  return { globalMs, perTryMs, perTryIdleMs };
}

// The budget is nearly always the same route timeout: its decimal form is kept instead of redone per request.
let lastMs = -1;
let lastMsString = '';
function msString(ms: number): string {
  if (ms !== lastMs) {
    lastMsString = String(ms);
    lastMs = ms;
  }
  return lastMsString;
}

export interface StreamTimeouts {
  /** the route's idle_timeout: replaces the stream idle timeout (0 disables it); undefined = keep the HCM's */
  idleMs: number | undefined;
  /** the stream's max duration from its start; undefined = no limit (0 = already over: a grpc-timeout of 0) */
  durationMs: number | undefined;
  /** the grpc-timeout to send upstream when the route's max_stream_duration governs it; '' = remove the header */
  grpcTimeout: string | undefined;
}

/** Envoy's refreshIdleTimeout + refreshDurationTimeout for the chosen route. `hcmDurationMs` is the HCM's max_stream_duration (0 = none). */
export function streamTimeouts(entry: RouteActionEntry, h: HeaderMap, hcmDurationMs: number): StreamTimeouts {
  const msd = entry.maxStreamDuration;
  const grpcTimeout = parseGrpcTimeout(h.get('grpc-timeout'));
  const headerMax = msd?.grpc_timeout_header_max;
  let durationMs: number | undefined;
  if (grpcTimeout === undefined || headerMax === undefined) {
    // explicitly 0 on the route disables the HCM's limit for this route
    const d = msd?.max_stream_duration ?? hcmDurationMs;
    durationMs = d > 0 ? d : undefined;
  } else {
    durationMs = grpcTimeout;
    if (headerMax !== 0 && durationMs > headerMax) durationMs = headerMax;
    const off = msd?.grpc_timeout_header_offset;
    if (off && durationMs > off) durationMs -= off;
  }
  // with max_stream_duration on the route, the upstream's grpc-timeout says what this proxy enforces
  const newStyle = msd !== undefined && isGrpcRequest(h);
  return {
    idleMs: entry.idleTimeoutMs,
    durationMs,
    grpcTimeout: !newStyle ? undefined : durationMs === undefined ? '' : formatGrpcTimeout(durationMs),
  };
}
