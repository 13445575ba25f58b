// Istio's validation rules for the resources load.ts read (after istio/istio pkg/config/validation: the same
// rules, errors and warnings, in Meshwork's words), plus what Meshwork does not implement: a field or value
// marked unsupported in schema.ts is an MW_MESH_UNSUPPORTED error, never silently ignored.
//
// Where Meshwork is stricter than Istio it says so in docs/istio-compat.md: route weights must total 100
// when a route has several destinations (Istio normalizes any positive total), a STATIC ServiceEntry needs
// endpoints or a workloadSelector, and a Sidecar ingress listener needs a defaultEndpoint.
//
// validateMeshResource checks one resource alone (what a config store does before accepting it);
// analyzeMesh checks resources against each other (what `meshwork analyze` adds).
import { isIP } from 'node:net';
import { ConfigError, type ErrorCode } from '../../common/errors.js';
import { compileRe2Substitution, compileRegex } from '../../common/re2.js';
import { isDNS1123Label, isDNS1123Subdomain, mapKey } from './load.js';
import { MESSAGES, specMessage, type FieldType } from './schema.js';
import { checkAuthorizationPolicy, checkPeerAuthentication, checkRequestAuthentication } from './validate-security.js';
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  CorsPolicy,
  Destination,
  DestinationRuleSpec,
  GatewaySpec,
  Headers,
  HTTPMatchRequest,
  HTTPRoute,
  HTTPRouteDestination,
  L4MatchAttributes,
  LoadBalancerSettings,
  MeshKind,
  MeshResource,
  OutlierDetection,
  Percent,
  RouteDestination,
  ServerTLSSettings,
  ServiceEntrySpec,
  SidecarSpec,
  StringMatch,
  TrafficPolicy,
  VirtualServiceSpec,
  WorkloadEntrySpec,
} from './types.js';

export type Severity = 'error' | 'warning';

/** One finding about one resource. */
export interface Diagnostic {
  readonly code: ErrorCode;
  readonly severity: Severity;
  /** "VirtualService default/my-app" */
  readonly resource: string;
  /** field path in the resource, e.g. "spec.http[0].route[1].weight" ("" for the whole resource) */
  readonly path: string;
  readonly reason: string;
  /** file:line:column of the field (or of the resource) */
  readonly location?: string;
  /** "file:line:col: VirtualService default/my-app: spec.http[0].route: reason" */
  readonly message: string;
}

export interface ValidationResult {
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
}

/** A Diagnostic as a ConfigError (for code that throws, or collects ConfigErrors). */
export function toConfigError(d: Diagnostic): ConfigError {
  return new ConfigError(d.code, d.path, `${d.resource}: ${d.reason}`, d.location);
}

export function resourceName(r: MeshResource): string {
  return `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`;
}

function diagnostic(r: MeshResource, code: ErrorCode, severity: Severity, path: string, reason: string): Diagnostic {
  const resource = resourceName(r);
  const location = (path && r.locate?.(path)) || r.location;
  const message = `${location ? location + ': ' : ''}${resource}: ${path ? path + ': ' : ''}${reason}`;
  return { code, severity, resource, path, reason, location, message };
}

/** What the per-kind checks report into. */
class Report {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  constructor(readonly r: MeshResource) {}
  error(path: string, reason: string, code: ErrorCode = 'MW_MESH_INVALID'): void {
    this.errors.push(diagnostic(this.r, code, 'error', path, reason));
  }
  unsupported(path: string, reason: string): void {
    this.error(path, reason, 'MW_MESH_UNSUPPORTED');
  }
  warn(path: string, reason: string): void {
    this.warnings.push(diagnostic(this.r, 'MW_MESH_WARNING', 'warning', path, reason));
  }
}

/** Checks one resource with Istio's rules and Meshwork's support table. */
export function validateMeshResource(r: MeshResource): ValidationResult {
  const rep = new Report(r);
  checkSupport(rep, r.spec, { t: 'msg', name: specMessage(r.kind) }, 'spec');
  switch (r.kind) {
    case 'Gateway':
      checkGateway(rep, r.spec as GatewaySpec, r.metadata.name);
      break;
    case 'VirtualService':
      checkVirtualService(rep, r.spec as VirtualServiceSpec);
      break;
    case 'DestinationRule':
      checkDestinationRule(rep, r.spec as DestinationRuleSpec, r.metadata.namespace);
      break;
    case 'ServiceEntry':
      checkServiceEntry(rep, r.spec as ServiceEntrySpec);
      break;
    case 'WorkloadEntry':
      checkWorkloadEntry(rep, r.spec as WorkloadEntrySpec, 'spec', undefined);
      break;
    case 'Sidecar':
      checkSidecar(rep, r.spec as SidecarSpec, r.metadata.namespace);
      break;
    // security.istio.io: validate-security.ts
    case 'PeerAuthentication':
      checkPeerAuthentication(rep, (r as MeshResource<'PeerAuthentication'>).spec);
      break;
    case 'AuthorizationPolicy':
      checkAuthorizationPolicy(rep, (r as MeshResource<'AuthorizationPolicy'>).spec);
      break;
    case 'RequestAuthentication':
      checkRequestAuthentication(rep, (r as MeshResource<'RequestAuthentication'>).spec);
      break;
  }
  return { errors: rep.errors, warnings: rep.warnings };
}

// ------------------------------------------------------------------ support table

/** Every field set that Meshwork does not implement (or ignores), from schema.ts. */
function checkSupport(rep: Report, value: unknown, type: FieldType, path: string): void {
  if (value === undefined || value === null) return;
  if (type.t === 'list' && Array.isArray(value)) value.forEach((v, i) => checkSupport(rep, v, type.of, `${path}[${i}]`));
  else if (type.t === 'map' && typeof value === 'object') for (const [k, v] of Object.entries(value)) checkSupport(rep, v, type.of, `${path}${mapKey(k)}`);
  else if (type.t === 'msg' && typeof value === 'object') {
    const fields = MESSAGES[type.name]!;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const spec = fields[k];
      if (!spec) continue;
      const p = `${path}.${k}`;
      if (spec.status === 'unsupported') rep.unsupported(p, `${k} is not supported: ${spec.note}`);
      else if (spec.status === 'ignored') rep.warn(p, `${k} is accepted and has no effect: ${spec.note}`);
      else {
        if (spec.unsupportedValues && typeof v === 'string') {
          const why = spec.unsupportedValues[k === 'protocol' ? v.toUpperCase() : v];
          if (why) rep.unsupported(p, why);
        }
        checkSupport(rep, v, spec.type, p);
      }
    }
  }
}

// ------------------------------------------------------------------ shared rules

/** Go's time.ParseDuration (what Istio's YAML durations are): milliseconds, or undefined if it does not parse. */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (!m) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const part of m[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(part[1]) * unit[part[2]!]!;
  return m[1] === '-' ? -ms : ms;
}

/** Istio's ValidateDuration: at least 1ms (unless `zero` is allowed), millisecond precision. */
function checkDuration(rep: Report, path: string, s: string | undefined, opts: { zero?: boolean; seconds?: boolean } = {}): number | undefined {
  if (s === undefined) return undefined;
  const ms = parseDuration(s);
  if (ms === undefined) {
    rep.error(path, `cannot parse duration "${s}": use a number and a unit, such as "1s", "500ms", "1m30s"`);
    return undefined;
  }
  if (ms < 0) rep.error(path, `duration "${s}" is negative`);
  else if (ms === 0 && opts.zero) return 0;
  else if (ms < 1) rep.error(path, `duration "${s}" must be at least 1ms`);
  else if (Math.abs(ms - Math.round(ms)) > 1e-9) rep.error(path, `duration "${s}": only millisecond precision is supported`);
  else if (opts.seconds && ms % 1000 !== 0) rep.error(path, `duration "${s}": only whole seconds are supported here`);
  return ms;
}

function checkPort(rep: Report, path: string, n: number | undefined): void {
  if (n !== undefined && (n < 1 || n > 65535)) rep.error(path, `port number ${n} must be in the range 1..65535`);
}

/** Istio's Percent: 0, or between 0.0001 and 100. */
function checkPercent(rep: Report, path: string, p: Percent | undefined): void {
  if (p === undefined || p.value === undefined) return;
  const v = p.value;
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) rep.error(`${path}.value`, `percentage ${v} must be 0 or in the range 0.0001..100`);
}

// Istio's DNS label allows upper case in hosts (they are compared case-insensitively).
const HOST_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;
const WILDCARD_LABEL = /^(\*|(\*|\*-)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)$/;

function dnsLabelsError(domain: string): string | undefined {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1]!;
  if (/^\d+$/.test(tld)) return `domain name "${domain}" is invalid: the top-level domain "${tld}" cannot be all digits`;
  for (let i = 0; i < parts.length; i++) {
    const label = parts[i]!;
    if (i === parts.length - 1 && label === '' && i > 0) return undefined; // "istio.io." is unambiguous
    if (label.length > 63 || !HOST_LABEL.test(label)) return `domain name "${domain}" is invalid: label "${label}" is not a DNS label`;
  }
  return undefined;
}

/** Istio's ValidateFQDN: DNS labels, no wildcard. Short names ("reviews") pass: they are one label. */
function fqdnError(name: string): string | undefined {
  if (name.length === 0) return 'a host name cannot be empty';
  if (name.length > 255) return `domain name "${name}" is too long (max 255)`;
  return dnsLabelsError(name);
}

/** Istio's ValidateWildcardDomain: an FQDN whose first label may be a wildcard ("*", "*.example.com"). */
function wildcardDomainError(domain: string): string | undefined {
  if (domain.length === 0) return 'a host name cannot be empty';
  if (domain.length > 255) return `domain name "${domain}" is too long (max 255)`;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (first.length > 63 || !WILDCARD_LABEL.test(first)) return `domain name "${domain}" is invalid: label "${first}" is not a DNS label or a wildcard`;
  return dot < 0 ? undefined : dnsLabelsError(domain.slice(dot + 1));
}

