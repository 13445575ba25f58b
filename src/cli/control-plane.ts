// `meshwork control-plane`: serves, over xDS (ADS and the per-type services, state of the world and delta),
// either Envoy resources from a directory or the per-proxy translation of Istio-style mesh resources, with a
// debug HTTP port for status and metrics.
import { parseCommand, usageError } from './args.js';
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
      --credentials-dir <dir>  Gateway credentials (credentialName): <dir>/<name>/{tls.crt,tls.key,ca.crt},
                               served to gateways over SDS, watched (default <mesh-dir>/credentials)
      --mesh-config <file>     Istio MeshConfig YAML with extensionProviders (external authorizers for
                               AuthorizationPolicy CUSTOM); read at start (docs/security.md)
      --config-dir <dir>       directory of Envoy resource files (watched)
      --xds-address <h:p>      gRPC xDS server address (default 127.0.0.1:15010; port 0: any free port)
      --http-address <h:p>     debug HTTP address: /ready, /debug/syncz, /debug/config_dump?proxy=<id>,
                               /debug/resources, /metrics (default 127.0.0.1:15014)
      --debounce-ms <ms>       wait this long after a change for more before pushing (default 100)

Certificate authority (with --mesh-dir; docs/security.md):
      --data-dir <dir>         run the CA: its root and key (made on first start), revocations and the
                               default join token live here; proxies get SPIFFE certificates for mTLS
      --trust-domain <td>      SPIFFE trust domain (default cluster.local)
      --ca-cert <file>         sign with this CA certificate (a root or an intermediate) instead ...
      --ca-key <file>          ... and its private key
      --ca-chain <file>        the chain above --ca-cert, up to and including the root
      --workload-cert-ttl <d>  lifetime of workload certificates (default 24h; e.g. 20s, 1h)
      --join-token-file <file> tokens proxies present, one "<token> <namespace>/<service account>" per line
                               ("*" for any); default: one token for any identity, made in the data dir
  -l, --log-level <level>      trace, debug, info, warning, error, critical, off (default info)
  -h, --help                   this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('control-plane', HELP, argv, {
        'config-dir': { type: 'string' },
        'mesh-dir': { type: 'string' },
        'credentials-dir': { type: 'string' },
        'mesh-config': { type: 'string' },
        'xds-address': { type: 'string', default: '127.0.0.1:15010' },
        'http-address': { type: 'string', default: '127.0.0.1:15014' },
        'debounce-ms': { type: 'string', default: '100' },
        'data-dir': { type: 'string' },
        'trust-domain': { type: 'string' },
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
        'ca-chain': { type: 'string' },
        'workload-cert-ttl': { type: 'string' },
        'join-token-file': { type: 'string' },
        'log-level': { type: 'string', short: 'l', default: 'info' },
  });
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals.length > 0) return usage(`unexpected argument ${parsed.positionals[0]}`);
  const { values } = parsed;
  if (!values['config-dir'] === !values['mesh-dir']) return usage('give one of --mesh-dir and --config-dir');
  if (values['credentials-dir'] !== undefined && !values['mesh-dir']) return usage('--credentials-dir (Gateway credentials) runs with --mesh-dir');
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
  const caFlags = ['trust-domain', 'ca-cert', 'ca-key', 'ca-chain', 'workload-cert-ttl', 'join-token-file'] as const;
  let ca;
  if (values['data-dir'] !== undefined) {
    if (!values['mesh-dir']) return usage('--data-dir (the certificate authority) runs with --mesh-dir');
    if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined)) return usage('--ca-cert and --ca-key go together');
    let workloadTtlMs: number | undefined;
    if (values['workload-cert-ttl'] !== undefined) {
      const { parseDuration } = await import('../control-plane/model/duration.js');
      workloadTtlMs = parseDuration(values['workload-cert-ttl']);
      if (workloadTtlMs === undefined || workloadTtlMs < 1000) return usage('--workload-cert-ttl must be a duration of at least 1s (e.g. 20s, 24h)');
    }
    ca = {
      dataDir: values['data-dir'],
      trustDomain: values['trust-domain'],
      certFile: values['ca-cert'],
      keyFile: values['ca-key'],
      chainFile: values['ca-chain'],
      workloadTtlMs,
      joinTokenFile: values['join-token-file'],
    };
  } else {
    const stray = caFlags.find((f) => values[f] !== undefined);
    if (stray) return usage(`--${stray} needs --data-dir (the certificate authority)`);
  }
  const cp = new ControlPlane({ configDir: values['config-dir'], meshDir: values['mesh-dir'], credentialsDir: values['credentials-dir'], meshConfigFile: values['mesh-config'], xdsAddress: values['xds-address']!, httpAddress: values['http-address']!, debounceMs, ca });
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

const usage = (message: string): number => usageError('control-plane', HELP, message);
