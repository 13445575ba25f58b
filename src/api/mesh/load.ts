// Config text → Istio-style resources (stage 0 of the mesh API). Reads YAML (several `---` documents) or JSON
// (one object, or a Kubernetes `List` with `items`), checks each document's envelope (apiVersion, kind,
// metadata) and the shape of its spec against schema.ts — unknown fields and wrong types are errors, as
// Istio's CRD schemas make them — and returns the resources that passed, deep-frozen, each able to say where
// any of its fields was written. A document that fails is reported and skipped; the others still load.
//
// Istio's semantic rules (weights, hosts, regexes, durations...) are validate.ts's: a resource loaded here
// is well-formed, not necessarily valid.
import { ConfigError, ConfigErrors, type ErrorCode } from '../../common/errors.js';
import { parseConfigText, rawLocation, yamlDocuments as documents } from '../envoy/source.js';
import { MESSAGES, specMessage, type FieldType } from './schema.js';
import { MESH_KINDS, NETWORKING_GROUP, NETWORKING_KINDS, NETWORKING_VERSIONS, SECURITY_GROUP, SECURITY_KINDS, SECURITY_VERSIONS, type MeshKind, type MeshResource } from './types.js';

export interface MeshLoadResult {
  /** the well-formed resources, in file order */
  readonly resources: MeshResource[];
  /** one entry per problem, each with file:line:column; a document with any error is not in `resources` */
  readonly errors: ConfigError[];
}

/** Where parsed values were written: the helpers of envoy/source.ts, moved to the document's first line. */
type At = (raw: unknown, key?: string | number, part?: 'key' | 'value') => string | undefined;

const ACCEPTED = `${NETWORKING_GROUP}/${NETWORKING_VERSIONS.join(', ')} and ${SECURITY_GROUP}/${SECURITY_VERSIONS.join(', ')}`;

// The groups served, each with its versions and kinds (a kind must come with its own group's apiVersion).
const GROUPS: Readonly<Record<string, { versions: readonly string[]; kinds: readonly MeshKind[] }>> = {
  [NETWORKING_GROUP]: { versions: NETWORKING_VERSIONS, kinds: NETWORKING_KINDS },
  [SECURITY_GROUP]: { versions: SECURITY_VERSIONS, kinds: SECURITY_KINDS },
};

// Istio kinds Meshwork knows of but does not serve yet, by API group: named in the error so that a user sees
// "not yet" rather than "unknown".
const NOT_YET: Readonly<Record<string, string>> = {
  'telemetry.istio.io': 'telemetry.istio.io resources (Telemetry) are not supported',
  'extensions.istio.io': 'extensions.istio.io resources (WasmPlugin) are not supported',
  'gateway.networking.k8s.io': `Kubernetes Gateway API resources are not supported: use ${NETWORKING_GROUP} Gateway and VirtualService`,
};
const NETWORKING_NOT_YET = new Set(['WorkloadGroup', 'EnvoyFilter', 'ProxyConfig']);

// ObjectMeta fields that `kubectl get -o yaml` writes: accepted so that exported files load, and dropped.
const K8S_META = new Set(['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generateName', 'selfLink', 'ownerReferences', 'finalizers', 'managedFields']);

/**
 * Loads the Istio-style resources of one file. Never throws for bad input: every problem of every document
 * is in `errors` (codes MW_CONFIG_PARSE, MW_MESH_INVALID, MW_MESH_UNKNOWN_FIELD, MW_MESH_UNSUPPORTED).
 */
