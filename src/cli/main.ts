// meshwork: the one CLI entry point. Each subcommand lives in its own file and is loaded on demand, so
// `meshwork proxy` never pays for the control plane's modules.
import v8 from 'node:v8';
import { MeshworkError } from '../common/errors.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  proxy: { summary: 'run the data plane: an Envoy-compatible proxy (sidecar, gateway)', load: () => import('./proxy.js') },
  'control-plane': { summary: 'serve a mesh (Istio-style resources) or plain Envoy resources over xDS to proxies', load: () => import('./control-plane.js') },
  analyze: { summary: 'check Istio-style mesh config (errors and warnings with file:line) before applying it', load: () => import('./analyze.js') },
  'proxy-status': { summary: 'xDS sync status of every proxy connected to the control plane (SYNCED, STALE, NACKED)', load: () => import('./proxy-status.js') },
  why: { summary: 'walk a request through a proxy\'s live config: listener, route (and why earlier ones did not match), cluster, endpoints', load: () => import('./why.js') },
  'proxy-config': { summary: 'the listeners, routes, clusters, endpoints or secrets the control plane sent a proxy', load: () => import('./proxy-config.js') },
  demo: { summary: 'start a whole mesh on this machine: control plane, gateway, services A, B (v1, v2), C with sidecars', load: () => import('./demo.js') },
};

function usage(): string {
  let out = 'Usage: meshwork <command> [options]\n\nCommands:\n';
  for (const [name, c] of Object.entries(COMMANDS)) out += `  ${name.padEnd(14)} ${c.summary}\n`;
  out += '\nRun `meshwork <command> --help` for the options of a command.\n';
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage());
    return cmd ? 0 : 1;
  }
  if (cmd === '--version' || cmd === 'version') {
    const { VERSION } = await import('../proxy/server/version.js');
    process.stdout.write(`meshwork ${VERSION}\n`);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    process.stderr.write(`meshwork: unknown command "${cmd}"\n\n${usage()}`);
    return 2;
  }
  const lean = cmd === 'proxy' && leanStartup();
  if (cmd === 'control-plane') smallYoungGeneration();
  const code = await (await c.load()).run(rest);
  // The proxy resolves run() once it serves: from here on V8 optimizes and sizes the heap for the request path.
  if (lean) for (const flag of ['--turbofan', '--semi-space-growth-factor=2']) v8.setFlagsFromString(flag);
  return code;
}

// `meshwork proxy` is held to an idle RSS budget, and two things V8 does during its half-second start stay
// resident long after: TurboFan optimizes a few startup-hot functions (node's module loader resolving ~150
// modules: path.normalize, URL getters), which pages ~4 MB of the compiler's own machine code in; and the young
// generation doubles twice for objects that die within the second (~5 MB until V8's memory reducer runs, ~8 s
// later). Neither speeds up the start, so both are held off until the proxy serves, and main() restores V8's
// defaults then, before any request. Measured idle RSS: 65 → 57 MB before the memory reducer, 58 → 53 MB
// after; wrk throughput unchanged. V8 reads these two flags on use, so setting them at run time works; node's
// own flags win when the user gave any of them.
function leanStartup(): boolean {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/--(no-)?(turbofan|opt)\b|--semi-space-growth-factor/.test(given)) return false;
  for (const flag of ['--no-turbofan', '--semi-space-growth-factor=1']) v8.setFlagsFromString(flag);
  return true;
}

// `meshwork control-plane` serves ~1,000 streams from one process and allocates response buffers in bursts; a
// young generation that never grows past its first size keeps its RSS lower (bench:xds at 1,000 clients, SotW /
// delta: idle 100 → 74 MB, steady 271 → 195 / 215 → 156 MB, peak 291 → 272 / 281 → 209 MB) with pushes as fast,
// within run-to-run noise. Like the proxy's lean startup, set at run time (V8 reads it on use); node's own flags
// win when the user gave one.
function smallYoungGeneration(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/--(max-|min-)?semi-space/.test(given)) return;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined && code !== -1) process.exitCode = code;
  },
  (err) => {
    if (err instanceof MeshworkError) process.stderr.write(`meshwork: ${err.message}\n`);
    else process.stderr.write(`meshwork: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
