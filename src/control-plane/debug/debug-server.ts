// The control plane's debug HTTP port: health, per-proxy xDS status, what each proxy was sent, what the
// sources loaded, and metrics. These JSON shapes are a public API: `meshwork` tools and the dashboard read
// them, so fields are only ever added.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshworkError } from '../../common/errors.js';
import { logger } from '../../common/log.js';
import { formatPrometheus, PROMETHEUS_CONTENT_TYPE, type MetricFamily } from './prometheus.js';

const log = logger('debug-http');

/** What the debug port reads; each call happens per request, so answers are always current. */
export interface DebugTarget {
  /** true once the process serves xDS with its first complete config */
  ready(): boolean;
  syncz(): unknown;
  /** undefined: no proxy with that node id is connected */
  configDump(proxyId: string): unknown | undefined;
  resources(): unknown;
  metrics(): MetricFamily[];
  /** the certificate authority: roots, issued certificates, revocations (absent: no CA) */
  ca?(): unknown;
  /** POST /debug/ca/revoke?serial=|identity= and POST /debug/ca/rotate-root */
  caAction?(action: 'revoke' | 'rotate-root', params: URLSearchParams): Promise<unknown>;
}

const ENDPOINTS = ['/ready', '/debug/syncz', '/debug/config_dump?proxy=<node id>', '/debug/resources', '/debug/ca', '/metrics'];
const CA_ACTIONS: Record<string, 'revoke' | 'rotate-root'> = { '/debug/ca/revoke': 'revoke', '/debug/ca/rotate-root': 'rotate-root' };

/**
 * A feature's own routes on the debug port (trace receiver, dashboard): `prefix` matches the path exactly or
 * as `prefix/...`. The handler owns method checks and the whole response.
 */
export type MountedHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

export class DebugServer {
  private readonly server: http.Server;
  private readonly mounts: { prefix: string; handler: MountedHandler }[] = [];

  constructor(private readonly target: DebugTarget) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  /** Binds `host:port` (port 0: any free port); resolves the bound port. */
  listen(address: string): Promise<{ port: number }> {
    const { host, port } = parseHostPort(address);
    return new Promise((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(new MeshworkError('MW_LISTEN_FAILED', `Cannot listen on "${address}" (debug HTTP): ${err.code ?? err.message}`, { cause: err })));
      this.server.listen(port, host, () => resolve({ port: (this.server.address() as AddressInfo).port }));
    });
  }

  /** Adds a feature's routes (before listen or after: each request looks them up). */
  mount(prefix: string, handler: MountedHandler): void {
    this.mounts.push({ prefix, handler });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Scrapers and browsers keep connections alive; the debug port has nothing in flight worth waiting for.
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://debug');
    for (const m of this.mounts) {
      if (url.pathname === m.prefix || url.pathname.startsWith(m.prefix + '/')) {
        try {
          m.handler(req, res, url);
        } catch (err) {
          log.error({ code: 'MW_INTERNAL', err: (err as Error).stack, path: url.pathname }, 'debug request failed');
          if (!res.headersSent) json(res, 500, { error: (err as Error).message });
          else res.destroy();
        }
        return;
      }
    }
    const action = CA_ACTIONS[url.pathname];
    if (action) {
      // The port's one kind of write: it listens on loopback by default, and must stay off untrusted networks.
      if (req.method !== 'POST') return json(res, 405, { error: `${url.pathname} takes POST` });
      if (!this.target.caAction) return json(res, 404, { error: 'the control plane runs no CA (start it with --data-dir)' });
      this.target.caAction(action, url.searchParams).then(
        (body) => json(res, 200, body),
        (err: Error & { code?: string }) => json(res, err.code === 'MW_CLI_USAGE' ? 400 : 409, { error: err.message, code: err.code }),
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET is supported' });
    try {
      switch (url.pathname) {
        case '/ready': {
          const ready = this.target.ready();
          res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
          return;
        }
        case '/debug/syncz':
          return json(res, 200, this.target.syncz());
        case '/debug/config_dump': {
          const proxy = url.searchParams.get('proxy');
          if (!proxy) return json(res, 400, { error: 'give the proxy with ?proxy=<node id>' });
          const dump = this.target.configDump(proxy);
          if (dump === undefined) return json(res, 404, { error: `no connected proxy with node id "${proxy}"` });
          return json(res, 200, dump);
        }
        case '/debug/resources':
          return json(res, 200, this.target.resources());
        case '/debug/ca':
          if (!this.target.ca) return json(res, 404, { error: 'the control plane runs no CA (start it with --data-dir)' });
          return json(res, 200, this.target.ca());
        case '/metrics':
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(formatPrometheus(this.target.metrics()));
          return;
        default:
          return json(res, 404, { error: `unknown path "${url.pathname}"`, endpoints: [...ENDPOINTS, ...this.mounts.map((m) => m.prefix)] });
      }
    } catch (err) {
      log.error({ code: 'MW_INTERNAL', err: (err as Error).stack, path: url.pathname }, 'debug request failed');
      json(res, 500, { error: (err as Error).message });
    }
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}

/** 'host:port', '[v6]:port' → parts; throws MW_CLI_USAGE naming the address. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new MeshworkError('MW_CLI_USAGE', `Cannot use address "${address}": expected host:port (port 0 picks a free one)`);
  return { host: m[1] ?? m[2]!, port };
}
