// The HTTP filter lifecycle, after Envoy's StreamDecoderFilter/StreamEncoderFilter and undici's handler
// hooks. A filter factory (one per http_filters entry) runs once when config is applied and returns a
// `create` function; per request the connection manager only calls `create` and the hooks below.
//
// Decode hooks run in config order as the request arrives; encode hooks run in reverse order as the
// response leaves. A hook returns 'continue' to pass the event on, or 'stop' to hold it; a stopped filter
// resumes the chain later with callbacks.continueDecoding() / continueEncoding() (after a delay, an
// external check, ...). The terminal filter (the router) always returns 'stop' on decode: it owns the
// request from there.
import type { HeaderMap } from './headers.js';
import type { StreamInfo } from '../stream-info.js';
import type { RouteResult } from '../router/route-table.js';

export type FilterStatus = 'continue' | 'stop';

export interface LocalReplyOptions {
  /** response flag to record (e.g. ResponseFlag.NoRouteFound) */
  flag?: { bit: number };
  /** %RESPONSE_CODE_DETAILS% */
  details?: string;
  headers?: [string, string][];
  /** gRPC status to send instead of an HTTP body when the request is gRPC */
  grpcStatus?: number;
  /** answer with plain HTTP even to a gRPC request (direct responses and redirects) */
  plainHttp?: boolean;
  /** a last change to the reply's headers before they are encoded (route response header mutations) */
  mutateHeaders?: (headers: HeaderMap) => void;
}

export interface FilterCallbacks {
  readonly streamInfo: StreamInfo;
  readonly requestHeaders: HeaderMap;
  /** The route chosen for this request (computed lazily and cached until clearRouteCache). */
  route(): RouteResult | null;
  clearRouteCache(): void;
  /** Per-route typed config for `filterName` (from typed_per_filter_config), most specific level first. */
  perFilterConfig<T>(filterName: string): T | undefined;
  continueDecoding(): void;
  continueEncoding(): void;
  /**
   * Send response data (or trailers) that `from` held back (returned 'stop' for) on to the filters after it in
   * encode order and the downstream: Envoy's injectEncodedDataToFilterChain, for filters that pace a body.
   */
  injectEncodedData(from: HttpFilter, data: Buffer, endStream: boolean): void;
  injectEncodedTrailers(from: HttpFilter, trailers: HeaderMap): void;
  sendLocalReply(status: number, body: string | Buffer, opts?: LocalReplyOptions): void;
  /** The response side, for the terminal filter: it feeds upstream events into the encode chain. */
  encodeHeaders(headers: HeaderMap, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  /** Reset the downstream stream (no response, connection or stream torn down). */
  resetStream(reason: string): void;
  /** Flow control: the terminal filter stops reading the request body while the upstream is full. */
  readDisable(disable: boolean): void;
  /** Register a callback for when the downstream can take more response data after a write returned false. */
  onDownstreamDrain(cb: () => void): void;
  /** Whether the downstream buffer is over its limit (router should pause the upstream). */
  downstreamAboveWatermark(): boolean;
  /** Remaining bytes of the request after an upgrade (WebSocket) and raw write access: set by the codec. */
  readonly upgrade?: UpgradeCallbacks;
}

export interface UpgradeCallbacks {
  /** Take over the downstream connection as a raw byte stream (HTTP/1 upgrade after a 101). */
  takeOver(onData: (chunk: Buffer) => void, onEnd: () => void): { write(chunk: Buffer): boolean; end(): void; destroy(): void; pause(): void; resume(): void; onDrain(cb: () => void): void };
}

export interface HttpFilter {
  decodeHeaders?(headers: HeaderMap, endStream: boolean): FilterStatus;
  decodeData?(data: Buffer, endStream: boolean): FilterStatus;
  decodeTrailers?(trailers: HeaderMap): FilterStatus;
  encodeHeaders?(headers: HeaderMap, endStream: boolean): FilterStatus;
  encodeData?(data: Buffer, endStream: boolean): FilterStatus;
  encodeTrailers?(trailers: HeaderMap): FilterStatus;
  /** The stream ended (completed, reset or replied locally); release timers and upstream resources. */
  onDestroy?(): void;
}

/** What a filter factory gets from the proxy when config is applied. */
export interface FilterFactoryContext {
  /** the cluster manager, for filters that call out (router, ext_authz, mirrors) */
  readonly clusterManager: import('../upstream/cluster-manager.js').ClusterManager;
  readonly stats: import('../observability/stats.js').StatsStore;
  /** the connection manager's stat prefix, e.g. "http.ingress." */
  readonly statPrefix: string;
  /** config path of this filter entry, for errors */
  readonly path: string;
  /** the http_filters entry's name: the key of its typed_per_filter_config on routes */
  readonly name: string;
  /** the server's health (/healthcheck/fail), for the health_check filter; absent outside a proxy server */
  readonly server?: import('../server/server-health.js').ServerHealth;
  /** the listener's per_connection_buffer_limit_bytes (the router's retry buffer limit); 1 MiB when absent */
  readonly perConnectionBufferLimit?: number;
}

export interface HttpFilterFactory {
  /** Envoy type URLs this factory handles (type.googleapis.com/...) */
  readonly typeUrls: readonly string[];
  /** true for the router: it must be last */
  readonly terminal?: boolean;
  /** Validate and compile the decoded typed_config once; return the per-stream constructor. */
  create(config: any, ctx: FilterFactoryContext): (cb: FilterCallbacks) => HttpFilter;
  /**
   * Validate/compile a per-route override (typed_per_filter_config, found by its @type) once, when the route
   * table is compiled; what it returns is what callbacks.perFilterConfig() gives the filter per request.
   */
  createPerRoute?(config: any, ctx: FilterFactoryContext): unknown;
}