/** Whether two hosts overlap (Istio's host.Name.Matches): equal, or one's wildcard covers the other. */
export function hostsOverlap(a: string, b: string): boolean {
  a = a.toLowerCase();
  b = b.toLowerCase();
  if (a === b || a === '*' || b === '*') return true;
  const covers = (w: string, h: string) => w.startsWith('*') && (h.startsWith('*') ? h.slice(1).endsWith(w.slice(1)) || w.slice(1).endsWith(h.slice(1)) : h.endsWith(w.slice(1)));
  return covers(a, b) || covers(b, a);
}

/** Whether `host` is within `of` (Istio's SubsetOf): equal, or covered by its wildcard. */
function hostSubsetOf(host: string, of: string): boolean {
  host = host.toLowerCase();
  of = of.toLowerCase();
  if (host === of || of === '*') return true;
  if (!of.startsWith('*')) return false;
  return host.startsWith('*') ? host.slice(1).endsWith(of.slice(1)) : host.endsWith(of.slice(1));
}

// Kubernetes label rules, as Istio's labels.Instance.Validate applies them.
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function checkLabels(rep: Report, path: string, labels: Record<string, string> | undefined, selector = false): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) {
    const p = `${path}${mapKey(k)}`;
    if (selector && (k.includes('*') || v.includes('*'))) {
      rep.error(p, `wildcards are not supported in selectors: "${k}=${v}"`);
      continue;
    }
    const slash = k.indexOf('/');
    const prefix = slash < 0 ? undefined : k.slice(0, slash);
    const name = slash < 0 ? k : k.slice(slash + 1);
    if (k === '') rep.error(p, 'a label key cannot be empty');
    else if ((prefix !== undefined && !isDNS1123Subdomain(prefix)) || name.length > 63 || !LABEL_NAME.test(name)) {
      rep.error(p, `"${k}" is not a valid label key: [prefix/]name, name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
    }
    if (v.length > 63 || (v !== '' && !LABEL_NAME.test(v))) rep.error(p, `"${v}" is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`);
  }
}

function checkWorkloadSelector(rep: Report, path: string, labels: Record<string, string> | undefined, what: string): void {
  if (labels === undefined || Object.keys(labels).length === 0) rep.warn(path, `workload selector without labels: the ${what} applies to every workload of the namespace`);
  checkLabels(rep, `${path}.labels`, labels, true);
}

const HEADER_NAME = /^[-_A-Za-z0-9]+$/;
const isAuthority = (name: string) => /^(:authority|host)$/i.test(name);

function checkHeaderName(rep: Report, path: string, name: string): void {
  if (name === '') rep.error(path, 'a header name cannot be empty');
  else if (!HEADER_NAME.test(name)) rep.error(path, `"${name}" is not a valid header name (letters, digits, '-' and '_')`);
}

// Control characters other than tab cannot be written into a header value.
const BAD_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function checkHeaderValue(rep: Report, path: string, value: string): void {
  if (BAD_HEADER_VALUE.test(value)) rep.error(path, 'a header value cannot contain control characters');
  // Envoy reads %...% as a command operator; a lone '%' must be written '%%'
  const stripped = value.replace(/%%/g, '').replace(/%[A-Za-z0-9_]+(\([^)]*\))?(:[0-9]+)?%/g, '');
  if (stripped.includes('%')) rep.error(path, `header value "${value}" has an unmatched '%': write '%%' for a literal percent sign`);
}

function checkHeaderOperations(rep: Report, path: string, h: Headers | undefined): void {
  if (!h) return;
  for (const side of ['request', 'response'] as const) {
    const ops = h[side];
    if (!ops) continue;
    const p = `${path}.${side}`;
    for (const op of ['set', 'add'] as const) {
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        const q = `${p}.${op}${mapKey(name)}`;
        if (name === '') rep.error(q, 'a header name cannot be empty');
        // the request's authority may be set (it rewrites the host); no other pseudo-header, and not Host in responses
        else if (side === 'request' ? name.startsWith(':') && !isAuthority(name) : name.startsWith(':') || /^host$/i.test(name)) rep.error(q, `header "${name}" cannot be set`);
        checkHeaderValue(rep, q, value);
      }
    }
    (ops.remove ?? []).forEach((name, i) => {
      if (name === '') rep.error(`${p}.remove[${i}]`, 'a header name cannot be empty');
      else if (name.startsWith(':') || /^host$/i.test(name)) rep.error(`${p}.remove[${i}]`, `header "${name}" cannot be removed`);
    });
  }
}

/** A regex as the proxy will run it (RE2 translated to JS by the router's compiler): must compile. */
function checkRegex(rep: Report, path: string, re: string): void {
  if (re === '') {
    rep.error(path, 'a regex cannot be empty');
    return;
  }
  if (re.length > 1024) {
    rep.error(path, `regex is too long (${re.length} characters; Istio allows at most 1024)`);
    return;
  }
  try {
    compileRegex(re, '');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const reason = `regex "${re}": ${err.message}; Istio uses RE2 syntax (https://github.com/google/re2/wiki/Syntax)`;
    if (err.code === 'MW_CONFIG_UNSUPPORTED') rep.unsupported(path, reason);
    else rep.error(path, reason);
  }
}

/** StringMatch: exactly one of exact/prefix/regex (none at all means "present" where `allowEmpty`). */
function checkStringMatch(rep: Report, path: string, sm: StringMatch | undefined, opts: { allowEmpty?: boolean; noRegex?: string } = {}): void {
  if (!sm) return;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => sm[k] !== undefined);
  if (set.length > 1) rep.error(path, `exactly one of exact, prefix or regex may be set, not ${set.join(' and ')}`);
  else if (set.length === 0 && !opts.allowEmpty) rep.error(path, 'one of exact, prefix or regex is required');
  if (sm.prefix === '') rep.error(`${path}.prefix`, 'a prefix match cannot be empty');
  if (sm.regex !== undefined) {
    if (opts.noRegex) rep.error(`${path}.regex`, opts.noRegex);
    else checkRegex(rep, `${path}.regex`, sm.regex);
  }
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);

// Istio's protocol.Parse (case-insensitive); what Meshwork does not implement is reported by the support table.
const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS', 'UDP']);
const isHTTPProtocol = (p: string) => ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'].includes(p.toUpperCase());
const isTLSProtocol = (p: string) => ['HTTPS', 'TLS'].includes(p.toUpperCase());

function checkProtocol(rep: Report, path: string, p: string | undefined): void {
  if (p !== undefined && p !== '' && !PROTOCOLS.has(p.toUpperCase())) rep.error(path, `unknown protocol "${p}": HTTP, HTTPS, HTTP2, GRPC, TCP or TLS`);
}

function checkPortName(rep: Report, path: string, name: string | undefined, required: boolean): void {
  if (name === undefined || name === '') {
    if (required) rep.error(path, 'a port name is required');
  } else if (!isDNS1123Label(name)) rep.error(path, `"${name}" is not a valid port name: a DNS label (lowercase letters, digits and '-')`);
}

function checkIPOrCIDR(rep: Report, path: string, s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) {
    if (!isIP(s)) rep.error(path, `"${s}" is not a valid IP address`);
    return false;
  }
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const v = isIP(ip);
  if (!v || !/^\d+$/.test(bits) || Number(bits) > (v === 4 ? 32 : 128)) rep.error(path, `"${s}" is not a valid CIDR block`);
  return true;
}

function checkExportTo(rep: Report, path: string, exportTo: string[] | undefined): void {
  if (exportTo === undefined) return;
  exportTo.forEach((e, i) => {
    if (e !== '*') rep.unsupported(`${path}[${i}]`, `exportTo "${e}" is not supported: resources are visible to every namespace (only "*" is accepted)`);
  });
}

// ------------------------------------------------------------------ Gateway

function checkGateway(rep: Report, spec: GatewaySpec, name: string): void {
  if (!isDNS1123Label(name)) rep.error('metadata.name', `"${name}" is not a valid Gateway name: a DNS label (no dots)`);
  checkLabels(rep, 'spec.selector', spec.selector, true);
  const servers = spec.servers ?? [];
  if (servers.length === 0) rep.error('spec.servers', 'a Gateway needs at least one server');
  const portNames = new Map<string, number>();
  servers.forEach((s, i) => {
    const p = `spec.servers[${i}]`;
    if (!s.hosts || s.hosts.length === 0) rep.error(`${p}.hosts`, 'a server needs at least one host');
    (s.hosts ?? []).forEach((h, j) => checkNamespacedHost(rep, `${p}.hosts[${j}]`, h, true));
    if (!s.port) {
      rep.error(`${p}.port`, 'a server needs a port');
      return;
    }
    if (s.port.number === undefined) rep.error(`${p}.port.number`, 'a port number is required');
    checkPort(rep, `${p}.port.number`, s.port.number);
    if (s.port.protocol === undefined || s.port.protocol === '') rep.error(`${p}.port.protocol`, 'a protocol is required');
    else checkProtocol(rep, `${p}.port.protocol`, s.port.protocol);
    checkPortName(rep, `${p}.port.name`, s.port.name, true);
    if (s.port.name) {
      const first = portNames.get(s.port.name);
      if (first !== undefined) rep.error(`${p}.port.name`, `port names must be unique: "${s.port.name}" is also the name of servers[${first}]`);
      else portNames.set(s.port.name, i);
    }
    const protocol = (s.port.protocol ?? '').toUpperCase();
    if (isTLSProtocol(protocol) && !s.tls) rep.error(`${p}.tls`, `a ${protocol} server needs tls settings`);
    if (s.tls) {
      if (!isTLSProtocol(protocol)) {
        // a plain HTTP server may only carry httpsRedirect
        const onlyRedirect = Object.keys(s.tls).every((k) => k === 'httpsRedirect');
        if (!isHTTPProtocol(protocol) || !onlyRedirect) rep.error(`${p}.tls`, `a ${protocol || 'plain-text'} server cannot have TLS settings other than httpsRedirect (use protocol HTTPS or TLS)`);
      }
      if (s.tls.httpsRedirect && !isHTTPProtocol(protocol)) rep.warn(`${p}.tls.httpsRedirect`, 'httpsRedirect only has an effect on HTTP servers');
      if (s.tls.mode === 'PASSTHROUGH' && protocol !== 'TLS') rep.error(`${p}.tls.mode`, `PASSTHROUGH needs protocol TLS, not ${protocol}: the proxy forwards the encrypted stream by SNI`);
      if (isTLSProtocol(protocol)) checkServerTLS(rep, `${p}.tls`, s.tls);
    }
  });
}

