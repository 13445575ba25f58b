// HTTP health checker (HealthCheck.http_health_check): a request to `path` with Host `host` (the cluster
// name when empty) over HTTP/1.1 or HTTP/2 (codec_client_type); a status in expected_statuses (default 200
// only) passes, one in retriable_statuses fails toward unhealthy_threshold, any other status fails the host
// at once — Envoy's semantics.
import http from 'node:http';
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';
import type { CheckResult, HealthCheckerContext, HealthCheckerFactory, HealthCheckSession } from '../../../upstream/health-check-manager.js';
import { compileHeaderOptions, H2CheckSession, openConnection } from '../common.js';

type Ranges = readonly (readonly [number, number])[];

function compileRanges(list: any[] | undefined, path: string, def: Ranges): Ranges {
  if (!list || list.length === 0) return def;
  return list.map((r: any, i: number) => {
    const start = r.start ?? 0;
    const end = r.end ?? 0;
    // Envoy: start ≥ 100, end ≤ 600, start < end (end exclusive)
    if (start < 100 || end > 600 || start >= end) throw new ConfigError('MW_CONFIG_INVALID', `${path}[${i}]`, `[${start}, ${end}) is not a valid status range (100 ≤ start < end ≤ 600)`);
    return [start, end] as const;
  });
}

const inRanges = (rs: Ranges, s: number): boolean => rs.some(([a, b]) => s >= a && s < b);

export const httpHealthChecker: HealthCheckerFactory = {
  name: 'http_health_check',
  compile(cfg: any, ctx: HealthCheckerContext) {
    const p = ctx.path;
    if (!cfg.path) throw new ConfigError('MW_CONFIG_INVALID', `${p}.path`, 'a health check path is required');
    const codec = cfg.codec_client_type ?? 'HTTP1';
    if (codec !== 'HTTP1' && codec !== 'HTTP2') throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${p}.codec_client_type`, `${codec} is not supported (HTTP1, HTTP2)`);
    const method = cfg.method === undefined || cfg.method === 'METHOD_UNSPECIFIED' ? 'GET' : cfg.method;
    if (method === 'CONNECT') throw new ConfigError('MW_CONFIG_INVALID', `${p}.method`, 'CONNECT cannot be used for health checks');
    const expected = compileRanges(cfg.expected_statuses, `${p}.expected_statuses`, [[200, 201]]);
    const retriable = compileRanges(cfg.retriable_statuses, `${p}.retriable_statuses`, []);
    const authority: string = cfg.host || ctx.clusterName;
    const remove = new Set<string>((cfg.request_headers_to_remove ?? []).map((h: string) => h.toLowerCase()));
    const headers: Record<string, string> = {};
    if (!remove.has('user-agent')) headers['user-agent'] = 'Envoy/HC';
    for (const [k, v] of compileHeaderOptions(cfg.request_headers_to_add, `${p}.request_headers_to_add`)) headers[k] = v;
    const judge = (status: number): CheckResult =>
      inRanges(expected, status) ? { ok: true } : { ok: false, network: false, retriable: inRanges(retriable, status), reason: `status ${status}` };
    const path: string = cfg.path;
    return codec === 'HTTP2'
      ? (host) => new H2Session(host, ctx, { ':method': method, ':path': path, ':authority': authority, ...headers }, judge)
      : (host) => new H1Session(host, ctx, { method, path, headers: { host: authority, ...headers } }, judge);
  },
};

class H1Session implements HealthCheckSession {
  private agent: http.Agent | undefined;
  private req: http.ClientRequest | undefined;

  constructor(
    private readonly host: Host,
    private readonly ctx: HealthCheckerContext,
    private readonly request: { method: string; path: string; headers: Record<string, string> },
    private readonly judge: (status: number) => CheckResult,
  ) {}

  private getAgent(): http.Agent {
    if (this.agent) return this.agent;
    // One connection per host, kept between checks when reuse_connection is on (Envoy's default).
    const agent = new http.Agent({ keepAlive: this.ctx.reuseConnection, maxSockets: 1 });
    agent.createConnection = () => openConnection(this.host, this.ctx.transport, ['http/1.1']);
    return (this.agent = agent);
  }

  check(): Promise<CheckResult> {
    return new Promise((resolve) => {
      const req = http.request({ ...this.request, agent: this.getAgent() }, (res) => {
        res.resume();
        res.on('end', () => resolve(this.judge(res.statusCode ?? 0)));
        res.on('error', (err) => resolve({ ok: false, network: true, reason: err.message }));
      });
      this.req = req;
      req.on('error', (err) => resolve({ ok: false, network: true, reason: err.message }));
      req.end();
    });
  }

  close(): void {
    this.req?.destroy();
    this.agent?.destroy();
    this.agent = undefined;
  }
}

class H2Session extends H2CheckSession {
  constructor(
    host: Host,
    ctx: HealthCheckerContext,
    private readonly headers: Record<string, string>,
    private readonly judge: (status: number) => CheckResult,
  ) {
    super(host, ctx);
  }

  check(): Promise<CheckResult> {
    return new Promise((resolve) => {
      const session = this.connect();
      const stream = session.request(this.headers, { endStream: true });
      let status = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', () => {});
      stream.on('end', () => resolve(this.judge(status)));
      stream.on('error', (err) => resolve({ ok: false, network: true, reason: err.message }));
      stream.on('close', () => {
        if (status === 0) resolve({ ok: false, network: true, reason: 'stream closed before a response' });
        if (!this.ctx.reuseConnection) this.close();
      });
    });
  }
}
