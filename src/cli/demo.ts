// `meshwork demo`: a whole mesh on one machine, every piece a real process. By default the control plane serves
// examples/demo/mesh.yaml (Istio-style resources) to an ingress gateway and to services A, B (v1 and v2) and C,
// each behind its own sidecar, which registers the workload; A calls B and C through its sidecar; a light
// traffic generator keeps the mesh busy and prints what it sees. `--static` runs seed 004's original form
// instead: a front proxy and sidecars configured by static Envoy files (examples/front-proxy). Ctrl-C stops
// everything.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = path.join(ROOT, 'examples/front-proxy');
const MESH_EXAMPLE = path.join(ROOT, 'examples/demo');

const HELP = `Usage: meshwork demo [options]

Starts a mesh on this machine: the control plane (serving examples/demo/mesh.yaml), an ingress gateway on
:8080, and services A, B (v1 and v2) and C, each behind its own sidecar. A calls B and C; B's traffic is split
90/10 between v1 and v2 by seed 002's canary VirtualService. A light traffic generator runs and reports every
10 s. Edit the copy of mesh.yaml the demo prints and the mesh follows.

Options:
  --static            seed 004's form instead: a front proxy and sidecars from static Envoy files
                      (examples/front-proxy), no control plane
  --port-offset <n>   add n to every port (to run beside something that uses 8080, 15010, ...)
  --no-traffic        no traffic generator
  -h, --help          this help
`;

interface Proc {
  name: string;
  child: ChildProcess;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'port-offset': { type: 'string', default: '0' },
      static: { type: 'boolean', default: false },
      'no-traffic': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const offset = Number(values['port-offset']);
  if (!Number.isInteger(offset) || offset < 0 || offset > 50000) {
    process.stderr.write('meshwork demo: --port-offset must be a whole number from 0 to 50000\n');
    return 2;
  }
  const p = (n: number) => n + offset;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-demo-'));
  const { start, stop, isStopping } = processGroup(dir);
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  return values.static ? staticDemo(p, dir, start, stop, isStopping) : meshDemo(p, dir, start, stop, isStopping, !values['no-traffic']);
}

type Start = (name: string, args: string[]) => void;
type Stop = (code: number) => Promise<void>;

/** Child processes whose output is prefixed with their name; when one exits unasked, the whole demo stops. */
function processGroup(dir: string): { start: Start; stop: Stop; isStopping: () => boolean } {
  const procs: Proc[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const pr of procs) pr.child.kill('SIGTERM');
    await Promise.all(procs.map((pr) => (pr.child.exitCode !== null || pr.child.signalCode !== null ? Promise.resolve() : new Promise((r) => pr.child.once('exit', r)))));
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  const start = (name: string, args: string[]) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = `[${name}] `;
    const pipe = (s: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          out.write(prefix + buf.slice(0, i + 1));
          buf = buf.slice(i + 1);
        }
      });
    };
    pipe(child.stdout!, process.stdout);
    pipe(child.stderr!, process.stderr);
    child.on('exit', (code, sig) => {
      if (!stopping) {
        process.stderr.write(`${prefix}exited (${sig ?? code}); stopping the demo\n`);
        void stop(1);
      }
    });
    procs.push({ name, child });
  };
  return { start, stop, isStopping: () => stopping };
}

