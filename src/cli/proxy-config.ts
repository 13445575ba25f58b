// `meshwork proxy-config <proxy> <type>`: what `istioctl proxy-config` shows, but of what the control plane
// last sent the proxy (its /debug/config_dump), not of the proxy's admin port: listeners, routes, clusters,
// endpoints or secrets, as a table or as the resources. Private keys and passwords never leave this command:
// they are redacted in every format, as Envoy's /config_dump does.
import crypto from 'node:crypto';
import { stringify } from 'yaml';
import { parseCommand, usageError } from './args.js';
import { ControlPlaneError, DEFAULT_CONTROL_PLANE_HTTP, addressProblem, connectedProxies, debugGet, table, unknownProxyMessage } from './control-plane-client.js';

const HELP = `Usage: meshwork proxy-config <proxy> listeners|routes|clusters|endpoints|secrets [options]

The resources of one xDS type the control plane last sent the proxy with that node id (from its
/debug/config_dump). Private keys and passwords are shown as "[redacted]". Exit code: 0, 1 when the control
plane cannot be reached or the proxy is not connected, 2 usage.

Options:
      --control-plane-http <host:port>  the control plane's debug HTTP address (its --http-address;
                                        default ${DEFAULT_CONTROL_PLANE_HTTP})
  -o, --output <format>                 short (a table, the default), json or yaml (the resources)
  -h, --help                            this help
`;

type Json = Record<string, any>;

interface View {
  /** the type's key in /debug/config_dump */
  key: 'lds' | 'rds' | 'cds' | 'eds' | 'sds';
  header: string[];
  rows(r: Json): string[][];
}

const VIEWS: Record<string, View> = {
  listeners: { key: 'lds', header: ['NAME', 'ADDRESS:PORT', 'MATCH', 'DESTINATION'], rows: listenerRows },
  routes: { key: 'rds', header: ['NAME', 'VIRTUAL HOST', 'DOMAINS', 'MATCH', 'DESTINATION'], rows: routeRows },
  clusters: { key: 'cds', header: ['NAME', 'TYPE', 'DIRECTION', 'SUBSET'], rows: clusterRows },
  endpoints: { key: 'eds', header: ['ENDPOINT', 'STATUS', 'LOCALITY', 'CLUSTER'], rows: endpointRows },
  secrets: { key: 'sds', header: ['NAME', 'TYPE', 'SERIAL NUMBER', 'NOT AFTER', 'SOURCE'], rows: secretRows },
};

/** listener, listeners → listeners (istioctl takes either) */
const viewName = (s: string): string | undefined => (VIEWS[s] ? s : VIEWS[`${s}s`] ? `${s}s` : undefined);

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommand('proxy-config', HELP, argv, {
        'control-plane-http': { type: 'string', default: DEFAULT_CONTROL_PLANE_HTTP },
        output: { type: 'string', short: 'o', default: 'short' },
  });
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 2) return usage('give a proxy and a type');
  // istioctl's order (type first) works too, unless the proxy's own name is a type's
  let [proxy, type] = positionals as [string, string];
  if (!viewName(type) && viewName(proxy)) [proxy, type] = [type, proxy];
  const view = VIEWS[viewName(type) ?? ''];
  if (!view) return usage(`unknown type "${type}" (listeners, routes, clusters, endpoints or secrets)`);
  if (!['short', 'json', 'yaml'].includes(values.output!)) return usage(`unknown output format "${values.output}" (short, json or yaml)`);

  const address = values['control-plane-http']!;
  const problem = addressProblem(address);
  if (problem) return usage(problem);
  let resources: Json[];
  try {
    const { status, body } = await debugGet(address, `/debug/config_dump?proxy=${encodeURIComponent(proxy)}`);
    if (status === 404) {
      process.stderr.write(`meshwork proxy-config: ${unknownProxyMessage(proxy, await connectedProxies(address))}\n`);
      return 1;
    }
    if (status !== 200) {
      process.stderr.write(`meshwork proxy-config: Cannot read the config of "${proxy}": HTTP ${status} ${body?.error ?? ''}\n`);
      return 1;
    }
    resources = (body.types?.[view.key]?.resources ?? []).map(redact);
  } catch (err) {
    if (!(err instanceof ControlPlaneError)) throw err;
    process.stderr.write(`meshwork proxy-config: ${err.message}\n`);
    return 1;
  }
  if (values.output === 'json') process.stdout.write(JSON.stringify(resources, null, 2) + '\n');
  else if (values.output === 'yaml') process.stdout.write(stringify(resources, { aliasDuplicateObjects: false }));
  // by name; within a resource the order stays, as it matters (the first matching route wins)
  else process.stdout.write(table(view.header, resources.sort((a, b) => nameOf(a).localeCompare(nameOf(b))).flatMap(view.rows)));
  return 0;
}

