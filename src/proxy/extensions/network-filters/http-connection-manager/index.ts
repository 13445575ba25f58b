// envoy.filters.network.http_connection_manager: compiles the HCM config once per listener update and, per
// connection, picks the codec (codec_type, TLS ALPN, or the h2c preface on a plaintext AUTO connection).
import type net from 'node:net';
import { compileHcm, type HcmConfig } from '../../../http/conn-manager-config.js';
import { Http1ServerConnection } from '../../../http/codec-http1.js';
import { Http2ServerConnection } from '../../../http/codec-http2.js';
import type { DownstreamConnectionContext, NetworkFilterFactory } from '../../../listener/network-filter.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const httpConnectionManager: NetworkFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'],
  create(config, ctx) {
    const cfg = compileHcm(config, ctx.path, { stats: ctx.stats, clusterManager: ctx.clusterManager, perConnectionBufferLimit: ctx.perConnectionBufferLimit, server: ctx.server, routeConfigs: ctx.routeConfigs });
    return {
      terminal: true,
      http: cfg,
      onConnection(conn) {
        cfg.stats.downstream_cx_total.inc();
        cfg.stats.downstream_cx_active.inc();
        if (conn.tls) cfg.stats.downstream_cx_ssl_total.inc();
        const codec = cfg.codecType;
        if (codec === 'HTTP2' || (codec === 'AUTO' && conn.alpn === 'h2')) return startH2(conn, cfg);
        if (codec === 'HTTP1' || conn.alpn === 'http/1.1' || conn.alpn === 'http/1.0') return startH1(conn, cfg);
        sniff(conn.socket, (isH2) => (isH2 ? startH2(conn, cfg) : startH1(conn, cfg)));
      },
      async close() {
        for (const l of cfg.accessLoggers) await l.close();
      },
    };
  },
};

function info(conn: DownstreamConnectionContext) {
  return { id: conn.id, peer: conn.peer, local: conn.local, scheme: conn.tls ? ('https' as const) : ('http' as const), tls: conn.tls, sni: conn.sni };
}

function onClosed(conn: DownstreamConnectionContext, cfg: HcmConfig): () => void {
  return () => {
    cfg.stats.downstream_cx_active.dec();
    cfg.stats.downstream_cx_destroy.inc();
    conn.closed();
  };
}

function startH1(conn: DownstreamConnectionContext, cfg: HcmConfig): void {
  const c = new Http1ServerConnection(conn.socket, cfg, info(conn), onClosed(conn, cfg));
  conn.setDrainHandler({ drain: (accepting) => c.drain(accepting), activeStreams: () => c.activeStreams });
}

function startH2(conn: DownstreamConnectionContext, cfg: HcmConfig): void {
  const c = new Http2ServerConnection(conn.socket, cfg, info(conn), onClosed(conn, cfg));
  conn.setDrainHandler({ drain: () => c.drain(), activeStreams: () => c.activeStreams });
}

/** Read until the bytes either are or cannot be the HTTP/2 preface, then put them back. */
function sniff(socket: net.Socket, done: (isH2: boolean) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    const n = Math.min(buf.length, H2_PREFACE.length);
    const isPrefix = buf.compare(H2_PREFACE, 0, n, 0, n) === 0;
    if (isPrefix && buf.length < H2_PREFACE.length) return;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.pause();
    socket.unshift(buf);
    done(isPrefix);
    // node:http2 picks up the unshifted bytes on the next tick; resuming inside this 'data' emission would
    // hand them to nobody. The HTTP/1 codec reads them through its 'data' listener.
    if (!isPrefix) socket.resume();
  };
  const onEnd = () => socket.destroy();
  socket.on('data', onData);
  socket.once('end', onEnd);
}