/** Polls until `probe` is true; false when `ms` passed or the demo is stopping. */
async function until(probe: () => Promise<boolean>, ms: number, isStopping: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await probe()) return true;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || isStopping()) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function staticDemo(p: (n: number) => number, dir: string, start: Start, stop: Stop, isStopping: () => boolean): Promise<number> {
  const configs: Record<string, string> = {};
  for (const f of ['front-envoy', 'service-a-envoy', 'service-b-envoy', 'service-c-envoy']) {
    const text = fs.readFileSync(path.join(EXAMPLE, `${f}.yaml`), 'utf8').replace(/port_value: (\d+)/g, (_m, n) => `port_value: ${p(Number(n))}`);
    configs[f] = path.join(dir, `${f}.yaml`);
    fs.writeFileSync(configs[f]!, text);
  }
  const meshwork = path.join(ROOT, 'bin/meshwork');
  const svc = path.join(EXAMPLE, 'service.mjs');
  start('service_a', [svc, '--name', 'a', '--port', String(p(8081)), '--call', `http://127.0.0.1:${p(8788)}/`, '--call', `http://127.0.0.1:${p(8791)}/`]);
  start('service_b', [svc, '--name', 'b', '--port', String(p(8082))]);
  start('service_c', [svc, '--name', 'c', '--port', String(p(8083))]);
  const proxies: [string, string, string][] = [
    ['front-envoy', configs['front-envoy']!, 'front-envoy'],
    ['service-a-envoy', configs['service-a-envoy']!, 'service-a'],
    ['service-b-envoy', configs['service-b-envoy']!, 'service-b'],
    ['service-c-envoy', configs['service-c-envoy']!, 'service-c'],
  ];
  for (const [name, cfg, cluster] of proxies) start(name, [meshwork, 'proxy', '-c', cfg, '--service-node', name, '--service-cluster', cluster, '-l', 'warning', '--drain-time-s', '5']);

  // ready when every proxy's admin says LIVE
  for (const port of [9901, 9902, 9903, 9904].map(p)) {
    if (!(await until(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200, 30_000, isStopping))) {
      process.stderr.write(`meshwork demo: proxy with admin port ${port} did not become ready\n`);
      await stop(1);
      return 1;
    }
  }
  process.stdout.write(
    `\nThe mesh is up (front proxy, services A/B/C, four proxies).\n\n` +
      `  Try:    curl http://127.0.0.1:${p(8080)}/\n` +
      `  Admin:  http://127.0.0.1:${p(9901)}/stats  (front), :${p(9902)} (A's sidecar), :${p(9903)} (B), :${p(9904)} (C)\n\n` +
      `Press Ctrl-C to stop.\n\n`,
  );
  return -1;
}

/**
 * The mesh demo. Ports (all + offset): gateway 8080, control plane xDS 15010 and debug 15014, admins 15000
 * (gateway) and 15001-15004 (sidecars), apps 8081-8084, sidecar inbound listeners 15101-15104. Each sidecar's
 * outbound listeners bind a loopback address of their own (127.0.0.2-5), so that all of them can take the
 * service port 9080 on one machine.
 */
