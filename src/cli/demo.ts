// `meshwork demo`: seed 004's mesh on one machine — a front proxy, and services A, B, C each behind its own
// sidecar proxy — every piece a real process. A calls B and C through its sidecar. Ctrl-C stops everything.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = path.join(ROOT, 'examples/front-proxy');

const HELP = `Usage: meshwork demo [options]

Starts the front-proxy example (examples/front-proxy): a front proxy on :8080, and services A, B and C,
each behind its own sidecar proxy. Service A calls B and C through its sidecar.

Options:
  --port-offset <n>   add n to every port (to run beside something that uses 8080, 9901, ...)
  -h, --help          this help
`;

interface Proc {
  name: string;
  child: ChildProcess;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'port-offset': { type: 'string', default: '0' }, help: { type: 'boolean', short: 'h', default: false } } });
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
  const configs: Record<string, string> = {};
  for (const f of ['front-envoy', 'service-a-envoy', 'service-b-envoy', 'service-c-envoy']) {
    const text = fs.readFileSync(path.join(EXAMPLE, `${f}.yaml`), 'utf8').replace(/port_value: (\d+)/g, (_m, n) => `port_value: ${p(Number(n))}`);
    configs[f] = path.join(dir, `${f}.yaml`);
    fs.writeFileSync(configs[f]!, text);
  }
  const procs: Proc[] = [];
  const meshwork = path.join(ROOT, 'bin/meshwork');
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
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const pr of procs) pr.child.kill('SIGTERM');
    await Promise.all(procs.map((pr) => (pr.child.exitCode !== null || pr.child.signalCode !== null ? Promise.resolve() : new Promise((r) => pr.child.once('exit', r)))));
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

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
  const admins = [9901, 9902, 9903, 9904].map(p);
  const deadline = Date.now() + 30_000;
  for (const port of admins) {
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/ready`);
        if (r.status === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline || stopping) {
        process.stderr.write(`meshwork demo: proxy with admin port ${port} did not become ready\n`);
        await stop(1);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 100));
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
