// StreamInfo: what happened to one request (or one TCP connection), filled in along the request path and read
// by access logs, stats and the admin API. Mirrors Envoy's StreamInfo so that `%COMMAND%` operators map 1:1.
// The global `performance` is a lazy accessor on globalThis: every use pays a global IC miss and a getter call;
// the module export is a plain object.
import { performance } from 'node:perf_hooks';
import type { HeaderMap } from './http/headers.js';

/** Envoy's response flags, in Envoy's bit order; `short` is what %RESPONSE_FLAGS% prints. */
export const ResponseFlag = {
  FailedLocalHealthCheck: { bit: 1 << 0, short: 'LH', long: 'FailedLocalHealthCheck' },
  NoHealthyUpstream: { bit: 1 << 1, short: 'UH', long: 'NoHealthyUpstream' },
  UpstreamRequestTimeout: { bit: 1 << 2, short: 'UT', long: 'UpstreamRequestTimeout' },
  LocalReset: { bit: 1 << 3, short: 'LR', long: 'LocalReset' },
  UpstreamRemoteReset: { bit: 1 << 4, short: 'UR', long: 'UpstreamRemoteReset' },
  UpstreamConnectionFailure: { bit: 1 << 5, short: 'UF', long: 'UpstreamConnectionFailure' },
  UpstreamConnectionTermination: { bit: 1 << 6, short: 'UC', long: 'UpstreamConnectionTermination' },
  UpstreamOverflow: { bit: 1 << 7, short: 'UO', long: 'UpstreamOverflow' },
  NoRouteFound: { bit: 1 << 8, short: 'NR', long: 'NoRouteFound' },
  DelayInjected: { bit: 1 << 9, short: 'DI', long: 'DelayInjected' },
  FaultInjected: { bit: 1 << 10, short: 'FI', long: 'FaultInjected' },
  RateLimited: { bit: 1 << 11, short: 'RL', long: 'RateLimited' },
  UnauthorizedExternalService: { bit: 1 << 12, short: 'UAEX', long: 'UnauthorizedExternalService' },
  RateLimitServiceError: { bit: 1 << 13, short: 'RLSE', long: 'RateLimitServiceError' },
  DownstreamConnectionTermination: { bit: 1 << 14, short: 'DC', long: 'DownstreamConnectionTermination' },
  UpstreamRetryLimitExceeded: { bit: 1 << 15, short: 'URX', long: 'UpstreamRetryLimitExceeded' },
  StreamIdleTimeout: { bit: 1 << 16, short: 'SI', long: 'StreamIdleTimeout' },
  InvalidEnvoyRequestHeaders: { bit: 1 << 17, short: 'IH', long: 'InvalidEnvoyRequestHeaders' },
  DownstreamProtocolError: { bit: 1 << 18, short: 'DPE', long: 'DownstreamProtocolError' },
  UpstreamMaxStreamDurationReached: { bit: 1 << 19, short: 'UMSDR', long: 'UpstreamMaxStreamDurationReached' },
  ResponseFromCacheFilter: { bit: 1 << 20, short: 'RFCF', long: 'ResponseFromCacheFilter' },
  NoFilterConfigFound: { bit: 1 << 21, short: 'NFCF', long: 'NoFilterConfigFound' },
  DurationTimeout: { bit: 1 << 22, short: 'DT', long: 'DurationTimeout' },
  UpstreamProtocolError: { bit: 1 << 23, short: 'UPE', long: 'UpstreamProtocolError' },
  NoClusterFound: { bit: 1 << 24, short: 'NC', long: 'NoClusterFound' },
  OverloadManager: { bit: 1 << 25, short: 'OM', long: 'OverloadManager' },
  DnsResolutionFailed: { bit: 1 << 26, short: 'DF', long: 'DnsResolutionFailed' },
  DropOverLoad: { bit: 1 << 27, short: 'DO', long: 'DropOverLoad' },
} as const;

export type ResponseFlagName = keyof typeof ResponseFlag;

const FLAG_LIST = Object.values(ResponseFlag);

/** "-" when none, else short names joined with "," in Envoy's order. */
export function formatResponseFlags(bits: number, long = false): string {
  if (bits === 0) return '-';
  let out = '';
  for (const f of FLAG_LIST) {
    if (bits & f.bit) out += (out ? ',' : '') + (long ? f.long : f.short);
  }
  return out;
}

