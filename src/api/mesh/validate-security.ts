// Istio's validation rules for the security.istio.io kinds (after istio/istio pkg/config/validation
// ValidatePeerAuthentication, ValidateAuthorizationPolicy, ValidateRequestAuthentication and
// pkg/config/security: the same rules, errors and warnings, in Meshwork's words). validate.ts calls these from
// validateMeshResource with its report; the support table (schema.ts) has already reported what Meshwork does
// not implement (targetRef, CUSTOM's provider).
//
// A few warnings are Meshwork's own, each where Istio silently does something surprising: a `*` inside a value
// (Istio matches it literally), a lower-case HTTP method (never matches), both jwks and jwksUri (jwksUri is
// ignored).
import { isIP } from 'node:net';
import { mapKey } from './load.js';
import type { AuthorizationPolicySpec, AuthorizationSource, PeerAuthenticationSpec, PolicyTargetReference, RequestAuthenticationSpec, TypeWorkloadSelector } from './types.js';
import { parseDuration } from './validate.js';

/** What validate.ts's report offers the checks below. */
export interface SecurityReport {
  error(path: string, reason: string): void;
  warn(path: string, reason: string): void;
}

// ------------------------------------------------------------------ shared

/** Istio's validateWorkloadSelector (istio.type.v1beta1): no empty keys, no wildcards; `{}` is a warning. */
function checkSelector(rep: SecurityReport, selector: TypeWorkloadSelector | undefined): void {
  if (!selector) return;
  const labels = selector.matchLabels ?? {};
  for (const [k, v] of Object.entries(labels)) {
    const p = `spec.selector.matchLabels${mapKey(k)}`;
    if (k === '') rep.error(p, `empty key is not supported in selector: "${k}=${v}"`);
    if (k.includes('*') || v.includes('*')) rep.error(p, `wildcard is not supported in selector: "${k}=${v}"`);
  }
  if (Object.keys(labels).length === 0) rep.warn('spec.selector', 'workload selector specified without labels: the policy applies to every workload of the namespace');
}

/** Istio's validateOneOfSelectorType: selector, targetRef and targetRefs exclude each other. */
function checkOneSelector(rep: SecurityReport, spec: { selector?: unknown; targetRef?: PolicyTargetReference; targetRefs?: PolicyTargetReference[] }): void {
  const set = [spec.selector !== undefined && 'selector', spec.targetRef !== undefined && 'targetRef', (spec.targetRefs?.length ?? 0) > 0 && 'targetRefs'].filter(Boolean);
  if (set.length > 1) rep.error(`spec.${set[1]}`, `only one of targetRefs or workloadSelector can be set (found ${set.join(' and ')})`);
}

/** Istio's ValidateIPs: an IP, or a CIDR (netip.ParsePrefix: the address need not be masked). */
function ipError(v: string): string | undefined {
  const slash = v.indexOf('/');
  if (slash < 0) return isIP(v) ? undefined : `bad IP address (${v})`;
  const ip = v.slice(0, slash);
  const bits = v.slice(slash + 1);
  const family = isIP(ip);
  return family && /^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128) ? undefined : `bad CIDR range (${v})`;
}

/** Istio's ValidatePorts: each a decimal number up to 65535. */
function portError(v: string): string | undefined {
  return /^\d+$/.test(v) && Number(v) <= 65535 ? undefined : `bad port (${v}): a port number up to 65535`;
}

/**
 * Istio's authorization string matchers read a value as exact, `prefix*`, `*suffix` or `*` (present); any other
 * `*` is a literal character, which is seldom what was meant.
 */
function checkWildcards(rep: SecurityReport, path: string, values: readonly string[] | undefined, what: 'path' | 'value' = 'value'): void {
  (values ?? []).forEach((v, i) => {
    if (v === '*' || !v.includes('*')) return;
    if (what === 'path' && (v.includes('{*}') || v.includes('{**}'))) return; // a path template, checked on its own
    const inner = v.slice(1, -1);
    if (inner.includes('*') || (v.startsWith('*') && v.endsWith('*'))) {
      rep.warn(`${path}[${i}]`, `"${v}" matches a literal '*': Istio reads a value as exact, "prefix*", "*suffix" or "*" (present), with one '*' at most, at the start or the end`);
    }
  });
}

// ------------------------------------------------------------------ PeerAuthentication

