// The proxy process: applies a bootstrap (clusters first, then listeners, each in two phases so a bad config
// changes nothing), watches the config file and re-applies it, runs the admin listener, and drains on
// SIGTERM or /quitquitquit. With dynamic_resources it also runs the xDS side (src/proxy/xds/dynamic-config.ts,
// loaded only then): static resources first, then CDS and LDS, merged with the static ones on every apply.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError, ConfigErrors, MeshworkError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { loadBootstrapText } from '../../api/envoy/index.js';
import { AdminServer } from '../admin/admin.js';
import { ListenerManager, type ListenerRuntime } from '../listener/listener-manager.js';
import { compileStatsTags, StatsStore, type Counter, type Gauge } from '../observability/stats.js';
import { flushAll, reopenAll } from '../observability/access-log.js';
import { ClusterManager, type PreparedCluster } from '../upstream/cluster-manager.js';
import { needsDiscovery, nodeJson } from '../xds/config-sources.js';
import type { DynamicConfig } from '../xds/dynamic-config.js';
import { EndpointRegistry } from '../xds/endpoints.js';
import { RouteConfigRegistry } from '../xds/route-configs.js';
import { SecretRegistry } from '../xds/secrets.js';
import { checkClusterRefs } from './validate.js';

const log = logger('main');

export { VERSION } from './version.js';

export interface ServerOptions {
  configPath?: string;
  configYaml?: string;
  /** a generated bootstrap (`meshwork proxy --sidecar/--gateway`), the base --config-yaml merges over */
  configGenerated?: { text: string; source: string };
  drainTimeMs: number;
  serviceNode?: string;
  serviceCluster?: string;
  serviceZone?: string;
  /** watch the config file and apply changes (default on when configPath is given) */
  watch?: boolean;
  commandLine?: string[];
}

export type ServerState = 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' | 'DRAINING';

interface ServerStats {
  live: Gauge;
  state: Gauge;
  uptime: Gauge;
  memory_allocated: Gauge;
  memory_heap_size: Gauge;
  total_connections: Gauge;
  concurrency: Gauge;
  reload_success: Counter;
  reload_failure: Counter;
  version: Gauge;
}

