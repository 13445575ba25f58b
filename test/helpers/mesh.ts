// Test helpers for whole meshes (a `meshwork control-plane` process driving `meshwork proxy` processes): a
// config dir the test edits the way editors and ConfigMap mounts do, the control plane's debug API as JSON,
// and a continuous keep-alive client load that records every failed request. Below them: meshes of
// Istio-style resources (TestMesh: `meshwork control-plane --mesh-dir`, sidecars and gateways started with mesh
// flags, the apps behind them), paced loads, and the cluster names a proxy's /config_dump shows.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { startControlPlane, type RunningControlPlane } from './control-plane.js';
import { MESHWORK, freePort, stopChild, tmpDir } from './proxy.js';
import { TYPE_URL, get } from './xds-proxy.js';

/** A resource for a config file: its proto3 JSON with the '@type' the file format wants. */
export const typed = (typeUrl: string, json: Record<string, unknown>): Record<string, unknown> => ({ '@type': typeUrl, ...json });
export const listenerDoc = (json: Record<string, unknown>) => typed(TYPE_URL.LISTENER, json);
export const routeDoc = (json: Record<string, unknown>) => typed(TYPE_URL.ROUTE, json);
export const clusterDoc = (json: Record<string, unknown>) => typed(TYPE_URL.CLUSTER, json);
export const endpointDoc = (json: Record<string, unknown>) => typed(TYPE_URL.ENDPOINT, json);

/**
 * Write `resources` (each with its '@type') as one YAML file of `---`-separated documents in `dir`. Written
 * to a dot-file first and renamed over the target, so the watcher never reads half a file (a half-read file
 * would be rejected and counted, which some assertions look at).
 */
export function writeResources(dir: string, file: string, resources: object[]): void {
  const text = resources.map((r) => stringify(r, { aliasDuplicateObjects: false })).join('---\n');
  const tmp = path.join(dir, `.${file}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path.join(dir, file));
}

export function removeFile(dir: string, file: string): void {
  fs.rmSync(path.join(dir, file));
}

/** JSON from the control plane's debug port; throws on a non-200 answer. */
export async function debugJson(cp: RunningControlPlane, pathname: string): Promise<any> {
  const r = await cp.http(pathname);
  if (r.status !== 200) throw new Error(`GET ${pathname}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The /debug/syncz entry of one proxy (node id), undefined while it has no stream. */
export async function syncOf(cp: RunningControlPlane, proxyId: string): Promise<any | undefined> {
  const all: any[] = await debugJson(cp, '/debug/syncz');
  return all.find((s) => s.proxy === proxyId);
}

/** `n` requests on fresh connections: each response's body and x-route header. */
export async function sample(port: number, n: number, pathname = '/'): Promise<{ status: number; body: string; route: string | undefined }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await get(port, pathname);
    out.push({ status: r.status, body: r.body, route: r.headers['x-route'] as string | undefined });
  }
  return out;
}

export interface LoadResult {
  ok: number;
  /** every non-2xx response and request error, as "<status> <body>" or "error: <message>" */
  failures: string[];
  /** 2xx responses per body */
  bodies: Record<string, number>;
}

export interface Load {
  /** results so far */
  readonly result: LoadResult;
  /** stop after the requests in flight finish; the agent's sockets are closed */
  stop(): Promise<LoadResult>;
}

/**
 * `concurrency` clients each sending GET `pathname` back to back on one keep-alive agent, until stopped.
 * Nothing is retried: a reset connection or a 503 during a config change is a failure to count.
 */
