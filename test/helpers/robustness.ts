// Shared pieces of the robustness / admin / lifecycle / clusters suites: bootstrap builders, upstreams that
// record what reaches them, and a raw-socket client for byte-exact requests.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { hcmListener, routerFilter } from './bootstrap.js';

export { staticCluster } from './bootstrap.js';

/** An HTTP listener on 127.0.0.1:0 whose single virtual host holds `routes` (default: everything → `cluster`). */
export function httpListener(name: string, opts: { cluster?: string; routes?: any[]; statPrefix?: string; hcm?: object; vhost?: object } = {}): any {
  return hcmListener(name, {
    stat_prefix: opts.statPrefix ?? name,
    route_config: {
      name: `${name}_routes`,
      virtual_hosts: [{ name: 'all', domains: ['*'], routes: opts.routes ?? [{ match: { prefix: '/' }, route: { cluster: opts.cluster ?? 'backend' } }], ...(opts.vhost ?? {}) }],
    },
    http_filters: [routerFilter()],
    ...(opts.hcm ?? {}),
  });
}

export interface RecordingUpstream {
  port: number;
  /** every byte received, over all connections, in arrival order per connection */
  received(): Buffer;
  connections: number;
  close(): Promise<void>;
}

/**
 * A raw TCP upstream that records every byte it receives. It answers each request head it sees (a blank line)
 * with a small 200, which is enough for the body-less requests the suites send to it.
 */
export function recordingUpstream(): Promise<RecordingUpstream> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const u = {
    port: 0,
    connections: 0,
    received: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((sock) => {
    u.connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let pending = '';
    sock.on('data', (d) => {
      chunks.push(d);
      pending += d.toString('latin1');
      let i;
      while ((i = pending.indexOf('\r\n\r\n')) >= 0) {
        pending = pending.slice(i + 4);
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 8\r\ncontent-type: text/plain\r\n\r\nupstream');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(Object.assign(u, { port: (server.address() as net.AddressInfo).port }))));
}

export interface NamedUpstream {
  name: string;
  port: number;
  hits: number;
  server: http.Server;
  close(): Promise<void>;
}

/** A node:http upstream that answers 200 with its own name in the body and the `x-upstream` header. */
export function namedUpstream(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<NamedUpstream> {
  const u: NamedUpstream = {
    name,
    port: 0,
    hits: 0,
    server: undefined as unknown as http.Server,
    close: () =>
      new Promise<void>((resolve) => {
        u.server.closeAllConnections();
        u.server.close(() => resolve());
      }),
  };
  u.server = http.createServer((req, res) => {
    u.hits++;
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(name);
    });
  });
  return new Promise((resolve) => u.server.listen(0, '127.0.0.1', () => {
    u.port = (u.server.address() as net.AddressInfo).port;
    resolve(u);
  }));
}

export interface RawResult {
  /** everything the proxy sent back */
  data: string;
  /** the proxy closed the connection (rather than the wait timing out) */
  closed: boolean;
}

/** Write `bytes` on a fresh connection and collect the reply until the proxy closes it (or `timeoutMs`). */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ data, closed: false });
    }, timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // a reset after the reply is still a close; one before anything arrived is a failure of the exchange
      if (err.code === 'ECONNRESET' && data.length > 0) return;
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}

/** GET through the proxy with node:http (a fresh connection unless an agent is given; from `localAddress` if set). */
export function get(port: number, path: string, headers: Record<string, string> = {}, agent?: http.Agent, localAddress?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: agent ?? false, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The TCP sockets process `pid` is listening on (IPv4), from /proc: its socket inodes matched to LISTEN rows. */
export function listeningPorts(pid: number): { address: string; port: number }[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const out: { address: string; port: number }[] = [];
  for (const row of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = row.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
    const [hex, port] = f[1]!.split(':');
    const a = Buffer.from(hex!, 'hex').reverse();
    out.push({ address: [...a].join('.'), port: parseInt(port!, 16) });
  }
  return out;
}
