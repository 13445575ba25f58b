// Listeners: bind the addresses of the config, inspect the first bytes when a filter chain needs SNI/ALPN,
// pick the filter chain, terminate TLS, and hand the connection to the chain's network filters.
//
// An update compiles every listener first (a bad one rejects the whole update, nothing changes), then swaps:
// a listener whose address is unchanged keeps its socket (no rebind, no refused connections) and only new
// connections see the new chains, while its old connections drain gracefully (HTTP/1: close after the
// response in flight; HTTP/2: GOAWAY). Removed listeners stop accepting and drain.
import type { ServerHealth } from '../server/server-health.js';
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError, MeshworkError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { networkFilters } from '../extensions/registry.js';
import type { Counter, Gauge, StatsStore } from '../observability/stats.js';
import type { TlsInfo } from '../stream-info.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import { compileFilterChains, type FilterChainMatcher } from './filter-chain-match.js';
import type { DownstreamConnectionContext, NetworkFilter } from './network-filter.js';
import { buildDownstreamTls, type DownstreamTls } from './tls-context.js';
import { inspectClientHello, inspectHttp } from './tls-inspector.js';
import type { RouteConfigProvider } from '../http/conn-manager-config.js';
import { secretBackedDownstreamTls, secretRefs, type SecretSource } from '../xds/secrets.js';

const log = logger('listener');

interface ChainRuntime {
  name: string;
  tls: DownstreamTls | undefined;
  filters: NetworkFilter[];
}

interface ListenerRuntime {
  key: string;
  config: any;
  matcher: FilterChainMatcher<ChainRuntime>;
  inspectTls: boolean;
  inspectHttp: boolean;
  listenerFiltersTimeoutMs: number;
  continueOnTimeout: boolean;
  chains: ChainRuntime[];
}

interface ListenerStats {
  downstream_cx_total: Counter;
  downstream_cx_active: Gauge;
  downstream_cx_destroy: Counter;
  no_filter_chain_match: Counter;
  downstream_listener_filter_error: Counter;
  downstream_pre_cx_timeout: Counter;
  ssl_handshake: Counter;
  ssl_connection_error: Counter;
}

interface TrackedConn {
  socket: net.Socket;
  runtime: ListenerRuntime;
  drain?: { drain(listenerAccepting?: boolean): void; activeStreams(): number };
  /** its network filters have started (before that it is in listener filters or its TLS handshake) */
  dispatched?: boolean;
  /** a drain that arrived before its HTTP connection manager did: applied when the manager registers */
  pendingDrain?: boolean;
}

export function addressKey(sa: any): string {
  return `${sa.address}:${sa.port_value ?? 0}`;
}

class ActiveListener {
  readonly name: string;
  readonly address: { address: string; port: number };
  runtime: ListenerRuntime;
  readonly server: net.Server;
  readonly conns = new Set<TrackedConn>();
  stats!: ListenerStats;
  boundPort = 0;
  private nextId: () => number;

  constructor(name: string, address: { address: string; port: number }, runtime: ListenerRuntime, nextId: () => number) {
    this.name = name;
    this.address = address;
    this.runtime = runtime;
    this.nextId = nextId;
    this.server = net.createServer({ pauseOnConnect: false, noDelay: true }, (s) => this.onConnection(s));
  }

