// `meshwork control-plane`: serves, over xDS (ADS and the per-type services, state of the world and delta),
// either Envoy resources from a directory or the per-proxy translation of Istio-style mesh resources, with a
// debug HTTP port for status and metrics.
import { parseArgs } from 'node:util';
import { MeshworkError } from '../common/errors.js';
import { logger, setLogLevel } from '../common/log.js';

const HELP = `Usage: meshwork control-plane (--mesh-dir <dir> | --config-dir <dir>) [options]

--mesh-dir: a mesh. Istio-style resources (networking.istio.io Gateway, VirtualService, DestinationRule,
ServiceEntry, WorkloadEntry, Sidecar) are translated into each proxy's listeners, routes, clusters and
endpoints; sidecars started with \`meshwork proxy --sidecar --service ...\` register their workload.
--config-dir: plain Envoy v3 resources (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, Secret),
served to every xDS client alike.
Either way, files are YAML or JSON, several resources per file, watched: changes are pushed as they happen.
Logs one line "control plane serving" with xdsPort and httpPort once it serves.

Options:
      --mesh-dir <dir>         directory of Istio-style resource files (*.yaml, *.yml, *.json; watched)
      --config-dir <dir>       directory of Envoy resource files (watched)
      --xds-address <h:p>      gRPC xDS server address (default 127.0.0.1:15010; port 0: any free port)
      --http-address <h:p>     debug HTTP address: /ready, /debug/syncz, /debug/config_dump?proxy=<id>,
                               /debug/resources, /metrics (default 127.0.0.1:15014)
      --debounce-ms <ms>       wait this long after a change for more before pushing (default 100)
  -l, --log-level <level>      trace, debug, info, warning, error, critical, off (default info)
  -h, --help                   this help
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'config-dir': { type: 'string' },
        'mesh-dir': { type: 'string' },
        'xds-address': { type: 'string', default: '127.0.0.1:15010' },
        'http-address': { type: 'string', default: '127.0.0.1:15014' },
        'debounce-ms': { type: 'string', default: '100' },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values['config-dir'] === !values['mesh-dir']) return usage('give one of --mesh-dir and --config-dir');
  if (!setLogLevel(values['log-level']!)) return usage(`unknown log level "${values['log-level']}"`);
  const debounceMs = Number(values['debounce-ms']);
  if (!/^\d+$/.test(values['debounce-ms']!) || !Number.isSafeInteger(debounceMs)) return usage('--debounce-ms must be a whole number of milliseconds');
  const { ControlPlane } = await import('../control-plane/control-plane.js');
  const { parseHostPort } = await import('../control-plane/debug/debug-server.js');
  try {
    parseHostPort(values['xds-address']!);
    parseHostPort(values['http-address']!);
  } catch (err) {
    return usage((err as Error).message);
  }
  const cp = new ControlPlane({ configDir: values['config-dir'], meshDir: values['mesh-dir'], xdsAddress: values['xds-address']!, httpAddress: values['http-address']!, debounceMs });
  const log = logger('main');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void cp.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err: (err as Error).stack }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await cp.start();
  } catch (err) {
    if (err instanceof MeshworkError) process.stderr.write(`meshwork control-plane: ${err.message}\n`);
    else process.stderr.write(`meshwork control-plane: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  }
  return -1; // keep running
}

function usage(message: string): number {
  process.stderr.write(`meshwork control-plane: ${message}\n\n${HELP}`);
  return 2;
}
