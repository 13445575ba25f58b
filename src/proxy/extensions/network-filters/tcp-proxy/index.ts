// envoy.filters.network.tcp_proxy: L4 forwarding to a cluster (raw TCP, or TLS passthrough when the chain
// was selected by SNI without terminating TLS). Bytes are piped both ways with backpressure; either side
// closing closes the other after its pending data is flushed.
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../../../common/errors.js';
import { buildAccessLogger } from '../../../http/conn-manager-config.js';
import { applySocketOptions } from '../../../upstream/connection-options.js';
import type { NetworkFilterFactory } from '../../../listener/network-filter.js';
import { ResponseFlag, StreamInfo } from '../../../stream-info.js';
import { connectTarget } from '../../../upstream/host.js';

export const tcpProxy: NetworkFilterFactory = {
  typeUrls: ['type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy'],
  create(config, ctx) {
    const path = ctx.path;
    if (!config.stat_prefix) throw new ConfigError('MW_CONFIG_INVALID', `${path}.stat_prefix`, 'stat_prefix is required');
    let pick: () => string;
    if (config.cluster) {
      const name: string = config.cluster;
      pick = () => name;
    } else if (config.weighted_clusters?.clusters?.length) {
      const cl: { name: string; weight: number }[] = config.weighted_clusters.clusters;
      const total = cl.reduce((a, c) => a + (c.weight ?? 0), 0);
      if (total <= 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.weighted_clusters`, 'weights must add up to more than 0');
      pick = () => {
        let r = Math.random() * total;
        for (const c of cl) if ((r -= c.weight ?? 0) < 0) return c.name;
        return cl[cl.length - 1]!.name;
      };
    } else throw new ConfigError('MW_CONFIG_INVALID', `${path}.cluster`, 'a cluster or weighted_clusters is required');
    const idleTimeout: number = config.idle_timeout ?? 3_600_000;
    const maxAttempts: number = config.max_connect_attempts ?? 1;
    const loggers = (config.access_log ?? []).map((al: any, i: number) => buildAccessLogger(al, `${path}.access_log[${i}]`));
    const s = ctx.stats.scope(`tcp.${config.stat_prefix}.`);
    const st = {
      downstream_cx_total: s.counter('downstream_cx_total'),
      downstream_cx_rx_bytes_total: s.counter('downstream_cx_rx_bytes_total'),
      downstream_cx_tx_bytes_total: s.counter('downstream_cx_tx_bytes_total'),
      idle_timeout: s.counter('idle_timeout'),
      downstream_cx_no_route: s.counter('downstream_cx_no_route'),
      upstream_flush_active: s.gauge('upstream_flush_active'),
    };
    const cm = ctx.clusterManager;
    return {
      terminal: true,
      onConnection(conn) {
        st.downstream_cx_total.inc();
        const down = conn.socket;
        // Half-close is forwarded, not answered: a client's FIN must not end our sending side while the
        // upstream still has bytes for it (node ends a socket on 'end' unless allowHalfOpen).
        down.allowHalfOpen = true;
        const info = new StreamInfo({ remote: conn.peer, local: conn.local, id: conn.id });
        info.downstreamTls = conn.tls;
        info.requestedServerName = conn.sni;
        const clusterName = pick();
        info.upstreamCluster = clusterName;
        const cluster = cm.get(clusterName);
        let logged = false;
        const finish = () => {
          if (logged) return;
          logged = true;
          info.lastDownstreamTxByteSent = info.elapsed();
          for (const l of loggers) l.log(info);
          conn.closed();
        };
        down.once('close', finish);
        if (!cluster) {
          st.downstream_cx_no_route.inc();
          info.setFlag(ResponseFlag.NoClusterFound);
          down.destroy();
          return;
        }
        down.pause();
        let attempts = 0;
        const connect = (): void => {
          attempts++;
          const host = cluster.chooseHost(undefined);
          if (!host) {
            cluster.stats.upstream_cx_none_healthy.inc();
            info.setFlag(ResponseFlag.NoHealthyUpstream);
            down.destroy();
            return;
          }
          info.upstreamHost = host.id;
          const t = host.transport ?? cluster.transport;
          cluster.stats.upstream_cx_total.inc();
          cluster.stats.upstream_cx_active.inc();
          host.activeConnections++;
          const up = t.tls ? tls.connect({ ...t.tls.connectOptions, ...connectTarget(host) }) : net.connect(connectTarget(host));
          applySocketOptions(up, t.conn); // the cluster's TCP keepalive
          up.allowHalfOpen = true;
          let connected = false;
          const timer = setTimeout(() => {
            cluster.stats.upstream_cx_connect_timeout.inc();
            up.destroy(new Error('connect timeout'));
          }, t.connectTimeoutMs);
          up.once(t.tls ? 'secureConnect' : 'connect', () => {
            clearTimeout(timer);
            if (t.tls) {
              const reason = t.tls.verify(up as tls.TLSSocket);
              if (reason) {
                info.upstreamTransportFailureReason = reason;
                up.destroy(new Error(reason));
                return;
              }
            }
            connected = true;
            info.upstreamLocalAddress = `${up.localAddress}:${up.localPort}`;
            pipe(down, up, idleTimeout, () => st.idle_timeout.inc(), (n) => {
              info.bytesReceived += n;
              st.downstream_cx_rx_bytes_total.add(n);
              cluster.stats.upstream_cx_tx_bytes_total.add(n);
            }, (n) => {
              info.bytesSent += n;
              st.downstream_cx_tx_bytes_total.add(n);
              cluster.stats.upstream_cx_rx_bytes_total.add(n);
            });
          });
          up.once('close', () => {
            clearTimeout(timer);
            cluster.stats.upstream_cx_active.dec();
            cluster.stats.upstream_cx_destroy.inc();
            host.activeConnections--;
          });
          up.on('error', (err) => {
            if (connected) return;
            clearTimeout(timer);
            cluster.stats.upstream_cx_connect_fail.inc();
            host.cxConnectFail++;
            if (attempts < maxAttempts && !down.destroyed) return connect();
            info.setFlag(ResponseFlag.UpstreamConnectionFailure);
            info.upstreamTransportFailureReason ??= (err as NodeJS.ErrnoException).code ?? err.message;
            down.destroy();
          });
        };
        connect();
      },
      async close() {
        for (const l of loggers) await l.close();
      },
    };
  },
};

/** Pipe two sockets with backpressure, half-close propagation and an idle timeout on both directions. */
function pipe(a: net.Socket, b: net.Socket, idleMs: number, onIdle: () => void, aToB: (n: number) => void, bToA: (n: number) => void): void {
  let timer: NodeJS.Timeout | undefined;
  const touch = () => timer?.refresh();
  if (idleMs > 0) {
    timer = setTimeout(() => {
      onIdle();
      a.destroy();
      b.destroy();
    }, idleMs);
  }
  const forward = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
    from.on('data', (d: Buffer) => {
      count(d.length);
      touch();
      if (!to.write(d)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => to.end());
  };
  forward(a, b, aToB);
  forward(b, a, bToA);
  const close = () => {
    if (timer) clearTimeout(timer);
    // let the other side flush what it has, then go
    setTimeout(() => {
      a.destroy();
      b.destroy();
    }, 1000).unref();
  };
  a.once('close', () => { b.end(); close(); });
  b.once('close', () => { a.end(); close(); });
  a.resume();
}