export function startLoad(port: number, o: { concurrency?: number; pathname?: string } = {}): Load {
  const concurrency = o.concurrency ?? 2;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failures: [], bodies: {} };
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await get(port, o.pathname ?? '/', agent);
        if (r.status >= 200 && r.status < 300) {
          result.ok++;
          result.bodies[r.body] = (result.bodies[r.body] ?? 0) + 1;
        } else result.failures.push(`${r.status} ${r.body}`);
      } catch (err) {
        result.failures.push(`error: ${(err as Error).message}`);
        // a refused connection fails at once; do not spin
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Meshes of Istio-style resources (`meshwork control-plane --mesh-dir`) with sidecars and gateways started by
// mesh flags only (`meshwork proxy --sidecar/--gateway`), each a real process, and the apps behind them.

/** A `meshwork proxy --sidecar/--gateway` process. */
export interface MeshProxy {
  readonly id: string;
  readonly child: ChildProcess;
  readonly adminPort: number;
  readonly exited: Promise<number | null>;
  admin(pathname: string): Promise<Response>;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const meshChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of meshChildren) c.kill('SIGKILL');
});

let loopbackCount = 0;
/**
 * A loopback address of its own for each sidecar's outbound listeners (they take the service ports, which
 * every sidecar of a mesh would otherwise fight over). The third octet comes from the pid, so test files
 * running side by side do not meet; it is never 0, leaving 127.0.0.x to the demo.
 */
export function nextLoopback(): string {
  loopbackCount++;
  return `127.${1 + (process.pid % 250)}.${loopbackCount >> 8}.${(loopbackCount & 255) || 1}`;
}

/** `meshwork proxy <args>` (log level warning, 1 s drain), killed when the test process exits. */
export function runMeshworkProxy(args: string[]): { child: ChildProcess; exited: Promise<number | null>; output: () => string; stop: (signal?: NodeJS.Signals) => Promise<number | null> } {
  const child = spawn(process.execPath, [MESHWORK, 'proxy', '-l', 'warning', '--drain-time-s', '1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  meshChildren.add(child);
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      meshChildren.delete(child);
      resolve(code);
    }),
  );
  return { child, exited, output: () => out, stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal) };
}

async function startMeshProxyProcess(id: string, args: string[]): Promise<MeshProxy> {
  const adminPort = await freePort();
  const p = runMeshworkProxy(['--service-node', id, '--admin-address', `127.0.0.1:${adminPort}`, ...args]);
  return { id, ...p, adminPort, admin: (path) => fetch(`http://127.0.0.1:${adminPort}${path}`) };
}

export interface SidecarOptions {
  /** node id (also the registered workload's id); unique per mesh */
  id: string;
  /** the service its workload serves; absent: a client-only sidecar (outbound listeners only) */
  service?: string;
  /** "k=v,k2=v2" */
  labels?: string;
  /** `--port` specs, "SERVICE_PORT[:APP_PORT[:LISTEN_PORT]][/PROTO]" */
  ports?: string[];
  namespace?: string;
  /** default: a fresh nextLoopback() */
  outboundBind?: string;
  args?: string[];
}

export interface Sidecar extends MeshProxy {
  /** where its outbound listeners listen */
  readonly outboundBind: string;
}

