// `meshwork why <proxy> <method> <url>`: "why did my request go there?". The control plane knows where each
// proxy's admin listens (node metadata ADMIN, in /debug/syncz); the proxy answers GET /why by walking the
// described request through the config it is running (src/proxy/admin/why.ts). This prints the decisions in
// order: listener, filter chain, HTTP filters, virtual host, each route tried and why it did not match, the
// route taken, the cluster(s) with their endpoints and health, and the verdict.
import http from 'node:http';
import { stringify } from 'yaml';
import { parseCommand, usageError } from './args.js';
import { ControlPlaneError, DEFAULT_CONTROL_PLANE_HTTP, addressProblem, debugGet, unknownProxyMessage } from './control-plane-client.js';

const HELP = `Usage: meshwork why <proxy> <method> <url> [options]

Walks a request through a proxy's live config and prints each decision: the listener on the URL's port, the
filter chain, the HTTP filters that act, the virtual host, every route tried before the one that matched (and
why it did not match), the cluster(s), their endpoints and health. Nothing is sent upstream.
  <proxy>   the proxy's node id (meshwork proxy-status lists them)
  <url>     scheme://authority:port/path?query as the request reaches that proxy (port: the listener's)

Options:
  -H, --header <name: value>            a request header (repeatable)
      --control-plane-http <host:port>  the control plane's debug HTTP address (default ${DEFAULT_CONTROL_PLANE_HTTP})
  -o, --output <format>                 short (default), json or yaml
  -h, --help                            this help
`;

const usage = (message: string): number => usageError('why', HELP, message);

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('why', HELP, argv, {
    'control-plane-http': { type: 'string', default: DEFAULT_CONTROL_PLANE_HTTP },
    header: { type: 'string', short: 'H', multiple: true, default: [] },
    output: { type: 'string', short: 'o', default: 'short' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 3) return usage('give a proxy, a method and a URL');
  const [proxy, method, url] = positionals as [string, string, string];
  const address = values['control-plane-http'] as string;
  const bad = addressProblem(address);
  if (bad) return usage(bad);
  const output = values.output as string;
  if (!['short', 'json', 'yaml'].includes(output)) return usage(`unknown output format ${output}`);
  try {
    const { body } = await debugGet(address, '/debug/syncz');
    const entries = body as { proxy: string; admin?: string }[];
    const entry = entries.find((e) => e.proxy === proxy && e.admin);
    if (!entry) {
      const connected = [...new Set(entries.map((e) => e.proxy))].sort();
      process.stderr.write(`meshwork why: ${entries.some((e) => e.proxy === proxy) ? `proxy "${proxy}" did not say where its admin listens (node metadata ADMIN)` : unknownProxyMessage(proxy, connected)}\n`);
      return 1;
    }
    const params = new URLSearchParams({ url, method });
    for (const h of values.header as string[]) params.append('header', h.replace(/:\s*/, ':'));
    const answer = await adminGet(entry.admin!, `/why?${params}`);
    if (answer.status !== 200) {
      process.stderr.write(`meshwork why: ${answer.text.trim()}\n`);
      return 1;
    }
    const why = JSON.parse(answer.text) as Why;
    if (output === 'json') process.stdout.write(`${JSON.stringify(why, null, 2)}\n`);
    else if (output === 'yaml') process.stdout.write(stringify(why));
    else process.stdout.write(short(proxy, why));
    return 0;
  } catch (err) {
    if (err instanceof ControlPlaneError) {
      process.stderr.write(`meshwork why: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

interface Why {
  request: { method: string; url: string };
  listener?: string;
  filterChain?: string;
  httpFilters?: string[];
  routeConfiguration?: string;
  virtualHost?: string | null;
  routesTried?: { route: string; reason?: string }[];
  route?: string;
  clusters?: { name: string; weight?: number; of?: number; exists?: boolean; type?: string; endpoints?: { address: string; healthy: boolean; ejected: boolean; weight: number; priority: number; locality?: string }[] }[];
  timeoutMs?: number;
  verdict: string;
}

function short(proxy: string, w: Why): string {
  const lines: string[] = [`${w.request.method} ${w.request.url} through ${proxy}:`];
  if (w.listener) lines.push(`  listener        ${w.listener}${w.filterChain ? `, filter chain ${w.filterChain}` : ''}`);
  if (w.httpFilters) lines.push(`  http filters    ${w.httpFilters.join(' → ')}`);
  if (w.routeConfiguration) lines.push(`  routes          ${w.routeConfiguration}${w.virtualHost ? `, virtual host ${w.virtualHost}` : ''}`);
  for (const t of w.routesTried ?? []) lines.push(t.reason ? `    ✗ ${t.route}: ${t.reason}` : `    ✓ ${t.route}`);
  for (const c of w.clusters ?? []) {
    const share = c.weight !== undefined ? ` weight ${c.weight}/${c.of}` : '';
    if (c.exists === false) {
      lines.push(`  cluster         ${c.name}${share}: does not exist`);
      continue;
    }
    lines.push(`  cluster         ${c.name}${share} (${c.type})`);
    for (const e of c.endpoints ?? []) {
      const state = e.ejected ? 'EJECTED' : e.healthy ? 'HEALTHY' : 'UNHEALTHY';
      lines.push(`    ${e.address}  ${state}  weight ${e.weight}${e.priority ? ` priority ${e.priority}` : ''}${e.locality ? `  ${e.locality}` : ''}`);
    }
    if (!c.endpoints?.length) lines.push('    (no endpoints)');
  }
  if (w.timeoutMs !== undefined) lines.push(`  timeout         ${w.timeoutMs ? `${w.timeoutMs} ms` : 'none'}`);
  lines.push(`  → ${w.verdict}`);
  return lines.join('\n') + '\n';
}

/** GET on a proxy's admin listener (host:port). */
function adminGet(admin: string, pathname: string): Promise<{ status: number; text: string }> {
  const i = admin.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ host: admin.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(admin.slice(i + 1)), path: pathname, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new ControlPlaneError(`Cannot reach the proxy's admin at "${admin}": ${err.code ?? err.message}`)));
  });
}