export function checkPeerAuthentication(rep: SecurityReport, spec: PeerAuthenticationSpec): void {
  checkSelector(rep, spec.selector);
  const emptySelector = !spec.selector || Object.keys(spec.selector.matchLabels ?? {}).length === 0;
  const ports = spec.portLevelMtls;
  if (ports !== undefined) {
    const keys = Object.keys(ports);
    if (keys.length === 0) rep.error('spec.portLevelMtls', 'port level mTLS, if defined, must have at least one element');
    else if (emptySelector) rep.error('spec.portLevelMtls', 'mesh/namespace peer authentication cannot have port level mTLS: add a selector');
    for (const k of keys) {
      if (!/^\d+$/.test(k) || Number(k) < 1 || Number(k) > 65535) rep.error(`spec.portLevelMtls${mapKey(k)}`, `port "${k}" must be a number in the range 1..65535`);
    }
  }
}

// ------------------------------------------------------------------ AuthorizationPolicy

const SOURCE_LISTS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const satisfies readonly (keyof AuthorizationSource)[];
// the Source fields a TCP connection can be matched on (everything but the JWT's request principals)
const TCP_SOURCE = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const OPERATION_LISTS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

// Istio's path templates: `{*}` and `{**}` only; no named variables, bare `*` segments or empty braces
const UNSUPPORTED_PATH_TEMPLATE = /\/\{\w+=\*\*?\}|\{\w*\}|\/\*\*?|\*\*?\//;

/**
 * Istio's ValidateAttribute: the `when` keys of the conditions reference (istio.io/docs/reference/config/security
 * /conditions). Returns why the key or a value is wrong.
 */