export interface TlsInfo {
  sni?: string;
  version?: string; // e.g. TLSv1.3
  cipher?: string;
  peerSubject?: string;
  peerUriSan?: string[];
  peerDnsSan?: string[];
  peerFingerprint256?: string;
  peerSerial?: string;
  localSubject?: string;
  localUriSan?: string[];
  peerCertificatePresented?: boolean;
  peerCertificateValidated?: boolean;
  /** the peer's certificate as PEM, made on first call (x-forwarded-client-cert Cert, ext_authz
   *  include_peer_certificate); absent without one */
  peerCertificatePem?: () => string;
  /** the peer's verified chain, leaf first up to the trusted CA, as PEM (x-forwarded-client-cert Chain) */
  peerChainPem?: () => string;
}

export class StreamInfo {
  /** wall clock at the start, ms since epoch */
  readonly startTime: number;
  /** monotonic clock at the start, ms (performance.now()) */
  readonly startMono: number;
  protocol: string | undefined = undefined; // 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2'
  requestHeaders: HeaderMap | undefined = undefined;
  responseHeaders: HeaderMap | undefined = undefined;
  responseTrailers: HeaderMap | undefined = undefined;
  responseCode: number | undefined = undefined;
  responseCodeDetails: string | undefined = undefined;
  connectionTerminationDetails: string | undefined = undefined;
  responseFlags = 0;
  /** the health_check filter took the request for a health check */
  healthCheck = false;
  bytesReceived = 0;
  bytesSent = 0;
  upstreamCluster: string | undefined = undefined;
  upstreamHost: string | undefined = undefined; // "ip:port"
  upstreamLocalAddress: string | undefined = undefined;
  upstreamTransportFailureReason: string | undefined = undefined;
  upstreamRequestAttemptCount = 0;
  routeName: string | undefined = undefined;
  virtualClusterName: string | undefined = undefined;
  downstreamRemoteAddress: string; // "ip:port" after XFF processing (Envoy's "remote" address)
  downstreamDirectRemoteAddress: string; // the socket peer
  downstreamLocalAddress: string;
  connectionId: number;
  requestedServerName: string | undefined = undefined;
  downstreamTls: TlsInfo | undefined = undefined;
  upstreamTls: TlsInfo | undefined = undefined;
  // timings, ms relative to startMono (undefined until they happen)
  lastDownstreamRxByteReceived: number | undefined = undefined;
  firstUpstreamTxByteSent: number | undefined = undefined;
  lastUpstreamTxByteSent: number | undefined = undefined;
  firstUpstreamRxByteReceived: number | undefined = undefined;
  lastUpstreamRxByteReceived: number | undefined = undefined;
  firstDownstreamTxByteSent: number | undefined = undefined;
  lastDownstreamTxByteSent: number | undefined = undefined;
  /** filter-state / dynamic metadata for extensions: namespace -> key -> value */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined = undefined;

  constructor(conn: { remote: string; local: string; id: number }, now = Date.now(), mono = performance.now()) {
    this.startTime = now;
    this.startMono = mono;
    this.downstreamRemoteAddress = conn.remote;
    this.downstreamDirectRemoteAddress = conn.remote;
    this.downstreamLocalAddress = conn.local;
    this.connectionId = conn.id;
  }

  setFlag(flag: { bit: number }): void {
    this.responseFlags |= flag.bit;
  }

  /**
   * Envoy's setDynamicMetadata(namespace, struct): merge `fields` into the namespace (a key set again is
   * replaced). Filters publish here what later filters (RBAC) and access logs (%DYNAMIC_METADATA%) read.
   */
  setDynamicMetadata(namespace: string, fields: Readonly<Record<string, unknown>>): void {
    const md = (this.dynamicMetadata ??= {});
    Object.assign((md[namespace] ??= {}), fields);
  }

  hasFlag(flag: { bit: number }): boolean {
    return (this.responseFlags & flag.bit) !== 0;
  }

  /** ms since start */
  elapsed(): number {
    return performance.now() - this.startMono;
  }

  /** total duration in ms as %DURATION% reports it (until the last byte sent, or now) */
  duration(): number {
    return this.lastDownstreamTxByteSent ?? this.elapsed();
  }
}