  listen(stats: StatsStore): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        // the listener's name travels with the error: an LDS update drops just that listener
        reject(Object.assign(new MeshworkError('MW_LISTEN_FAILED', `Cannot listen on ${this.address.address}:${this.address.port} for listener "${this.name}": ${err.code ?? err.message}`), { listener: this.name }));
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.address.address, port: this.address.port, backlog: 1024 }, () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as net.AddressInfo).port;
        // Envoy's stat name for a listener is its address with ':' replaced by '_'
        const s = stats.scope(`listener.${this.address.address}_${this.address.port === 0 ? this.boundPort : this.address.port}.`);
        this.stats = {
          downstream_cx_total: s.counter('downstream_cx_total'),
          downstream_cx_active: s.gauge('downstream_cx_active'),
          downstream_cx_destroy: s.counter('downstream_cx_destroy'),
          no_filter_chain_match: s.counter('no_filter_chain_match'),
          downstream_listener_filter_error: s.counter('downstream_listener_filter_error'),
          downstream_pre_cx_timeout: s.counter('downstream_pre_cx_timeout'),
          ssl_handshake: s.counter('ssl.handshake'),
          ssl_connection_error: s.counter('ssl.connection_error'),
        };
        resolve();
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    const runtime = this.runtime;
    const st = this.stats;
    st.downstream_cx_total.inc();
    st.downstream_cx_active.inc();
    const tracked: TrackedConn = { socket, runtime };
    this.conns.add(tracked);
    socket.once('close', () => {
      this.conns.delete(tracked);
      st.downstream_cx_active.dec();
      st.downstream_cx_destroy.inc();
    });
    socket.on('error', () => {});
    if (runtime.inspectTls || runtime.inspectHttp) this.inspect(socket, runtime, tracked);
    else this.dispatch(socket, runtime, tracked, undefined, 'raw_buffer', []);
  }

  /** Peek at the first bytes (tls_inspector / http_inspector) without consuming them. */
  private inspect(socket: net.Socket, runtime: ListenerRuntime, tracked: TrackedConn): void {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.off('data', onData);
      this.stats.downstream_pre_cx_timeout.inc();
      if (runtime.continueOnTimeout) finish(undefined, 'raw_buffer', []);
      else socket.destroy();
    }, runtime.listenerFiltersTimeoutMs);
    const finish = (sni: string | undefined, transport: string, alpn: string[]) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      if (buf.length > 0) socket.unshift(buf);
      this.dispatch(socket, runtime, tracked, sni, transport, alpn);
      // We are inside the socket's 'data' emission: resuming here makes the stream emit the unshifted bytes
      // at once, so only resume for a consumer that listens for them. node:http2 and TLS read the buffered
      // bytes themselves, and tcp_proxy resumes once its upstream is connected.
      if (socket.listenerCount('data') > 0) socket.resume();
    };
    const onData = (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let sni: string | undefined;
      let transport = 'raw_buffer';
      let alpn: string[] = [];
      if (runtime.inspectTls) {
        const r = inspectClientHello(buf);
        if (r.result === 'need-more') return;
        if (r.result === 'too-large') {
          this.stats.downstream_listener_filter_error.inc();
          clearTimeout(timer);
          socket.destroy();
          return;
        }
        if (r.result === 'tls') {
          transport = 'tls';
          sni = r.sni;
          alpn = r.alpn;
        }
      }
      if (transport === 'raw_buffer' && runtime.inspectHttp) {
        const r = inspectHttp(buf);
        if (r === 'need-more') return;
        if (r === 'too-large') {
          clearTimeout(timer);
          socket.destroy();
          return;
        }
        if (r === 'h2c') alpn = ['h2c'];
        else if (r === 'http/1.1' || r === 'http/1.0') alpn = [r];
      }
      finish(sni, transport, alpn);
    };
    socket.on('data', onData);
    socket.once('end', () => {
      if (buf.length === 0) clearTimeout(timer);
    });
  }

  private dispatch(socket: net.Socket, runtime: ListenerRuntime, tracked: TrackedConn, sni: string | undefined, transport: string, alpn: string[]): void {
    const chain = runtime.matcher.select({
      destinationPort: socket.localPort ?? this.boundPort,
      destinationIp: socket.localAddress,
      serverName: sni,
      transportProtocol: transport,
      applicationProtocols: alpn,
      sourceIp: socket.remoteAddress,
      directSourceIp: socket.remoteAddress,
      sourcePort: socket.remotePort,
    });
    if (!chain) {
      this.stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
    const id = this.nextId();
    const peer = fmtAddr(socket.remoteAddress, socket.remotePort);
    const local = fmtAddr(socket.localAddress, socket.localPort);
    if (!chain.tls) {
      this.runFilters(chain, tracked, { socket, id, peer, local, tls: undefined, sni, alpn: undefined });
      return;
    }
    const t = chain.tls;
    // The offered ALPN list is known only when the ClientHello was inspected; otherwise offer ours.
    const tlsSock = new tls.TLSSocket(socket, { isServer: true, ...t.socketOptions(sni, transport === 'tls' ? alpn : undefined) });
    tlsSock.on('error', () => {
      this.stats.ssl_connection_error.inc();
      tlsSock.destroy();
    });
    tlsSock.once('secure', () => {
      // tls.Server clears this on its sockets; a bare server TLSSocket keeps it true, and node:http2 would
      // then wait forever for a 'secureConnect' that servers never emit.
      (tlsSock as unknown as { secureConnecting: boolean }).secureConnecting = false;
      const v = t.verifyPeer(tlsSock);
      if (!v.ok) {
        this.stats.ssl_connection_error.inc();
        log.debug({ reason: v.reason }, 'client certificate rejected');
        tlsSock.destroy();
        return;
      }
      this.stats.ssl_handshake.inc();
      const info: TlsInfo = v.info;
      tracked.socket = tlsSock;
      this.runFilters(chain, tracked, {
        socket: tlsSock,
        id,
        peer,
        local,
        tls: info,
        sni: info.sni ?? sni,
        alpn: tlsSock.alpnProtocol || undefined,
      });
    });
  }

  private runFilters(chain: ChainRuntime, tracked: TrackedConn, base: Omit<DownstreamConnectionContext, 'setDrainHandler' | 'closed' | 'dynamicMetadata'>): void {
    const ctx: DownstreamConnectionContext = {
      ...base,
      setDrainHandler: (h) => {
        tracked.drain = h;
        if (tracked.pendingDrain !== undefined) h.drain(tracked.pendingDrain);
      },
      closed: () => {},
      dynamicMetadata: undefined,
    };
    tracked.dispatched = true;
    const filters = chain.filters;
    let i = 0;
    const next = (): void => {
      const f = filters[i++];
      if (!f) {
        base.socket.destroy();
        return;
      }
      f.onConnection(ctx, next);
    };
    next();
  }

  /** Drain connections that belong to an older runtime (after an in-place update) or all (on removal). */
  drainConnections(onlyOlderThan?: ListenerRuntime): void {
    for (const c of this.conns) {
      if (onlyOlderThan && c.runtime === onlyOlderThan) continue;
      // an in-place update (onlyOlderThan) keeps the listener accepting; removal and shutdown do not
      const accepting = onlyOlderThan !== undefined;
      if (c.drain) c.drain.drain(accepting);
      // A connection still in its listener filters or TLS handshake may already carry a request: ending it now
      // loses the response while the request goes upstream anyway. Its connection manager drains it instead
      // (the request is answered with Connection: close). A TCP proxy chain never registers, and keeps going.
      else if (!c.dispatched || c.pendingDrain !== undefined) c.pendingDrain = accepting;
      else c.socket.end();
    }
  }

  get activeConnections(): number {
    return this.conns.size;
  }
}

