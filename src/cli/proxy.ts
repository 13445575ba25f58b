// `meshwork proxy`: the data plane. Flags follow Envoy's where one exists.
import fs from 'node:fs';
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

Joining a mesh (no config file: the bootstrap is generated and the rest comes from the control plane over ADS):
      --sidecar                run as the sidecar of one workload
      --gateway <name>         run as a gateway named <name> (Gateways select it by --labels)
      --control-plane <h:p>    the control plane's xDS address (default 127.0.0.1:15010)
      --service <name>         sidecar: the service its workload serves ("reviews" or an FQDN)
      --namespace <ns>         (default "default")
      --labels <k=v,...>       workload labels; repeatable (e.g. --labels app=reviews,version=v2)
      --port <p[:app[:listen]][/proto]>
                               sidecar: a service port, the app's port on 127.0.0.1 (default p), the port the
                               sidecar's inbound listener takes (default p); repeatable, e.g. --port 9080:8080
      --ip <addr>              the address other proxies reach this workload at (default 127.0.0.1)
      --outbound-bind <addr>   sidecar: address of its outbound listeners (default 127.0.0.1; give each sidecar
                               on one machine its own, e.g. 127.0.0.2)
      --http-proxy-port <port> sidecar: port of its HTTP proxy listener on the outbound address, for apps that set
                               it as their HTTP proxy (default 15080; 0: none)
      --admin-address <h:p>    admin listener (default 127.0.0.1 on a free port, reported to the control plane)
      --service-account <sa>   workload identity (default "default")
      --locality <r[/z[/s]]>   where the proxy runs: region/zone/subzone (node.locality); endpoints are ordered
                               by proximity to it, and a sidecar's own endpoint carries it
      --delta                  incremental xDS (DeltaAggregatedResources)
      --join-token-file <file> join the mesh's mTLS: get a workload certificate for the SPIFFE identity
                               spiffe://<trust domain>/ns/<namespace>/sa/<service account> from the control
                               plane's CA with this token (docs/security.md); the key never leaves the proxy
      --trust-domain <td>      the CA's trust domain (default cluster.local)
      --workload-sds-socket <path>
                               with --join-token-file: also serve the workload certificate (\`default\`) and the
                               trust bundle (\`ROOTCA\`) over SDS on this Unix socket, as istio-agent does for
                               Envoy (made 0600; docs/security.md)
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
        sidecar: { type: 'boolean', default: false },
        gateway: { type: 'string' },
        'control-plane': { type: 'string', default: '127.0.0.1:15010' },
        service: { type: 'string' },
        namespace: { type: 'string', default: 'default' },
        labels: { type: 'string', multiple: true, default: [] },
        port: { type: 'string', multiple: true, default: [] },
        ip: { type: 'string', default: '127.0.0.1' },
        'outbound-bind': { type: 'string' },
        'http-proxy-port': { type: 'string' },
        'admin-address': { type: 'string' },
        'service-account': { type: 'string' },
        locality: { type: 'string' },
        delta: { type: 'boolean', default: false },
        'join-token-file': { type: 'string' },
        'trust-domain': { type: 'string', default: 'cluster.local' },
        'workload-sds-socket': { type: 'string' },
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
  let meshYaml: string | undefined;
  if (values.sidecar || values.gateway !== undefined) {
    try {
      meshYaml = await meshBootstrapText(values);
    } catch (err) {
      process.stderr.write(`meshwork proxy: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const { ProxyServer, readBootstrap } = await import('../proxy/server/server.js');
  const opts = {
    configPath: values['config-path'],
    configYaml: values['config-yaml'],
    // the generated bootstrap is the base --config-yaml merges over (as over a file)
    configGenerated: meshYaml !== undefined ? { text: meshYaml, source: values.sidecar ? '--sidecar' : '--gateway' } : undefined,
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
  if (values['workload-sds-socket'] !== undefined && values['join-token-file'] === undefined) {
    process.stderr.write('meshwork proxy: --workload-sds-socket serves the workload certificate: it needs --join-token-file\n');
    return 2;
  }
  if (values['join-token-file'] !== undefined) {
    if (meshYaml === undefined) {
      process.stderr.write('meshwork proxy: --join-token-file is for mesh proxies (--sidecar, --gateway)\n');
      return 2;
    }
    let token: string;
    try {
      token = fs.readFileSync(values['join-token-file'], 'utf8').trim().split(/\s+/)[0] ?? '';
      if (!token) throw new Error('the file is empty');
    } catch (err) {
      process.stderr.write(`meshwork proxy: cannot read the join token from ${values['join-token-file']}: ${(err as Error).message}\n`);
      return 2;
    }
    const { WorkloadCertAgent } = await import('../proxy/security/workload-certs.js');
    const identity = `spiffe://${values['trust-domain']}/ns/${values.namespace}/sa/${values['service-account'] ?? 'default'}`;
    const agent = new WorkloadCertAgent({ controlPlane: values['control-plane']!, identity, token }, server.secrets);
    server.workloadCerts = agent;
    // The listeners and clusters the control plane sends name the certificate: it comes first.
    await agent.start();
    if (values['workload-sds-socket'] !== undefined) {
      const { WorkloadSdsServer } = await import('../proxy/security/sds-server.js');
      const sds = new WorkloadSdsServer(server.secrets);
      try {
        await sds.listen(values['workload-sds-socket']);
      } catch (err) {
        process.stderr.write(`meshwork proxy: cannot serve SDS on ${values['workload-sds-socket']}: ${(err as Error).message}\n`);
        return 2;
      }
      server.workloadSds = sds;
    }
  }
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

/** The generated bootstrap of a mesh proxy (--sidecar / --gateway), as JSON text (which YAML reads too). */
async function meshBootstrapText(values: Record<string, string | boolean | string[] | undefined>): Promise<string> {
  const { meshBootstrap, parseLabels, parsePortSpec, splitHostPort, freePort } = await import('../proxy/server/mesh-bootstrap.js');
  const sidecar = values.sidecar === true;
  if (sidecar && values.gateway !== undefined) throw new Error('--sidecar and --gateway exclude each other');
  if (values['config-path']) throw new Error('--sidecar/--gateway generate the bootstrap: give no -c (use --config-yaml to add to it)');
  const ports = (values.port as string[]).map(parsePortSpec);
  if (!sidecar && ports.length > 0) throw new Error('--port is for sidecars (a gateway listens on its Gateway servers\' ports)');
  const admin = values['admin-address'] ? splitHostPort(values['admin-address'] as string, '--admin-address') : { host: '127.0.0.1', port: 0 };
  // The control plane shows where each proxy's admin listens, so an ephemeral port is chosen here, not by bind.
  const adminPort = admin.port || (await freePort(admin.host));
  const bootstrap = meshBootstrap({
    type: sidecar ? 'sidecar' : 'router',
    controlPlane: values['control-plane'] as string,
    service: values.service as string | undefined,
    name: sidecar ? undefined : (values.gateway as string),
    namespace: values.namespace as string,
    // Istio's mark of a workload whose proxy speaks mTLS: clients choose mTLS for endpoints that carry it.
    labels: { ...parseLabels(values.labels as string[]), ...(values['join-token-file'] !== undefined ? { 'security.istio.io/tlsMode': 'istio' } : {}) },
    ports,
    ip: values.ip as string,
    outboundBind: values['outbound-bind'] as string | undefined,
    httpProxyPort: httpProxyPortFlag(values['http-proxy-port'] as string | undefined),
    admin: { address: admin.host, port: adminPort },
    serviceAccount: values['service-account'] as string | undefined,
    trustDomain: values['trust-domain'] === 'cluster.local' ? undefined : (values['trust-domain'] as string),
    locality: values.locality as string | undefined,
    delta: values.delta === true,
  });
  return JSON.stringify(bootstrap);
}

function printConfigError(err: unknown): void {
  if (err instanceof ConfigErrors) {
    process.stderr.write(`meshwork proxy: invalid configuration (${err.errors.length} error${err.errors.length === 1 ? '' : 's'}):\n`);
    for (const e of err.errors) process.stderr.write(`  ${e.message}\n`);
  } else if (err instanceof MeshworkError) process.stderr.write(`meshwork proxy: ${err.message}\n`);
  else process.stderr.write(`meshwork proxy: ${(err as Error).stack ?? err}\n`);
}

/** `--http-proxy-port`: 0-65535 (0: no HTTP proxy listener); absent: the control plane's default (15080). */
function httpProxyPortFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535) throw new MeshworkError('MW_CLI_USAGE', `--http-proxy-port must be a port number (0 for none), not "${v}"`);
  return n;
}
