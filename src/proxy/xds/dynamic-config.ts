// The proxy's dynamic configuration: the TypeHandlers behind the ADS stream(s) for LDS, CDS, RDS, EDS and SDS,
// merged with the bootstrap's static resources and applied through the same ClusterManager / ListenerManager
// a static config uses.
//
// Every update is validated synchronously — each resource decoded with the bootstrap's decoder and support
// table, then compiled. As in Envoy, resources stand alone: a bad one is rejected and keeps its last good
// version while the others of the response apply, and the response is NACKed with an error_detail naming
// every rejected resource and field. An update without errors is ACKed at once; warming runs afterwards:
//  - a new or changed listener waits for its RDS route configurations and SDS secrets (or their
//    initial_fetch_timeout) before it replaces the old one, whose connections then drain;
//  - a new or changed cluster waits (inside ClusterManager.apply) for its EDS assignment and secrets.
// Which RDS/EDS/SDS names are subscribed follows the listeners and clusters that run or warm (sync()).
// Dynamic resources may not take the name of a static one. Routes delivered by xDS may name clusters that do
// not exist (yet): such requests get 503 NC, as in Envoy.
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL, type NodeJson } from '../../api/xds/index.js';
import { decodeMessage } from '../../api/envoy/index.js';
import { ConfigError, ConfigErrors, MeshworkError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { clusterTypes } from '../extensions/registry.js';
import type { ListenerManager, ListenerRuntime } from '../listener/listener-manager.js';
import type { SdsSecretConfigRef } from '../listener/tls-context.js';
import { StatsStore, type Counter, type Gauge } from '../observability/stats.js';
import { Cluster } from '../upstream/cluster.js';
import { clusterKind, lbFactoryOf, type ClusterManager, type PreparedCluster } from '../upstream/cluster-manager.js';
import { AdsClient, type TypeHandler, type TypeUpdate } from './ads-client.js';
import { planDynamicResources, type DynamicResourcesPlan } from './config-sources.js';
import { assignmentSpecs, edsServiceName, type EndpointRegistry } from './endpoints.js';
import type { RouteConfigRegistry } from './route-configs.js';
import { redactSecret, secretRefs, validateSecret, type SecretRegistry } from './secrets.js';
import { subscriptionStats, versionHash, type SubscriptionStats } from './watched.js';

const log = logger('xds');

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const MESSAGE = {
  listener: 'envoy.config.listener.v3.Listener',
  cluster: 'envoy.config.cluster.v3.Cluster',
  route: 'envoy.config.route.v3.RouteConfiguration',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

/** What the dynamic configuration needs from the server that runs it. */
export interface DynamicHost {
  readonly stats: StatsStore;
  readonly clusterManager: ClusterManager;
  readonly listenerManager: ListenerManager;
  readonly routeConfigs: RouteConfigRegistry;
  readonly secrets: SecretRegistry;
  readonly endpoints: EndpointRegistry;
  /** the static resources being served (decoded configs) */
  staticClusterConfigs(): any[];
  staticListenerConfigs(): any[];
  /** apply static + dynamic clusters (listeners): serialised by the server, always with the latest state */
  applyClusters(): Promise<void>;
  applyListeners(): Promise<void>;
}

/** A dynamic listener or cluster as accepted, for merging and /config_dump. */
interface Accepted<T> {
  readonly name: string;
  readonly config: any;
  readonly key: string;
  readonly version: string;
  readonly lastUpdated: Date;
  readonly value: T;
}

interface ErrorState {
  failed: any;
  at: Date;
  details: string;
}

interface ManagerStats extends SubscriptionStats {
  added: Counter;
  modified: Counter;
  removed: Counter;
  warming: Gauge;
}

/** A gate that opens once (init done), with a timeout. */
class Gate {
  done = false;
  readonly promise: Promise<void>;
  private open!: () => void;
  constructor() {
    this.promise = new Promise((r) => (this.open = r));
  }
  pass(): void {
    if (this.done) return;
    this.done = true;
    this.open();
  }
}

export class DynamicConfig {
  readonly plan: DynamicResourcesPlan;
  private readonly host: DynamicHost;
  private readonly node: NodeJson;
  private readonly clients = new Map<string, AdsClient>();
  /** last subscription sent per stream and type, to send only changes */
  private readonly subscribed = new Map<string, string>();
  private closed = false;

  private clusters = new Map<string, Accepted<PreparedCluster>>();
  /** clusters accepted whose apply (and warming) has not finished */
  private readonly warmingClusters = new Set<string>();
  private cdsVersion = '';

  private readonly activeListeners = new Map<string, Accepted<ListenerRuntime>>();
  private readonly warmingListeners = new Map<string, Accepted<ListenerRuntime>>();
  private readonly listenerErrors = new Map<string, ErrorState>();
  private ldsVersion = '';

  private readonly cdsInit = new Gate();
  private readonly ldsInit = new Gate();
  private readonly lds: ManagerStats;
  private readonly cds: ManagerStats;
  private readonly listenerCreateFailure: Counter;

  constructor(bootstrap: any, host: DynamicHost, node: NodeJson) {
    this.plan = planDynamicResources(bootstrap);
    this.host = host;
    this.node = node;
    host.routeConfigs.resolver = this.plan.resolve;
    host.endpoints.resolver = this.plan.resolve;
    host.secrets.resolver = this.plan.resolve;
    const managerStats = (scope: string, kind: string): ManagerStats => ({
      ...subscriptionStats(host.stats.scope(`${scope}.${kind === 'listener' ? 'lds' : 'cds'}.`)),
      added: host.stats.counter(`${scope}.${kind}_added`),
      modified: host.stats.counter(`${scope}.${kind}_modified`),
      removed: host.stats.counter(`${scope}.${kind}_removed`),
      warming: host.stats.gauge(kind === 'listener' ? `${scope}.total_listeners_warming` : `${scope}.warming_clusters`),
    });
    this.lds = managerStats('listener_manager', 'listener');
    this.cds = managerStats('cluster_manager', 'cluster');
    this.listenerCreateFailure = host.stats.counter('listener_manager.listener_create_failure');
    if (!this.plan.cds) this.cdsInit.pass();
    if (!this.plan.lds) this.ldsInit.pass();
  }

  // ---- lifecycle ----

  /** Open the discovery stream(s). Subscriptions follow: named types from sync(), LDS/CDS from initialize(). */
  connect(): void {
    for (const spec of this.plan.streams.values()) this.client(spec.key);
  }

  /**
   * Envoy's init sequence after the static resources: CDS (its first response or failure, and the warming of
   * the clusters it brought, or initial_fetch_timeout), then LDS likewise, its listeners warmed.
   */
  async initialize(): Promise<void> {
    if (this.plan.cds) {
      this.client(this.plan.cds.key).subscribe(TYPE_URL.CLUSTER, '*', this.cdsHandler, { initialFetchTimeoutMs: this.plan.cds.initialFetchTimeoutMs });
      await this.cdsInit.promise;
    }
    if (this.plan.lds) {
      this.client(this.plan.lds.key).subscribe(TYPE_URL.LISTENER, '*', this.ldsHandler, { initialFetchTimeoutMs: this.plan.lds.initialFetchTimeoutMs });
      await this.ldsInit.promise;
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.cdsInit.pass();
    this.ldsInit.pass();
  }

  private client(key: string): AdsClient {
    let c = this.clients.get(key);
    if (c) return c;
    const spec = this.plan.streams.get(key);
    if (!spec) throw new MeshworkError('MW_INTERNAL', `no discovery stream "${key}"`);
    c = new AdsClient({
      target: spec.target,
      node: this.node,
      delta: spec.delta,
      channelCredentials: grpc.credentials.createInsecure(),
      setNodeOnFirstMessageOnly: spec.setNodeOnFirstMessageOnly,
      ...(spec.backoff && { backoff: spec.backoff }),
      // one control_plane.connected_state gauge: the first stream's (ads_config when there is one)
      stats: this.clients.size === 0 ? this.host.stats : undefined,
    });
    this.clients.set(key, c);
    if (!this.closed) c.start();
    return c;
  }

  // ---- what the server merges ----

  dynamicClusters(): PreparedCluster[] {
    return [...this.clusters.values()].map((c) => c.value);
  }

  dynamicListeners(): ListenerRuntime[] {
    return [...this.activeListeners.values()].map((l) => l.value);
  }

  /** names a static resource may not take (the server checks a reloaded bootstrap against them) */
  dynamicNames(): { clusters: Set<string>; listeners: Set<string> } {
    return { clusters: new Set(this.clusters.keys()), listeners: new Set([...this.activeListeners.keys(), ...this.warmingListeners.keys()]) };
  }

  /** Wait until the RDS route configurations and SDS secrets these (static) listeners name arrived or timed out. */
  async warm(listeners: readonly any[]): Promise<void> {
    this.sync();
    await Promise.all(listeners.map((l) => this.listenerReady(l)));
  }

  // ---- subscriptions ----

  /**
   * Subscribe exactly to the RDS, EDS and SDS names the running and warming listeners and clusters use (static
   * ones included), and forget the others. Called after every change of those sets, from inside a handler too:
   * the AdsClient sends the new subscriptions before that handler's ACK, as Envoy does.
   */
  sync(): void {
    const listeners = [...this.host.staticListenerConfigs(), ...[...this.activeListeners.values(), ...this.warmingListeners.values()].map((l) => l.config)];
    const clusters = [...this.host.staticClusterConfigs(), ...[...this.clusters.values()].map((c) => c.config)];
    const routes = new Set<string>();
    const secrets = new Set<string>();
    const endpoints = new Set<string>();
    const want = (kind: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        // every source was resolved when its resource was accepted; this cannot fail for accepted config
        log.error({ err: (err as Error).message }, `cannot subscribe to a ${kind}`);
      }
    };
    for (const l of listeners) {
      for (const r of listenerRoutes(l)) {
        routes.add(r.name);
        want('route configuration', () => this.host.routeConfigs.entries.want(r.name, this.plan.resolve(r.source, r.path)));
      }
      for (const s of listenerSecrets(l)) {
        secrets.add(s.ref.name!);
        want('secret', () => this.host.secrets.ref(s.ref, s.path));
      }
    }
    for (const c of clusters) {
      if (c.type === 'EDS') {
        const name = edsServiceName(c);
        endpoints.add(name);
        want('cluster load assignment', () => this.host.endpoints.entries.want(name, this.plan.resolve(c.eds_cluster_config?.eds_config, `Cluster "${c.name}".eds_cluster_config.eds_config`)));
      }
      for (const s of clusterSecrets(c)) {
        secrets.add(s.ref.name!);
        want('secret', () => this.host.secrets.ref(s.ref, s.path));
      }
    }
    this.host.routeConfigs.entries.retain(routes);
    this.host.endpoints.entries.retain(endpoints);
    this.host.secrets.entries.retain(secrets);
    this.subscribeNamed(TYPE_URL.ROUTE, this.host.routeConfigs.entries.bySource(), this.rdsHandler);
    this.subscribeNamed(TYPE_URL.ENDPOINT, this.host.endpoints.entries.bySource(), this.edsHandler);
    this.subscribeNamed(TYPE_URL.SECRET, this.host.secrets.entries.bySource(), this.sdsHandler);
  }

  private subscribeNamed(typeUrl: string, bySource: Map<string, Set<string>>, handler: TypeHandler): void {
    const keys = new Set([...bySource.keys(), ...[...this.subscribed.keys()].filter((k) => k.endsWith(`|${typeUrl}`)).map((k) => k.slice(0, -typeUrl.length - 1))]);
    for (const key of keys) {
      const names = bySource.get(key) ?? new Set<string>();
      const id = `${key}|${typeUrl}`;
      const sig = [...names].sort().join('\n');
      if ((this.subscribed.get(id) ?? '') === sig && this.subscribed.has(id)) continue;
      this.subscribed.set(id, sig);
      // Named resources keep their own initial_fetch_timeout (watched.ts); the client's timer stays off.
      this.client(key).subscribe(typeUrl, names, handler, { initialFetchTimeoutMs: 0 });
    }
  }

  /** a listener may serve once its route configurations and SDS secrets arrived (or their fetch timed out) */
  private listenerReady(config: any): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const r of listenerRoutes(config)) {
      const e = this.host.routeConfigs.entries.get(r.name);
      if (e) waits.push(e.ready);
    }
    for (const s of listenerSecrets(config)) {
      const e = this.host.secrets.entries.get(s.ref.name!);
      if (e) waits.push(e.ready);
    }
    return Promise.all(waits).then(() => {});
  }

  // ---- LDS ----

  private readonly ldsHandler: TypeHandler = {
    onUpdate: (u) => this.onLds(u),
    onStreamFailure: () => this.lds.update_failure.inc(),
    onFetchTimeout: () => {
      this.lds.init_fetch_timeout.inc();
      this.ldsInit.pass();
    },
  };

  private onLds(u: TypeUpdate): void {
    const st = this.lds;
    st.update_attempt.inc();
    const known = new Set([...this.activeListeners.keys(), ...this.warmingListeners.keys()]);
    const removed = u.stateOfTheWorld ? [...known].filter((n) => !u.resources.has(n)) : u.removed.filter((n) => known.has(n));
    const accepted: Accepted<ListenerRuntime>[] = [];
    // Like Envoy's LdsApiImpl: each listener is applied or rejected on its own; the response is NACKed with
    // every rejection, and a rejected listener keeps the version it had.
    const errors: ConfigError[] = [];
    const failures = new Map<string, ErrorState>();
    const reject = (name: string, json: unknown, err: unknown) => {
      const found = configErrors(err, `Listener "${name}"`);
      errors.push(...found);
      failures.set(name, { failed: json, at: new Date(), details: found.map((e) => e.message).join('\n') });
    };
    const staticNames = new Set(this.host.staticListenerConfigs().map((l) => l.name));
    for (const [name, json] of u.resources) {
      const path = `Listener "${name}"`;
      try {
        if (staticNames.has(name)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, `"${name}" is a static listener; a dynamic listener may not replace it`);
        const config = decodeResource(MESSAGE.listener, json, path);
        const key = JSON.stringify(config);
        // unchanged (SotW repeats every listener): keep the running or warming one
        if (this.warmingListeners.get(name)?.key === key || (!this.warmingListeners.has(name) && this.activeListeners.get(name)?.key === key)) continue;
        accepted.push({ name, config, key, version: u.version, lastUpdated: new Date(), value: this.host.listenerManager.compile(config, path) });
      } catch (err) {
        reject(name, json, err);
      }
    }
    for (const a of this.checkAddresses(accepted, new Set(removed))) {
      accepted.splice(accepted.indexOf(a.listener), 1);
      void closeRuntime(a.listener.value);
      reject(a.listener.name, u.resources.get(a.listener.name), a.error);
    }
    for (const name of removed) {
      const w = this.warmingListeners.get(name);
      if (w) void closeRuntime(w.value);
      this.warmingListeners.delete(name);
      this.activeListeners.delete(name);
      st.removed.inc();
      log.info({ listener: name }, 'listener removed by LDS');
    }
    for (const a of accepted) {
      const prev = this.warmingListeners.get(a.name);
      if (prev) void closeRuntime(prev.value);
      (this.activeListeners.has(a.name) ? st.modified : st.added).inc();
      this.warmingListeners.set(a.name, a);
    }
    // Envoy's error_state tracker holds the failures of the latest update only
    this.listenerErrors.clear();
    for (const [name, f] of failures) this.listenerErrors.set(name, f);
    // the LDS version /config_dump shows moves when something was applied (Envoy: any_applied)
    if (errors.length === 0 || accepted.length > 0 || removed.length > 0) this.ldsVersion = u.version;
    if (errors.length === 0) {
      st.update_success.inc();
      st.version.set(versionHash(u.version));
      if (u.resources.size === 0 && u.stateOfTheWorld) st.update_empty.inc();
    } else st.update_rejected.inc();
    st.warming.set(this.warmingListeners.size);
    // subscribe what the new listeners name (and forget what only replaced or rejected ones named)
    this.sync();
    const warmed = accepted.map((a) => this.warmListener(a));
    if (removed.length > 0) void this.applyListeners();
    // the first LDS answer ends listener initialisation once its listeners warmed (a rejected one too)
    if (!this.ldsInit.done) void Promise.all(warmed).then(() => this.ldsInit.pass());
    if (errors.length > 0) throw nackOf(errors);
  }

  /**
   * Two listeners may not bind the same address (port 0 excepted): Envoy rejects the later one. Returns the
   * accepted listeners that clash with a static listener, a listener that stays, or an earlier one of the update.
   */
  private checkAddresses(accepted: Accepted<ListenerRuntime>[], removed: Set<string>): { listener: Accepted<ListenerRuntime>; error: ConfigError }[] {
    const taken = new Map<string, string>();
    const addressOf = (config: any): string | undefined => {
      const sa = config.address?.socket_address;
      return sa?.port_value ? `${sa.address}:${sa.port_value}` : undefined;
    };
    const replaced = new Set(accepted.map((a) => a.name));
    for (const l of this.host.staticListenerConfigs()) {
      const k = addressOf(l);
      if (k) taken.set(k, l.name);
    }
    for (const name of new Set([...this.activeListeners.keys(), ...this.warmingListeners.keys()])) {
      if (removed.has(name) || replaced.has(name)) continue;
      const k = addressOf((this.warmingListeners.get(name) ?? this.activeListeners.get(name))!.config);
      if (k) taken.set(k, name);
    }
    const clashes: { listener: Accepted<ListenerRuntime>; error: ConfigError }[] = [];
    for (const a of accepted) {
      const k = addressOf(a.config);
      if (!k) continue;
      const other = taken.get(k);
      if (other !== undefined && other !== a.name) {
        clashes.push({ listener: a, error: new ConfigError('MW_CONFIG_INVALID', `Listener "${a.name}".address`, `listener "${a.name}" has the same address ${k} as listener "${other}"`) });
      } else taken.set(k, a.name);
    }
    return clashes;
  }

  private async warmListener(a: Accepted<ListenerRuntime>): Promise<void> {
    await this.listenerReady(a.config);
    if (this.closed || this.warmingListeners.get(a.name) !== a) return; // replaced or removed while warming
    this.warmingListeners.delete(a.name);
    this.activeListeners.set(a.name, a);
    this.lds.warming.set(this.warmingListeners.size);
    await this.applyListeners();
  }

  /** Apply the listener set; a listener that cannot bind is dropped (and recorded), the others still apply. */
  private async applyListeners(): Promise<void> {
    for (let attempt = 0; attempt <= this.activeListeners.size; attempt++) {
      try {
        await this.host.applyListeners();
        return;
      } catch (err) {
        const name = (err as { listener?: string }).listener;
        const failed = name !== undefined ? this.activeListeners.get(name) : undefined;
        if (!failed) {
          log.error({ err: (err as Error).message }, 'cannot apply listeners');
          return;
        }
        this.listenerCreateFailure.inc();
        log.error({ listener: name, err: (err as Error).message }, 'cannot add a listener delivered by LDS');
        this.activeListeners.delete(name!);
        this.listenerErrors.set(name!, { failed: failed.config, at: new Date(), details: (err as Error).message });
        this.sync();
      }
    }
  }

  // ---- CDS ----

  private readonly cdsHandler: TypeHandler = {
    onUpdate: (u) => this.onCds(u),
    onStreamFailure: () => this.cds.update_failure.inc(),
    onFetchTimeout: () => {
      this.cds.init_fetch_timeout.inc();
      this.cdsInit.pass();
    },
  };

  private onCds(u: TypeUpdate): void {
    const st = this.cds;
    st.update_attempt.inc();
    const removed = u.stateOfTheWorld ? [...this.clusters.keys()].filter((n) => !u.resources.has(n)) : u.removed.filter((n) => this.clusters.has(n));
    const accepted: Accepted<PreparedCluster>[] = [];
    // Like Envoy's CdsApiHelper: each cluster is applied or rejected on its own; the response is NACKed with
    // every rejection, and a rejected cluster keeps the version it had.
    const errors: ConfigError[] = [];
    const staticNames = new Set(this.host.staticClusterConfigs().map((c) => c.name));
    const scratch = new StatsStore();
    for (const [name, json] of u.resources) {
      const path = `Cluster "${name}"`;
      try {
        if (staticNames.has(name)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.name`, `"${name}" is a static cluster; a dynamic cluster may not replace it`);
        const config = decodeResource(MESSAGE.cluster, json, path);
        const key = JSON.stringify(config);
        if (this.clusters.get(name)?.key === key) continue;
        const type = clusterKind(config);
        if (!clusterTypes.get(type)) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.${config.cluster_type ? 'cluster_type' : 'type'}`, `${type} is not supported`);
        const lb = lbFactoryOf(config);
        if (!lb) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.lb_policy`, `${config.lb_policy} is not supported${config.lb_policy === 'CLUSTER_PROVIDED' ? ` by ${type} clusters` : ''}`);
        // constructing a cluster compiles everything it owns (transport, balancer, health checks) without
        // connecting; the one the cluster manager builds later cannot fail on what passed here
        new Cluster(config, lb, scratch, path, { secrets: this.host.secrets });
        if (type === 'EDS') this.host.endpoints.check(config, path);
        accepted.push({ name, config, key, version: u.version, lastUpdated: new Date(), value: { config, path, key } });
      } catch (err) {
        errors.push(...configErrors(err, path));
      }
    }
    const next = new Map(this.clusters);
    for (const name of removed) {
      next.delete(name);
      st.removed.inc();
    }
    for (const a of accepted) {
      (next.has(a.name) ? st.modified : st.added).inc();
      next.set(a.name, a);
      this.warmingClusters.add(a.name);
    }
    this.clusters = next;
    if (errors.length === 0 || accepted.length > 0 || removed.length > 0) this.cdsVersion = u.version;
    if (errors.length === 0) {
      st.update_success.inc();
      st.version.set(versionHash(u.version));
      if (u.resources.size === 0 && u.stateOfTheWorld) st.update_empty.inc();
    } else st.update_rejected.inc();
    st.warming.set(this.warmingClusters.size);
    // subscribe the new clusters' EDS names and secrets before this update's ACK goes out
    this.sync();
    if (accepted.length === 0 && removed.length === 0) {
      // nothing to warm: a first answer (even a rejected one) ends CDS initialisation
      this.cdsInit.pass();
    } else {
      const warming = accepted.map((a) => a.name);
      void this.host
        .applyClusters()
        .catch((err) => log.error({ err: (err as Error).message }, 'cannot apply clusters delivered by CDS'))
        .then(() => {
          for (const n of warming) if (this.clusters.get(n)?.version === u.version) this.warmingClusters.delete(n);
          st.warming.set(this.warmingClusters.size);
          this.cdsInit.pass();
        });
    }
    if (errors.length > 0) throw nackOf(errors);
  }

  // ---- RDS, EDS, SDS: named resources ----

  private readonly rdsHandler: TypeHandler = {
    onStreamFailure: (names) => countFailure(names, (n) => this.host.routeConfigs.statsOf(n)),
    onUpdate: (u) => {
      const reg = this.host.routeConfigs;
      this.named(u, MESSAGE.route, 'RouteConfiguration', (n) => reg.statsOf(n), (config, path) => reg.compile(config, path), (name, value, key) => {
        const e = reg.entries.get(name);
        if (!e || (e.value && JSON.stringify(e.value.config) === key)) return;
        e.set(value, u.version);
      });
    },
  };

  private readonly edsHandler: TypeHandler = {
    onStreamFailure: (names) => countFailure(names, (n) => this.host.endpoints.statsOf(n)),
    onUpdate: (u) => {
      const reg = this.host.endpoints;
      this.named(
        u,
        MESSAGE.endpoint,
        'ClusterLoadAssignment',
        (n) => reg.statsOf(n),
        (config, path) => {
          assignmentSpecs(config, path);
          return config;
        },
        (name, value, key) => {
          const e = reg.entries.get(name);
          if (!e || (e.value && JSON.stringify(e.value) === key)) return;
          e.set(value, u.version);
        },
        // a removed assignment (delta) leaves its clusters without hosts
        (name) => reg.entries.get(name)?.set({ cluster_name: name, endpoints: [] }, u.version),
        false,
      );
    },
  };

  private readonly sdsHandler: TypeHandler = {
    onStreamFailure: (names) => countFailure(names, (n) => this.host.secrets.statsOf(n)),
    onUpdate: (u) => {
      const reg = this.host.secrets;
      this.named(
        u,
        MESSAGE.secret,
        'Secret',
        (n) => reg.statsOf(n),
        (config, path) => {
          validateSecret(config, path);
          return config;
        },
        (name, value, key) => {
          const e = reg.entries.get(name);
          if (!e || (e.value && JSON.stringify(e.value) === key)) return;
          e.set(value, u.version);
          log.info({ secret: name, version: u.version }, 'secret updated by SDS');
        },
      );
    },
  };

  /**
   * The shared shape of a named type's update: decode and compile every resource (NACK on the first bad one,
   * nothing applied), then commit each. Stats per resource name.
   */
  private named<T>(
    u: TypeUpdate,
    message: string,
    kind: string,
    statsOf: (name: string) => SubscriptionStats,
    compile: (config: any, path: string) => T,
    commit: (name: string, value: T, key: string) => void,
    onRemoved?: (name: string) => void,
    countSuccess = true,
  ): void {
    // Each resource stands alone (Envoy: one subscription per route configuration, cluster or secret): a bad
    // one is rejected and keeps its last version, the others apply; the response is NACKed naming the bad ones.
    const errors: ConfigError[] = [];
    for (const [name, json] of u.resources) {
      const s = statsOf(name);
      s.update_attempt.inc();
      const path = `${kind} "${name}"`;
      let value: T;
      let key: string;
      try {
        const config = decodeResource(message, json, path);
        value = compile(config, path);
        key = JSON.stringify(config);
      } catch (err) {
        s.update_rejected.inc();
        errors.push(...configErrors(err, path));
        continue;
      }
      commit(name, value, key);
      // EDS success is counted by the cluster when it takes the hosts (cluster.<name>.update_success)
      if (countSuccess) s.update_success.inc();
      s.version.set(versionHash(u.version));
    }
    for (const name of u.removed) {
      if (onRemoved) onRemoved(name);
      else log.info({ resource: name, type: kind }, 'the server removed a resource; keeping its last version');
    }
    if (errors.length > 0) throw nackOf(errors);
  }

  // ---- /config_dump ----

  /** ListenersConfigDump.dynamic_listeners */
  dumpListeners(): { version_info: string; dynamic_listeners: any[] } {
    const names = new Set([...this.activeListeners.keys(), ...this.warmingListeners.keys(), ...this.listenerErrors.keys()]);
    const state = (a: Accepted<ListenerRuntime> | undefined) => a && { version_info: a.version, listener: a.config, last_updated: a.lastUpdated.toISOString() };
    return {
      version_info: this.ldsVersion,
      dynamic_listeners: [...names].sort().map((name) => {
        const e = this.listenerErrors.get(name);
        return {
          name,
          ...(this.activeListeners.has(name) && { active_state: state(this.activeListeners.get(name)) }),
          ...(this.warmingListeners.has(name) && { warming_state: state(this.warmingListeners.get(name)) }),
          ...(e && { error_state: { failed_configuration: e.failed, last_update_attempt: e.at.toISOString(), details: e.details } }),
        };
      }),
    };
  }

  /** ClustersConfigDump.dynamic_active_clusters / dynamic_warming_clusters */
  dumpClusters(): { version_info: string; dynamic_active_clusters: any[]; dynamic_warming_clusters: any[] } {
    const entry = (c: Accepted<PreparedCluster>) => ({ version_info: c.version, cluster: c.config, last_updated: c.lastUpdated.toISOString() });
    const all = [...this.clusters.values()].sort((a, b) => a.name.localeCompare(b.name));
    return {
      version_info: this.cdsVersion,
      dynamic_active_clusters: all.filter((c) => !this.warmingClusters.has(c.name)).map(entry),
      dynamic_warming_clusters: all.filter((c) => this.warmingClusters.has(c.name)).map(entry),
    };
  }

  /** RoutesConfigDump.dynamic_route_configs */
  dumpRoutes(): any[] {
    return this.host.routeConfigs.entries
      .all()
      .filter((e) => e.value)
      .map((e) => ({ version_info: e.version, route_config: e.value!.config, last_updated: e.lastUpdated!.toISOString() }));
  }

  /** EndpointsConfigDump.dynamic_endpoint_configs */
  dumpEndpoints(): any[] {
    return this.host.endpoints.entries
      .all()
      .filter((e) => e.value)
      .map((e) => ({ version_info: e.version, endpoint_config: e.value, last_updated: e.lastUpdated!.toISOString() }));
  }

  /** SecretsConfigDump.dynamic_active_secrets / dynamic_warming_secrets, private keys redacted as Envoy does */
  dumpSecrets(): { dynamic_active_secrets: any[]; dynamic_warming_secrets: any[] } {
    const all = this.host.secrets.entries.all();
    return {
      dynamic_active_secrets: all.filter((e) => e.value).map((e) => ({ name: e.name, version_info: e.version, last_updated: e.lastUpdated!.toISOString(), secret: redactSecret(e.value) })),
      dynamic_warming_secrets: all.filter((e) => !e.value).map((e) => ({ name: e.name })),
    };
  }

  /** per stream and type: version, nonce, subscribed names, last NACK (the AdsClient's view) */
  streams(): Record<string, unknown> {
    return Object.fromEntries([...this.clients].map(([key, c]) => [key === 'ads' ? 'ads' : key, c.status()]));
  }
}

/** update_failure of each named subscription on a failed stream (named types are never wildcards here) */
function countFailure(names: string[] | '*', statsOf: (name: string) => SubscriptionStats): void {
  if (names !== '*') for (const n of names) statsOf(n).update_failure.inc();
}

/** What rejected one resource, as errors that each name their field (the decoder reports several at once). */
function configErrors(err: unknown, path: string): ConfigError[] {
  if (err instanceof ConfigErrors && err.errors.length > 0) return err.errors;
  if (err instanceof ConfigError) return [err];
  return [new ConfigError('MW_CONFIG_INVALID', path, err instanceof Error ? err.message : String(err))];
}

/** The NACK of an update with rejected resources: each error names its resource and field, one per line. */
function nackOf(errors: ConfigError[]): ConfigError | ConfigErrors {
  return errors.length === 1 ? errors[0]! : new ConfigErrors(errors);
}

/**
 * A delivered resource (unpackAny's proto3 JSON, which names its own type in '@type') through the bootstrap's
 * decoder: the same field checks, validation rules and support table as a static config.
 */
function decodeResource(message: string, json: Record<string, unknown>, path: string): any {
  const { '@type': type, ...fields } = json;
  if (type !== undefined && type !== `type.googleapis.com/${message}`) throw new ConfigError('MW_CONFIG_INVALID', path, `expected a ${message}, got ${String(type)}`);
  return decodeMessage<any>(message, fields, { path });
}

/** The RDS references of a listener: every HTTP connection manager with `rds`. */
function listenerRoutes(l: any): { name: string; source: any; path: string }[] {
  const out: { name: string; source: any; path: string }[] = [];
  const chains: any[] = [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
  chains.forEach((fc, i) => {
    (fc.filters ?? []).forEach((f: any, j: number) => {
      const tc = f.typed_config;
      if (tc?.['@type'] === HCM_TYPE && tc.rds?.route_config_name) {
        out.push({ name: tc.rds.route_config_name, source: tc.rds.config_source, path: `Listener "${l.name}".filter_chains[${i}].filters[${j}].typed_config.rds.config_source` });
      }
    });
  });
  return out;
}

/** SDS references (with sds_config) of a listener's TLS contexts */
function listenerSecrets(l: any): { ref: SdsSecretConfigRef; path: string }[] {
  const chains: any[] = [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])];
  return chains.flatMap((fc, i) => sdsRefs(fc.transport_socket, `Listener "${l.name}".filter_chains[${i}].transport_socket`));
}

function clusterSecrets(c: any): { ref: SdsSecretConfigRef; path: string }[] {
  return [
    ...sdsRefs(c.transport_socket, `Cluster "${c.name}".transport_socket`),
    ...(c.transport_socket_matches ?? []).flatMap((m: any, i: number) => sdsRefs(m.transport_socket, `Cluster "${c.name}".transport_socket_matches[${i}].transport_socket`)),
  ];
}

function sdsRefs(ts: any, path: string): { ref: SdsSecretConfigRef; path: string }[] {
  const common = ts?.typed_config?.common_tls_context;
  return secretRefs(common, `${path}.typed_config.common_tls_context`).filter((r) => r.ref.sds_config !== undefined && r.ref.name);
}

/** Release what a compiled listener that never served holds (access log files). */
async function closeRuntime(rt: ListenerRuntime): Promise<void> {
  for (const c of rt.chains) for (const f of c.filters) await f.close?.();
}