function fmtAddr(ip: string | undefined, port: number | undefined): string {
  if (!ip) return '-';
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export class ListenerManager {
  private listeners = new Map<string, ActiveListener>();
  private readonly stats: StatsStore;
  private readonly clusterManager: ClusterManager;
  private connId = 0;
  private readonly totalActive: Gauge;

  private readonly server: ServerHealth | undefined;
  /** RDS route tables and SDS secrets for the listeners this manager compiles */
  private readonly deps: { routeConfigs?: RouteConfigProvider; secrets?: SecretSource };

  constructor(stats: StatsStore, clusterManager: ClusterManager, server?: ServerHealth, deps: { routeConfigs?: RouteConfigProvider; secrets?: SecretSource } = {}) {
    this.server = server;
    this.deps = deps;
    this.stats = stats;
    this.clusterManager = clusterManager;
    this.totalActive = stats.gauge('listener_manager.total_listeners_active');
  }

  /** Compile a listener config into its runtime (throws ConfigError; touches nothing live). */
  compile(config: any, path: string): ListenerRuntime {
    if (!config.name) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, 'a listener needs a name');
    const sa = config.address?.socket_address;
    if (!sa) throw new ConfigError('MW_CONFIG_INVALID', `${path}.address.socket_address`, 'a listener needs a socket_address (pipe and internal listeners are not supported)');
    if (sa.protocol && sa.protocol !== 'TCP') throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.address.socket_address.protocol`, `${sa.protocol} listeners are not supported`);
    if (net.isIP(sa.address) === 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.address.socket_address.address`, `"${sa.address}" is not an IP address`);
    const bufferLimit = config.per_connection_buffer_limit_bytes ?? 1024 * 1024;
    const chains: ChainRuntime[] = [];
    const matcher = compileFilterChains<ChainRuntime>(config, (fc, fcPath) => {
      const rt = this.compileChain(fc, fcPath, bufferLimit);
      chains.push(rt);
      return rt;
    }, path);
    const lf: any[] = config.listener_filters ?? [];
    const names = new Set(lf.map((f) => f.typed_config?.['@type'] ?? f.name));
    lf.forEach((f, i) => {
      const t = f.typed_config?.['@type'];
      if (t !== 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' && t !== 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector') {
        throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', `${path}.listener_filters[${i}]`, `${t ?? f.name} is not a supported listener filter (tls_inspector, http_inspector)`);
      }
    });
    // Inspection runs when configured, and also when a chain needs its answer (Envoy would silently never
    // match such a chain without the inspector; running it is what the user meant).
    const inspectTls = matcher.needsTlsInspection || names.has('type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector');
    const inspectHttp = matcher.needsHttpInspection || names.has('type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector');
    return {
      key: JSON.stringify(config),
      config,
      matcher,
      inspectTls,
      inspectHttp,
      listenerFiltersTimeoutMs: config.listener_filters_timeout ?? 15000,
      continueOnTimeout: config.continue_on_listener_filters_timeout ?? false,
      chains,
    };
  }

  private compileChain(fc: any, path: string, bufferLimit: number): ChainRuntime {
    let tlsRt: DownstreamTls | undefined;
    const ts = fc.transport_socket;
    if (ts) {
      const tc = ts.typed_config;
      if (!tc || tc['@type'] !== 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext') {
        throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.transport_socket`, `transport socket ${tc?.['@type'] ?? ts.name} is not supported; use envoy.transport_sockets.tls with a DownstreamTlsContext`);
      }
      const opts = { source: `${path}.transport_socket.typed_config` };
      // a context naming secrets follows them (SDS rotation: new handshakes get the new certificate)
      const secrets = this.deps.secrets;
      tlsRt = secrets && secretRefs(tc.common_tls_context, '').length > 0 ? secretBackedDownstreamTls(tc, opts, secrets).tls : buildDownstreamTls(tc, opts);
    }
    const filtersCfg: any[] = fc.filters ?? [];
    if (filtersCfg.length === 0) throw new ConfigError('MW_CONFIG_INVALID', `${path}.filters`, 'a filter chain needs at least one network filter');
    const filters = filtersCfg.map((f, i) => {
      const fp = `${path}.filters[${i}]`;
      const t = f.typed_config?.['@type'];
      if (!t) throw new ConfigError('MW_CONFIG_INVALID', `${fp}.typed_config`, `network filter "${f.name}" needs a typed_config with an @type`);
      const factory = networkFilters.get(t);
      if (!factory) throw new ConfigError('MW_CONFIG_UNKNOWN_EXTENSION', `${fp}.typed_config`, `${t} is not a supported network filter`);
      const nf = factory.create(f.typed_config, { clusterManager: this.clusterManager, stats: this.stats, path: `${fp}.typed_config`, perConnectionBufferLimit: bufferLimit, server: this.server, routeConfigs: this.deps.routeConfigs });
      if (nf.terminal !== (i === filtersCfg.length - 1)) {
        throw new ConfigError('MW_CONFIG_INVALID', fp, nf.terminal ? `terminal filter "${f.name}" must be the last in the chain` : `the last network filter must be terminal (http_connection_manager or tcp_proxy), not "${f.name}"`);
      }
      return nf;
    });
    return { name: fc.name ?? '', tls: tlsRt, filters };
  }

  /** Apply compiled listeners: bind new addresses first (a failure leaves everything as it was), then swap. */
  async apply(compiled: ListenerRuntime[]): Promise<void> {
    const next = new Map<string, ActiveListener>();
    const fresh: ActiveListener[] = [];
    const swapped: { l: ActiveListener; old: ListenerRuntime }[] = [];
    try {
      for (const rt of compiled) {
        const sa = rt.config.address.socket_address;
        const addr = { address: sa.address, port: sa.port_value ?? 0 };
        const existing = this.listeners.get(rt.config.name);
        if (existing && existing.address.address === addr.address && existing.address.port === addr.port) {
          next.set(rt.config.name, existing);
          if (existing.runtime.key !== rt.key) swapped.push({ l: existing, old: existing.runtime });
          continue;
        }
        const l = new ActiveListener(rt.config.name, addr, rt, () => ++this.connId);
        await l.listen(this.stats);
        fresh.push(l);
        next.set(rt.config.name, l);
      }
    } catch (err) {
      for (const l of fresh) l.server.close();
      throw err;
    }
    for (const rt of compiled) {
      const l = next.get(rt.config.name)!;
      if (l.runtime.key !== rt.key) l.runtime = rt;
    }
    const oldListeners = this.listeners;
    this.listeners = next;
    for (const { l, old } of swapped) {
      log.info({ listener: l.name }, 'listener updated; draining its old connections');
      l.drainConnections(l.runtime);
      closeWhenDrained(l, old);
    }
    for (const [name, l] of oldListeners) {
      if (next.get(name) !== l) {
        log.info({ listener: name }, 'listener removed; draining');
        l.server.close();
        l.drainConnections();
        closeWhenDrained(l, l.runtime);
      }
    }
    this.totalActive.set(this.listeners.size);
  }

  /** Stop accepting everywhere and ask every connection to finish (shutdown / drain). */
  stopAccepting(): void {
    for (const l of this.listeners.values()) l.server.close();
  }

  drainAll(): void {
    for (const l of this.listeners.values()) l.drainConnections();
  }

  activeConnections(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.activeConnections;
    return n;
  }

  destroyAll(): void {
    for (const l of this.listeners.values()) {
      l.server.close();
      for (const c of l.conns) c.socket.destroy();
    }
  }

  async closeAll(): Promise<void> {
    for (const l of this.listeners.values()) await closeChains(l.runtime);
  }

  /** For the admin API: name, configured and bound address, active connections. */
  /** The listener bound to `port` and the filter chain a connection with these properties would take (admin
   *  /why): undefined when no listener has the port; chain undefined when no filter chain matches. */
  explain(port: number, c: { tls: boolean; sni?: string; alpn?: string[] }): { listener: string; chain: { name: string; filters: readonly NetworkFilter[] } | undefined } | undefined {
    const l = [...this.listeners.values()].find((x) => x.boundPort === port);
    if (!l) return undefined;
    const chain = l.runtime.matcher.select({
      destinationPort: port,
      destinationIp: l.address.address,
      serverName: c.sni,
      transportProtocol: c.tls ? 'tls' : 'raw_buffer',
      applicationProtocols: c.alpn ?? [],
      sourceIp: '127.0.0.1',
      directSourceIp: '127.0.0.1',
      sourcePort: 0,
    });
    return { listener: l.name, chain: chain ? { name: chain.name, filters: chain.filters } : undefined };
  }

  describe(): { name: string; address: string; port: number; activeConnections: number; config: any }[] {
    return [...this.listeners.values()].map((l) => ({ name: l.name, address: l.address.address, port: l.boundPort, activeConnections: l.activeConnections, config: l.runtime.config }));
  }
}

/**
 * Release an old runtime's resources (access log files, ...) only once its last connection is gone: a draining
 * connection still finishes requests and must still be able to log them.
 */
function closeWhenDrained(l: ActiveListener, rt: ListenerRuntime): void {
  const check = () => {
    for (const c of l.conns) {
      if (c.runtime === rt) {
        setTimeout(check, 250).unref();
        return;
      }
    }
    void closeChains(rt);
  };
  check();
}

async function closeChains(rt: ListenerRuntime): Promise<void> {
  for (const c of rt.chains) for (const f of c.filters) await f.close?.();
}

export type { ListenerRuntime };