function checkServerTLS(rep: Report, path: string, tls: ServerTLSSettings): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  if (tls.minProtocolVersion && ['TLSV1_0', 'TLSV1_1'].includes(tls.minProtocolVersion) && !tls.cipherSuites?.length) {
    rep.warn(`${path}.minProtocolVersion`, 'TLS versions below 1.2 need cipherSuites set: the default ciphers no longer include compatible ones');
  }
  const order = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];
  const min = order.indexOf(tls.minProtocolVersion ?? '');
  const max = order.indexOf(tls.maxProtocolVersion ?? '');
  if (min >= 0 && max >= 0 && min > max) rep.error(`${path}.minProtocolVersion`, `minProtocolVersion ${tls.minProtocolVersion} is above maxProtocolVersion ${tls.maxProtocolVersion}`);
  const seen = new Set<string>();
  (tls.cipherSuites ?? []).forEach((c, i) => {
    if (seen.has(c)) rep.warn(`${path}.cipherSuites[${i}]`, `duplicate cipher suite "${c}" is ignored`);
    seen.add(c);
  });
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    if (tls.serverCertificate || tls.privateKey || tls.caCertificates || tls.credentialName) rep.warn(path, `${mode} mode does not use certificates: they are ignored`);
    return;
  }
  if (tls.credentialName) return; // reported by the support table
  if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    if (!tls.serverCertificate) rep.error(`${path}.serverCertificate`, `${mode} TLS needs serverCertificate (a file path)`);
    if (!tls.privateKey) rep.error(`${path}.privateKey`, `${mode} TLS needs privateKey (a file path)`);
  }
  if ((mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && !tls.caCertificates) rep.error(`${path}.caCertificates`, `${mode} TLS needs caCertificates (a file path) to verify clients`);
  if (mode === 'ISTIO_MUTUAL' && (tls.serverCertificate || tls.privateKey || tls.caCertificates)) rep.error(path, 'ISTIO_MUTUAL TLS cannot have certificate files');
}

/**
 * A Gateway server host or a Sidecar egress host: "namespace/dnsName" (namespace "*", "." and, for Sidecars, "~"),
 * where Gateways also accept a bare dnsName. Short names are not allowed: they would be ambiguous across
 * namespaces.
 */
function checkNamespacedHost(rep: Report, path: string, host: string, gateway: boolean): void {
  const slash = host.indexOf('/');
  let dns = host;
  if (slash < 0) {
    if (!gateway) {
      rep.error(path, `host "${host}" must be of the form namespace/dnsName ("*/", "./" or "~/" allowed)`);
      return;
    }
  } else {
    const ns = host.slice(0, slash);
    dns = host.slice(slash + 1);
    if (ns === '' || dns === '') {
      rep.error(path, `host "${host}": namespace and dnsName cannot be empty`);
      return;
    }
    const special = gateway ? ['*', '.'] : ['*', '.', '~'];
    if (!special.includes(ns) && !isDNS1123Label(ns)) rep.error(path, `host "${host}": "${ns}" is not a valid namespace (a DNS label, or ${special.join(' ')})`);
  }
  if (dns !== '*' && !dns.includes('.') && !(gateway && isIP(dns))) rep.error(path, `host "${host}": short names (without a dot) are not allowed here; write the full name`);
  const err = wildcardDomainError(dns);
  if (err && !(gateway && isIP(dns))) rep.error(path, err);
  if (dns.includes('*') && dns !== '*' && !dns.startsWith('*.')) rep.error(path, `host "${host}": partial wildcard "${dns}" is not allowed (use "*" or "*.suffix")`);
}

// ------------------------------------------------------------------ VirtualService

/** The gateways a VirtualService applies to ("mesh" when none are named). */
function appliesToGateways(spec: VirtualServiceSpec): boolean {
  return (spec.gateways ?? []).length > 0 && !spec.gateways!.includes('mesh');
}

function checkVirtualService(rep: Report, spec: VirtualServiceSpec): void {
  const hosts = spec.hosts ?? [];
  const delegate = hosts.length === 0;
  if (delegate) {
    // A VirtualService without hosts can only be used as a delegate, which takes its hosts and gateways from the
    // root that delegates to it.
    if (spec.gateways?.length) rep.error('spec.gateways', 'a delegate VirtualService (one without hosts) cannot name gateways');
    if (spec.tls?.length) rep.error('spec.tls', 'a delegate VirtualService (one without hosts) cannot have tls routes');
    if (spec.tcp?.length) rep.error('spec.tcp', 'a delegate VirtualService (one without hosts) cannot have tcp routes');
  }
  const toGateway = appliesToGateways(spec);
  checkGatewayNames(rep, 'spec.gateways', spec.gateways);
  let allValid = true;
  hosts.forEach((h, i) => {
    const err = wildcardDomainError(h);
    if (err && !isIP(h)) {
      rep.error(`spec.hosts[${i}]`, err);
      allValid = false;
    } else if (h === '*' && !toGateway) {
      rep.error(`spec.hosts[${i}]`, 'host "*" is only allowed in a VirtualService bound to gateways (not to "mesh"): sidecars need a service name');
      allValid = false;
    }
  });
  if (allValid) {
    for (let i = 0; i < hosts.length; i++) {
      for (let j = i + 1; j < hosts.length; j++) {
        if (hostsOverlap(hosts[i]!, hosts[j]!)) rep.error(`spec.hosts[${j}]`, `duplicate hosts in one VirtualService: "${hosts[i]}" and "${hosts[j]}"`);
      }
    }
  }
  if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length) rep.error('spec', 'a VirtualService needs http, tcp or tls routes');
  (spec.http ?? []).forEach((route, i) => checkHTTPRoute(rep, `spec.http[${i}]`, route, delegate));
  (spec.tls ?? []).forEach((route, i) => {
    const p = `spec.tls[${i}]`;
    if (!route.match?.length) rep.error(`${p}.match`, 'a tls route needs at least one match (with sniHosts)');
    (route.match ?? []).forEach((m, j) => {
      const q = `${p}.match[${j}]`;
      if (!m.sniHosts?.length) rep.error(`${q}.sniHosts`, 'a tls match needs at least one SNI host');
      (m.sniHosts ?? []).forEach((sni, k) => {
        const r = `${q}.sniHosts[${k}]`;
        const err = wildcardDomainError(sni);
        if (err) {
          if (isIP(sni)) rep.warn(r, `SNI host "${sni}" is an IP address: the SNI spec forbids it and most clients never send one`);
          else rep.error(r, err);
        } else if (!hosts.some((h) => hostSubsetOf(sni, h))) rep.error(r, `SNI host "${sni}" is not within any of the VirtualService's hosts: ${hosts.join(', ')}`);
      });
      checkL4Match(rep, q, m);
    });
    checkRouteDestinations(rep, `${p}.route`, route.route, 'tls');
  });
  (spec.tcp ?? []).forEach((route, i) => {
    const p = `spec.tcp[${i}]`;
    (route.match ?? []).forEach((m, j) => checkL4Match(rep, `${p}.match[${j}]`, m));
    checkRouteDestinations(rep, `${p}.route`, route.route, 'tcp');
  });
  checkExportTo(rep, 'spec.exportTo', spec.exportTo);
}

function checkGatewayNames(rep: Report, path: string, names: string[] | undefined): void {
  (names ?? []).forEach((g, i) => {
    const p = `${path}[${i}]`;
    const slash = g.indexOf('/');
    if (slash < 0) {
      if (g === 'mesh') return;
      if (g.includes('.')) {
        const [name, ns] = g.split('.');
        rep.warn(p, `gateway "${g}" uses the legacy name.namespace form: prefer "${ns}/${name}"`);
      }
      const err = fqdnError(g);
      if (err) rep.error(p, `invalid gateway name: ${err}`);
      return;
    }
    const ns = g.slice(0, slash);
    const name = g.slice(slash + 1);
    if (!isDNS1123Label(ns)) rep.error(p, `gateway "${g}": "${ns}" is not a valid namespace`);
    if (!isDNS1123Label(name)) rep.error(p, `gateway "${g}": "${name}" is not a valid gateway name`);
  });
}

function checkL4Match(rep: Report, path: string, m: L4MatchAttributes): void {
  (m.destinationSubnets ?? []).forEach((s, i) => checkIPOrCIDR(rep, `${path}.destinationSubnets[${i}]`, s));
  checkPort(rep, `${path}.port`, m.port);
  checkLabels(rep, `${path}.sourceLabels`, m.sourceLabels);
  checkGatewayNames(rep, `${path}.gateways`, m.gateways);
}

