// The control-plane process: config source → generator → xDS server, plus the debug HTTP port. In issue 4 the
// only source is a directory of Envoy resources; the Istio-style sources of later issues plug in as other
// generators behind the same XdsServer.
import { MeshworkError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { DebugServer } from './debug/debug-server.js';
import type { MetricFamily } from './debug/prometheus.js';
import { FileSource } from './sources/file/file-source.js';
import { XdsServer } from './xds/server.js';

const log = logger('control-plane');

export interface ControlPlaneOptions {
  configDir: string;
  /** host:port of the gRPC xDS server (port 0: any free port) */
  xdsAddress: string;
  /** host:port of the debug HTTP server */
  httpAddress: string;
  /** push debounce of the xDS server, ms (default 100) */
  debounceMs?: number;
}

export class ControlPlane {
  readonly source: FileSource;
  readonly xds: XdsServer;
  private readonly debug: DebugServer;
  private ready = false;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.source = new FileSource({ dir: opts.configDir, onChange: (reason) => this.xds.requestPush(reason) });
    this.xds = new XdsServer({ generator: this.source, debounceMs: opts.debounceMs });
    this.debug = new DebugServer({
      ready: () => this.ready,
      syncz: () => this.xds.syncz(),
      configDump: (proxy) => this.xds.configDump(proxy),
      resources: () => this.source.status(),
      metrics: () => this.metrics(),
    });
  }

  /**
   * Loads the config dir, then serves debug HTTP and xDS; ready once both listen. Rejects (MW_CONFIG_PARSE,
   * MW_LISTEN_FAILED) when the dir cannot be read or an address cannot be bound; bad files only log.
   */
  async start(): Promise<{ xdsPort: number; httpPort: number }> {
    await this.source.start();
    // Debug HTTP first, so that /ready can say "not yet" while xDS binds.
    const { port: httpPort } = await this.debug.listen(this.opts.httpAddress);
    const { port: xdsPort } = await this.xds.listen(this.opts.xdsAddress).catch((err: Error) => {
      throw new MeshworkError('MW_LISTEN_FAILED', `Cannot listen on "${this.opts.xdsAddress}" (xDS): ${err.message}`, { cause: err });
    });
    this.ready = true;
    // The one line that tells scripts and tests where we listen (port 0 binds a free port).
    log.info({ xdsPort, httpPort, xdsAddress: this.opts.xdsAddress, httpAddress: this.opts.httpAddress, configDir: this.opts.configDir }, 'control plane serving');
    return { xdsPort, httpPort };
  }

  /** Stops taking config changes, lets xDS streams end within `graceMs`, closes the debug port. */
  async stop(graceMs = 5000): Promise<void> {
    this.ready = false;
    this.source.close();
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
    const status = this.source.status();
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
      counter('meshwork_xds_hold_timeouts_total', 'Routes sent without the answer to a CDS response that added clusters (after the hold timeout)', x.holdTimeouts),
      gauge('meshwork_config_errors', 'Configuration errors currently active (their files serve their last good resources)', status.errors.length),
      counter('meshwork_config_rejected_total', 'Config file versions rejected since start', this.source.rejectedTotal),
      {
        name: 'meshwork_config_resources',
        help: 'Resources served from the config dir, by type',
        type: 'gauge',
        samples: Object.entries(status.resources).map(([type, list]) => ({ labels: { type }, value: list.length })),
      },
      gauge('meshwork_control_plane_ready', '1 once the control plane serves xDS with its first config', this.ready ? 1 : 0),
    ];
  }
}
