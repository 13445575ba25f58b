// The mesh config file (`meshwork control-plane --mesh-config <file>`): Istio's MeshConfig YAML — what istiod
// reads from the `mesh` key of the istio ConfigMap, or from --meshConfig — of which Meshwork serves
// `extensionProviders` (the external authorizers that AuthorizationPolicy CUSTOM actions name).
//
// Why a file of its own and not a document in the mesh dir: MeshConfig is not a Kubernetes resource (no
// apiVersion, kind or metadata; one per mesh, owned by the operator), so Istio keeps it out of the CRD store,
// and an AuthorizationPolicy author must not be able to redirect the mesh's authorization checks by dropping a
// file next to theirs. It is read once at start; a change needs a restart (as the providers are, in effect,
// part of the control plane's deployment).
//
// Checked as the mesh resources are (load.ts): every field against the table below, unknown or unsupported
// fields rejected with file:line:column, then Istio's rules for providers (validation.go
// ValidateExtensionProvider*): unique non-empty names, a service, a port in [1, 65535], a known statusOnError,
// a pathPrefix starting with "/", no lone "*" header pattern.
import fs from 'node:fs';
import { ConfigError, ConfigErrors, type ErrorCode } from '../../common/errors.js';
import { parseConfigText, rawLocation } from '../envoy/source.js';
import { parseDuration } from './validate.js';

export interface ExtAuthzRequestBody {
  maxRequestBytes?: number;
  allowPartialMessage?: boolean;
  packAsBytes?: boolean;
}

interface ExtAuthzCommon {
  /** "<host>" or "<namespace>/<host>" of the service */
  service: string;
  port: number;
  /** duration string, e.g. "0.5s" (Istio's default 600s) */
  timeout?: string;
  failOpen?: boolean;
  clearRouteCache?: boolean;
  /** e.g. "503" */
  statusOnError?: string;
  includeRequestBodyInCheck?: ExtAuthzRequestBody;
}

export interface EnvoyExtAuthzHttp extends ExtAuthzCommon {
  pathPrefix?: string;
  includeRequestHeadersInCheck?: string[];
  /** deprecated by Istio for includeRequestHeadersInCheck */
  includeHeadersInCheck?: string[];
  includeAdditionalHeadersInCheck?: Record<string, string>;
  headersToUpstreamOnAllow?: string[];
  headersToDownstreamOnDeny?: string[];
  headersToDownstreamOnAllow?: string[];
}

export type EnvoyExtAuthzGrpc = ExtAuthzCommon;

export interface ExtensionProvider {
  name: string;
  envoyExtAuthzHttp?: EnvoyExtAuthzHttp;
  envoyExtAuthzGrpc?: EnvoyExtAuthzGrpc;
}

export interface MeshConfig {
  extensionProviders: ExtensionProvider[];
}

export const EMPTY_MESH_CONFIG: MeshConfig = Object.freeze({ extensionProviders: Object.freeze([]) as unknown as ExtensionProvider[] });

type Shape = 'string' | 'int' | 'bool' | 'strings' | 'stringMap' | { msg: Record<string, Shape> } | { list: Record<string, Shape> };

const BODY: Record<string, Shape> = { maxRequestBytes: 'int', allowPartialMessage: 'bool', packAsBytes: 'bool' };
const COMMON: Record<string, Shape> = { service: 'string', port: 'int', timeout: 'string', failOpen: 'bool', clearRouteCache: 'bool', statusOnError: 'string', includeRequestBodyInCheck: { msg: BODY } };
const HTTP: Record<string, Shape> = {
  ...COMMON,
  pathPrefix: 'string',
  includeRequestHeadersInCheck: 'strings',
  includeHeadersInCheck: 'strings',
  includeAdditionalHeadersInCheck: 'stringMap',
  headersToUpstreamOnAllow: 'strings',
  headersToDownstreamOnDeny: 'strings',
  headersToDownstreamOnAllow: 'strings',
};
const PROVIDER: Record<string, Shape> = { name: 'string', envoyExtAuthzHttp: { msg: HTTP }, envoyExtAuthzGrpc: { msg: COMMON } };
const TOP: Record<string, Shape> = { extensionProviders: { list: PROVIDER } };