export function loadMeshText(text: string, file: string): MeshLoadResult {
  const resources: MeshResource[] = [];
  const errors: ConfigError[] = [];
  for (const { start, end, line } of documents(text)) {
    // Each document is parsed alone, and the positions it records are moved to where it starts in the file
    // (as control-plane/sources/file/parse.ts does).
    const shift = (loc: string | undefined) => loc?.replace(/:(\d+):(\d+)$/, (_, l: string, c: string) => `:${Number(l) + line - 1}:${c}`);
    const at: At = (raw, key, part) => shift(rawLocation(raw, key, part));
    const docStart = `${file}:${line}:1`;
    let value: unknown;
    try {
      value = parseConfigText(text.slice(start, end), file);
    } catch (err) {
      if (!(err instanceof ConfigErrors)) throw err;
      for (const e of err.errors) errors.push(new ConfigError(e.code, '', reasonOf(e), shift(e.location) ?? docStart));
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document: a trailing `---`, comments only
    if (!isObject(value)) {
      errors.push(new ConfigError('MW_MESH_INVALID', '', `a document must be a resource (a map with apiVersion, kind, metadata and spec), not ${describe(value)}`, at(value) ?? docStart));
      continue;
    }
    if (value.kind === 'List' && 'items' in value) {
      // A Kubernetes List (`kubectl get -o yaml` of several resources)
      const items = value.items;
      if (!Array.isArray(items)) {
        errors.push(new ConfigError('MW_MESH_INVALID', 'items', `a List's items must be a list, not ${describe(items)}`, at(value, 'items', 'value')));
        continue;
      }
      items.forEach((item, i) => {
        if (item === null) return;
        const r = loadResource(item, `items[${i}]`, at, at(items, i) ?? docStart, errors);
        if (r) resources.push(r);
      });
      continue;
    }
    const r = loadResource(value, '', at, at(value) ?? docStart, errors);
    if (r) resources.push(r);
  }
  return { resources, errors };
}

function loadResource(raw: unknown, prefix: string, at: At, location: string, errors: ConfigError[]): MeshResource | undefined {
  const before = errors.length;
  const fail = (code: ErrorCode, path: string, reason: string, loc?: string) => errors.push(new ConfigError(code, join(prefix, path), reason, loc ?? location));
  if (!isObject(raw)) {
    fail('MW_MESH_INVALID', '', `a resource must be a map with apiVersion, kind, metadata and spec, not ${describe(raw)}`);
    return undefined;
  }
  const { apiVersion, kind } = raw;
  // The envelope first: if it is wrong, the spec cannot be read (its schema depends on the kind).
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    fail('MW_MESH_INVALID', 'apiVersion', `apiVersion is required: ${ACCEPTED}`, at(raw, 'apiVersion'));
    return undefined;
  }
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  if (NOT_YET[group]) {
    fail('MW_MESH_UNSUPPORTED', 'apiVersion', `${NOT_YET[group]} (${describeKind(kind)})`, at(raw, 'apiVersion', 'value'));
    return undefined;
  }
  const served = Object.prototype.hasOwnProperty.call(GROUPS, group) ? GROUPS[group] : undefined;
  if (!served) {
    fail('MW_MESH_INVALID', 'apiVersion', `"${apiVersion}" is not an API Meshwork serves: it accepts ${ACCEPTED}`, at(raw, 'apiVersion', 'value'));
    return undefined;
  }
  if (!served.versions.includes(version)) {
    fail('MW_MESH_INVALID', 'apiVersion', `version "${version}" of ${group} is not accepted: use ${served.versions.join(', ')}`, at(raw, 'apiVersion', 'value'));
    return undefined;
  }
  if (typeof kind !== 'string' || !(served.kinds as readonly string[]).includes(kind)) {
    const other = typeof kind === 'string' ? Object.keys(GROUPS).find((g) => (GROUPS[g]!.kinds as readonly string[]).includes(kind)) : undefined;
    if (other) fail('MW_MESH_INVALID', 'apiVersion', `${kind} belongs to ${other} (use ${other}/${GROUPS[other]!.versions[0]}), not ${group}`, at(raw, 'apiVersion', 'value'));
    else if (typeof kind === 'string' && group === NETWORKING_GROUP && NETWORKING_NOT_YET.has(kind)) fail('MW_MESH_UNSUPPORTED', 'kind', `${kind} is not supported (Meshwork serves ${MESH_KINDS.join(', ')})`, at(raw, 'kind', 'value'));
    else fail('MW_MESH_INVALID', 'kind', `${describeKind(kind)} is not a ${group} kind Meshwork serves: ${served.kinds.join(', ')}`, kind === undefined ? undefined : at(raw, 'kind', 'value'));
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(key)) fail('MW_MESH_UNKNOWN_FIELD', key, `unknown field "${key}": a resource has apiVersion, kind, metadata and spec`, at(raw, key));
  }
  const metadata = loadMetadata(raw.metadata, at, (path, reason, loc) => fail('MW_MESH_INVALID', path, reason, loc), () => at(raw, 'metadata'));
  let spec: unknown = {};
  if (raw.spec !== undefined && raw.spec !== null) {
    const problems: Problem[] = [];
    spec = checkShape(raw.spec, { t: 'msg', name: specMessage(kind as MeshKind) }, 'spec', raw, 'spec', at, problems);
    for (const p of problems) fail(p.code, p.path, p.reason, p.location);
  }
  if (errors.length > before || !metadata) return undefined;
  const root = raw;
  const resource: MeshResource = {
    apiVersion,
    kind: kind as MeshKind,
    metadata,
    spec: spec as MeshResource['spec'],
    location,
    locate: (path: string) => locateIn(root, path, at) ?? location,
  };
  return deepFreeze(resource);
}