const usage = (message: string): number => usageError('proxy-config', HELP, message);

const nameOf = (r: Json): string => r.name ?? r.cluster_name ?? '';

// ---- redaction

/** Fields Envoy marks sensitive, whose DataSources hold key material (the file name of one is no secret). */
const SENSITIVE = new Set(['private_key', 'password', 'secret', 'keys']);

/** A copy with every inline value of a sensitive DataSource replaced by "[redacted]", wherever it sits: Secrets,
 *  but also TLS contexts inlined in listeners and clusters. */
function redact(v: any, key = ''): any {
  if (Array.isArray(v)) return v.map((x) => redact(x, key));
  if (!v || typeof v !== 'object') return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    out[k] = SENSITIVE.has(key) && (k === 'inline_string' || k === 'inline_bytes') ? '[redacted]' : redact(x, k);
  }
  return out;
}

// ---- listeners

function listenerRows(l: Json): string[][] {
  const sa = l.address?.socket_address;
  const address = l.api_listener ? '(api listener)' : sa ? `${sa.address}:${sa.port_value ?? 0}` : l.address?.pipe ? `unix:${l.address.pipe.path}` : '-';
  if (l.api_listener) return [[l.name, address, 'ALL', destination([{ typed_config: l.api_listener.api_listener }])]];
  const chains: [Json, string][] = (l.filter_chains ?? []).map((c: Json) => [c, chainMatch(c.filter_chain_match)]);
  if (l.default_filter_chain) chains.push([l.default_filter_chain, 'default']);
  if (chains.length === 0) return [[l.name, address, '-', '-']];
  return chains.map(([c, match]) => [l.name, address, match, destination(c.filters ?? [])]);
}

function chainMatch(m: Json | undefined): string {
  if (!m) return 'ALL';
  const parts: string[] = [];
  if (m.destination_port) parts.push(`port ${m.destination_port}`);
  if (m.prefix_ranges?.length) parts.push(`dst ${cidrs(m.prefix_ranges)}`);
  if (m.source_prefix_ranges?.length) parts.push(`src ${cidrs(m.source_prefix_ranges)}`);
  if (m.server_names?.length) parts.push(`SNI ${m.server_names.join(',')}`);
  if (m.transport_protocol) parts.push(m.transport_protocol);
  if (m.application_protocols?.length) parts.push(`ALPN ${m.application_protocols.join(',')}`);
  return parts.join('; ') || 'ALL';
}

const cidrs = (ranges: Json[]) => ranges.map((r) => `${r.address_prefix}/${r.prefix_len ?? 32}`).join(',');

/** What the chain's last network filter hands the connection to: a route configuration or a cluster. */
function destination(filters: Json[]): string {
  const last = filters[filters.length - 1];
  const tc = last?.typed_config ?? {};
  const type = String(tc['@type'] ?? '');
  if (type.endsWith('.HttpConnectionManager')) {
    if (tc.rds) return `Route: ${tc.rds.route_config_name}`;
    if (tc.route_config) return `Inline Route: ${tc.route_config.name ?? ''}`.trimEnd();
    if (tc.scoped_routes) return 'Scoped Routes';
  }
  if (type.endsWith('.TcpProxy')) return tc.cluster ? `Cluster: ${tc.cluster}` : `Clusters: ${weighted(tc.weighted_clusters)}`;
  return last ? last.name ?? type : '-';
}

const weighted = (w: Json | undefined) => (w?.clusters ?? []).map((c: Json) => `${c.name} (${c.weight ?? 0})`).join(', ');

// ---- routes

