// Shared pieces of the routing / headers / HTTP/1 end-to-end suites: an echo upstream that reports what it
// received (and counts its TCP connections), a bootstrap builder for one HTTP listener, and small clients
// (node:http without pooling, raw sockets, curl) that expose exactly what came back on the wire.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { hcmListener, routerFilter, staticCluster as clusterOver } from './bootstrap.js';

export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** every header as received, lowercase name → values */
  headers: Record<string, string[]>;
  bodyLength: number;
  bodySha256: string;
  /** the upstream-side TCP connection this request arrived on (1, 2, ...) */
  conn: number;
}

export interface Upstream {
  name: string;
  port: number;
  server: http.Server;
  requests: SeenRequest[];
  /** TCP connections accepted so far */
  connections(): number;
  close(): Promise<void>;
}

/** Answers the request itself, or returns false to leave it to the default echo. */
export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, seen: SeenRequest) => void | false | Promise<void>;

/**
 * An HTTP/1.1 upstream on 127.0.0.1. Unless `handler` answers, it replies 200 with a JSON echo of the request
 * (`{ upstream, ...SeenRequest }`) after reading the whole body (hashing it as it streams, never buffering).
 */
export async function startUpstream(name: string, handler?: UpstreamHandler): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  let conns = 0;
  const sockets = new Set<net.Socket>();
  const connIds = new WeakMap<net.Socket, number>();
  // large header limit so that the proxy's limits, not node's 16 KiB default, are what tests meet
  const server = http.createServer({ maxHeaderSize: 256 * 1024 }, (req, res) => {
    const seen: SeenRequest = {
      method: req.method!,
      url: req.url!,
      httpVersion: req.httpVersion,
      headers: Object.fromEntries(Object.entries(req.headersDistinct).map(([k, v]) => [k, v ?? []])),
      bodyLength: 0,
      bodySha256: '',
      conn: connIds.get(req.socket) ?? 0,
    };
    if (handler) {
      const handled = handler(req, res, seen);
      if (handled !== false) {
        requests.push(seen);
        return;
      }
    }
    const hash = createHash('sha256');
    req.on('data', (d: Buffer) => {
      seen.bodyLength += d.length;
      hash.update(d);
    });
    req.on('end', () => {
      seen.bodySha256 = hash.digest('hex');
      requests.push(seen);
      const body = JSON.stringify({ upstream: name, ...seen });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': name });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: net.Socket) => {
    connIds.set(s, ++conns);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    server,
    requests,
    connections: () => conns,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export const ROUTER = routerFilter();

/** An access log to the proxy's stdout, one line per request, prefixed with `AL ` so that it is easy to find. */
export function stdoutAccessLog(format: string): object {
  return {
    name: 'envoy.access_loggers.stdout',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
      log_format: { text_format_source: { inline_string: `AL ${format}\n` } },
    },
  };
}

export function staticCluster(name: string, port: number, extra: object = {}): object {
  return clusterOver(name, [port], extra);
}

/** An HTTP listener on 127.0.0.1 with a kernel-chosen port; `hcm` fields are added to the router-only default. */
export function httpListener(name: string, hcm: Record<string, unknown>): object {
  return hcmListener(name, { http_filters: [routerFilter()], ...hcm });
}

/** An httpListener whose access log goes to stdout as `<name> <path> <code> <flags>` (read back with accessLines). */
export function loggedListener(name: string, hcm: Record<string, unknown>): object {
  return httpListener(name, { access_log: [stdoutAccessLog(`${name} %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%`)], ...hcm });
}

/** A bootstrap with one HTTP listener named `main` (`hcm`), or the given `listeners`. */
export function httpBootstrap(opts: { hcm?: Record<string, unknown>; listeners?: object[]; clusters: object[] }): object {
  return { static_resources: { listeners: opts.listeners ?? [httpListener('main', opts.hcm ?? {})], clusters: opts.clusters } };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** raw header pairs as sent (names in their wire case) */
  rawHeaders: string[];
  body: Buffer;
  text: string;
  json<T = any>(): T;
}

/** One request over its own connection (no pooling), so every header the proxy sent is visible. */
export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders | [string, string][]; body?: string | Buffer; agent?: http.Agent; timeoutMs?: number; localAddress?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // node adds Host by itself only for object headers; a raw pair list must carry its own
    const pairs = Array.isArray(opts.headers) && !opts.headers.some(([k]) => k.toLowerCase() === 'host') ? [['host', `127.0.0.1:${port}`], ...opts.headers] : opts.headers;
    const headers: http.OutgoingHttpHeaders | string[] = Array.isArray(pairs) ? pairs.flat() : { ...(pairs ?? {}) };
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers, agent: opts.agent ?? false, localAddress: opts.localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString();
          resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`request ${opts.path ?? '/'} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Write `data` on a fresh raw socket and collect everything that comes back until the proxy closes the
 * connection (or `timeoutMs` passes: `closed` tells which).
 */
export function rawExchange(port: number, data: string | Buffer | (string | Buffer)[], timeoutMs = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const t = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => finish(true));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // a reset after the proxy answered still counts as a close
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!done) {
        done = true;
        clearTimeout(t);
        reject(err);
      }
    });
    sock.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) sock.write(d);
    });
  });
}

/** The status codes of the responses in raw HTTP/1 response text (a body need not end with a newline). */
export function statusLines(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

export function curl(args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as any).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Access log lines (without the `AL ` prefix) the proxy has written to stdout so far. */
export function accessLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('AL '))
    .map((l) => l.slice(3));
}