function attributeError(key: string, values: readonly string[]): string | undefined {
  if (values.some((v) => v === '')) return `empty value not allowed, found in ${key}`;
  const mapKeyOk = (prefix: string) => {
    const open = key.indexOf('[');
    return key.startsWith(prefix) && key.endsWith(']') && open > 0 && open < key.length - 2 ? undefined : `bad key (${key}): should have format a[b]`;
  };
  const ips = () => values.map(ipError).find(Boolean);
  if (key.startsWith('request.headers')) return mapKeyOk('request.headers');
  if (key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip') return ips();
  if (['source.namespace', 'source.principal', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter', 'connection.sni'].includes(key)) return undefined;
  if (key.startsWith('request.auth.claims')) return mapKeyOk('request.auth.claims');
  if (key === 'destination.port') return values.map(portError).find(Boolean);
  if (key.startsWith('experimental.envoy.filters.')) return mapKeyOk('experimental.envoy.filters.');
  if (key === 'destination.namespace') return `attribute ${key} is replaced by the metadata.namespace`;
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  if (key === 'destination.name' || key === 'destination.user') return `deprecated attribute ${key}: only supported in v1alpha1`;
  return `unknown attribute: ${key}`;
}

export function checkAuthorizationPolicy(rep: SecurityReport, spec: AuthorizationPolicySpec): void {
  checkOneSelector(rep, spec);
  checkSelector(rep, spec.selector);
  const action = spec.action ?? 'ALLOW';
  const rules = spec.rules;
  if (action === 'CUSTOM') {
    if (!rules?.length) rep.error('spec.rules', 'CUSTOM action without `rules` is meaningless as it will never be triggered: add an empty rule `{}` to trigger it for every request');
    else if (!spec.provider?.name) rep.error('spec.provider.name', '`provider.name` must not be empty with the CUSTOM action');
    // Istio's CUSTOM action (an external authorizer) cannot match on identities yet
    (rules ?? []).forEach((rule, i) => {
      (rule.from ?? []).forEach((f, j) => {
        for (const field of ['namespaces', 'notNamespaces', 'serviceAccounts', 'notServiceAccounts', 'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals'] as const) {
          if (f.source?.[field]?.length) rep.error(`spec.rules[${i}].from[${j}].source.${field}`, `${field} is currently not supported with the CUSTOM action`);
        }
      });
      (rule.when ?? []).forEach((c, j) => {
        const k = c.key ?? '';
        if (k === 'source.namespace' || k === 'source.serviceAccount' || k === 'source.principal' || k.startsWith('request.auth.')) rep.error(`spec.rules[${i}].when[${j}].key`, `${k} is currently not supported with the CUSTOM action`);
      });
    });
  }
  if (spec.provider !== undefined && action !== 'CUSTOM') rep.error('spec.provider', `\`provider\` must not be used with a non-CUSTOM action, found ${action}`);
  if (action === 'DENY' && !rules?.length) rep.error('spec.rules', 'DENY action without `rules` is meaningless as it will never be triggered: add an empty rule `{}` to deny every request');

  (rules ?? []).forEach((rule, i) => {
    const p = `spec.rules[${i}]`;
    if (rule.from !== undefined && rule.from.length === 0) rep.error(`${p}.from`, '`from` must not be empty: leave it out to match any source');
    let fromExists = false;
    let tcpInFrom = false;
    (rule.from ?? []).forEach((f, j) => {
      const q = `${p}.from[${j}].source`;
      const src = f.source;
      if (!src) {
        rep.error(q, '`from.source` must not be empty');
        return;
      }
      fromExists = true;
      const n = (k: keyof AuthorizationSource) => src[k]?.length ?? 0;
      if (n('principals') + n('notPrincipals') + n('namespaces') + n('notNamespaces') > 0 && n('serviceAccounts') + n('notServiceAccounts') > 0) {
        rep.error(q, 'cannot set serviceAccounts with namespaces or principals');
      }
      if (SOURCE_LISTS.every((k) => n(k) === 0)) rep.error(q, '`from.source` must not be empty');
      for (const k of SOURCE_LISTS) {
        (src[k] ?? []).forEach((v, m) => {
          if (v === '') rep.error(`${q}.${k}[${m}]`, `empty value not allowed, found in ${k}`);
        });
      }
      for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
        (src[k] ?? []).forEach((v, m) => {
          const why = v === '' ? undefined : ipError(v);
          if (why) rep.error(`${q}.${k}[${m}]`, why);
        });
      }
      for (const k of ['serviceAccounts', 'notServiceAccounts'] as const) {
        (src[k] ?? []).forEach((v, m) => {
          const parts = v.split('/');
          if (v !== '' && (parts.length !== 2 || !parts[0] || !parts[1])) rep.error(`${q}.${k}[${m}]`, `"${v}" must be <namespace>/<service account>`);
        });
      }
      for (const k of ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces'] as const) checkWildcards(rep, `${q}.${k}`, src[k]);
      if (TCP_SOURCE.some((k) => src[k] !== undefined)) tcpInFrom = true;
    });
    if (rule.to !== undefined && rule.to.length === 0) rep.error(`${p}.to`, '`to` must not be empty: leave it out to match any operation');
    let toExists = false;
    let tcpInTo = false;
    (rule.to ?? []).forEach((t, j) => {
      const q = `${p}.to[${j}].operation`;
      const op = t.operation;
      if (!op) {
        rep.error(q, '`to.operation` must not be empty');
        return;
      }
      toExists = true;
      if (OPERATION_LISTS.every((k) => !op[k]?.length)) rep.error(q, '`to.operation` must not be empty');
      for (const k of OPERATION_LISTS) {
        (op[k] ?? []).forEach((v, m) => {
          if (v === '') rep.error(`${q}.${k}[${m}]`, `empty value not allowed, found in ${k}`);
          else if ((k === 'ports' || k === 'notPorts') && portError(v)) rep.error(`${q}.${k}[${m}]`, portError(v)!);
          else if ((k === 'paths' || k === 'notPaths') && (v.includes('{*}') || v.includes('{**}')) && UNSUPPORTED_PATH_TEMPLATE.test(v)) {
            rep.error(`${q}.${k}[${m}]`, `invalid or unsupported path template "${v}": only {*} and {**} segments are supported, without named variables or bare '*'`);
          } else if ((k === 'methods' || k === 'notMethods') && v !== v.toUpperCase()) {
            rep.warn(`${q}.${k}[${m}]`, `method "${v}" is matched case-sensitively and never matches a request: HTTP methods are upper case ("${v.toUpperCase()}")`);
          }
        });
      }
      for (const k of ['hosts', 'notHosts', 'methods', 'notMethods'] as const) checkWildcards(rep, `${q}.${k}`, op[k]);
      for (const k of ['paths', 'notPaths'] as const) checkWildcards(rep, `${q}.${k}`, op[k], 'path');
      if (op.ports !== undefined || op.notPorts !== undefined) tcpInTo = true;
    });
    (rule.when ?? []).forEach((c, j) => {
      const q = `${p}.when[${j}]`;
      const key = c.key ?? '';
      if (key === '') {
        rep.error(`${q}.key`, '`key` must not be empty');
        return;
      }
      if (!c.values?.length && !c.notValues?.length) {
        rep.error(q, `at least one of \`values\` or \`notValues\` must be set for key ${key}`);
        return;
      }
      const keyOnly = attributeError(key, []);
      if (keyOnly) {
        rep.error(`${q}.key`, keyOnly);
        return;
      }
      for (const field of ['values', 'notValues'] as const) {
        (c[field] ?? []).forEach((v, m) => {
          const why = attributeError(key, [v]);
          if (why) rep.error(`${q}.${field}[${m}]`, `invalid value for key ${key}: ${why}`);
        });
      }
    });
    // An HTTP-only DENY rule cannot be evaluated on a TCP connection, so the RBAC network filter denies the
    // whole connection: Istio warns.
    if (action === 'DENY' && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo))) {
      rep.warn(p, 'this DENY rule uses only HTTP attributes: it denies all traffic to TCP ports of the workloads it applies to; name the ports (to.operation.ports) to limit it');
    }
  });
}

// ------------------------------------------------------------------ RequestAuthentication

const STRICT_HEADER_NAME = /^[A-Za-z0-9-]+$/;
const KEY_PARAMS: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'], oct: ['k'] };

/** Why an inline JWKS would not parse as a key set (Istio parses it with jwk.Parse: a set, or one key). */
function jwksError(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `jwks parse error: not JSON (${(err as Error).message})`;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'jwks parse error: a JSON Web Key Set is an object with "keys"';
  const keys = 'keys' in doc ? (doc as { keys: unknown }).keys : [doc];
  if (!Array.isArray(keys)) return 'jwks parse error: "keys" must be a list';
  for (const [i, k] of keys.entries()) {
    if (!k || typeof k !== 'object') return `jwks parse error: keys[${i}] is not an object`;
    const kty = (k as Record<string, unknown>).kty;
    const need = typeof kty === 'string' ? KEY_PARAMS[kty] : undefined;
    if (!need) return `jwks parse error: keys[${i}] has ${typeof kty === 'string' ? `an unknown kty "${kty}"` : 'no kty'} (RSA, EC, OKP or oct)`;
    const missing = need.filter((p) => typeof (k as Record<string, unknown>)[p] !== 'string');
    if (missing.length) return `jwks parse error: keys[${i}] (${kty}) lacks ${missing.join(', ')}`;
  }
  return undefined;
}

/** Istio's ParseJwksURI: an http or https URL (Meshwork also needs a host to fetch it from). */
function jwksUriError(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return `"${uri}" is not a valid URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `URI scheme "${u.protocol.slice(0, -1)}" is not supported: use http or https`;
  if (!u.hostname) return `"${uri}" has no host`;
  return undefined;
}

export function checkRequestAuthentication(rep: SecurityReport, spec: RequestAuthenticationSpec): void {
  checkOneSelector(rep, spec);
  checkSelector(rep, spec.selector);
  (spec.jwtRules ?? []).forEach((rule, i) => {
    const p = `spec.jwtRules[${i}]`;
    (rule.audiences ?? []).forEach((a, j) => {
      if (a === '') rep.error(`${p}.audiences[${j}]`, 'audience must be a non-empty string');
    });
    if (!rule.issuer && !rule.jwksUri) rep.error(`${p}.issuer`, 'issuer or jwksUri must be a non-empty string');
    if (rule.jwksUri) {
      const why = jwksUriError(rule.jwksUri);
      if (why) rep.error(`${p}.jwksUri`, why);
    }
    if (rule.jwks) {
      const why = jwksError(rule.jwks);
      if (why) rep.error(`${p}.jwks`, why);
      else if (rule.jwksUri) rep.warn(`${p}.jwksUri`, 'jwks is set, so jwksUri is ignored (as Istio does): set only one');
    }
    (rule.fromHeaders ?? []).forEach((h, j) => {
      if (!h.name) rep.error(`${p}.fromHeaders[${j}].name`, 'location header name must be a non-empty string');
    });
    (rule.fromParams ?? []).forEach((q, j) => {
      if (q === '') rep.error(`${p}.fromParams[${j}]`, 'location query must be a non-empty string');
    });
    (rule.fromCookies ?? []).forEach((c, j) => {
      if (c === '') rep.error(`${p}.fromCookies[${j}]`, 'cookie name must be a non-empty string');
    });
    (rule.outputClaimToHeaders ?? []).forEach((c, j) => {
      const q = `${p}.outputClaimToHeaders[${j}]`;
      if (!c.claim || !c.header) rep.error(q, 'outputClaimToHeaders header and claim must be non-empty strings');
      else if (!STRICT_HEADER_NAME.test(c.header)) rep.error(`${q}.header`, `"${c.header}" is not a valid header name (letters, digits and '-')`);
    });
    if (rule.timeout !== undefined) {
      const ms = parseDuration(rule.timeout);
      if (ms === undefined) rep.error(`${p}.timeout`, `cannot parse duration "${rule.timeout}": use a number and a unit, such as "1s", "500ms"`);
      else if (ms < 1) rep.error(`${p}.timeout`, `duration "${rule.timeout}" must be at least 1ms`);
      else if (Math.abs(ms - Math.round(ms)) > 1e-9) rep.error(`${p}.timeout`, `duration "${rule.timeout}": only millisecond precision is supported`);
    }
  });
}