// Istio MeshConfig fields and provider kinds Meshwork knows of but does not serve: "not supported", not "unknown".
const ISTIO_MESH_FIELDS = new Set([
  'proxyListenPort', 'proxyInboundListenPort', 'proxyHttpPort', 'connectTimeout', 'protocolDetectionTimeout', 'tcpKeepalive', 'ingressClass',
  'ingressService', 'ingressControllerMode', 'ingressSelector', 'enableTracing', 'accessLogFile', 'accessLogFormat', 'accessLogEncoding',
  'enableEnvoyAccessLogService', 'disableEnvoyListenerLog', 'defaultConfig', 'outboundTrafficPolicy', 'inboundTrafficPolicy', 'configSources',
  'enableAutoMtls', 'trustDomain', 'trustDomainAliases', 'caCertificates', 'defaultServiceExportTo', 'defaultVirtualServiceExportTo',
  'defaultDestinationRuleExportTo', 'rootNamespace', 'localityLbSetting', 'dnsRefreshRate', 'h2UpgradePolicy', 'inboundClusterStatName',
  'outboundClusterStatName', 'certificates', 'thriftConfig', 'serviceSettings', 'enablePrometheusMerge', 'verifyCertificateAtClient', 'ca',
  'extensionProviders', 'defaultProviders', 'discoverySelectors', 'pathNormalization', 'defaultHttpRetryPolicy', 'meshMTLS', 'tlsDefaults',
  'gatewayTopology', 'serviceScopeConfigs',
]);
const OTHER_PROVIDERS = new Set(['zipkin', 'lightstep', 'datadog', 'stackdriver', 'opencensus', 'skywalking', 'opentelemetry', 'prometheus', 'envoyFileAccessLog', 'envoyHttpAls', 'envoyTcpAls', 'envoyOtelAls', 'sds']);

/** Istio's supported statusOnError values: envoy.type.v3.StatusCode */
const STATUS_CODES = new Set([
  100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export interface MeshConfigLoadResult {
  readonly config: MeshConfig;
  /** every problem, with file:line:column; with any error the config is not to be used */
  readonly errors: ConfigError[];
}

export function loadMeshConfigText(text: string, file: string): MeshConfigLoadResult {
  const errors: ConfigError[] = [];
  const fail = (code: ErrorCode, path: string, reason: string, loc: string | undefined) => errors.push(new ConfigError(code, path, reason, loc ?? `${file}:1:1`));
  let raw: unknown;
  try {
    raw = parseConfigText(text, file);
  } catch (err) {
    if (err instanceof ConfigErrors) return { config: EMPTY_MESH_CONFIG, errors: err.errors };
    if (err instanceof ConfigError) return { config: EMPTY_MESH_CONFIG, errors: [err] };
    throw err;
  }
  if (raw === null || raw === undefined) return { config: EMPTY_MESH_CONFIG, errors };
  const checked = check(raw, { msg: TOP }, '', undefined, undefined, fail) as Partial<MeshConfig> | undefined;
  const config: MeshConfig = { extensionProviders: checked?.extensionProviders ?? [] };
  if (errors.length === 0) validateProviders(config, raw, fail);
  return { config: errors.length ? EMPTY_MESH_CONFIG : deepFreeze(config), errors };
}

/** Reads and checks a mesh config file; throws ConfigErrors listing every problem. */
export function loadMeshConfigFile(file: string): MeshConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('MW_CONFIG_PARSE', '', `Cannot read mesh config "${file}": ${(err as Error).message}`);
  }
  const r = loadMeshConfigText(text, file);
  if (r.errors.length) throw new ConfigErrors(r.errors);
  return r.config;
}

type Fail = (code: ErrorCode, path: string, reason: string, loc: string | undefined) => void;

const describe = (v: unknown) => (Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function check(v: unknown, shape: Shape, path: string, parent: unknown, key: string | number | undefined, fail: Fail): unknown {
  const here = () => (parent === undefined ? rawLocation(v) : rawLocation(parent, key, 'value'));
  const wrong = (expected: string) => {
    fail('MW_MESH_INVALID', path, `expected ${expected}, got ${describe(v)}`, here());
    return undefined;
  };
  if (shape === 'string') return typeof v === 'string' ? v : wrong('a string');
  if (shape === 'bool') return typeof v === 'boolean' ? v : wrong('true or false');
  if (shape === 'int') return typeof v === 'number' && Number.isInteger(v) ? v : wrong('an integer');
  if (shape === 'strings') {
    if (!Array.isArray(v)) return wrong('a list of strings');
    return v.map((s, i) => (typeof s === 'string' ? s : (fail('MW_MESH_INVALID', `${path}[${i}]`, `expected a string, got ${describe(s)}`, rawLocation(v, i)), '')));
  }
  if (shape === 'stringMap') {
    if (!isObject(v)) return wrong('a map of strings');
    const out: Record<string, string> = {};
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') fail('MW_MESH_INVALID', `${path}["${k}"]`, `expected a string, got ${describe(s)}`, rawLocation(v, k, 'value'));
      else out[k] = s;
    }
    return out;
  }
  if ('list' in shape) {
    if (!Array.isArray(v)) return wrong('a list');
    return v.map((item, i) => check(item, { msg: shape.list }, `${path}[${i}]`, v, i, fail));
  }
  if (!isObject(v)) return wrong('a map');
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const p = path ? `${path}.${k}` : k;
    const s = Object.prototype.hasOwnProperty.call(shape.msg, k) ? shape.msg[k] : undefined;
    if (!s) {
      if (shape.msg === TOP && ISTIO_MESH_FIELDS.has(k)) fail('MW_MESH_UNSUPPORTED', p, `MeshConfig.${k} is not supported: Meshwork reads only extensionProviders from the mesh config`, rawLocation(v, k));
      else if (shape.msg === PROVIDER && OTHER_PROVIDERS.has(k)) fail('MW_MESH_UNSUPPORTED', p, `${k} providers are not supported: only envoyExtAuthzHttp and envoyExtAuthzGrpc`, rawLocation(v, k));
      else fail('MW_MESH_UNKNOWN_FIELD', p, `unknown field "${k}" (fields: ${Object.keys(shape.msg).join(', ')})`, rawLocation(v, k));
      continue;
    }
    if (val === null || val === undefined) continue;
    out[k] = check(val, s, p, v, k, fail);
  }
  return out;
}

