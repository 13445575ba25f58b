// The upstream side of a terminated CONNECT (a route whose upgrade_configs has CONNECT with connect_config, as
// Envoy's TCP upstream does): instead of sending an HTTP request, the "stream" opens a TCP connection (TLS when
// the cluster has an UpstreamTlsContext) to the chosen host and, once it is up, hands it to the router as an
// accepted upgrade with a 200 response, after which the router pipes bytes both ways exactly as for a WebSocket
// 101. Connect failures and timeouts arrive as onReset, so the router answers them as any other (503 UF).
import net from 'node:net';
import tls from 'node:tls';
import { HeaderMap } from '../http/headers.js';
import type { ClusterStats, ClusterTransport } from './cluster.js';
import { applySocketOptions } from './connection-options.js';
import { connectTarget, type Host } from './host.js';
import type { UpstreamCallbacks, UpstreamResetReason, UpstreamStream } from './pool.js';
import type { TlsInfo } from '../stream-info.js';

export class TcpTunnelStream implements UpstreamStream {
  localAddress: string | undefined;
  tls: TlsInfo | undefined = undefined;
  private socket: net.Socket | null = null;
  private connected = false;
  private done = false;

  constructor(
    readonly host: Host,
    private readonly transport: ClusterTransport,
    private readonly stats: ClusterStats,
    private readonly cb: UpstreamCallbacks,
  ) {}

  /** The CONNECT request's headers are not sent anywhere: they only start the connection. */
  sendHeaders(): void {
    const { host, transport: t, stats } = this;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_active.inc();
    host.activeConnections++;
    const s = t.tls ? tls.connect({ ...t.tls.connectOptions, ...connectTarget(host) }) : net.connect(connectTarget(host));
    applySocketOptions(s, t.conn); // TCP keepalive, as on the pools' connections
    this.socket = s;
    const timer = setTimeout(() => {
      stats.upstream_cx_connect_timeout.inc();
      this.fail('connect-timeout', 'connection timeout');
    }, t.connectTimeoutMs);
    s.once(t.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (this.done) return;
      if (t.tls) {
        const reason = t.tls.verify(s as tls.TLSSocket);
        if (reason) return this.fail('connect-failure', reason);
      }
      this.connected = true;
      this.localAddress = `${s.localAddress}:${s.localPort}`;
      if (t.tls) this.tls = t.tls.info(s as tls.TLSSocket);
      if (!this.cb.onUpgrade) return this.fail('local-reset', 'no tunnel');
      this.cb.onUpgrade(new HeaderMap([':status', '200']), s, Buffer.alloc(0));
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (this.connected) return; // the tunnel owns the socket from then on
      clearTimeout(timer);
      t.onConnectFail();
      host.cxConnectFail++;
      this.fail('connect-failure', err.code ?? err.message);
    });
    s.once('close', () => {
      clearTimeout(timer);
      stats.upstream_cx_active.dec();
      stats.upstream_cx_destroy.inc();
      host.activeConnections--;
    });
  }

  private fail(reason: UpstreamResetReason, detail: string): void {
    if (this.done) return;
    this.done = true;
    this.socket?.destroy();
    this.cb.onReset(reason, detail);
  }

  /** Tunnel payload goes through the router's takeover of the downstream connection, not through here. */
  sendData(): boolean {
    return true;
  }

  sendTrailers(): void {}

  pauseResponse(): void {
    this.socket?.pause();
  }

  resumeResponse(): void {
    this.socket?.resume();
  }

  reset(): void {
    this.done = true;
    this.socket?.destroy();
  }
}
