// The admin listener, with Envoy's endpoints and output formats, bound only where the bootstrap's `admin`
// says. It is not on the request path, so it uses node:http.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { logger, logLevels, setLogLevel, LOG_LEVEL_NAMES } from '../../common/log.js';
import { statsResponse } from '../observability/stats.js';
import { buildAccessLogger } from '../http/conn-manager-config.js';
import type { AccessLogger } from '../observability/access-log.js';
import { StreamInfo } from '../stream-info.js';
import { HeaderMap } from '../http/headers.js';
import type { ProxyServer } from '../server/server.js';
import { VERSION } from '../server/version.js';
import { redactSecret } from '../xds/secrets.js';

const log = logger('admin');

// The logger runs on pino; /logging shows Envoy's names for the levels whose names differ.
const ENVOY_LEVEL_NAMES: Record<string, string> = { warn: 'warning', fatal: 'critical', silent: 'off' };

type Handler = (req: http.IncomingMessage, url: URL) => { status?: number; type?: string; body: string } | Promise<{ status?: number; type?: string; body: string }>;

interface Endpoint {
  help: string;
  mutates: boolean;
  handler: Handler;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly proxy: ProxyServer;
  private readonly config: any;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly accessLoggers: AccessLogger[];
  port = 0;

  constructor(proxy: ProxyServer, config: any) {
    this.proxy = proxy;
    this.config = config;
    const loggers: AccessLogger[] = (config.access_log ?? []).map((al: any, i: number) => buildAccessLogger(al, `admin.access_log[${i}]`));
    if (config.access_log_path && config.access_log_path !== '/dev/null') {
      loggers.push(buildAccessLogger({ typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: config.access_log_path } }, 'admin.access_log_path'));
    }
    this.accessLoggers = loggers;
    this.register();
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  listen(): Promise<void> {
    const sa = this.config.address?.socket_address;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: sa.address, port: sa.port_value ?? 0 }, () => {
        this.port = (this.server.address() as import('node:net').AddressInfo).port;
        log.info({ address: `${sa.address}:${this.port}` }, 'admin listening');
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private add(path: string, help: string, mutates: boolean, handler: Handler): void {
    this.endpoints.set(path, { help, mutates, handler });
  }

  private register(): void {
    const p = this.proxy;
    const json = (v: unknown) => ({ type: 'application/json', body: JSON.stringify(v, null, 2) + '\n' });
    this.add('/', 'admin home page', false, () => ({ type: 'text/plain', body: this.helpText() }));
    this.add('/help', 'print out list of admin commands', false, () => ({ type: 'text/plain', body: this.helpText() }));
    this.add('/ready', 'print server state, return 200 if LIVE, otherwise return 503', false, () => ({ status: p.reportedState === 'LIVE' ? 200 : 503, type: 'text/plain', body: `${p.reportedState}\n` }));
    this.add('/server_info', 'print server version/status information', false, () => {
      const up = Math.floor((Date.now() - p.startedAt) / 1000);
      return json({
        version: `meshwork/${VERSION}`,
        state: p.reportedState,
        hot_restart_version: 'disabled',
        command_line_options: { config_path: p.opts.configPath ?? '', config_yaml: p.opts.configYaml ?? '', drain_time: `${p.opts.drainTimeMs / 1000}s`, service_node: p.opts.serviceNode ?? '', service_cluster: p.opts.serviceCluster ?? '', mode: 'Serve', concurrency: 1 },
        node: p.bootstrap?.node ?? {},
        uptime_current_epoch: `${up}s`,
        uptime_all_epochs: `${up}s`,
        health_check_failed: p.healthCheckFailed,
      });
    });
    this.add('/config_dump', 'dump current Envoy configs', false, (_req, url) => json(this.configDump(url.searchParams.has('include_eds'))));
    this.add('/certs', 'print certs on machine', false, () => json(certsDump(p)));
    this.add('/why', 'walk a described request through the running config: ?url=&method=&header=name:value', false, async (_req, url) => {
      // loaded on first use: a proxy that is never asked does not carry it
      const { explainRequest, parseWhy } = await import('./why.js');
      const q = parseWhy(url.searchParams);
      if ('error' in q) return { status: 400, type: 'text/plain', body: `${q.error}\n` };
      return json(explainRequest(q, p.listenerManager, p.clusterManager));
    });
    this.add('/clusters', 'upstream cluster status', false, (_req, url) => (url.searchParams.get('format') === 'json' ? json(this.clustersJson()) : { type: 'text/plain', body: this.clustersText() }));
    this.add('/listeners', 'print listener info', false, (_req, url) => {
      const ls = p.listenerManager.describe();
      if (url.searchParams.get('format') === 'json') {
        return json({ listener_statuses: ls.map((l) => ({ name: l.name, local_address: { socket_address: { address: l.address, port_value: l.port } } })) });
      }
      return { type: 'text/plain', body: ls.map((l) => `${l.name}::${l.address}:${l.port}\n`).join('') };
    });
    this.add('/stats', 'print server stats', false, (_req, url) => {
      p.refreshServerStats();
      const r = statsResponse(p.stats, '/stats', url.searchParams);
      return { status: r.status, type: r.contentType, body: r.body };
    });
    this.add('/stats/prometheus', 'print server stats in prometheus format', false, (_req, url) => {
      p.refreshServerStats();
      const r = statsResponse(p.stats, '/stats/prometheus', url.searchParams);
      return { status: r.status, type: r.contentType, body: r.body };
    });
    this.add('/logging', 'query/change logging levels', true, (req, url) => {
      const params = [...url.searchParams.entries()];
      if (params.length > 0 && req.method !== 'POST') return { status: 405, type: 'text/plain', body: 'This endpoint requires POST to change levels\n' };
      for (const [k, v] of params) {
        const ok = k === 'level' ? setLogLevel(v) : setLogLevel(v, k);
        if (!ok) return { status: 404, type: 'text/plain', body: `invalid level "${v}" or logger "${k}"; levels: ${LOG_LEVEL_NAMES.join(', ')}\n` };
      }
      const lv = logLevels();
      return { type: 'text/plain', body: 'active loggers:\n' + Object.keys(lv).sort().map((k) => `  ${k}: ${ENVOY_LEVEL_NAMES[lv[k]!] ?? lv[k]}\n`).join('') };
    });
    this.add('/healthcheck/fail', 'cause the server to fail health checks', true, () => {
      p.failHealthcheck(true);
      return { type: 'text/plain', body: 'OK\n' };
    });
    this.add('/healthcheck/ok', 'cause the server to pass health checks', true, () => {
      p.failHealthcheck(false);
      return { type: 'text/plain', body: 'OK\n' };
    });
    this.add('/quitquitquit', 'exit the server', true, () => {
      setImmediate(() => void p.shutdown('/quitquitquit').then(() => process.exit(0)));
      return { type: 'text/plain', body: 'OK\n' };
    });
    this.add('/drain_listeners', 'drain listeners', true, (_req, url) => {
      if (!url.searchParams.has('inboundonly')) p.listenerManager.stopAccepting();
      p.listenerManager.drainAll();
      return { type: 'text/plain', body: 'OK\n' };
    });
    this.add('/reopen_logs', 'reopen access logs', true, () => {
      p.reopenLogs();
      return { type: 'text/plain', body: 'OK\n' };
    });
    this.add('/memory', 'print current allocation/heap usage', false, () => {
      const m = process.memoryUsage();
      return json({ allocated: String(m.heapUsed), heap_size: String(m.heapTotal), rss: String(m.rss), external: String(m.external) });
    });
  }

  private helpText(): string {
    let out = 'admin commands are:\n';
    for (const [path, e] of [...this.endpoints].sort()) out += `  ${path}${e.mutates ? ' (POST)' : ''}: ${e.help}\n`;
    return out;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const info = new StreamInfo({ remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`, local: `${req.socket.localAddress}:${req.socket.localPort}`, id: 0 });
    const url = new URL(req.url ?? '/', 'http://admin');
    const ep = this.endpoints.get(url.pathname);
    let status = 404;
    let type = 'text/plain';
    let body = `invalid path. ${this.helpText()}`;
    if (ep) {
      if (ep.mutates && req.method !== 'POST' && url.pathname !== '/logging') {
        status = 405;
        body = 'This endpoint requires POST\n';
      } else {
        try {
          const r = await ep.handler(req, url);
          status = r.status ?? 200;
          type = r.type ?? 'text/plain';
          body = r.body;
        } catch (err) {
          status = 500;
          body = `${(err as Error).message}\n`;
        }
      }
    }
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' });
    res.end(body);
    if (this.accessLoggers.length > 0) {
      info.protocol = `HTTP/${req.httpVersion}`;
      info.requestHeaders = HeaderMap.from(req.headers as Record<string, string>);
      info.requestHeaders.raw.unshift(':method', req.method ?? 'GET', ':path', req.url ?? '/', ':authority', req.headers.host ?? '');
      info.responseCode = status;
      info.bytesSent = Buffer.byteLength(body);
      for (const l of this.accessLoggers) l.log(info);
    }
  }

  private configDump(includeEds = false): any {
    const p = this.proxy;
    const lu = p.lastUpdated.toISOString();
    const b = p.bootstrap ?? {};
    const dyn = p.dynamic;
    const dynamicNames = dyn?.dynamicNames();
    const listeners = p.listenerManager.describe().filter((l) => !dynamicNames?.listeners.has(l.name));
    const routes: any[] = [];
    for (const l of listeners) {
      for (const fc of [...(l.config.filter_chains ?? []), ...(l.config.default_filter_chain ? [l.config.default_filter_chain] : [])]) {
        for (const f of fc.filters ?? []) if (f.typed_config?.route_config) routes.push({ route_config: f.typed_config.route_config, last_updated: lu });
      }
    }
    const staticClusters = p.clusterManager.all().filter((c) => !dynamicNames?.clusters.has(c.name));
    // dynamic sections (Envoy's names), with each resource's version_info and last_updated
    const secrets = [...p.secrets.staticSecrets(), ...p.secrets.providedSecrets()].map((w) => ({ name: w.name, last_updated: w.lastUpdated!.toISOString(), secret: redactSecret(w.value) }));
    return {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: b, last_updated: lu },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          static_clusters: staticClusters.map((c) => ({ cluster: c.config, last_updated: c.lastUpdated.toISOString() })),
          ...dyn?.dumpClusters(),
        },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', static_listeners: listeners.map((l) => ({ listener: l.config, last_updated: lu })), ...dyn?.dumpListeners() },
        { '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', static_route_configs: routes, ...(dyn && { dynamic_route_configs: dyn.dumpRoutes() }) },
        ...(secrets.length || dyn ? [{ '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump', static_secrets: secrets, ...dyn?.dumpSecrets() }] : []),
        ...(includeEds && dyn ? [{ '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: dyn.dumpEndpoints() }] : []),
      ],
    };
  }

  private addedViaApi(cluster: string): boolean {
    return this.proxy.dynamic?.dynamicNames().clusters.has(cluster) ?? false;
  }

  private clustersText(): string {
    let out = '';
    for (const c of this.proxy.clusterManager.all()) {
      const n = c.name;
      out += `${n}::observability_name::${n}\n`;
      if (c.outlier) {
        const [sr, srt] = c.outlier.successRate;
        const [lo, lot] = c.outlier.localOriginSuccessRate;
        out += `${n}::outlier::success_rate_average::${sr}\n${n}::outlier::success_rate_ejection_threshold::${srt}\n`;
        out += `${n}::outlier::local_origin_success_rate_average::${lo}\n${n}::outlier::local_origin_success_rate_ejection_threshold::${lot}\n`;
      }
      for (const rm of [c.breakers.default, c.breakers.high]) {
        for (const [k, v] of Object.entries(rm.thresholds)) out += `${n}::${rm.priority.toLowerCase()}_priority::${k}::${v}\n`;
      }
      out += `${n}::added_via_api::${this.addedViaApi(n)}\n`;
      for (const h of c.hosts) {
        const p = `${n}::${h.id}`;
        out += `${p}::cx_active::${h.activeConnections}\n${p}::cx_connect_fail::${h.cxConnectFail}\n${p}::rq_active::${h.activeRequests}\n`;
        out += `${p}::rq_error::${h.rqError}\n${p}::rq_success::${h.rqSuccess}\n${p}::rq_total::${h.rqTotal}\n`;
        out += `${p}::hostname::${h.hostname ?? ''}\n${p}::health_flags::${healthFlags(h)}\n${p}::weight::${h.weight}\n`;
        const [sr, lo] = c.outlier?.hostSuccessRate(h) ?? [-1, -1];
        out += `${p}::success_rate::${sr}\n${p}::local_origin_success_rate::${lo}\n`;
        out += `${p}::region::${h.locality?.region ?? ''}\n${p}::zone::${h.locality?.zone ?? ''}\n${p}::sub_zone::${h.locality?.sub_zone ?? ''}\n${p}::priority::${h.priority}\n`;
      }
    }
    return out;
  }

  private clustersJson(): any {
    return {
      cluster_statuses: this.proxy.clusterManager.all().map((c) => ({
        name: c.name,
        added_via_api: this.addedViaApi(c.name),
        host_statuses: c.hosts.map((h) => ({
          address: h.pipe !== undefined ? { pipe: { path: h.pipe } } : { socket_address: { address: h.address, port_value: h.port } },
          stats: [
            { name: 'cx_active', type: 'GAUGE', value: String(h.activeConnections) },
            { name: 'cx_connect_fail', value: String(h.cxConnectFail) },
            { name: 'rq_active', type: 'GAUGE', value: String(h.activeRequests) },
            { name: 'rq_error', value: String(h.rqError) },
            { name: 'rq_success', value: String(h.rqSuccess) },
            { name: 'rq_total', value: String(h.rqTotal) },
          ],
          health_status: {
            eds_health_status: h.healthy ? 'HEALTHY' : 'UNHEALTHY',
            ...(h.failedActiveHc ? { failed_active_health_check: true } : {}),
            ...(h.ejected ? { failed_outlier_check: true } : {}),
          },
          weight: h.weight,
          hostname: h.hostname ?? '',
          priority: h.priority,
          locality: h.locality ?? {},
        })),
      })),
    };
  }
}

/** Envoy's health_flags in /clusters: "healthy", or each failure flag in Envoy's order. */
function healthFlags(h: import('../upstream/host.js').Host): string {
  const f = (h.failedActiveHc ? '/failed_active_hc' : '') + (h.ejected ? '/failed_outlier_check' : '') + (h.healthy ? '' : '/failed_eds_health');
  return f || 'healthy';
}

/**
 * Envoy's /certs: per secret holding certificates (static, provided by the workload certificate agent, or from
 * SDS), its CA certificates and its certificate chain with serial, SANs and days to expiry. Only inline and file
 * sources are read; a Meshwork addition, `workload_certificate`, says where the agent stands (rotations, next
 * renewal, last error).
 */
function certsDump(p: ProxyServer): unknown {
  const describe = (pem: string, path: string) =>
    (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => {
      const c = new crypto.X509Certificate(block);
      const sans = (c.subjectAltName ?? '').split(', ').filter(Boolean).map((san) => {
        const i = san.indexOf(':');
        const kind = san.slice(0, i);
        return { [kind === 'URI' ? 'uri' : kind === 'IP Address' ? 'ip_address' : 'dns']: san.slice(i + 1) };
      });
      const expires = new Date(c.validTo);
      return {
        path,
        serial_number: c.serialNumber.toLowerCase(),
        subject_alt_names: sans,
        days_until_expiration: String(Math.max(0, Math.floor((expires.getTime() - Date.now()) / 86_400_000))),
        valid_from: new Date(c.validFrom).toISOString(),
        expiration_time: expires.toISOString(),
      };
    });
  const text = (ds: any): string | undefined => {
    if (!ds) return undefined;
    if (ds.inline_string !== undefined) return String(ds.inline_string);
    if (ds.inline_bytes !== undefined) return Buffer.from(ds.inline_bytes, 'base64').toString();
    if (ds.filename) {
      try {
        return fs.readFileSync(ds.filename, 'utf8');
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const where = (ds: any): string => (ds?.filename ? ds.filename : '<inline>');
  const certificates: unknown[] = [];
  const all = [...p.secrets.staticSecrets(), ...p.secrets.providedSecrets(), ...p.secrets.entries.all()];
  for (const w of all) {
    const v: any = w.value;
    if (!v) continue;
    const chain = v.tls_certificate?.certificate_chain;
    const ca = v.validation_context?.trusted_ca;
    const entry = {
      name: w.name,
      ca_cert: ca ? describe(text(ca) ?? '', where(ca)) : [],
      cert_chain: chain ? describe(text(chain) ?? '', where(chain)) : [],
    };
    if (entry.ca_cert.length || entry.cert_chain.length) certificates.push(entry);
  }
  return { certificates, ...(p.workloadCerts ? { workload_certificate: p.workloadCerts.status() } : {}) };
}
