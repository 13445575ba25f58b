// `meshwork proxy-status`: what `istioctl proxy-status` shows, read from the control plane's /debug/syncz:
// per connected proxy and xDS type, whether the proxy runs what it was last sent (SYNCED), has not answered yet
// (STALE), rejected it (NACKED) or was never sent that type (NOT SENT). With a node id: that proxy in detail.
import { stringify } from 'yaml';
import { parseCommand, usageError } from './args.js';
import type { SyncStatus, TypeSyncStatus } from '../control-plane/xds/status.js';
import { ControlPlaneError, DEFAULT_CONTROL_PLANE_HTTP, addressProblem, age, debugGet, table, unknownProxyMessage } from './control-plane-client.js';

const HELP = `Usage: meshwork proxy-status [<proxy>] [options]

The xDS sync status of every proxy connected to the control plane (from its /debug/syncz): per type SYNCED
(the proxy ACKed the latest version sent), NOT SENT, STALE (sent, not answered yet; for how long) or NACKED
(rejected: the error follows the table). With a proxy's node id: every type's versions, nonces, subscription
and last NACK. Exit code: 0, 1 when the control plane cannot be reached or the proxy is not connected, 2 usage.

Options:
      --control-plane-http <host:port>  the control plane's debug HTTP address (its --http-address;
                                        default ${DEFAULT_CONTROL_PLANE_HTTP})
  -o, --output <format>                 json or yaml: the /debug/syncz entries as they are
  -h, --help                            this help
`;

/** Columns always shown, in istioctl's order; SDS and other types only when some proxy has them. */
const MAIN_TYPES = ['cds', 'lds', 'eds', 'rds'];

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('proxy-status', HELP, argv, {
        'control-plane-http': { type: 'string', default: DEFAULT_CONTROL_PLANE_HTTP },
        output: { type: 'string', short: 'o' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length > 1) return usage('give at most one proxy');
  if (values.output !== undefined && values.output !== 'json' && values.output !== 'yaml') return usage(`unknown output format "${values.output}" (json or yaml)`);
  const address = values['control-plane-http']!;
  const problem = addressProblem(address);
  if (problem) return usage(problem);
  let all: SyncStatus[];
  try {
    all = (await debugGet(address, '/debug/syncz')).body;
  } catch (err) {
    if (!(err instanceof ControlPlaneError)) throw err;
    process.stderr.write(`meshwork proxy-status: ${err.message}\n`);
    return 1;
  }
  const [name] = positionals;
  const entries = name === undefined ? all : all.filter((s) => s.proxy === name);
  if (name !== undefined && entries.length === 0) {
    process.stderr.write(`meshwork proxy-status: ${unknownProxyMessage(name, [...new Set(all.map((s) => s.proxy))].sort())}\n`);
    return 1;
  }
  if (values.output === 'json') process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
  else if (values.output === 'yaml') process.stdout.write(stringify(entries));
  else process.stdout.write(name === undefined ? overview(byProxy(entries)) : detail(byProxy(entries)[0]!));
  return 0;
}

const usage = (message: string): number => usageError('proxy-status', HELP, message);

/** One per node id: a proxy with several streams (one per standalone xDS service) has its types merged, the
 *  newest stream winning, as /debug/config_dump merges them. */
function byProxy(entries: SyncStatus[]): SyncStatus[] {
  const out = new Map<string, SyncStatus>();
  for (const s of entries) {
    const seen = out.get(s.proxy);
    out.set(s.proxy, seen ? { ...s, types: { ...seen.types, ...s.types } } : s);
  }
  return [...out.values()].sort((a, b) => a.proxy.localeCompare(b.proxy));
}

function typeColumns(proxies: SyncStatus[]): string[] {
  const extra = new Set<string>();
  for (const p of proxies) for (const t of Object.keys(p.types)) if (!MAIN_TYPES.includes(t)) extra.add(t);
  return [...MAIN_TYPES, ...[...extra].sort((a, b) => (a === 'sds' ? -1 : b === 'sds' ? 1 : a.localeCompare(b)))];
}

/** lds → LDS; a type URL Meshwork has no short name for → its message's name */
const typeTitle = (t: string) => (t.includes('/') ? t.slice(t.lastIndexOf('.') + 1) : t.toUpperCase());

function cell(st: TypeSyncStatus | undefined): string {
  if (!st || st.status === 'NOT_SENT') return 'NOT SENT';
  if (st.status === 'STALE') return `STALE (${age(st.staleMs)})`;
  return st.status;
}

function overview(proxies: SyncStatus[]): string {
  const types = typeColumns(proxies);
  const now = Date.now();
  const rows = proxies.map((p) => [p.proxy, p.cluster || '-', ...types.map((t) => cell(p.types[t])), age(now - Date.parse(p.connectedAt))]);
  let out = table(['NAME', 'CLUSTER', ...types.map(typeTitle), 'CONNECTED'], rows);
  const nacks = proxies.flatMap((p) => types.filter((t) => p.types[t]?.status === 'NACKED').map((t) => ({ p, t, n: p.types[t]!.nacked! })));
  if (nacks.length) {
    out += '\nNACKED:\n';
    for (const { p, t, n } of nacks) out += `  ${p.proxy} ${typeTitle(t)} version ${n.version} at ${n.at}:\n${indent(n.message, 4)}\n`;
  }
  return out;
}

function detail(p: SyncStatus): string {
  const now = Date.now();
  const facts: [string, string | undefined][] = [
    ['Proxy', p.proxy],
    ['Cluster', p.cluster || undefined],
    ['Type', p.type],
    ['Namespace', p.namespace],
    ['Labels', p.labels && Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',')],
    ['Admin', p.admin],
    ['Stream', `${p.delta ? 'delta' : 'state of the world'}, connection ${p.connectionId} from ${p.peer}`],
    ['Connected', `${p.connectedAt} (${age(now - Date.parse(p.connectedAt))} ago)`],
  ];
  let out = '';
  for (const [k, v] of facts) if (v) out += `${`${k}:`.padEnd(12)}${v}\n`;
  const types = typeColumns([p]);
  const rows = types.map((t) => {
    const st = p.types[t];
    if (!st) return [typeTitle(t), cell(st), '-', '-', '-', '-', '-', '-'];
    const subscribed = st.subscribed === '*' ? '*' : st.subscribedCount > st.subscribed.length ? `${st.subscribed.join(',')} (+${st.subscribedCount - st.subscribed.length} more)` : st.subscribed.join(',') || '-';
    return [typeTitle(t), cell(st), st.sent || '-', st.sentNonce || '-', st.sentAt || '-', st.acked || '-', st.ackedAt || '-', subscribed];
  });
  out += '\n' + table(['TYPE', 'STATUS', 'SENT', 'NONCE', 'SENT AT', 'ACKED', 'ACKED AT', 'SUBSCRIBED'], rows);
  // a NACK stays recorded after a later ACK: shown as history, the STATUS column says whether it still applies
  for (const t of types) {
    const n = p.types[t]?.nacked;
    if (n) out += `\nLast NACK of ${typeTitle(t)} (version ${n.version} at ${n.at}${p.types[t]!.status === 'NACKED' ? '' : ', since superseded'}):\n${indent(n.message, 2)}\n`;
  }
  return out;
}

const indent = (text: string, n: number) => text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