function checkHTTPRoute(rep: Report, path: string, route: HTTPRoute, inDelegate: boolean): void {
  // exactly one action
  const actions = (['route', 'redirect', 'directResponse', 'delegate'] as const).filter((k) => (k === 'route' ? (route.route?.length ?? 0) > 0 : route[k] !== undefined));
  if (actions.length === 0) rep.error(path, 'an http route needs one of route, redirect, directResponse or delegate');
  else if (actions.length > 1) rep.error(`${path}.${actions[1]}`, `an http route can have only one of route, redirect, directResponse or delegate, not ${actions.join(' and ')}`);
  if (route.delegate && inDelegate) rep.error(`${path}.delegate`, 'a delegate VirtualService cannot delegate again');
  if (route.redirect || route.directResponse) {
    const what = route.redirect ? 'redirect' : 'directResponse';
    if (route.rewrite) rep.error(`${path}.rewrite`, `an http route cannot have both ${what} and rewrite`);
    if (route.fault) rep.error(`${path}.fault`, `an http route cannot have both ${what} and fault`);
  }
  if (route.delegate) {
    if (!route.delegate.name) rep.error(`${path}.delegate.name`, 'a delegate needs the name of a VirtualService');
    else if (!isDNS1123Subdomain(route.delegate.name)) rep.error(`${path}.delegate.name`, `"${route.delegate.name}" is not a valid VirtualService name`);
    if (route.delegate.namespace !== undefined && !isDNS1123Label(route.delegate.namespace)) rep.error(`${path}.delegate.namespace`, `"${route.delegate.namespace}" is not a valid namespace`);
  }
  // Delegation merges matches of the root and the delegate; Istio cannot merge regexes, so neither side may use them.
  const noRegex = inDelegate || route.delegate ? 'regex matches are not supported in delegating routes or delegate VirtualServices' : undefined;
  (route.match ?? []).forEach((m, i) => checkHTTPMatch(rep, `${path}.match[${i}]`, m, noRegex));
  checkHeaderOperations(rep, `${path}.headers`, route.headers);
  if (route.rewrite?.authority) {
    const set = { ...route.headers?.request?.set, ...route.headers?.request?.add };
    const clash = Object.keys(set).find(isAuthority);
    if (clash) rep.error(`${path}.rewrite.authority`, `the authority is rewritten twice: by rewrite.authority and by headers.request "${clash}"`);
  }
  checkCors(rep, `${path}.corsPolicy`, route.corsPolicy);
  checkFault(rep, `${path}.fault`, route.fault);
  if (route.mirror) checkDestination(rep, `${path}.mirror`, route.mirror);
  checkPercent(rep, `${path}.mirrorPercentage`, route.mirrorPercentage);
  if (route.mirrorPercentage && !route.mirror) rep.warn(`${path}.mirrorPercentage`, 'mirrorPercentage has no effect without mirror');
  if (route.mirror && route.mirrors?.length) rep.error(`${path}.mirrors`, 'an http route cannot have both mirror and mirrors');
  (route.mirrors ?? []).forEach((m, i) => {
    const p = `${path}.mirrors[${i}]`;
    if (!m.destination) rep.error(`${p}.destination`, 'a mirror needs a destination');
    else checkDestination(rep, `${p}.destination`, m.destination);
    checkPercent(rep, `${p}.percentage`, m.percentage);
  });
  if (route.redirect) {
    const r = route.redirect;
    const p = `${path}.redirect`;
    if (!r.uri && !r.authority && r.port === undefined && !r.derivePort && !r.scheme) rep.error(p, 'a redirect needs at least one of uri, authority, port, derivePort or scheme');
    if (r.redirectCode !== undefined && ![301, 302, 303, 307, 308].includes(r.redirectCode)) rep.error(`${p}.redirectCode`, `${r.redirectCode} is not a redirect code: 301, 302, 303, 307 or 308`);
    if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') rep.error(`${p}.scheme`, `redirect scheme must be "http" or "https", not "${r.scheme}"`);
    checkPort(rep, `${p}.port`, r.port);
    if (r.port !== undefined && r.derivePort) rep.error(`${p}.derivePort`, 'a redirect can have port or derivePort, not both');
  }
  if (route.directResponse) {
    const d = route.directResponse;
    const p = `${path}.directResponse`;
    if (d.status === undefined) rep.error(`${p}.status`, 'a direct response needs a status');
    else if (d.status < 200 || d.status > 599) rep.error(`${p}.status`, `HTTP status ${d.status} must be in the range 200..599`);
    if (d.body) {
      if (d.body.string !== undefined && d.body.bytes !== undefined) rep.error(`${p}.body`, 'a body is string or bytes, not both');
      if (d.body.bytes !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(d.body.bytes.replace(/\s/g, ''))) rep.error(`${p}.body.bytes`, 'bytes must be base64');
      const size = d.body.string !== undefined ? Buffer.byteLength(d.body.string) : d.body.bytes !== undefined ? Buffer.from(d.body.bytes, 'base64').length : 0;
      if (size > 1024 * 1024) rep.error(`${p}.body`, `a direct response body must be under 1MB (it is ${size} bytes)`);
      else if (size > 100 * 1024) rep.warn(`${p}.body`, `a large direct response body (${size} bytes) is sent to every proxy`);
    }
  }
  if (route.retries) {
    const r = route.retries;
    const p = `${path}.retries`;
    if (r.attempts !== undefined && r.attempts < 0) rep.error(`${p}.attempts`, 'attempts cannot be negative');
    if ((r.attempts ?? 0) === 0 && (r.perTryTimeout !== undefined || r.retryOn !== undefined || r.retryRemoteLocalities !== undefined)) {
      rep.error(`${p}.attempts`, 'a retry policy is configured but attempts is 0 (retries disabled): set attempts');
    }
    checkDuration(rep, `${p}.perTryTimeout`, r.perTryTimeout);
    if (r.retryOn !== undefined) checkRetryOn(rep, `${p}.retryOn`, r.retryOn);
  }
  if (route.rewrite) {
    const r = route.rewrite;
    const p = `${path}.rewrite`;
    if (r.uri !== undefined && r.uriRegexRewrite) rep.error(`${p}.uriRegexRewrite`, 'a rewrite can have uri or uriRegexRewrite, not both');
    if (r.uri === undefined && !r.uriRegexRewrite && r.authority === undefined) rep.error(p, 'a rewrite needs uri, uriRegexRewrite or authority');
    if (r.uriRegexRewrite) {
      const { match, rewrite } = r.uriRegexRewrite;
      if (!match) rep.error(`${p}.uriRegexRewrite.match`, 'uriRegexRewrite needs match (a regex)');
      if (rewrite === undefined || rewrite === '') rep.error(`${p}.uriRegexRewrite.rewrite`, 'uriRegexRewrite needs rewrite');
      if (match) {
        const before = rep.errors.length + rep.warnings.length;
        checkRegex(rep, `${p}.uriRegexRewrite.match`, match);
        if (rep.errors.length + rep.warnings.length === before && rewrite) {
          try {
            compileRe2Substitution(rewrite, compileRegex(match, '').groupCount, '');
          } catch (err) {
            if (!(err instanceof ConfigError)) throw err;
            rep.error(`${p}.uriRegexRewrite.rewrite`, err.message.replace(/^\.substitution: /, ''));
          }
        }
      }
    }
  }
  if (route.timeout !== undefined) checkDuration(rep, `${path}.timeout`, route.timeout, { zero: true });
  checkRouteDestinations(rep, `${path}.route`, route.route, 'http');
}

function checkHTTPMatch(rep: Report, path: string, m: HTTPMatchRequest, noRegex: string | undefined): void {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) checkStringMatch(rep, `${path}.${k}`, m[k], { noRegex });
  if (m.method?.exact !== undefined && !HTTP_METHODS.has(m.method.exact)) rep.warn(`${path}.method.exact`, `"${m.method.exact}" is not a standard HTTP method (methods are case-sensitive)`);
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    for (const [name, sm] of Object.entries(m[k] ?? {})) {
      const p = `${path}.${k}${mapKey(name)}`;
      if (k !== 'queryParams') checkHeaderName(rep, p, name);
      else if (name === '') rep.error(p, 'a query parameter name cannot be empty');
      checkStringMatch(rep, p, sm, { allowEmpty: true, noRegex });
    }
  }
  checkPort(rep, `${path}.port`, m.port);
  checkLabels(rep, `${path}.sourceLabels`, m.sourceLabels);
  checkGatewayNames(rep, `${path}.gateways`, m.gateways);
}

// Envoy's retry_on conditions (x-envoy-retry-on and x-envoy-retry-grpc-on) that Istio accepts.
const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

function checkRetryOn(rep: Report, path: string, retryOn: string): void {
  for (const policy of retryOn.split(',')) {
    if (/^\d+$/.test(policy) && Number(policy) >= 100 && Number(policy) <= 599) continue; // an HTTP status: retriable-status-codes
    if (RETRY_ON.has(policy)) continue;
    if (policy === 'http3-post-connect-failure') rep.unsupported(path, 'retryOn "http3-post-connect-failure" is not supported: Meshwork has no HTTP/3');
    else if (RETRY_ON.has(policy.trim())) rep.error(path, `retryOn "${retryOn}": separate conditions with commas only, without spaces`);
    else rep.error(path, `"${policy}" is not a retryOn condition (${[...RETRY_ON].join(', ')}, or an HTTP status code)`);
  }
}

const GRPC_STATUS = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

function checkFault(rep: Report, path: string, fault: HTTPRoute['fault']): void {
  if (!fault) return;
  if (!fault.delay && !fault.abort) rep.error(path, 'a fault needs a delay, an abort or both');
  if (fault.delay) {
    const d = fault.delay;
    const p = `${path}.delay`;
    if (d.fixedDelay === undefined) rep.error(`${p}.fixedDelay`, 'a delay needs fixedDelay');
    checkDuration(rep, `${p}.fixedDelay`, d.fixedDelay);
    checkPercent(rep, `${p}.percentage`, d.percentage);
    if (d.percent !== undefined) {
      if (d.percentage) rep.error(`${p}.percent`, 'percent (deprecated) and percentage cannot both be set');
      else if (d.percent < 0 || d.percent > 100) rep.error(`${p}.percent`, `percent ${d.percent} must be in the range 0..100`);
      else rep.warn(`${p}.percent`, 'percent is deprecated: use percentage: {value: N}');
    }
  }
  if (fault.abort) {
    const a = fault.abort;
    const p = `${path}.abort`;
    checkPercent(rep, `${p}.percentage`, a.percentage);
    const kinds = (['httpStatus', 'grpcStatus', 'http2Error'] as const).filter((k) => a[k] !== undefined);
    if (kinds.length === 0) rep.error(p, 'an abort needs httpStatus (or grpcStatus)');
    else if (kinds.length > 1) rep.error(`${p}.${kinds[1]}`, `an abort has one error type, not ${kinds.join(' and ')}`);
    if (a.httpStatus !== undefined && (a.httpStatus < 200 || a.httpStatus > 599)) rep.error(`${p}.httpStatus`, `HTTP status ${a.httpStatus} must be in the range 200..599`);
    if (a.grpcStatus !== undefined && !GRPC_STATUS.has(a.grpcStatus)) rep.error(`${p}.grpcStatus`, `"${a.grpcStatus}" is not a gRPC status name (such as UNAVAILABLE or NOT_FOUND)`);
  }
}