function routeRows(rc: Json): string[][] {
  const rows: string[][] = [];
  for (const vh of rc.virtual_hosts ?? []) {
    const d: string[] = vh.domains ?? [];
    const domains = d.length > 2 ? `${d.slice(0, 2).join(',')} +${d.length - 2} more` : d.join(',') || '-';
    const routes: Json[] = vh.routes ?? [];
    if (routes.length === 0) rows.push([rc.name, vh.name, domains, '-', '-']);
    for (const r of routes) rows.push([rc.name, vh.name, domains, routeMatch(r.match ?? {}), routeAction(r)]);
  }
  return rows.length ? rows : [[rc.name, '-', '-', '-', '-']];
}

function routeMatch(m: Json): string {
  let out = m.path ?? (m.prefix !== undefined ? `${m.prefix}*` : m.path_separated_prefix !== undefined ? `${m.path_separated_prefix}/*` : m.safe_regex ? `~${m.safe_regex.regex}` : m.connect_matcher ? 'CONNECT' : m.path_match_policy ? 'path template' : '*');
  if (m.headers?.length) out += ` (+${m.headers.length} header${m.headers.length === 1 ? '' : 's'})`;
  if (m.query_parameters?.length) out += ` (+${m.query_parameters.length} query)`;
  return out;
}

function routeAction(r: Json): string {
  const a = r.route;
  if (a) return a.cluster ?? (a.weighted_clusters ? weighted(a.weighted_clusters) : a.cluster_header ? `header ${a.cluster_header}` : a.cluster_specifier_plugin ?? '-');
  if (r.redirect) return 'redirect';
  if (r.direct_response) return `direct response ${r.direct_response.status}`;
  return r.non_forwarding_action ? 'non-forwarding' : '-';
}

// ---- clusters

function clusterRows(c: Json): string[][] {
  // Istio's names: direction|port|subset|host (outbound|9080|v1|reviews.default.svc.cluster.local)
  const parts = String(c.name).split('|');
  const istio = parts.length === 4 && (parts[0] === 'inbound' || parts[0] === 'outbound');
  const type = c.cluster_type?.name ?? c.type ?? 'STATIC';
  return [[c.name, type, istio ? parts[0]! : '-', istio && parts[2] ? parts[2] : '-']];
}

// ---- endpoints

function endpointRows(cla: Json): string[][] {
  const rows: string[][] = [];
  for (const le of cla.endpoints ?? []) {
    const loc = le.locality ?? {};
    const locality = [loc.region, loc.zone, loc.sub_zone].filter(Boolean).join('/') || '-';
    for (const e of le.lb_endpoints ?? []) {
      const a = e.endpoint?.address;
      const addr = a?.socket_address ? `${a.socket_address.address}:${a.socket_address.port_value ?? 0}` : a?.pipe ? `unix:${a.pipe.path}` : '-';
      rows.push([addr, e.health_status ?? 'UNKNOWN', locality, cla.cluster_name]);
    }
  }
  return rows;
}

// ---- secrets

function secretRows(s: Json): string[][] {
  if (s.tls_certificate) return [[s.name, 'Cert Chain', ...certFacts(s.tls_certificate.certificate_chain)]];
  const vc = s.validation_context;
  if (vc) return [[s.name, 'CA', ...certFacts(vc.trusted_ca)]];
  if (s.session_ticket_keys) return [[s.name, 'Session Ticket Keys', '-', '-', 'inline']];
  if (s.generic_secret) return [[s.name, 'Generic', '-', '-', 'inline']];
  return [[s.name, '-', '-', '-', '-']];
}

/** [serial, not after, source] of a DataSource holding PEM certificates: the first one, and how many follow. */
function certFacts(ds: Json | undefined): [string, string, string] {
  if (!ds) return ['-', '-', '-'];
  if (ds.filename) return ['-', '-', ds.filename];
  const pem = ds.inline_string ?? (ds.inline_bytes ? Buffer.from(ds.inline_bytes, 'base64').toString() : undefined);
  if (pem === undefined) return ['-', '-', ds.environment_variable ? `env ${ds.environment_variable}` : '-'];
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    const c = new crypto.X509Certificate(certs[0]!);
    return [c.serialNumber.toUpperCase(), new Date(c.validTo).toISOString(), certs.length > 1 ? `inline (${certs.length} certificates)` : 'inline'];
  } catch {
    return ['-', '-', 'inline (not a PEM certificate)'];
  }
}