function loadMetadata(
  meta: unknown,
  at: At,
  fail: (path: string, reason: string, loc?: string) => void,
  metaAt: () => string | undefined,
): MeshResource['metadata'] | undefined {
  if (!isObject(meta)) {
    fail('metadata', meta === undefined || meta === null ? 'metadata.name is required' : `metadata must be a map, not ${describe(meta)}`, meta === undefined ? undefined : metaAt());
    return undefined;
  }
  let ok = true;
  const bad = (path: string, reason: string, loc?: string) => {
    ok = false;
    fail(path, reason, loc);
  };
  const { name, namespace } = meta;
  if (typeof name !== 'string' || name === '') bad('metadata.name', 'metadata.name is required', metaAt());
  else if (!isDNS1123Subdomain(name)) bad('metadata.name', `"${name}" is not a valid name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`, at(meta, 'name', 'value'));
  if (namespace !== undefined && namespace !== null && (typeof namespace !== 'string' || !isDNS1123Label(namespace))) {
    bad('metadata.namespace', `${JSON.stringify(namespace)} is not a valid namespace: a DNS label (lowercase letters, digits and '-', at most 63 characters)`, at(meta, 'namespace', 'value'));
  }
  const out: MeshResource['metadata'] = { name: name as string, namespace: typeof namespace === 'string' ? namespace : 'default' };
  for (const key of ['labels', 'annotations'] as const) {
    const v = meta[key];
    if (v === undefined || v === null) continue;
    if (!isObject(v)) {
      bad(`metadata.${key}`, `metadata.${key} must be a map of strings, not ${describe(v)}`, at(meta, key, 'value'));
      continue;
    }
    const copy: Record<string, string> = {};
    for (const [k, s] of Object.entries(v)) {
      if (typeof s !== 'string') bad(`metadata.${key}${mapKey(k)}`, `expected a string, got ${describe(s)} (quote it)`, at(v, k, 'value'));
      else setOwn(copy, k, s);
    }
    out[key] = copy;
  }
  for (const key of Object.keys(meta)) {
    if (!['name', 'namespace', 'labels', 'annotations'].includes(key) && !K8S_META.has(key)) bad(`metadata.${key}`, `unknown field "${key}" in metadata`, at(meta, key));
  }
  return ok ? out : undefined;
}

interface Problem {
  code: ErrorCode;
  path: string;
  reason: string;
  location: string | undefined;
}

/**
 * Checks `value` against `type` and returns a clean copy: nulls dropped (absent, as in proto3 JSON), only
 * known fields. Problems are pushed with the path and the position of the offending key or value.
 */