function checkCors(rep: Report, path: string, cors: CorsPolicy | undefined): void {
  if (!cors) return;
  (cors.allowOrigins ?? []).forEach((o, i) => {
    const p = `${path}.allowOrigins[${i}]`;
    if (o.exact === '' || o.regex === '') rep.error(p, 'an origin match cannot be empty');
    checkStringMatch(rep, p, o);
  });
  if (cors.allowOrigin) rep.warn(`${path}.allowOrigin`, 'allowOrigin is deprecated: use allowOrigins with exact matches');
  (cors.allowMethods ?? []).forEach((m, i) => {
    if (!HTTP_METHODS.has(m)) rep.error(`${path}.allowMethods[${i}]`, `"${m}" is not a supported HTTP method (${[...HTTP_METHODS].join(', ')})`);
  });
  for (const k of ['allowHeaders', 'exposeHeaders'] as const) {
    (cors[k] ?? []).forEach((h, i) => {
      if (h !== '*') checkHeaderName(rep, `${path}.${k}[${i}]`, h);
    });
  }
  checkDuration(rep, `${path}.maxAge`, cors.maxAge, { seconds: true });
}

/** Route destinations: weights 0..100 totalling 100 when there are several; one destination may omit it. */
function checkRouteDestinations(rep: Report, path: string, dests: (HTTPRouteDestination | RouteDestination)[] | undefined, kind: 'http' | 'tcp' | 'tls'): void {
  if (kind !== 'http' && !dests?.length) {
    rep.error(path, `a ${kind} route needs at least one destination`);
    return;
  }
  if (!dests) return;
  let total = 0;
  dests.forEach((d, i) => {
    const p = `${path}[${i}]`;
    if (!d.destination) rep.error(`${p}.destination`, 'a route needs a destination');
    else checkDestination(rep, `${p}.destination`, d.destination);
    if (d.weight !== undefined && (d.weight < 0 || d.weight > 100)) rep.error(`${p}.weight`, `weight ${d.weight} must be in the range 0..100`);
    total += d.weight ?? 0;
    if ('headers' in d) checkHeaderOperations(rep, `${p}.headers`, d.headers);
  });
  if (dests.length === 1) {
    const w = dests[0]!.weight;
    if (w !== undefined && w !== 100) rep.error(`${path}[0].weight`, `the only destination of a route gets all its traffic: weight must be 100 or absent, not ${w}`);
  } else if (total !== 100) {
    rep.error(path, `weights of a route's destinations must total 100, not ${total} (${dests.map((d) => d.weight ?? 0).join(' + ')})`);
  }
}

function checkDestination(rep: Report, path: string, d: Destination): void {
  if (!d.host) rep.error(`${path}.host`, 'a destination needs a host');
  else if (d.host === '*') rep.error(`${path}.host`, 'a destination host cannot be "*"');
  else {
    const err = wildcardDomainError(d.host);
    if (err) rep.error(`${path}.host`, err);
  }
  if (d.subset !== undefined && !isDNS1123Label(d.subset)) rep.error(`${path}.subset`, `"${d.subset}" is not a valid subset name: a DNS label`);
  if (d.port) {
    if (d.port.number === undefined) rep.error(`${path}.port.number`, 'a port selector needs a number');
    checkPort(rep, `${path}.port.number`, d.port.number);
  }
}

// ------------------------------------------------------------------ DestinationRule

function checkDestinationRule(rep: Report, spec: DestinationRuleSpec, namespace: string): void {
  if (!spec.host) rep.error('spec.host', 'a DestinationRule needs a host');
  else {
    const err = wildcardDomainError(spec.host);
    if (err) rep.error('spec.host', err);
  }
  checkTrafficPolicy(rep, 'spec.trafficPolicy', spec.trafficPolicy);
  const names = new Map<string, number>();
  (spec.subsets ?? []).forEach((s, i) => {
    const p = `spec.subsets[${i}]`;
    if (!s.name) rep.error(`${p}.name`, 'a subset needs a name');
    else if (!isDNS1123Label(s.name)) rep.error(`${p}.name`, `"${s.name}" is not a valid subset name: a DNS label (lowercase letters, digits and '-')`);
    else if (names.has(s.name)) rep.error(`${p}.name`, `duplicate subset name "${s.name}" (also subsets[${names.get(s.name)}])`);
    else names.set(s.name, i);
    if (!s.labels || Object.keys(s.labels).length === 0) rep.warn(`${p}.labels`, 'a subset without labels selects every endpoint of the host');
    checkLabels(rep, `${p}.labels`, s.labels);
    checkTrafficPolicy(rep, `${p}.trafficPolicy`, s.trafficPolicy);
  });
  if (spec.workloadSelector) checkRuleSelector(rep, spec, namespace);
  else checkExportTo(rep, 'spec.exportTo', spec.exportTo);
}

/** Istio's validateWorkloadSelector (istio.type.v1beta1: no empty key, no wildcard, `{}` a warning) and its
 *  exportTo rule for a DestinationRule with a selector: such a rule applies in its own namespace only, so
 *  exportTo may name nothing else ("." or the namespace itself, which is what Meshwork does with it). */
function checkRuleSelector(rep: Report, spec: DestinationRuleSpec, namespace: string): void {
  const labels = spec.workloadSelector!.matchLabels ?? {};
  for (const [k, v] of Object.entries(labels)) {
    const p = `spec.workloadSelector.matchLabels${mapKey(k)}`;
    if (k === '') rep.error(p, `empty key is not supported in selector: "${k}=${v}"`);
    if (k.includes('*') || v.includes('*')) rep.error(p, `wildcard is not supported in selector: "${k}=${v}"`);
  }
  if (Object.keys(labels).length === 0) rep.warn('spec.workloadSelector', 'workload selector specified without labels: the rule applies to every proxy of the namespace');
  const exportTo = spec.exportTo ?? [];
  const local = new Set(exportTo.map((e) => (e === '.' ? namespace : e)));
  if (exportTo.length > 0 && !local.has(namespace)) rep.error('spec.exportTo', 'a DestinationRule with a workload selector cannot have exportTo beyond its current namespace');
  else if (local.size > 1) rep.error('spec.exportTo', 'a DestinationRule with a workload selector cannot have multiple entries in exportTo');
}

function checkTrafficPolicy(rep: Report, path: string, tp: TrafficPolicy | Omit<TrafficPolicy, 'portLevelSettings'> | undefined, portLevel = false): void {
  if (!tp) return;
  if (Object.keys(tp).filter((k) => k !== 'port').length === 0) {
    rep.error(path, portLevel ? 'a port-level traffic policy needs at least one setting besides port' : 'a traffic policy needs at least one setting');
    return;
  }
  checkLoadBalancer(rep, `${path}.loadBalancer`, tp.loadBalancer, tp.outlierDetection);
  checkConnectionPool(rep, `${path}.connectionPool`, tp.connectionPool);
  checkOutlierDetection(rep, `${path}.outlierDetection`, tp.outlierDetection);
  checkClientTLS(rep, `${path}.tls`, tp.tls);
  if ('portLevelSettings' in tp) {
    (tp.portLevelSettings ?? []).forEach((pl, i) => {
      const p = `${path}.portLevelSettings[${i}]`;
      if (!pl.port || pl.port.number === undefined) rep.error(`${p}.port`, 'a port-level traffic policy needs port.number');
      else checkPort(rep, `${p}.port.number`, pl.port.number);
      checkTrafficPolicy(rep, p, pl, true);
    });
  }
}