export interface AppServer {
  readonly name: string;
  readonly port: number;
  /** every request it received, in order */
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/**
 * An app: answers "<name> <url>" with 200, unless `handler` answers first (it gets the request's index, from
 * 0, and returns true when it has answered).
 */
export async function startApp(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse, index: number) => boolean | void): Promise<AppServer> {
  const requests: AppServer['requests'] = [];
  const srv = http.createServer((req, res) => {
    const index = requests.length;
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    // the body is read to its end before answering, as a real app does (the sidecar may be sending one)
    req.resume();
    req.on('end', () => {
      if (handler?.(req, res, index)) return;
      res.setHeader('x-app', name);
      res.end(`${name} ${req.url}`);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    name,
    port: (srv.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((r) => {
        srv.close(() => r());
        srv.closeAllConnections();
      }),
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One HTTP/1.1 request (a fresh connection unless `agent`); rejects on a connection error. */
export function request(
  port: number,
  o: { host?: string; path?: string; method?: string; headers?: Record<string, string>; agent?: http.Agent; timeoutMs?: number } = {},
): Promise<Reply> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: o.host ?? '127.0.0.1', port, path: o.path ?? '/', method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: Date.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The same request, but a connection error is a reply with status 0 (for polling while config propagates). */
export async function tryRequest(port: number, o: Parameters<typeof request>[1] = {}): Promise<Reply> {
  try {
    return await request(port, o);
  } catch (err) {
    return { status: 0, headers: {}, body: `error: ${(err as Error).message}`, ms: 0 };
  }
}

/**
 * A control plane serving a watched directory of mesh resources, and the proxies and apps a test starts in it;
 * close() stops every one of them (call it in `finally`).
 */
export class TestMesh {
  private readonly proxies: MeshProxy[] = [];
  private readonly apps: AppServer[] = [];

  private constructor(
    readonly dir: string,
    readonly cp: RunningControlPlane,
  ) {}

  /** `files`: file name → YAML text, written before the control plane starts; `cpArgs`: more control-plane
   *  flags (`--data-dir` runs the CA, see withCa). */
  static async start(files: Record<string, string> = {}, cpArgs: string[] = []): Promise<TestMesh> {
    const dir = tmpDir('meshwork-mesh-');
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
    const cp = await startControlPlane(dir, cpArgs, { meshDir: true });
    return new TestMesh(dir, cp);
  }

  /** A mesh whose control plane runs the CA (a fresh data dir); `joinTokenFile` is what its proxies present. */
  static async withCa(files: Record<string, string> = {}, cpArgs: string[] = []): Promise<TestMesh & { dataDir: string; joinTokenFile: string }> {
    const dataDir = tmpDir('meshwork-ca-');
    const mesh = await TestMesh.start(files, ['--data-dir', dataDir, ...cpArgs]);
    return Object.assign(mesh, { dataDir, joinTokenFile: path.join(dataDir, 'join-token') });
  }

  get xds(): string {
    return `127.0.0.1:${this.cp.xdsPort}`;
  }

  /** Write a file of the watched dir whole (a dot-file renamed over it: the watcher never sees half of it). */
  write(file: string, text: string): void {
    const tmp = path.join(this.dir, `.${file}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, path.join(this.dir, file));
  }

  remove(file: string): void {
    fs.rmSync(path.join(this.dir, file));
  }

  async app(name: string, handler?: Parameters<typeof startApp>[1]): Promise<AppServer> {
    const a = await startApp(name, handler);
    this.apps.push(a);
    return a;
  }

  async sidecar(o: SidecarOptions): Promise<Sidecar> {
    const outboundBind = o.outboundBind ?? nextLoopback();
    const args = ['--sidecar', '--control-plane', this.xds, '--outbound-bind', outboundBind];
    if (o.service) args.push('--service', o.service);
    if (o.labels) args.push('--labels', o.labels);
    if (o.namespace) args.push('--namespace', o.namespace);
    for (const p of o.ports ?? []) args.push('--port', p);
    const p = await startMeshProxyProcess(o.id, [...args, ...(o.args ?? [])]);
    this.proxies.push(p);
    return Object.assign(p, { outboundBind });
  }

  async gateway(o: { id?: string; name?: string; labels?: string; args?: string[] } = {}): Promise<MeshProxy> {
    const p = await startMeshProxyProcess(o.id ?? `gateway-${this.proxies.length}`, [
      '--gateway', o.name ?? 'ingress', '--labels', o.labels ?? 'istio=ingressgateway', '--control-plane', this.xds, ...(o.args ?? []),
    ]);
    this.proxies.push(p);
    return p;
  }

  /** The control plane's log and every proxy's output, for assertion messages. */
  logs(): string {
    return [`control plane:\n${this.cp.stderr().slice(-6000)}`, ...this.proxies.map((p) => `${p.id}:\n${p.output().slice(-3000)}`)].join('\n');
  }

  /** The workloads registered now (from /debug/resources). */
  async registered(): Promise<{ id: string; service: string; labels: Record<string, string> }[]> {
    return (await debugJson(this.cp, '/debug/resources')).registered;
  }

  async close(): Promise<void> {
    // proxies first (each SIGTERM waits for its exit), then the control plane and the apps
    await Promise.all(this.proxies.map((p) => p.stop()));
    await this.cp.stop();
    await Promise.all(this.apps.map((a) => a.close()));
  }
}

/** Counts of `n` replies by body's first word (the app's name) or "<status>" for non-200s. */
export async function tally(n: number, send: () => Promise<Reply>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await send();
    const k = r.status === 200 ? r.body.split(' ')[0]! : String(r.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Binomial tolerance: [mean - k·sd, mean + k·sd] of n trials with probability p. */
export function binomialRange(n: number, p: number, k = 4): [number, number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(mean - k * sd), Math.ceil(mean + k * sd)];
}

export interface PacedLoad {
  /** every answer so far in order: the app's name (first word of a 200's body) or "<status> <body>" / "error: ..." */
  readonly answers: string[];
  /** the failed ones (not 200) */
  failures(): string[];
  stop(): Promise<string[]>;
}

/**
 * About `perSecond` requests a second (`workers` clients on one keep-alive agent, each pausing between
 * requests), until stopped. Nothing is retried: a reset or a 503 during a config change counts as a failure.
 */
export function startPacedLoad(port: number, o: { host?: string; headers?: Record<string, string>; path?: string; perSecond?: number; workers?: number } = {}): PacedLoad {
  const workers = o.workers ?? 2;
  const pause = Math.max(0, Math.round((1000 * workers) / (o.perSecond ?? 50)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  const answers: string[] = [];
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await request(port, { host: o.host, path: o.path, headers: o.headers, agent, timeoutMs: 15_000 });
        answers.push(r.status === 200 ? r.body.split(' ')[0]! : `${r.status} ${r.body}`);
      } catch (err) {
        answers.push(`error: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  };
  const all = Array.from({ length: workers }, worker);
  const failures = () => answers.filter((a) => a.includes(' ') || a.startsWith('error:'));
  return {
    answers,
    failures,
    async stop() {
      running = false;
      await Promise.all(all);
      agent.destroy();
      return answers;
    },
  };
}

/** The names of the clusters a proxy runs, from its admin /config_dump (static and dynamic, Envoy's layout). */
export async function clusterNames(p: MeshProxy): Promise<string[]> {
  const dump = (await (await p.admin('/config_dump')).json()) as { configs: Record<string, unknown>[] };
  const section = dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump')) ?? {};
  const names: string[] = [];
  for (const [k, v] of Object.entries(section)) {
    if (k === '@type' || !Array.isArray(v)) continue;
    for (const entry of v as { cluster?: { name?: string } }[]) if (entry.cluster?.name) names.push(entry.cluster.name);
  }
  return names.sort();
}

/** An Istio Gateway for gateway proxies labelled `istio: ingressgateway`: one plain HTTP server on `port`, every host. */
export function httpGatewayYaml(name: string, port: number, apiVersion = 'networking.istio.io/v1'): string {
  return `apiVersion: ${apiVersion}
kind: Gateway
metadata:
  name: ${name}
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: ${port}
      name: http
      protocol: HTTP
    hosts:
    - "*"
`;
}

/** A TCP round trip through a client sidecar's outbound listener on `port`: sends "ping" and resolves with what
 *  came back (the echo), or "closed" when the connection was closed with nothing (refused by policy). */
export function tcpEcho(client: Sidecar, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, client.outboundBind);
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write('ping'));
    s.on('data', (d) => {
      got += d;
      if (got === 'ping') s.end();
    });
    s.on('close', () => resolve(got || 'closed'));
    s.on('error', () => {});
    s.setTimeout(5000, () => s.destroy());
  });
}
