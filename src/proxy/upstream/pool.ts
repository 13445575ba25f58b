// The contract between the router and the upstream connection pools (HTTP/1 and HTTP/2). A pool belongs to
// one host of one cluster. `newStream` returns at once: the stream queues what the router sends until a
// connection is ready, so the router never waits on pool state; failures arrive as `onReset`.
import type { HeaderMap } from '../http/headers.js';
import type { Host } from './host.js';

export type UpstreamResetReason =
  | 'connect-failure' // UF
  | 'connect-timeout' // UF
  | 'remote-reset' // UR / UC: the upstream closed or reset before the response completed
  | 'protocol-error' // UPE
  | 'overflow' // UO
  | 'refused-stream' // HTTP/2 RST_STREAM(REFUSED_STREAM): the upstream never processed the request
  | 'local-reset'; // we reset it (timeout, downstream went away)

export interface UpstreamCallbacks {
  /** Final response headers (with ":status"); 1xx interim responses other than 101 go to onInformational. */
  onHeaders(headers: HeaderMap, endStream: boolean): void;
  onInformational?(headers: HeaderMap): void;
  onData(chunk: Buffer, endStream: boolean): void;
  onTrailers(trailers: HeaderMap): void;
  onReset(reason: UpstreamResetReason, detail: string): void;
  /** HTTP/1 upgrade accepted (101): the raw connection is handed over; bytes after the head in `head` */
  onUpgrade?(headers: HeaderMap, socket: import('node:net').Socket, head: Buffer): void;
  /** the upstream connection can take more request body after sendData returned false */
  onWritable?(): void;
}

export interface UpstreamStream {
  readonly host: Host;
  /** local address of the upstream connection once connected ("ip:port") */
  localAddress: string | undefined;
  /** the upstream connection's TLS (peer certificate, versions) once connected, for %UPSTREAM_PEER_*% and the
   *  metrics; read once per connection */
  tls: import('../stream-info.js').TlsInfo | undefined;
  /** Headers carry pseudo-headers :method, :path, :authority, :scheme. */
  sendHeaders(headers: HeaderMap, endStream: boolean): void;
  /** false when the connection's write buffer is above its limit: stop reading downstream until onWritable */
  sendData(chunk: Buffer, endStream: boolean): boolean;
  sendTrailers(trailers: HeaderMap): void;
  /** Stop/resume delivering response data (downstream flow control). */
  pauseResponse(): void;
  resumeResponse(): void;
  /** Abandon the stream; the connection is closed unless it can be reused safely. */
  reset(): void;
}

export interface UpstreamTransport {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  perConnectionBufferLimit: number;
  h2MaxConcurrentStreams: number;
  tls?: {
    connectOptions: import('node:tls').ConnectionOptions;
    verify(socket: import('node:tls').TLSSocket): string | null;
    info(socket: import('node:tls').TLSSocket): import('../stream-info.js').TlsInfo;
  };
  onConnectFail(): void;
}

export interface ConnPool {
  readonly host: Host;
  newStream(cb: UpstreamCallbacks, opts: { method: string; upgrade: boolean }): UpstreamStream;
  /** Close idle connections now and busy ones when their streams finish. */
  drain(): void;
  /** Close everything now. */
  destroy(): void;
}
