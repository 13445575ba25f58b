// The control-plane process: config source → generator → xDS server, plus the debug HTTP port. Two sources:
// a directory of plain Envoy resources served to every proxy alike (--config-dir), or a directory of Istio-style
// mesh resources translated per proxy (--mesh-dir: store → model → translate, xds/mesh-generator.ts).
import path from 'node:path';
import { MeshworkError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { DebugServer } from './debug/debug-server.js';
import { histogramSamples, type MetricFamily } from './debug/prometheus.js';
import { FileSource } from './sources/file/file-source.js';
import { DEFAULT_FETCH_TIMEOUT_MS, JwksResolver } from './jwks/resolver.js';
import { FileCredentialStore } from './credentials/file-credentials.js';
import { MeshFileStore } from './sources/file/mesh-store.js';
import type { CaOptions, CertificateAuthority } from './ca/authority.js';
import type { CaCounters } from './ca/certificate-service.js';
import { MeshGenerator, type TrustBundle } from './xds/mesh-generator.js';
import { loadMeshConfigFile } from '../api/mesh/mesh-config.js';
import { configureExtensionProviders } from './translate/security/ext-authz.js';
import { XdsServer, type Generator } from './xds/server.js';

const log = logger('control-plane');

export interface ControlPlaneOptions {
  /** a directory of Envoy resources (exclusive with meshDir) */
  configDir?: string;
  /** a directory of Istio-style resources (exclusive with configDir) */
  meshDir?: string;
  /** Gateway credentials (credentialName): one directory per credential (default `<meshDir>/credentials`) */
  credentialsDir?: string;
  /** host:port of the gRPC xDS server (port 0: any free port) */
  xdsAddress: string;
  /** host:port of the debug HTTP server */
  httpAddress: string;
  /** push debounce of the xDS server, ms (default 100) */
  debounceMs?: number;
  /** run the certificate authority (mesh mode): its files live under dataDir */
  ca?: CaOptions & { joinTokenFile?: string };
  /** Istio's MeshConfig YAML (extensionProviders for CUSTOM authorization; api/mesh/mesh-config.ts), mesh mode */
  meshConfigFile?: string;
}

/** What the control plane needs of a config source, whichever kind. */
interface Backend {
  readonly generator: Generator;
  start(): Promise<void>;
  close(): void;
  /** /debug/resources */
  status(): unknown;
  /** problems currently active (what they replaced keeps being served) */
  errorCount(): number;
  /** edits rejected since start */
  rejectedTotal(): number;
  /** resources served, by type or kind */
  counts(): { labels: Record<string, string>; value: number }[];
}

function envoyBackend(dir: string, push: (reason: string) => void): Backend {
  const source = new FileSource({ dir, onChange: push });
  return {
    generator: source,
    start: () => source.start(),
    close: () => source.close(),
    status: () => source.status(),
    errorCount: () => source.status().errors.length,
    rejectedTotal: () => source.rejectedTotal,
    counts: () => Object.entries(source.status().resources).map(([type, list]) => ({ labels: { type }, value: list.length })),
  };
}

function meshBackend(dir: string, push: (reason: string) => void, trustBundle?: () => TrustBundle, credentialsDir = path.join(dir, 'credentials')): Backend & { generator: MeshGenerator } {
  const store = new MeshFileStore({ dir });
  // Gateway credentialName → files of the credentials dir, served to gateways over SDS
  const credentials = new FileCredentialStore({ dir: credentialsDir, onChange: (names) => generator.credentialsChanged(names) });
  // RequestAuthentication jwksUri keys, fetched here and inlined into listeners (Istio's default mode)
  const jwks = new JwksResolver({ onChange: (reason) => generator.jwksChanged(reason) });
  const generator = new MeshGenerator({ store, onChange: push, trustBundle, jwks, credentials });
  return {
    generator,
    async start() {
      await store.start();
      credentials.start();
      generator.start();
      // the first fetches before xDS serves, as istiod fetches while it builds a push: proxies then start with
      // the keys rather than with UNAVAILABLE_JWKS (bounded: a key server that does not answer delays no more)
      await jwks.settled(DEFAULT_FETCH_TIMEOUT_MS);
    },
    close() {
      generator.close();
      jwks.close();
      credentials.close();
      store.close();
    },
    status() {
      const byKind: Record<string, { name: string; namespace: string; location?: string }[]> = {};
      for (const r of store.list()) (byKind[r.kind] ??= []).push({ name: r.metadata.name, namespace: r.metadata.namespace, location: r.location });
      const snap = generator.current;
      return {
        dir,
        snapshot: snap.version,
        resources: byKind,
        jwks: jwks.status(),
        credentials: credentials.status(),
        registered: [...snap.registered.values()].map((i) => ({ id: i.id, service: i.service, namespace: i.namespace, address: i.address, ports: i.ports, labels: i.labels })),
        errors: store.errors().map((e) => ({ code: e.code, location: e.location, message: e.message })),
      };
    },
    errorCount: () => store.errors().length + credentials.status().errors.length,
    rejectedTotal: () => store.rejectedTotal + credentials.rejectedTotal,
    counts() {
      const byKind = new Map<string, number>();
      for (const r of store.list()) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
      return [...byKind].map(([kind, value]) => ({ labels: { kind }, value }));
    },
  };
}

export class ControlPlane {
  readonly xds: XdsServer;
  private readonly backend: Backend;
  private readonly meshGenerator: MeshGenerator | undefined;
  /** the debug HTTP port; features mount their own routes on it (DebugServer.mount) */
  readonly debug: DebugServer;
  private ready = false;
  /** set by start() when opts.ca is given */
  ca: CertificateAuthority | undefined;
  /** where the join token proxies present is (created in the data dir unless --join-token-file names one) */
  joinTokenFile: string | undefined;
  private readonly caCounters: CaCounters = { issued: 0, refused: 0 };

  constructor(private readonly opts: ControlPlaneOptions) {
    if ((opts.configDir === undefined) === (opts.meshDir === undefined)) {
      throw new MeshworkError('MW_CLI_USAGE', 'give exactly one of --config-dir (Envoy resources) and --mesh-dir (Istio-style resources)');
    }
    if (opts.ca && opts.meshDir === undefined) throw new MeshworkError('MW_CLI_USAGE', 'the certificate authority (--data-dir) runs with --mesh-dir');
    const push = (reason: string) => this.xds.requestPush(reason);
    if (opts.meshConfigFile !== undefined) {
      if (opts.meshDir === undefined) throw new MeshworkError('MW_CLI_USAGE', '--mesh-config goes with --mesh-dir');
      // read once: the providers it declares are part of the control plane's deployment (a change: restart)
      configureExtensionProviders(loadMeshConfigFile(opts.meshConfigFile).extensionProviders);
    }
    if (opts.meshDir !== undefined) {
      const trustBundle = opts.ca ? () => ({ rootsPem: this.ca!.rootsPem(), crlPem: this.ca!.crlPem() }) : undefined;
      const mesh = meshBackend(opts.meshDir, push, trustBundle, opts.credentialsDir);
      this.backend = mesh;
      this.meshGenerator = mesh.generator;
    } else this.backend = envoyBackend(opts.configDir!, push);
    this.xds = new XdsServer({ generator: this.backend.generator, debounceMs: opts.debounceMs });
    this.debug = new DebugServer({
      ready: () => this.ready,
      syncz: () => this.xds.syncz(),
      configDump: (proxy) => this.xds.configDump(proxy),
      resources: () => this.backend.status(),
      metrics: () => this.metrics(),
      ...(opts.ca && {
        ca: () => this.caStatus(),
        caAction: (action, params) => this.caAction(action, params),
      }),
    });
  }

  /** The CA first (the generator's first ROOTCA reads it), its signing service on the xDS port. */
  private async startCa(): Promise<void> {
    const o = this.opts.ca!;
    // Loaded only when the CA runs: X.509 work pulls in @peculiar/x509 and its ASN.1 stack.
    const [{ CertificateAuthority }, { JoinTokens }, { certificateService }] = await Promise.all([
      import('./ca/authority.js'),
      import('./ca/tokens.js'),
      import('./ca/certificate-service.js'),
    ]);
    this.ca = await CertificateAuthority.open(o);
    let tokens: import("./ca/tokens.js").JoinTokens;
    if (o.joinTokenFile !== undefined) {
      tokens = JoinTokens.load(o.joinTokenFile);
      this.joinTokenFile = o.joinTokenFile;
    } else ({ tokens, file: this.joinTokenFile } = JoinTokens.createDefault(o.dataDir));
    this.ca.onChange(() => this.meshGenerator?.trustBundleChanged());
    const [service, impl] = certificateService(this.ca, tokens, this.caCounters);
    this.xds.addService(service, impl);
  }

  private caStatus(): unknown {
    const ca = this.ca;
    if (!ca) return { ready: false };
    return {
      trustDomain: ca.trustDomain,
      roots: ca.rootsPem(),
      crl: ca.crlPem() ?? null,
      joinTokenFile: this.joinTokenFile,
      issued: ca.issued().map((c) => ({ ...c, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString() })),
    };
  }

  private async caAction(action: 'revoke' | 'rotate-root', params: URLSearchParams): Promise<unknown> {
    const ca = this.ca;
    if (!ca) throw new MeshworkError('MW_INTERNAL', 'the CA has not started yet');
    if (action === 'rotate-root') {
      await ca.rotateRoot();
      return { rotated: true, roots: ca.rootsPem() };
    }
    const serial = params.get('serial');
    const identity = params.get('identity');
    const reason = params.get('reason') ?? undefined;
    if ((serial === null) === (identity === null)) throw new MeshworkError('MW_CLI_USAGE', 'give exactly one of ?serial=<hex> and ?identity=spiffe://...');
    if (serial !== null) await ca.revokeSerial(serial.toLowerCase(), reason);
    else await ca.revokeIdentity(identity!, reason);
    return { revoked: serial ?? identity };
  }

  /**
   * Loads the config dir, then serves debug HTTP and xDS; ready once both listen. Rejects (MW_CONFIG_PARSE,
   * MW_LISTEN_FAILED) when the dir cannot be read or an address cannot be bound; bad files only log.
   */
  async start(): Promise<{ xdsPort: number; httpPort: number }> {
    if (this.opts.ca) await this.startCa();
    await this.backend.start();
    // Debug HTTP first, so that /ready can say "not yet" while xDS binds.
    const { port: httpPort } = await this.debug.listen(this.opts.httpAddress);
    const { port: xdsPort } = await this.xds.listen(this.opts.xdsAddress).catch((err: Error) => {
      throw new MeshworkError('MW_LISTEN_FAILED', `Cannot listen on "${this.opts.xdsAddress}" (xDS): ${err.message}`, { cause: err });
    });
    this.ready = true;
    // The one line that tells scripts and tests where we listen (port 0 binds a free port).
    log.info({ xdsPort, httpPort, xdsAddress: this.opts.xdsAddress, httpAddress: this.opts.httpAddress, configDir: this.opts.configDir, meshDir: this.opts.meshDir, joinTokenFile: this.joinTokenFile, trustDomain: this.ca?.trustDomain }, 'control plane serving');
    return { xdsPort, httpPort };
  }

  /** Stops taking config changes, lets xDS streams end within `graceMs`, closes the debug port. */
  async stop(graceMs = 5000): Promise<void> {
    this.ready = false;
    this.backend.close();
    await this.xds.close(graceMs);
    await this.debug.close();
  }

  private metrics(): MetricFamily[] {
    const x = this.xds.metrics();
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
    const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'gauge', samples: [{ value }] });
    // Streams × types by sync state: how much of the fleet runs the latest config.
    const states: { labels: Record<string, string>; value: number }[] = [];
    for (const [type, byState] of this.xds.syncCounts()) for (const [status, value] of byState) states.push({ labels: { type, status }, value });
    return [
      gauge('meshwork_xds_connected_proxies', 'Distinct proxies (node ids) with an open xDS stream', x.connectedProxies),
      gauge('meshwork_xds_streams', 'Open xDS streams', x.streams),
      {
        name: 'meshwork_xds_sync_status',
        help: 'Open streams per xDS type and sync state of the latest response',
        type: 'gauge',
        samples: states,
      },
      counter('meshwork_xds_pushes_total', 'Pushes to all connected proxies (after debouncing)', x.pushes),
      counter('meshwork_xds_push_requests_total', 'Config changes that asked for a push (before debouncing)', x.pushRequests),
      counter('meshwork_xds_push_seconds_total', 'Time spent generating and sending pushes', x.pushTimeMsTotal / 1000),
      gauge('meshwork_xds_last_push_seconds', 'Time the latest push took', x.pushTimeMsLast / 1000),
      counter('meshwork_xds_responses_total', 'Discovery responses sent', x.responses),
      counter('meshwork_xds_acks_total', 'ACKs received', x.acks),
      counter('meshwork_xds_nacks_total', 'NACKs received', x.nacks),
      {
        name: 'meshwork_xds_convergence_seconds',
        help: 'From a config change to the ACK of the response that carried it, per proxy and xDS type: how long until a change is live (Istio: pilot_proxy_convergence_time, up to sending)',
        type: 'histogram',
        samples: histogramSamples(this.xds.convergence),
      },
      counter('meshwork_xds_hold_timeouts_total', 'Routes sent without the answer to a CDS response that added clusters (after the hold timeout)', x.holdTimeouts),
      gauge('meshwork_config_errors', 'Configuration errors currently active (what they replaced keeps being served)', this.backend.errorCount()),
      counter('meshwork_config_rejected_total', 'Config edits rejected since start', this.backend.rejectedTotal()),
      {
        name: 'meshwork_config_resources',
        help: this.opts.meshDir !== undefined ? 'Mesh resources in the config store, by kind' : 'Resources served from the config dir, by type',
        type: 'gauge',
        samples: this.backend.counts(),
      },
      gauge('meshwork_control_plane_ready', '1 once the control plane serves xDS with its first config', this.ready ? 1 : 0),
      ...(this.opts.ca
        ? [
            counter('meshwork_ca_certificates_issued_total', 'Workload certificates the CA signed', this.caCounters.issued),
            counter('meshwork_ca_requests_refused_total', 'Certificate requests refused (token, identity, revoked, bad CSR)', this.caCounters.refused),
          ]
        : []),
    ];
  }
}