function validateProviders(config: MeshConfig, raw: unknown, fail: Fail): void {
  const list = isObject(raw) && Array.isArray(raw.extensionProviders) ? raw.extensionProviders : [];
  const names = new Set<string>();
  config.extensionProviders.forEach((p, i) => {
    const path = `extensionProviders[${i}]`;
    const rawP = list[i];
    const at = (key?: string) => (key && isObject(rawP) && key in rawP ? rawLocation(rawP, key, 'value') : rawLocation(list, i));
    if (!p.name) fail('MW_MESH_INVALID', `${path}.name`, `extension provider name must not be empty, found empty at index: ${i}`, at('name'));
    else if (names.has(p.name)) fail('MW_MESH_INVALID', `${path}.name`, `extension provider name must be unique, found duplicate: ${p.name}`, at('name'));
    else names.add(p.name);
    const kinds = [p.envoyExtAuthzHttp && 'envoyExtAuthzHttp', p.envoyExtAuthzGrpc && 'envoyExtAuthzGrpc'].filter(Boolean) as string[];
    if (kinds.length !== 1) {
      fail('MW_MESH_INVALID', path, kinds.length ? 'set one of envoyExtAuthzHttp and envoyExtAuthzGrpc, not both' : 'a provider needs envoyExtAuthzHttp or envoyExtAuthzGrpc', at());
      return;
    }
    const kind = kinds[0]!;
    const c = (p.envoyExtAuthzHttp ?? p.envoyExtAuthzGrpc)!;
    const rawC = isObject(rawP) ? rawP[kind] : undefined;
    const cat = (key: string) => (isObject(rawC) && key in rawC ? rawLocation(rawC, key, 'value') : at(kind));
    const cp = `${path}.${kind}`;
    if (!c.service) fail('MW_MESH_INVALID', `${cp}.service`, 'service is required', cat('service'));
    if (!(c.port >= 1 && c.port <= 65535)) fail('MW_MESH_INVALID', `${cp}.port`, `port must be in the range [1, 65535], found: ${c.port ?? 0}`, cat('port'));
    if (c.statusOnError !== undefined && !(/^\d+$/.test(c.statusOnError) && STATUS_CODES.has(Number(c.statusOnError)))) {
      fail('MW_MESH_INVALID', `${cp}.statusOnError`, `unsupported statusOnError ${c.statusOnError}: an HTTP status code such as "403" or "503"`, cat('statusOnError'));
    }
    if (c.timeout !== undefined && parseDuration(c.timeout) === undefined) fail('MW_MESH_INVALID', `${cp}.timeout`, `"${c.timeout}" is not a duration (e.g. "0.5s", "200ms")`, cat('timeout'));
    if (c.includeRequestBodyInCheck?.maxRequestBytes !== undefined && c.includeRequestBodyInCheck.maxRequestBytes < 1) {
      fail('MW_MESH_INVALID', `${cp}.includeRequestBodyInCheck.maxRequestBytes`, 'must be at least 1', cat('includeRequestBodyInCheck'));
    }
    const h = p.envoyExtAuthzHttp;
    if (h) {
      if (h.pathPrefix && !h.pathPrefix.startsWith('/')) fail('MW_MESH_INVALID', `${cp}.pathPrefix`, `pathPrefix must begin with \`/\`, found: "${h.pathPrefix}"`, cat('pathPrefix'));
      for (const f of ['includeRequestHeadersInCheck', 'includeHeadersInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow'] as const) {
        if (h[f]?.includes('*')) fail('MW_MESH_INVALID', `${cp}.${f}`, 'a single wildcard ("*") is not supported, change it to either prefix or suffix match', cat(f));
      }
    }
  });
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