async function meshDemo(p: (n: number) => number, dir: string, start: Start, stop: Stop, isStopping: () => boolean, traffic: boolean): Promise<number> {
  const meshDir = path.join(dir, 'mesh');
  fs.mkdirSync(meshDir);
  // every port number in the example moves by the offset (the Gateway's 8080, the services' 9080)
  const yaml = fs.readFileSync(path.join(MESH_EXAMPLE, 'mesh.yaml'), 'utf8').replace(/number: (\d+)/g, (_m, n) => `number: ${p(Number(n))}`);
  fs.writeFileSync(path.join(meshDir, 'mesh.yaml'), yaml);
  const meshwork = path.join(ROOT, 'bin/meshwork');
  const cp = `127.0.0.1:${p(15010)}`;
  const debug = `127.0.0.1:${p(15014)}`;
  // the CA runs from the demo's own data dir: every proxy joins the mesh's mTLS with its join token
  const dataDir = path.join(dir, 'data');
  const token = path.join(dataDir, 'join-token');
  start('control-plane', [meshwork, 'control-plane', '--mesh-dir', meshDir, '--data-dir', dataDir, '--xds-address', cp, '--http-address', debug, '-l', 'warning']);
  if (!(await until(async () => (await fetch(`http://${debug}/ready`)).status === 200, 30_000, isStopping))) {
    process.stderr.write('meshwork demo: the control plane did not become ready\n');
    await stop(1);
    return 1;
  }

  const svc = path.join(MESH_EXAMPLE, 'service.mjs');
  const servicePort = p(9080);
  const workloads = [
    { name: 'a', version: 'v1', calls: ['service-b', 'service-c'] },
    { name: 'b', version: 'v1', calls: [] },
    { name: 'b', version: 'v2', calls: [] },
    { name: 'c', version: 'v1', calls: [] },
  ];
  workloads.forEach((w, i) => {
    const app = p(8081 + i);
    const bind = `127.0.0.${2 + i}`;
    const id = `service-${w.name}-${w.version}`;
    start(id, [svc, '--name', w.name, '--version', w.version, '--port', String(app), '--via', `${bind}:${servicePort}`, ...w.calls.flatMap((c) => ['--call', c])]);
    start(`${id}-sidecar`, [
      meshwork, 'proxy', '--sidecar', '--service', `service-${w.name}`, '--labels', `app=service-${w.name},version=${w.version}`,
      '--port', `${servicePort}:${app}:${p(15101 + i)}`, '--outbound-bind', bind, '--control-plane', cp,
      '--admin-address', `127.0.0.1:${p(15001 + i)}`, '--service-node', id, '-l', 'warning', '--drain-time-s', '2',
      '--service-account', `service-${w.name}`, '--join-token-file', token,
    ]);
  });
  start('ingress-gateway', [
    meshwork, 'proxy', '--gateway', 'ingress', '--labels', 'istio=ingressgateway', '--control-plane', cp, '--admin-address', `127.0.0.1:${p(15000)}`,
    '-l', 'warning', '--drain-time-s', '2', '--service-account', 'ingress-gateway', '--join-token-file', token,
  ]);

  // up when a request through the gateway reaches A, and A reaches B and C
  const url = `http://127.0.0.1:${p(8080)}/`;
  const ok = await until(async () => {
    const r = await fetch(url);
    const body = (await r.json()) as { calls?: { status?: number }[] };
    return r.status === 200 && (body.calls ?? []).every((c) => c.status === 200);
  }, 45_000, isStopping);
  if (!ok) {
    process.stderr.write(`meshwork demo: the mesh did not answer through the gateway (${url}) within 45 s\n`);
    await stop(1);
    return 1;
  }
  process.stdout.write(
    `\nThe mesh is up: control plane, ingress gateway, services A, B (v1, v2) and C, each with its sidecar.\n\n` +
      `  Try:        curl ${url}\n` +
      `  Mesh config: ${path.join(meshDir, 'mesh.yaml')}   (edit it: B's 90/10 split, or seed 002's fault delay)\n` +
      `  Check it:   meshwork analyze ${meshDir}\n` +
      `  Proxies:    http://${debug}/debug/syncz   Registered workloads: http://${debug}/debug/resources\n` +
      `  mTLS:       every hop between proxies (PERMISSIVE; add a STRICT PeerAuthentication to refuse plaintext).\n` +
      `              Certificates: http://${debug}/debug/ca, and each proxy's admin /certs\n` +
      `  Admin:      gateway http://127.0.0.1:${p(15000)}/stats, sidecars :${p(15001)} (A) :${p(15002)} (B v1) :${p(15003)} (B v2) :${p(15004)} (C)\n\n` +
      `Press Ctrl-C to stop.\n\n`,
  );
  if (traffic) void generateTraffic(url, isStopping);
  return -1;
}

/** A request every 200 ms through the gateway; every 10 s one line: answers by status and B's versions. */
async function generateTraffic(url: string, isStopping: () => boolean): Promise<void> {
  let counts = new Map<string, number>();
  let last = Date.now();
  const add = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  while (!isStopping()) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      add(String(r.status));
      const body = (await r.json().catch(() => undefined)) as { calls?: { service: string; body?: { version?: string } }[] } | undefined;
      for (const c of body?.calls ?? []) if (c.service === 'service-b' && c.body?.version) add(`B ${c.body.version}`);
    } catch (err) {
      add((err as Error).name === 'TimeoutError' ? 'timeout' : 'error');
    }
    if (Date.now() - last >= 10_000) {
      const line = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}: ${v}`).join(', ');
      process.stdout.write(`[traffic] last 10 s: ${line}\n`);
      counts = new Map();
      last = Date.now();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