function checkLoadBalancer(rep: Report, path: string, lb: LoadBalancerSettings | undefined, outlier: OutlierDetection | undefined): void {
  if (!lb) return;
  if (lb.simple !== undefined && lb.consistentHash) rep.error(path, 'a load balancer is simple or consistentHash, not both');
  const ch = lb.consistentHash;
  if (ch) {
    const p = `${path}.consistentHash`;
    const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter((k) => (k === 'useSourceIp' ? ch.useSourceIp === true : ch[k] !== undefined));
    if (keys.length === 0) rep.error(p, 'consistentHash needs one hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName');
    else if (keys.length > 1) rep.error(`${p}.${keys[1]}`, `consistentHash has one hash key, not ${keys.join(' and ')}`);
    if (ch.httpHeaderName !== undefined) checkHeaderName(rep, `${p}.httpHeaderName`, ch.httpHeaderName);
    if (ch.httpCookie) {
      if (!ch.httpCookie.name) rep.error(`${p}.httpCookie.name`, 'httpCookie needs a name');
      checkDuration(rep, `${p}.httpCookie.ttl`, ch.httpCookie.ttl, { zero: true });
    }
    if (ch.minimumRingSize !== undefined) {
      if (ch.ringHash || ch.maglev) rep.error(`${p}.minimumRingSize`, 'minimumRingSize (deprecated) cannot be set with ringHash or maglev');
      else rep.warn(`${p}.minimumRingSize`, 'minimumRingSize is deprecated: use ringHash.minimumRingSize');
    }
    if (ch.ringHash && ch.maglev) rep.error(`${p}.maglev`, 'consistentHash uses ringHash or maglev, not both');
    if (ch.maglev) {
      const t = ch.maglev.tableSize;
      if (!t) rep.error(`${p}.maglev.tableSize`, 'maglev needs tableSize');
      else if (t >= 5000011) rep.error(`${p}.maglev.tableSize`, `tableSize ${t} must be below 5000011`);
      else if (!isPrime(t)) rep.error(`${p}.maglev.tableSize`, `tableSize ${t} must be a prime number`);
    }
    if (ch.ringHash?.minimumRingSize !== undefined && ch.ringHash.minimumRingSize < 0) rep.error(`${p}.ringHash.minimumRingSize`, 'minimumRingSize cannot be negative');
  }
  const loc = lb.localityLbSetting;
  if (loc) {
    const p = `${path}.localityLbSetting`;
    if (loc.distribute?.length && loc.failover?.length) rep.error(p, 'distribute and failover cannot both be set');
    // Istio: failover already orders by region/zone/subzone, so failoverPriority may not name those labels too
    if (loc.failover?.length) {
      (loc.failoverPriority ?? []).forEach((l, i) => {
        if (TOPOLOGY_LABELS.includes(l.split('=')[0]!)) rep.error(`${p}.failoverPriority[${i}]`, `failover and the topology label "${l}" in failoverPriority cannot both be set`);
      });
    }
    const froms: string[] = [];
    (loc.distribute ?? []).forEach((d, i) => {
      const q = `${p}.distribute[${i}]`;
      checkLocality(rep, `${q}.from`, d.from ?? '', true);
      const earlier = froms.find((f) => localitiesOverlap(f, d.from ?? ''));
      if (earlier !== undefined) rep.error(`${q}.from`, `locality "${d.from}" overlaps "${earlier}" of an earlier distribute rule`);
      froms.push(d.from ?? '');
      let total = 0;
      const tos: string[] = [];
      for (const [to, w] of Object.entries(d.to ?? {})) {
        checkLocality(rep, `${q}.to${mapKey(to)}`, to, true);
        const other = tos.find((t) => localitiesOverlap(t, to));
        if (other !== undefined) rep.error(`${q}.to${mapKey(to)}`, `locality "${to}" overlaps "${other}"`);
        tos.push(to);
        if (w < 1 || w > 100) rep.error(`${q}.to${mapKey(to)}`, `locality weight ${w} must be in the range 1..100`);
        total += w;
      }
      if (total !== 100) rep.error(`${q}.to`, `locality weights must total 100, not ${total}`);
    });
    (loc.failover ?? []).forEach((f, i) => {
      const q = `${p}.failover[${i}]`;
      if (f.from === f.to) rep.error(q, 'a failover must name two different regions');
      for (const k of ['from', 'to'] as const) {
        if (f[k]?.includes('/')) rep.error(`${q}.${k}`, 'failover names regions only (no "/")');
        if (f[k]?.includes('*')) rep.error(`${q}.${k}`, 'failover regions cannot contain "*"');
      }
    });
    if (loc.failover?.length && !outlier) rep.warn(`${p}.failover`, 'failover needs outlierDetection to notice unhealthy endpoints');
    if (loc.failoverPriority?.length && !outlier) rep.warn(`${p}.failoverPriority`, 'failoverPriority needs outlierDetection to notice unhealthy endpoints');
  }
  if (lb.warmupDurationSecs !== undefined) {
    checkDuration(rep, `${path}.warmupDurationSecs`, lb.warmupDurationSecs);
    // Istio sets slow start on ROUND_ROBIN and LEAST_REQUEST clusters only
    const other = lb.consistentHash ? 'consistentHash' : lb.simple === 'RANDOM' ? 'RANDOM' : undefined;
    if (other) rep.warn(`${path}.warmupDurationSecs`, `warmupDurationSecs has no effect with ${other}: slow start needs ROUND_ROBIN or LEAST_REQUEST`);
  }
}

function isPrime(x: number): boolean {
  if (x < 2) return false;
  if (x < 4) return true;
  if (x % 2 === 0) return false;
  for (let f = 3; f * f <= x; f += 2) if (x % f === 0) return false;
  return true;
}

const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];

/** Istio's validateLocalities overlap rule: two locality patterns overlap when some locality matches both
 *  ("*" or a missing level matches anything), e.g. "us-east" and "us-east/zone1". */
function localitiesOverlap(a: string, b: string): boolean {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < 3; i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined || y === undefined || x === '*' || y === '*') return true;
    if (x !== y) return false;
  }
  return true;
}

/** "region", "region/zone" or "region/zone/subzone"; a trailing "*" where wildcards are allowed. */
function checkLocality(rep: Report, path: string, locality: string, wildcard: boolean): void {
  const parts = locality.split('/');
  const stars = (locality.match(/\*/g) ?? []).length;
  if (parts.length > 3 || parts.some((p) => p === '')) rep.error(path, `locality "${locality}" must be region, region/zone or region/zone/subzone, without empty parts`);
  else if (stars > 0 && (!wildcard || stars > 1 || !locality.endsWith('*'))) rep.error(path, `locality "${locality}": "*" is only allowed once, at the end`);
}

function checkConnectionPool(rep: Report, path: string, cp: ConnectionPoolSettings | undefined): void {
  if (!cp) return;
  if (!cp.tcp && !cp.http) rep.error(path, 'a connection pool needs tcp or http settings');
  const nonNegative = (p: string, v: number | undefined) => {
    if (v !== undefined && v < 0) rep.error(p, 'must not be negative');
  };
  if (cp.tcp) {
    const p = `${path}.tcp`;
    nonNegative(`${p}.maxConnections`, cp.tcp.maxConnections);
    checkDuration(rep, `${p}.connectTimeout`, cp.tcp.connectTimeout);
    checkDuration(rep, `${p}.maxConnectionDuration`, cp.tcp.maxConnectionDuration);
    checkDuration(rep, `${p}.idleTimeout`, cp.tcp.idleTimeout);
    if (cp.tcp.tcpKeepalive) {
      nonNegative(`${p}.tcpKeepalive.probes`, cp.tcp.tcpKeepalive.probes);
      checkDuration(rep, `${p}.tcpKeepalive.time`, cp.tcp.tcpKeepalive.time);
      checkDuration(rep, `${p}.tcpKeepalive.interval`, cp.tcp.tcpKeepalive.interval);
    }
  }
  if (cp.http) {
    const p = `${path}.http`;
    for (const k of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams'] as const) nonNegative(`${p}.${k}`, cp.http[k]);
    checkDuration(rep, `${p}.idleTimeout`, cp.http.idleTimeout);
    if (cp.http.h2UpgradePolicy === 'UPGRADE' && cp.http.useClientProtocol) rep.error(`${p}.useClientProtocol`, 'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE');
  }
}

function checkOutlierDetection(rep: Report, path: string, od: OutlierDetection | undefined): void {
  if (!od) return;
  for (const k of ['consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures'] as const) {
    if (od[k] !== undefined && od[k]! < 0) rep.error(`${path}.${k}`, 'must not be negative');
  }
  if (od.consecutiveErrors !== undefined) rep.warn(`${path}.consecutiveErrors`, 'consecutiveErrors is deprecated: use consecutive5xxErrors or consecutiveGatewayErrors');
  if ((od.consecutiveLocalOriginFailures ?? 0) > 0 && !od.splitExternalLocalOriginErrors) {
    rep.error(`${path}.consecutiveLocalOriginFailures`, 'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true');
  }
  checkDuration(rep, `${path}.interval`, od.interval);
  checkDuration(rep, `${path}.baseEjectionTime`, od.baseEjectionTime);
  for (const k of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const v = od[k];
    if (v !== undefined && (v < 0 || v > 100)) rep.error(`${path}.${k}`, `${k} ${v} must be in the range 0..100`);
  }
}

function checkClientTLS(rep: Report, path: string, tls: ClientTLSSettings | undefined): void {
  if (!tls) return;
  const mode = tls.mode ?? 'DISABLE';
  if (tls.insecureSkipVerify) {
    if (mode === 'SIMPLE' && (tls.caCertificates || tls.subjectAltNames?.length)) rep.error(`${path}.insecureSkipVerify`, 'insecureSkipVerify cannot be set with caCertificates or subjectAltNames');
    if (mode === 'MUTUAL' && (tls.caCertificates || tls.subjectAltNames?.length)) rep.error(`${path}.insecureSkipVerify`, 'insecureSkipVerify cannot be set with caCertificates or subjectAltNames');
  }
  // a credential holds the certificate and key (gateways; a sidecar falls back to the files)
  if (mode === 'MUTUAL' && !tls.credentialName) {
    if (!tls.clientCertificate) rep.error(`${path}.clientCertificate`, 'MUTUAL TLS needs clientCertificate (a file path)');
    if (!tls.privateKey) rep.error(`${path}.privateKey`, 'MUTUAL TLS needs privateKey (a file path)');
  }
  if (mode === 'ISTIO_MUTUAL' && (tls.clientCertificate || tls.privateKey || tls.caCertificates)) {
    rep.warn(path, 'ISTIO_MUTUAL uses the mesh\'s certificates: clientCertificate, privateKey and caCertificates are ignored');
  }
  if (mode === 'DISABLE' && (tls.clientCertificate || tls.privateKey || tls.caCertificates || tls.sni)) rep.warn(path, 'TLS is disabled (mode DISABLE or absent): the other tls settings are ignored');
}

// ------------------------------------------------------------------ ServiceEntry / WorkloadEntry

function checkServiceEntry(rep: Report, spec: ServiceEntrySpec): void {
  const resolution = spec.resolution ?? 'NONE';
  const hosts = spec.hosts ?? [];
  if (spec.workloadSelector) checkWorkloadSelector(rep, 'spec.workloadSelector', spec.workloadSelector.labels, 'ServiceEntry');
  if (spec.workloadSelector && spec.endpoints) rep.error('spec.endpoints', 'a ServiceEntry has workloadSelector or endpoints, not both');
  if (hosts.length === 0) rep.error('spec.hosts', 'a ServiceEntry needs at least one host');
  hosts.forEach((h, i) => {
    const p = `spec.hosts[${i}]`;
    if (h === '*') rep.error(p, 'host "*" is not allowed in a ServiceEntry');
    else {
      const err = wildcardDomainError(h);
      if (err) rep.error(p, err);
      else if (h.includes('*') && !h.startsWith('*.')) rep.warn(p, `partial wildcard "${h}": only "*.suffix" is matched as a wildcard`);
    }
  });
  let cidr = false;
  (spec.addresses ?? []).forEach((a, i) => {
    if (checkIPOrCIDR(rep, `spec.addresses[${i}]`, a)) cidr = true;
  });
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') rep.error('spec.addresses', `CIDR addresses are only allowed with resolution NONE or STATIC, not ${resolution}`);
  const names = new Set<string>();
  const numbers = new Set<number>();
  (spec.ports ?? []).forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (port.name && names.has(port.name)) rep.error(`${p}.name`, `port name "${port.name}" is already defined`);
    if (port.name) names.add(port.name);
    if (port.number !== undefined && numbers.has(port.number)) rep.error(`${p}.number`, `port ${port.number} is already defined`);
    if (port.number !== undefined) numbers.add(port.number);
    if (port.number === undefined) rep.error(`${p}.number`, 'a port needs a number');
    checkPort(rep, `${p}.number`, port.number);
    checkPortName(rep, `${p}.name`, port.name, true);
    checkProtocol(rep, `${p}.protocol`, port.protocol);
    if (port.targetPort !== undefined) {
      checkPort(rep, `${p}.targetPort`, port.targetPort);
      if (resolution === 'NONE') rep.warn(`${p}.targetPort`, 'targetPort has no effect with resolution NONE');
    }
  });
  const endpoints = spec.endpoints ?? [];
  switch (resolution) {
    case 'NONE':
      if (endpoints.length) rep.error('spec.endpoints', 'a ServiceEntry with resolution NONE cannot have endpoints (traffic goes to the address the caller dialed)');
      if (spec.workloadSelector) rep.warn('spec.workloadSelector', 'workloadSelector has no effect with resolution NONE');
      break;
    case 'STATIC':
      // Istio accepts an empty STATIC ServiceEntry; it can never have an endpoint, so Meshwork rejects it.
      if (!endpoints.length && !spec.workloadSelector) rep.error('spec.resolution', 'a STATIC ServiceEntry needs endpoints or a workloadSelector');
      endpoints.forEach((e, i) => checkWorkloadEntry(rep, e, `spec.endpoints[${i}]`, { ports: names, static: true }));
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (!endpoints.length) {
        hosts.forEach((h, i) => {
          if (h !== '*' && (h.includes('*') || fqdnError(h))) rep.error(`spec.hosts[${i}]`, `with resolution ${resolution} and no endpoints, hosts are resolved: "${h}" must be a DNS name, not a wildcard`);
        });
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) rep.error('spec.endpoints', 'resolution DNS_ROUND_ROBIN allows at most one endpoint');
      endpoints.forEach((e, i) => checkWorkloadEntry(rep, e, `spec.endpoints[${i}]`, { ports: names, static: false }));
      if (spec.workloadSelector) rep.warn('spec.workloadSelector', `workloadSelector has no effect with resolution ${resolution}`);
      break;
  }
  if (resolution !== 'NONE' && hosts.length > 1) {
    const i = (spec.ports ?? []).findIndex((p) => !isHTTPProtocol(p.protocol ?? protocolFromName(p.name)) && !isTLSProtocol(p.protocol ?? protocolFromName(p.name)));
    if (i >= 0) rep.error(`spec.ports[${i}]`, 'several hosts with a port that is neither HTTP nor TLS: the proxy could not tell the hosts apart (use resolution NONE or one host)');
  }
  checkExportTo(rep, 'spec.exportTo', spec.exportTo);
}

