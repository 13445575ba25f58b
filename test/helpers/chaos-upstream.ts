// A "chaos upstream" for resilience tests: a real HTTP/1.1 server on loopback whose misbehaviour each test
// chooses — refuse connections, reset mid-response, delay, answer a chosen status, hang — and that records
// every request it received (method, path, headers, body, which connection).
//
// Behaviour comes from, in order: the request's `x-chaos` header (e.g. `status=503`, `delay=200`,
// `reset`, `reset-after-headers`, `hang`, `body=...`, joined with ';'), else the server's current
// `behavior` (settable per test), else 200 with a small JSON body naming the server.
import http from 'node:http';
import net from 'node:net';

export interface ChaosBehavior {
  status?: number;
  /** ms before answering */
  delay?: number;
  /** destroy the socket without answering */
  reset?: boolean;
  /** send headers and part of the body, then destroy the socket */
  resetAfterHeaders?: boolean;
  /** never answer (until the test closes the server) */
  hang?: boolean;
  body?: string;
  headers?: Record<string, string>;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  connection: number;
  at: number;
}

export interface ChaosUpstream {
  readonly name: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** default behaviour for requests without an x-chaos header; a function may vary it per request */
  behavior: ChaosBehavior | ((req: ReceivedRequest, n: number) => ChaosBehavior);
  /** stop listening (connections are refused) and drop open connections */
  refuse(): Promise<void>;
  /** listen again on the same port */
  accept(): Promise<void>;
  connections(): number;
  close(): Promise<void>;
}

export function parseChaos(h: string | undefined): ChaosBehavior | undefined {
  if (!h) return undefined;
  const b: ChaosBehavior = {};
  for (const part of h.split(';')) {
    const [k, v] = part.split('=').map((s) => s.trim()) as [string, string | undefined];
    if (k === 'status') b.status = Number(v);
    else if (k === 'delay') b.delay = Number(v);
    else if (k === 'reset') b.reset = true;
    else if (k === 'reset-after-headers') b.resetAfterHeaders = true;
    else if (k === 'hang') b.hang = true;
    else if (k === 'body') b.body = v ?? '';
  }
  return b;
}

export async function startChaosUpstream(name = 'chaos', port = 0): Promise<ChaosUpstream> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connId = 0;
  let totalConnections = 0;
  const hanging = new Set<http.ServerResponse>();
  let server!: http.Server;
  const up: ChaosUpstream = {
    name,
    port,
    requests,
    behavior: {},
    refuse: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
    },
    accept: () => listen(up.port),
    connections: () => totalConnections,
    close: async () => {
      for (const r of hanging) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
    },
  };
  const make = () => {
    const s = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
          connection: (req.socket as net.Socket & { __id?: number }).__id ?? 0,
          at: Date.now(),
        };
        requests.push(rec);
        const base = typeof up.behavior === 'function' ? up.behavior(rec, requests.length) : up.behavior;
        const b = { ...base, ...parseChaos(req.headers['x-chaos'] as string | undefined) };
        const answer = () => {
          if (b.reset) {
            req.socket.destroy();
            return;
          }
          if (b.hang) {
            hanging.add(res);
            return;
          }
          const body = b.body ?? JSON.stringify({ server: name, path: rec.path, n: requests.length });
          res.writeHead(b.status ?? 200, { 'content-type': 'application/json', 'x-upstream': name, ...(b.headers ?? {}) });
          if (b.resetAfterHeaders) {
            res.write(body.slice(0, Math.max(1, body.length >> 1)));
            setTimeout(() => req.socket.destroy(), 10);
            return;
          }
          res.end(body);
        };
        if (b.delay) setTimeout(answer, b.delay);
        else answer();
      });
    });
    s.keepAliveTimeout = 60_000;
    s.on('connection', (sock: net.Socket & { __id?: number }) => {
      sock.__id = ++connId;
      totalConnections++;
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    return s;
  };
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server = make();
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        (up as { port: number }).port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await listen(port);
  return up;
}
