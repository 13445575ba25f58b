// `meshwork proxy`: the data plane. Flags follow Envoy's where one exists.
import { parseArgs } from 'node:util';
import { ConfigErrors, MeshworkError } from '../common/errors.js';
import { logger, parseLogLevel, setLogLevel } from '../common/log.js';

const HELP = `Usage: meshwork proxy [options]

Runs an Envoy-compatible proxy from an Envoy v3 bootstrap (YAML or JSON).

Options:
  -c, --config-path <file>     bootstrap file (YAML or JSON); watched and re-applied when it changes
      --config-yaml <yaml>     inline bootstrap YAML, merged over --config-path as in Envoy
  -l, --log-level <level>      trace, debug, info, warning, error, critical, off (default info)
      --mode <serve|validate>  validate: check the config and exit 0 (valid) or 1 (invalid)
      --drain-time-s <s>       how long in-flight requests may take to finish on shutdown (default 600)
      --service-node <id>      node.id
      --service-cluster <name> node.cluster
      --service-zone <zone>    node.locality.zone
      --no-watch               do not watch the config file
  -h, --help                   this help
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'config-path': { type: 'string', short: 'c' },
        'config-yaml': { type: 'string' },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        mode: { type: 'string', default: 'serve' },
        'drain-time-s': { type: 'string', default: '600' },
        'service-node': { type: 'string' },
        'service-cluster': { type: 'string' },
        'service-zone': { type: 'string' },
        'no-watch': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`meshwork proxy: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!parseLogLevel(values['log-level']!)) {
    process.stderr.write(`meshwork proxy: unknown log level "${values['log-level']}"\n`);
    return 2;
  }
  setLogLevel(values['log-level']!);
  const drain = Number(values['drain-time-s']);
  if (!Number.isFinite(drain) || drain < 0) {
    process.stderr.write(`meshwork proxy: --drain-time-s must be a number of seconds\n`);
    return 2;
  }
  if (values.mode !== 'serve' && values.mode !== 'validate') {
    process.stderr.write(`meshwork proxy: --mode must be serve or validate\n`);
    return 2;
  }
  const { ProxyServer, readBootstrap } = await import('../proxy/server/server.js');
  const opts = {
    configPath: values['config-path'],
    configYaml: values['config-yaml'],
    drainTimeMs: drain * 1000,
    serviceNode: values['service-node'],
    serviceCluster: values['service-cluster'],
    serviceZone: values['service-zone'],
    watch: !values['no-watch'],
    commandLine: argv,
  };
  let loaded;
  try {
    loaded = readBootstrap(opts);
  } catch (err) {
    printConfigError(err);
    return 1;
  }
  if (values.mode === 'validate') {
    const { validateBootstrap } = await import('../proxy/server/validate.js');
    try {
      await validateBootstrap(loaded.bootstrap);
    } catch (err) {
      printConfigError(err);
      return 1;
    }
    process.stdout.write(`configuration '${opts.configPath ?? '--config-yaml'}' OK\n`);
    return 0;
  }
  const server = new ProxyServer(opts);
  const log = logger('main');
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    void server.shutdown(sig).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGUSR1', () => server.reopenLogs());
  try {
    await server.start(loaded.bootstrap, loaded.text);
  } catch (err) {
    printConfigError(err);
    log.error({ code: (err as MeshworkError).code }, 'cannot start');
    process.exit(1);
  }
  return -1; // keep running
}

function printConfigError(err: unknown): void {
  if (err instanceof ConfigErrors) {
    process.stderr.write(`meshwork proxy: invalid configuration (${err.errors.length} error${err.errors.length === 1 ? '' : 's'}):\n`);
    for (const e of err.errors) process.stderr.write(`  ${e.message}\n`);
  } else if (err instanceof MeshworkError) process.stderr.write(`meshwork proxy: ${err.message}\n`);
  else process.stderr.write(`meshwork proxy: ${(err as Error).stack ?? err}\n`);
}