/** Istio's protocol from a port name: "http-web" → HTTP, "grpc" → GRPC; TCP otherwise. */
function protocolFromName(name: string | undefined): string {
  const prefix = (name ?? '').split('-')[0]!.toUpperCase();
  return PROTOCOLS.has(prefix) ? prefix : 'TCP';
}

/**
 * A WorkloadEntry, alone (`ctx` undefined: the address may be an IP or a DNS name) or as a ServiceEntry's
 * endpoint (STATIC: an IP; DNS: an IP or a DNS name; port names must be the ServiceEntry's).
 */
function checkWorkloadEntry(rep: Report, we: WorkloadEntrySpec, path: string, ctx: { ports: Set<string>; static: boolean } | undefined): void {
  const addr = we.address;
  if (!addr) rep.error(`${path}.address`, 'an address is required');
  else if (addr.startsWith('unix://')) rep.unsupported(`${path}.address`, 'unix domain socket endpoints are not supported');
  else if (!isIP(addr)) {
    if (ctx?.static) rep.error(`${path}.address`, `"${addr}" is not an IP address: endpoints of a STATIC ServiceEntry are IPs (use resolution DNS for names)`);
    else if (fqdnError(addr)) rep.error(`${path}.address`, `"${addr}" is not an IP address or a DNS name`);
  }
  for (const [name, port] of Object.entries(we.ports ?? {})) {
    const p = `${path}.ports${mapKey(name)}`;
    if (ctx && !ctx.ports.has(name)) rep.error(p, `port "${name}" is not a port name of the ServiceEntry (${[...ctx.ports].join(', ') || 'it has none'})`);
    checkPortName(rep, p, name, true);
    checkPort(rep, p, port);
  }
  checkLabels(rep, `${path}.labels`, we.labels);
  if (we.weight !== undefined && (we.weight < 0 || we.weight > 4294967295)) rep.error(`${path}.weight`, `weight ${we.weight} must be a non-negative 32-bit integer`);
  if (we.locality !== undefined) checkLocality(rep, `${path}.locality`, we.locality, false);
  if (we.serviceAccount !== undefined && !isDNS1123Subdomain(we.serviceAccount)) rep.error(`${path}.serviceAccount`, `"${we.serviceAccount}" is not a valid service account name`);
}

// ------------------------------------------------------------------ Sidecar

function checkSidecar(rep: Report, spec: SidecarSpec, namespace: string): void {
  if (spec.workloadSelector) checkWorkloadSelector(rep, 'spec.workloadSelector', spec.workloadSelector.labels, 'Sidecar');
  if (!spec.egress?.length && !spec.ingress?.length && !spec.outboundTrafficPolicy) rep.error('spec', 'a Sidecar needs egress, ingress or outboundTrafficPolicy');
  // Istio's validateSidecarOutboundTrafficPolicy (the mode's default is REGISTRY_ONLY)
  const egressProxy = spec.outboundTrafficPolicy?.egressProxy;
  if (egressProxy) {
    const p = 'spec.outboundTrafficPolicy.egressProxy';
    if (spec.outboundTrafficPolicy!.mode !== 'ALLOW_ANY') rep.error(p, 'egressProxy must be set only with outboundTrafficPolicy mode ALLOW_ANY');
    else {
      const err = egressProxy.host ? fqdnError(egressProxy.host) : undefined;
      if (err) rep.error(`${p}.host`, err);
      if (!egressProxy.port) rep.error(`${p}.port`, 'egressProxy needs a port');
      else checkDestination(rep, p, egressProxy);
    }
  }
  const ingressPorts = new Set<number>();
  (spec.ingress ?? []).forEach((l, i) => {
    const p = `spec.ingress[${i}]`;
    if (!l.port) {
      rep.error(`${p}.port`, 'an ingress listener needs a port');
      return;
    }
    checkSidecarPort(rep, `${p}.port`, l.port);
    if (ingressPorts.has(l.port.number)) rep.error(`${p}.port.number`, `port ${l.port.number} is used by another ingress listener`);
    ingressPorts.add(l.port.number);
    if (l.bind !== undefined && !isIP(l.bind)) rep.error(`${p}.bind`, `"${l.bind}" is not an IP address`);
    // Istio defaults a missing defaultEndpoint to the instance's own address; a Meshwork sidecar has no pod to
    // take it from, so it must be written.
    if (!l.defaultEndpoint) rep.error(`${p}.defaultEndpoint`, 'an ingress listener needs defaultEndpoint: where the application listens, e.g. 127.0.0.1:8080');
    else if (l.defaultEndpoint.startsWith('unix://')) rep.unsupported(`${p}.defaultEndpoint`, 'unix domain socket endpoints are not supported');
    else {
      const m = /^(?:(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\])?:)(\d+)$/.exec(l.defaultEndpoint);
      if (!m) rep.error(`${p}.defaultEndpoint`, `"${l.defaultEndpoint}" must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or :PORT`);
      else checkPort(rep, `${p}.defaultEndpoint`, Number(m[2]));
    }
    if (l.tls) {
      const t = l.tls;
      if (t.subjectAltNames?.length) rep.error(`${p}.tls.subjectAltNames`, 'subjectAltNames is not supported in sidecar ingress tls');
      if (t.httpsRedirect) rep.error(`${p}.tls.httpsRedirect`, 'httpsRedirect is not supported in sidecar ingress tls');
      // credentials are served over SDS to gateways only (src/control-plane/credentials): a sidecar would wait forever
      if (t.credentialName) rep.error(`${p}.tls.credentialName`, 'credentialName is served to gateways only; a Sidecar ingress listener reads serverCertificate and privateKey files');
      if (t.mode === 'ISTIO_MUTUAL' || t.mode === 'AUTO_PASSTHROUGH') rep.error(`${p}.tls.mode`, `mode ${t.mode} is not allowed in sidecar ingress tls`);
      // the sidecar terminates the TLS of its ingress listener; to pass TLS through to the application, leave tls out
      else if (t.mode !== 'SIMPLE' && t.mode !== 'MUTUAL') rep.error(`${p}.tls.mode`, `sidecar ingress tls terminates TLS: mode must be SIMPLE or MUTUAL, not ${t.mode ?? 'PASSTHROUGH (the default)'} (leave tls out to pass TLS through to the application)`);
      checkServerTLS(rep, `${p}.tls`, t);
    }
    checkConnectionPool(rep, `${p}.connectionPool`, l.connectionPool);
  });
  const egressPorts = new Set<number>();
  const egress = spec.egress ?? [];
  let catchAll = -1;
  egress.forEach((l, i) => {
    const p = `spec.egress[${i}]`;
    if (!l.port) {
      if (catchAll >= 0) rep.error(`${p}.port`, `only one egress listener may omit its port (egress[${catchAll}] already does)`);
      else if (i !== egress.length - 1) rep.error(`${p}.port`, 'the egress listener without a port must be the last one');
      catchAll = catchAll >= 0 ? catchAll : i;
    } else {
      if (l.port.number === 0) rep.unsupported(`${p}.port.number`, 'port 0 (a unix domain socket listener) is not supported');
      else {
        checkSidecarPort(rep, `${p}.port`, l.port);
        if (egressPorts.has(l.port.number)) rep.error(`${p}.port.number`, `port ${l.port.number} is used by another egress listener`);
        egressPorts.add(l.port.number);
      }
    }
    if (l.bind !== undefined && !isIP(l.bind)) rep.error(`${p}.bind`, `"${l.bind}" is not an IP address`);
    if (!l.hosts?.length) rep.error(`${p}.hosts`, 'an egress listener needs at least one host');
    const seen = new Map<string, Set<string>>();
    (l.hosts ?? []).forEach((h, j) => {
      const q = `${p}.hosts[${j}]`;
      checkNamespacedHost(rep, q, h, false);
      const slash = h.indexOf('/');
      if (slash < 0) return;
      const ns = h.slice(0, slash) === '.' ? namespace : h.slice(0, slash);
      const dns = h.slice(slash + 1);
      const set = seen.get(ns) ?? new Set<string>();
      if (set.has(dns) || set.has('*') || (dns === '*' && set.size > 0)) rep.warn(q, `duplicated egress host "${h}"`);
      set.add(dns);
      seen.set(ns, set);
    });
    if (seen.get('*')?.has('*') && seen.size > 1) rep.warn(`${p}.hosts`, '"*/*" selects every host: the other hosts add nothing');
  });
}