function checkShape(value: unknown, type: FieldType, path: string, parent: unknown, key: string | number, at: At, problems: Problem[]): unknown {
  const here = () => at(parent, key, 'value');
  const wrong = (expected: string) => {
    // YAML reads `version: 1` or `exact: true` as a number or a boolean; Kubernetes would reject them too
    const hint = type.t === 'string' && (typeof value === 'number' || typeof value === 'boolean') ? ' (quote it)' : '';
    problems.push({ code: 'MW_MESH_INVALID', path, reason: `expected ${expected}, got ${describe(value)}${hint}`, location: here() });
    return undefined;
  };
  switch (type.t) {
    case 'string':
    case 'duration':
      if (typeof value !== 'string') return wrong(type.t === 'duration' ? 'a duration string such as "1s" or "500ms"' : 'a string');
      if (type.t === 'string' && type.values && !type.values.includes(value)) {
        problems.push({ code: 'MW_MESH_INVALID', path, reason: `"${value}" is not one of ${type.values.join(', ')}`, location: here() });
        return undefined;
      }
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrong('an integer');
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrong('a number');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') return wrong('true or false');
      return value;
    case 'list': {
      if (!Array.isArray(value)) return wrong('a list');
      const out: unknown[] = [];
      value.forEach((item, i) => {
        if (item === null) return; // `- ` with nothing: absent, as YAML writes it by mistake more often than on purpose
        out.push(checkShape(item, type.of, `${path}[${i}]`, value, i, at, problems));
      });
      return out;
    }
    case 'map': {
      if (!isObject(value)) return wrong('a map');
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (v === null) continue;
        setOwn(out, k, checkShape(v, type.of, `${path}${mapKey(k)}`, value, k, at, problems));
      }
      return out;
    }
    case 'msg': {
      if (!isObject(value)) return wrong(`a map (${type.name})`);
      const fields = MESSAGES[type.name]!;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const spec = Object.prototype.hasOwnProperty.call(fields, k) ? fields[k] : undefined;
        if (!spec) {
          problems.push({ code: 'MW_MESH_UNKNOWN_FIELD', path: `${path}.${k}`, reason: `unknown field "${k}" in ${type.name}${suggest(k, Object.keys(fields))}`, location: at(value, k) });
          continue;
        }
        if (v === null) continue;
        out[k] = checkShape(v, spec.type, `${path}.${k}`, value, k, at, problems);
      }
      return out;
    }
  }
}

/** A near miss ("subsets", "wieght", "max_retries") is worth naming; otherwise the fields that exist. */
function suggest(name: string, known: string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '');
  const n = norm(name);
  const hit = known.find((k) => norm(k) === n) ?? known.find((k) => distance(norm(k), n) <= (n.length > 4 ? 2 : 1));
  return hit ? ` (did you mean "${hit}"?)` : ` (fields: ${known.join(', ')})`;
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * file:line:column of a path in a parsed resource ("spec.http[0].route[1].weight",
 * 'spec.http[0].match[0].headers["user-agent"]'): the deepest part of the path that was written.
 */
function locateIn(root: unknown, path: string, at: At): string | undefined {
  let node: unknown = root;
  let best = at(root);
  for (const m of path.matchAll(/\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g)) {
    if (!node || typeof node !== 'object') break;
    if (m[1] !== undefined) {
      const i = Number(m[1]);
      if (!Array.isArray(node) || i >= node.length) break;
      best = at(node, i) ?? best;
      node = node[i];
      continue;
    }
    const key = m[2] !== undefined ? (JSON.parse(m[2]) as string) : m[3]!;
    if (Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, key)) break;
    best = at(node, key) ?? best;
    node = (node as Record<string, unknown>)[key];
  }
  return best;
}

/** `["key"]`: map keys are data (header names, labels), so they are always quoted in paths. */
export function mapKey(key: string): string {
  return `[${JSON.stringify(key)}]`;
}

// ------------------------------------------------------------------ Kubernetes names

/** RFC 1123 label, as Kubernetes checks namespaces (and Istio gateway, subset and port names). */
export function isDNS1123Label(s: string): boolean {
  return s.length > 0 && s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);
}

/** RFC 1123 subdomain, as Kubernetes checks object names. */
export function isDNS1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s);
}

// ------------------------------------------------------------------ helpers

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) if (typeof x !== 'function') deepFreeze(x);
  }
  return v;
}

// A key named "__proto__" must become a field (to be reported or kept as data), not the object's prototype.
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function reasonOf(e: ConfigError): string {
  const prefix = `${e.location ? e.location + ': ' : ''}${e.path ? e.path + ': ' : ''}`;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

const join = (prefix: string, path: string) => (prefix && path ? `${prefix}.${path}` : prefix || path);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describeKind = (kind: unknown) => (typeof kind === 'string' ? `kind "${kind}"` : kind === undefined ? 'a missing kind' : `kind ${describe(kind)}`);

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return typeof v === 'string' ? `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}` : `${typeof v} ${String(v)}`;
}
