// meshwork: the one CLI entry point. Each subcommand lives in its own file and is loaded on demand, so
// `meshwork proxy` never pays for the control plane's modules.
import { MeshworkError } from '../common/errors.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  proxy: { summary: 'run the data plane: an Envoy-compatible proxy (sidecar, gateway)', load: () => import('./proxy.js') },
  demo: { summary: 'start a whole mesh on this machine: front proxy + three services with sidecars', load: () => import('./demo.js') },
};

function usage(): string {
  let out = 'Usage: meshwork <command> [options]\n\nCommands:\n';
  for (const [name, c] of Object.entries(COMMANDS)) out += `  ${name.padEnd(12)} ${c.summary}\n`;
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
  return (await c.load()).run(rest);
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