function checkSidecarPort(rep: Report, path: string, port: { number: number; protocol?: string; name?: string }): void {
  if (port.number === undefined) rep.error(`${path}.number`, 'a port needs a number');
  checkPort(rep, `${path}.number`, port.number);
  checkProtocol(rep, `${path}.protocol`, port.protocol);
  checkPortName(rep, `${path}.name`, port.name, false);
}

// ------------------------------------------------------------------ analysis across resources

/**
 * Checks resources against each other, as `meshwork analyze` does after validating each alone: duplicate
 * resources, subsets and gateways that VirtualServices name but nothing defines, Gateways that claim the same
 * port and host for the same proxies, and HTTP routes that an earlier route always takes first.
 * (A subset whose labels match no workload needs the service registry: the model's analysis, not this one.)
 */
export function analyzeMesh(resources: readonly MeshResource[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const byKey = new Map<string, MeshResource>();
  const unique: MeshResource[] = [];
  for (const r of resources) {
    const key = `${r.kind}\0${r.metadata.namespace}\0${r.metadata.name}`;
    const first = byKey.get(key);
    if (first) out.push(diagnostic(r, 'MW_CONFIG_DUPLICATE', 'error', '', `is defined twice (first at ${first.location ?? 'another file'})`));
    else {
      byKey.set(key, r);
      unique.push(r);
    }
  }
  const ofKind = <K extends MeshKind>(k: K) => unique.filter((r): r is MeshResource<K> => r.kind === k);
  const rules = ofKind('DestinationRule');
  const gateways = new Set(ofKind('Gateway').map((g) => `${g.metadata.namespace}/${g.metadata.name}`));
  for (const vs of ofKind('VirtualService')) {
    const ns = vs.metadata.namespace;
    const checkGateway = (path: string, g: string) => {
      if (g === 'mesh') return;
      const full = gatewayKey(g, ns);
      if (!gateways.has(full)) out.push(diagnostic(vs, 'MW_CONFIG_REFERENCE', 'error', path, `gateway "${g}" is not defined: no Gateway ${full}`));
    };
    (vs.spec.gateways ?? []).forEach((g, i) => checkGateway(`spec.gateways[${i}]`, g));
    const checkSubset = (path: string, d: Destination | undefined) => {
      if (!d?.subset || !d.host) return;
      const host = fqdn(d.host, ns);
      const candidates = rules.filter((dr) => dr.spec.host && hostSubsetOf(host, fqdn(dr.spec.host, dr.metadata.namespace)));
      if (candidates.some((dr) => dr.spec.subsets?.some((s) => s.name === d.subset))) return;
      const why = candidates.length ? `the DestinationRules for it (${candidates.map((dr) => `${dr.metadata.namespace}/${dr.metadata.name}`).join(', ')}) do not define it` : 'no DestinationRule is defined for that host';
      out.push(diagnostic(vs, 'MW_CONFIG_REFERENCE', 'error', `${path}.subset`, `subset "${d.subset}" of host "${d.host}" is not defined: ${why}`));
    };
    (vs.spec.http ?? []).forEach((route, i) => {
      const p = `spec.http[${i}]`;
      (route.route ?? []).forEach((d, j) => checkSubset(`${p}.route[${j}].destination`, d.destination));
      checkSubset(`${p}.mirror`, route.mirror);
      (route.mirrors ?? []).forEach((m, j) => checkSubset(`${p}.mirrors[${j}].destination`, m.destination));
      (route.match ?? []).forEach((m, j) => (m.gateways ?? []).forEach((g, k) => checkGateway(`${p}.match[${j}].gateways[${k}]`, g)));
    });
    for (const kind of ['tcp', 'tls'] as const) {
      (vs.spec[kind] ?? []).forEach((route, i) => {
        (route.route ?? []).forEach((d, j) => checkSubset(`spec.${kind}[${i}].route[${j}].destination`, d.destination));
        (route.match ?? []).forEach((m, j) => (m.gateways ?? []).forEach((g, k) => checkGateway(`spec.${kind}[${i}].match[${j}].gateways[${k}]`, g)));
      });
    }
    out.push(...unreachableRoutes(vs));
  }
  out.push(...conflictingGateways(ofKind('Gateway')));
  return out;
}

/** "name" (the VirtualService's namespace), "ns/name" or the legacy "name.ns[.svc.cluster.local]" → "ns/name". */
function gatewayKey(g: string, ns: string): string {
  if (g.includes('/')) return g;
  const parts = g.split('.');
  return parts.length > 1 ? `${parts[1]}/${parts[0]}` : `${ns}/${g}`;
}

/** Istio resolves a short host name ("reviews") in the namespace of the resource that names it. */
function fqdn(host: string, ns: string): string {
  return host.includes('.') || host.includes('*') ? host : `${host}.${ns}.svc.cluster.local`;
}

/**
 * HTTP routes an earlier route always takes first: every match of the later route is covered by a match of an
 * earlier one (a route without match, or with an empty match, covers everything; a match on a uri prefix alone
 * covers any uri that starts with it; an identical match covers itself).
 */
function unreachableRoutes(vs: MeshResource<'VirtualService'>): Diagnostic[] {
  const out: Diagnostic[] = [];
  const earlier: { match: HTTPMatchRequest; route: number }[] = [];
  const routes = vs.spec.http ?? [];
  routes.forEach((route, i) => {
    const matches = route.match?.length ? route.match : [{}];
    const by = matches.map((m) => earlier.find((e) => covers(e.match, m)));
    if (by.every((e) => e !== undefined)) {
      const first = by[0]!.route;
      const name = (n: number) => (routes[n]!.name ? `"${routes[n]!.name}" (http[${n}])` : `http[${n}]`);
      out.push(diagnostic(vs, 'MW_MESH_UNREACHABLE', 'warning', `spec.http[${i}]`, `unreachable route shadowed by an earlier match: ${name(first)} takes every request it would match`));
    }
    for (const m of matches) earlier.push({ match: m, route: i });
  });
  return out;
}

function covers(a: HTTPMatchRequest, b: HTTPMatchRequest): boolean {
  const keys = (m: HTTPMatchRequest) => Object.keys(m).filter((k) => k !== 'name');
  const ka = keys(a);
  if (ka.length === 0) return true;
  if (canonical(a) === canonical(b)) return true;
  // a uri prefix and nothing else takes every request whose uri starts with it
  if (ka.length === 1 && a.uri?.prefix !== undefined && b.uri && !b.ignoreUriCase) {
    const bUri = b.uri.prefix ?? b.uri.exact;
    return bUri !== undefined && bUri.startsWith(a.uri.prefix);
  }
  return false;
}

function canonical(m: HTTPMatchRequest): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).filter((k) => k !== 'name').sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v;
  return JSON.stringify(sort(m));
}

/** Gateways with the same selector that both serve a host on the same port: which one wins is undefined. */
function conflictingGateways(gateways: MeshResource<'Gateway'>[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const selectorKey = (g: MeshResource<'Gateway'>) => JSON.stringify(Object.entries(g.spec.selector ?? {}).sort());
  const bare = (h: string) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h);
  for (let i = 0; i < gateways.length; i++) {
    for (let j = i + 1; j < gateways.length; j++) {
      const a = gateways[i]!;
      const b = gateways[j]!;
      if (selectorKey(a) !== selectorKey(b)) continue;
      let reported = false;
      (b.spec.servers ?? []).forEach((sb, si) => {
        if (reported) return;
        for (const sa of a.spec.servers ?? []) {
          if (sa.port?.number !== sb.port?.number) continue;
          let pair: [string, string] | undefined;
          for (const hb of sb.hosts ?? []) {
            const ha = (sa.hosts ?? []).find((h) => hostsOverlap(bare(h), bare(hb)));
            if (ha !== undefined) {
              pair = [ha, hb];
              break;
            }
          }
          if (!pair) continue;
          const same = pair[0] === pair[1] ? '' : `, which overlaps "${pair[1]}"`;
          const where = a.location ? ` (${a.location})` : '';
          out.push(
            diagnostic(b, 'MW_MESH_CONFLICT', 'warning', `spec.servers[${si}]`, `conflicting gateways: Gateway ${a.metadata.namespace}/${a.metadata.name}${where} also serves "${pair[0]}" on port ${sb.port?.number} for the same selector${same}`),
          );
          reported = true;
          return;
        }
      });
    }
  }
  return out;
}