/** Read the bootstrap from a file path and/or inline YAML (--config-yaml is merged over the file, as in Envoy). */
export function readBootstrap(opts: Pick<ServerOptions, 'configPath' | 'configYaml' | 'configGenerated'>): { bootstrap: any; text: string } {
  if (!opts.configPath && !opts.configYaml && !opts.configGenerated) {
    throw new MeshworkError('MW_CLI_USAGE', 'Cannot start: give a config with -c/--config-path or --config-yaml');
  }
  let text = '';
  let bootstrap: any;
  if (opts.configGenerated) {
    text = opts.configGenerated.text;
    bootstrap = loadBootstrapText(text, opts.configGenerated.source);
  } else if (opts.configPath) {
    try {
      text = fs.readFileSync(opts.configPath, 'utf8');
    } catch (err) {
      throw new ConfigError('MW_CONFIG_PARSE', '', `Cannot read "${opts.configPath}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    bootstrap = loadBootstrapText(text, opts.configPath);
  }
  if (opts.configYaml) {
    const inline = loadBootstrapText(opts.configYaml, '--config-yaml');
    bootstrap = bootstrap ? mergeProto(bootstrap, inline) : inline;
    text += opts.configYaml;
  }
  return { bootstrap, text };
}

/** Proto MergeFrom semantics: scalars replace, messages merge, repeated fields append. */
function mergeProto(a: any, b: any): any {
  if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Buffer.isBuffer(a)) {
    const out: any = { ...a };
    for (const k of Object.keys(b)) out[k] = k in a ? mergeProto(a[k], b[k]) : b[k];
    return out;
  }
  return b;
}

export class ProxyServer {
  readonly stats = new StatsStore();
  /** static_resources.secrets and SDS secrets, for TLS contexts that name them */
  readonly secrets = new SecretRegistry(this.stats);
  /** the workload certificate agent of a mesh proxy that joined the mesh's mTLS (src/proxy/security) */
  workloadCerts: import('../security/workload-certs.js').WorkloadCertAgent | undefined;
  /** its SDS socket for co-located consumers (--workload-sds-socket) */
  workloadSds: import('../security/sds-server.js').WorkloadSdsServer | undefined;
  /** EDS assignments */
  readonly endpoints = new EndpointRegistry(this.stats);
  readonly clusterManager = new ClusterManager(this.stats, { endpoints: this.endpoints, secrets: this.secrets });
  /** RDS route tables */
  readonly routeConfigs = new RouteConfigRegistry({ stats: this.stats, clusterManager: this.clusterManager });
  // Envoy's healthCheckFailed() is !live: failed through the admin API, starting or draining
  readonly listenerManager = new ListenerManager(this.stats, this.clusterManager, { healthCheckFailed: () => this.reportedState !== 'LIVE' }, { routeConfigs: this.routeConfigs, secrets: this.secrets });
  /** the xDS side, when the bootstrap has dynamic_resources */
  dynamic: DynamicConfig | undefined;
  /** the static resources being served; every apply merges them with the dynamic ones */
  private staticClusters: PreparedCluster[] = [];
  private staticListeners: ListenerRuntime[] = [];
  readonly opts: ServerOptions;
  readonly startedAt = Date.now();
  state: ServerState = 'PRE_INITIALIZING';
  healthCheckFailed = false;
  bootstrap: any;
  lastUpdated = new Date();
  private admin: AdminServer | undefined;
  private configHash = '';
  private watcher: fs.FSWatcher | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly sstats: ServerStats;
  private statsTimer: NodeJS.Timeout | undefined;
  private shuttingDown: Promise<void> | undefined;
  /** serialises config applications so a reload never overlaps another */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(opts: ServerOptions) {
    this.opts = opts;
    const s = this.stats;
    this.sstats = {
      live: s.gauge('server.live'),
      state: s.gauge('server.state'),
      uptime: s.gauge('server.uptime'),
      memory_allocated: s.gauge('server.memory_allocated'),
      memory_heap_size: s.gauge('server.memory_heap_size'),
      total_connections: s.gauge('server.total_connections'),
      concurrency: s.gauge('server.concurrency'),
      reload_success: s.counter('server.config_reload.success'),
      reload_failure: s.counter('server.config_reload.failure'),
      version: s.gauge('server.version'),
    };
    this.sstats.concurrency.set(1);
    this.setState('PRE_INITIALIZING');
  }

  private setState(st: ServerState): void {
    this.state = st;
    const shown = this.reportedState;
    // Envoy's server.state: 0 LIVE, 1 DRAINING, 2 PRE_INITIALIZING, 3 INITIALIZING
    this.sstats.state.set(shown === 'LIVE' ? 0 : shown === 'DRAINING' ? 1 : shown === 'PRE_INITIALIZING' ? 2 : 3);
    this.sstats.live.set(shown === 'LIVE' ? 1 : 0);
  }

  /** The state /ready, /server_info and server.state show: like Envoy's serverState(), a live server whose
   * health check was failed through the admin API reports DRAINING (and server.live 0). */
  get reportedState(): ServerState {
    return this.state === 'LIVE' && this.healthCheckFailed ? 'DRAINING' : this.state;
  }

  /** /healthcheck/fail and /healthcheck/ok. */
  failHealthcheck(fail: boolean): void {
    this.healthCheckFailed = fail;
    this.setState(this.state);
  }

  refreshServerStats(): void {
    const m = process.memoryUsage();
    this.sstats.uptime.set(Math.floor((Date.now() - this.startedAt) / 1000));
    this.sstats.memory_allocated.set(m.heapUsed);
    this.sstats.memory_heap_size.set(m.heapTotal);
    this.sstats.total_connections.set(this.listenerManager.activeConnections());
  }

  /** Start: apply the bootstrap, bind the admin listener, go LIVE. */
  async start(bootstrap: any, text: string): Promise<void> {
    this.setState('INITIALIZING');
    // the decoded config is frozen: derive the node identity into a new object
    const node = { ...(bootstrap.node ?? {}) };
    if (this.opts.serviceNode) node.id = this.opts.serviceNode;
    if (this.opts.serviceCluster) node.cluster = this.opts.serviceCluster;
    if (this.opts.serviceZone) node.locality = { ...(node.locality ?? {}), zone: this.opts.serviceZone };
    bootstrap = { ...bootstrap, node };
    // how /stats/prometheus names and labels stats: fixed for the process's life, as in Envoy
    if (bootstrap.stats_config) this.stats.configureTags(compileStatsTags(bootstrap.stats_config, 'stats_config'));
    if (bootstrap.admin?.address) {
      this.admin = new AdminServer(this, bootstrap.admin);
      await this.admin.listen();
    }
    if (needsDiscovery(bootstrap)) {
      const { DynamicConfig } = await import('../xds/dynamic-config.js');
      this.dynamic = new DynamicConfig(bootstrap, this.dynamicHost(), nodeJson(node));
      // the stream opens now: static listeners that use RDS or SDS warm on it
      this.dynamic.connect();
    }
    await this.apply(bootstrap);
    this.configHash = hash(text);
    // Envoy's init manager: LIVE once CDS and LDS answered (or timed out) and what they brought warmed
    await this.dynamic?.initialize();
    if (this.state === 'DRAINING') return;
    this.setState('LIVE');
    // Envoy's stats_flush_interval (5 s): server gauges refresh and histograms close their interval
    this.statsTimer = setInterval(() => {
      this.refreshServerStats();
      this.stats.mergeHistograms();
    }, 5000);
    this.statsTimer.unref();
    this.refreshServerStats();
    if (this.opts.configPath && this.opts.watch !== false) this.watch(this.opts.configPath);
    log.info({ listeners: this.listenerManager.describe().map((l) => `${l.name}@${l.address}:${l.port}`) }, 'meshwork proxy is live');
  }

  /** Apply a bootstrap's static resources; throws (and changes nothing) when any part is invalid. */
  apply(bootstrap: any): Promise<void> {
    return this.enqueue(async () => {
      const sr = bootstrap.static_resources ?? {};
      const prepared = ClusterManager.prepare(sr.clusters ?? [], 'static_resources.clusters');
      const dynamicNames = this.dynamic?.dynamicNames();
      prepared.forEach((p) => {
        if (dynamicNames?.clusters.has(p.config.name)) throw new ConfigError('MW_CONFIG_INVALID', `${p.path}.name`, `cluster "${p.config.name}" already came from CDS`);
      });
      const undoSecrets = this.secrets.setStatic(sr.secrets ?? [], 'static_resources.secrets');
      const prevClusters = this.staticClusters;
      const prevListeners = this.staticListeners;
      try {
        // Compile listeners against a check of cluster names: Envoy rejects a static route to an unknown cluster.
        const clusterNames = new Set(prepared.map((p) => p.config.name));
        const compiled: ListenerRuntime[] = (sr.listeners ?? []).map((l: any, i: number) => this.listenerManager.compile(l, `static_resources.listeners[${i}]`));
        const names = new Set<string>();
        (sr.listeners ?? []).forEach((l: any, i: number) => {
          if (names.has(l.name)) throw new ConfigError('MW_CONFIG_INVALID', `static_resources.listeners[${i}].name`, `duplicate listener name "${l.name}"`);
          if (dynamicNames?.listeners.has(l.name)) throw new ConfigError('MW_CONFIG_INVALID', `static_resources.listeners[${i}].name`, `listener "${l.name}" already came from LDS`);
          names.add(l.name);
        });
        for (const rt of compiled) checkClusterRefs(rt, clusterNames);
        this.staticClusters = prepared;
        this.staticListeners = compiled;
        // subscribe what the static resources name (EDS, RDS, SDS) before waiting for it
        this.dynamic?.sync();
        await this.clusterManager.apply(this.allClusters());
        await this.dynamic?.warm(compiled.map((rt) => rt.config));
        await this.listenerManager.apply(this.allListeners());
      } catch (err) {
        undoSecrets();
        if (this.staticClusters === prepared) {
          this.staticClusters = prevClusters;
          this.staticListeners = prevListeners;
          this.dynamic?.sync();
          await this.clusterManager.apply(this.allClusters()).catch(() => {});
        }
        throw err;
      }
      this.bootstrap = bootstrap;
      this.lastUpdated = new Date();
    });
  }

  private allClusters(): PreparedCluster[] {
    return this.dynamic ? [...this.staticClusters, ...this.dynamic.dynamicClusters()] : this.staticClusters;
  }

  private allListeners(): ListenerRuntime[] {
    return this.dynamic ? [...this.staticListeners, ...this.dynamic.dynamicListeners()] : this.staticListeners;
  }

  /** Serialise config applications so one never overlaps another; each applies the latest state. */
  private enqueue(run: () => Promise<void>): Promise<void> {
    const p = this.applying.then(run, run);
    this.applying = p.catch(() => {});
    return p;
  }

  /** What the xDS side reads and calls: the registries, the static resources, and applies of the merged sets. */
  private dynamicHost(): import('../xds/dynamic-config.js').DynamicHost {
    return {
      stats: this.stats,
      clusterManager: this.clusterManager,
      listenerManager: this.listenerManager,
      routeConfigs: this.routeConfigs,
      secrets: this.secrets,
      endpoints: this.endpoints,
      staticClusterConfigs: () => this.staticClusters.map((p) => p.config),
      staticListenerConfigs: () => this.staticListeners.map((rt) => rt.config),
      applyClusters: () => this.enqueue(() => this.clusterManager.apply(this.allClusters())),
      applyListeners: () =>
        this.enqueue(async () => {
          if (this.state === 'DRAINING') return;
          await this.listenerManager.apply(this.allListeners());
          this.lastUpdated = new Date();
        }),
    };
  }

  /** Re-read the config file; an invalid or unbindable config is logged and counted, the old one keeps serving. */
  async reload(): Promise<boolean> {
    const p = this.opts.configPath;
    if (!p || this.state === 'DRAINING') return false;
    let text: string;
    try {
      text = fs.readFileSync(p, 'utf8');
    } catch {
      return false; // mid-rename by an editor; the next event brings the new file
    }
    const h = hash(text + (this.opts.configYaml ?? ''));
    if (h === this.configHash) return false;
    try {
      const { bootstrap } = readBootstrap(this.opts);
      if (JSON.stringify(bootstrap.dynamic_resources) !== JSON.stringify(this.bootstrap?.dynamic_resources)) {
        log.warn({ path: p }, 'dynamic_resources changed; a reload applies static_resources only (restart to change discovery)');
      }
      await this.apply({ ...bootstrap, node: this.bootstrap?.node ?? bootstrap.node, dynamic_resources: this.bootstrap?.dynamic_resources });
      this.configHash = h;
      this.sstats.reload_success.inc();
      log.info({ path: p }, 'configuration reloaded');
      return true;
    } catch (err) {
      this.configHash = h; // do not retry the same bad content on every event
      this.sstats.reload_failure.inc();
      const errors = err instanceof ConfigErrors ? err.errors.map((e) => e.message) : [(err as Error).message];
      log.error({ path: p, code: (err as MeshworkError).code, errors }, 'configuration rejected; still serving the previous one');
      return false;
    }
  }

  private watch(file: string): void {
    // Watch the directory: editors and config-management tools replace files by rename, which a watch on the
    // file itself would lose.
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    try {
      this.watcher = fs.watch(dir, { persistent: false }, (_ev, name) => {
        if (name && name !== base) return;
        if (this.watchTimer) clearTimeout(this.watchTimer);
        this.watchTimer = setTimeout(() => void this.reload(), 100);
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot watch the config file; reloads disabled');
    }
  }

  /** Reopen access log files (after logrotate moved them): SIGUSR1 and /reopen_logs, as in Envoy. */
  reopenLogs(): void {
    reopenAll();
  }

  /** Drain and exit: stop accepting, let in-flight requests finish within the drain time. */
  shutdown(reason: string): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    this.shuttingDown = (async () => {
      log.info({ reason, drainTimeMs: this.opts.drainTimeMs }, 'draining');
      this.setState('DRAINING');
      this.watcher?.close();
      // no more configuration from the control plane while draining
      this.dynamic?.close();
      this.workloadCerts?.stop();
      this.workloadSds?.close();
      this.listenerManager.stopAccepting();
      this.listenerManager.drainAll();
      const deadline = Date.now() + this.opts.drainTimeMs;
      while (this.listenerManager.activeConnections() > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      this.listenerManager.destroyAll();
      this.clusterManager.destroy();
      await this.listenerManager.closeAll();
      await flushAll();
      if (this.statsTimer) clearInterval(this.statsTimer);
      await this.admin?.close();
      log.info('drained; exiting');
    })();
    return this.shuttingDown;
  }
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
