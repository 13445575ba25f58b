// One file of the config dir → the xDS resources it defines. Validation here is the protobuf's own (unknown
// fields, bad values, wrong types: what packAny rejects), never Meshwork's proxy support table: the control
// plane serves any xDS client (a real Envoy runs what Meshwork's proxy does not), and a client NACKs what it
// cannot run.
import { ConfigError, ConfigErrors, type ErrorCode } from '../../../common/errors.js';
import { parseConfigText, rawLocation, yamlDocuments as documents } from '../../../api/envoy/source.js';
import { TYPE_URL, packAny, resourceName, unpackAny, type Any } from '../../../api/xds/index.js';
import { contentVersion } from '../../xds/server.js';
import { parseSimpleYaml } from './fast-yaml.js';

/** A resource as the source serves it (a superset of the xDS server's ResourceEntry). */
export interface FileResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly any: Any;
  /** proto3 JSON as unpackAny gives it back: canonical, whatever spelling the file used */
  readonly json: Record<string, unknown>;
  /** content hash (contentVersion): equal bytes, equal version, so an untouched resource is never re-sent */
  readonly version: string;
  readonly file: string;
  /** file:line:column of the resource */
  readonly location?: string;
}

const SERVED_TYPES: ReadonlySet<string> = new Set(Object.values(TYPE_URL));

/** Short names for messages and the debug API ("Cluster" for the type URL). */
export function typeShortName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

/**
 * Parses a config file: YAML (several documents separated by `---`) or JSON. Each document is one resource
 * with '@type', or `resources: [...]` (Envoy's filesystem-subscription file; its `version_info` is ignored,
 * since versions here are content hashes). Returns the resources in file order; throws ConfigErrors listing
 * every problem of every document, each with file:line:column.
 */
export function parseResourceFile(text: string, file: string, opts: { fast?: boolean } = {}): FileResource[] {
  // Most files are read by the fast path (fast-yaml.ts); a file with any problem is read again by the full
  // parser alone, so that errors and their locations are exactly its. (`fast: false` is for tests.)
  return (opts.fast !== false ? parse(text, file, true) : undefined) ?? parse(text, file, false)!;
}

/** undefined: `fast` and something failed (read the file again without it). */
function parse(text: string, file: string, fast: boolean): FileResource[] | undefined {
  const out: FileResource[] = [];
  const errors: ConfigError[] = [];
  for (const { start, end, line } of documents(text)) {
    // parseConfigText reads one document, so it gets this document's text alone, and the lines it records are
    // moved to where the document starts in the file. (Padding the text instead would make a file of many
    // documents quadratic to parse.)
    const shift = (loc: string | undefined) => loc?.replace(/:(\d+):(\d+)$/, (_, l: string, c: string) => `:${Number(l) + line - 1}:${c}`);
    const doc = text.slice(start, end);
    const simple = fast ? parseSimpleYaml(doc) : undefined;
    let lineStarts: number[] | undefined;
    // The fast path knows where maps start (all a resource's location needs); any error makes us read again.
    const at = simple
      ? (raw: unknown, key?: string | number) =>
          key === undefined && raw && typeof raw === 'object' ? shift(fastLocation((lineStarts ??= starts(doc)), file, simple.positions.of(raw))) : undefined
      : (raw: unknown, key?: string | number, part?: 'key' | 'value') => shift(rawLocation(raw, key, part));
    const fail = (code: ErrorCode, path: string, reason: string, location: string | undefined) => errors.push(new ConfigError(code, path, reason, location ?? `${file}:${line}:1`));
    let value: unknown;
    try {
      value = simple ? simple.value : parseConfigText(doc, file);
    } catch (err) {
      for (const e of asConfigErrors(err)) fail(e.code, e.path, reasonOf(e), shift(e.location));
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document (trailing `---`, comments only)
    if (!isObject(value)) {
      fail('MW_CONFIG_INVALID', '', `a document must be a resource with '@type' or a map with "resources", not ${describe(value)}`, at(value));
      continue;
    }
    const pack = (raw: Record<string, unknown>, path: string) => {
      const r = packResource(raw, value, path, at, fail);
      if (r) out.push(new Parsed(r.typeUrl, r.name, r.any, r.version, file, r.location));
    };
    if ('@type' in value) {
      pack(value, '');
      continue;
    }
    const extra = Object.keys(value).filter((k) => k !== 'resources' && k !== 'version_info' && k !== 'versionInfo');
    if (extra.length || !Array.isArray(value.resources)) {
      const reason = extra.length ? `unknown key "${extra[0]}": a document is a resource with '@type' or a map with "resources"` : `a document needs '@type' (one resource) or "resources" (a list)`;
      fail('MW_CONFIG_INVALID', '', reason, extra.length ? at(value, extra[0]) : at(value));
      continue;
    }
    value.resources.forEach((r, i) => {
      if (isObject(r)) pack(r, `resources[${i}]`);
      else fail('MW_CONFIG_INVALID', `resources[${i}]`, `a resource must be a map with '@type', not ${describe(r)}`, at(value.resources, i));
    });
  }
  if (fast && errors.length) return undefined;
  const seen = new Map<string, FileResource>();
  for (const r of out) {
    const key = `${r.typeUrl}\0${r.name}`;
    const first = seen.get(key);
    if (first) errors.push(new ConfigError('MW_CONFIG_DUPLICATE', '', `${typeShortName(r.typeUrl)} "${r.name}" is defined twice (first at ${first.location ?? file})`, r.location));
    else seen.set(key, r);
  }
  if (fast && errors.length) return undefined;
  if (errors.length) throw new ConfigErrors(errors);
  return out;
}

type Locate = (raw: unknown, key?: string | number, part?: 'key' | 'value') => string | undefined;

/** file:line:column of an offset in a document whose lines start at `lineStarts`, as parseConfigText writes
 *  them (before `shift`). */
function fastLocation(lineStarts: number[], file: string, offset: number | undefined): string | undefined {
  if (offset === undefined) return undefined;
  let lo = 0;
  let hi = lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return `${file}:${lo + 1}:${offset - lineStarts[lo]! + 1}`;
}

function starts(text: string): number[] {
  const out = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) out.push(i + 1);
  return out;
}
type Fail = (code: ErrorCode, path: string, reason: string, location: string | undefined) => void;

/** Validates one resource by encoding it; undefined (after reporting) when it is not valid. */
function packResource(raw: Record<string, unknown>, root: Record<string, unknown>, path: string, at: Locate, fail: Fail): Omit<FileResource, 'file' | 'json'> | undefined {
  const location = at(raw);
  const typeUrl = raw['@type'];
  if (typeof typeUrl !== 'string' || !SERVED_TYPES.has(typeUrl)) {
    const served = [...SERVED_TYPES].map(typeShortName).join(', ');
    fail('MW_CONFIG_INVALID', join(path, '@type'), `${JSON.stringify(typeUrl)} is not a type the control plane serves (${served})`, at(raw, '@type', 'value') ?? location);
    return undefined;
  }
  let any: Any;
  try {
    any = packAny(raw, typeUrl, path);
  } catch (err) {
    // packAny names the field path; the parsed text knows where that path was written: the key of an unknown
    // field, the value of a bad one.
    for (const e of asConfigErrors(err)) fail(e.code, e.path, reasonOf(e), e.location ?? locate(root, e.path, e.code === 'MW_CONFIG_UNKNOWN_FIELD' ? 'key' : 'value', at) ?? location);
    return undefined;
  }
  // The name as written: packAny accepted it, so it is a string in one of its two spellings (or absent).
  const name = resourceName(typeUrl, raw);
  if (!name) {
    const field = typeUrl === TYPE_URL.ENDPOINT ? 'cluster_name' : 'name';
    fail('MW_CONFIG_INVALID', join(path, field), `a ${typeShortName(typeUrl)} served over xDS needs a ${field}`, location);
    return undefined;
  }
  return { typeUrl, name, any, version: contentVersion(any), location };
}

/** A FileResource whose proto3 JSON (for config_dump) is decoded from its bytes when first asked for: kept for
 *  every resource, it was a quarter of the heap after loading 1,000 service files. */
class Parsed implements FileResource {
  constructor(
    readonly typeUrl: string,
    readonly name: string,
    readonly any: Any,
    readonly version: string,
    readonly file: string,
    readonly location: string | undefined,
  ) {}

  get json(): Record<string, unknown> {
    let json = decoded.get(this);
    if (!json) decoded.set(this, (json = unpackAny(this.any)));
    return json;
  }
}
const decoded = new WeakMap<Parsed, Record<string, unknown>>();

/**
 * file:line:column of a field path in a parsed document (as packAny names them:
 * 'filter_chains[0].filters[1].typed_config.stat_prefix', map keys as `metadata["key"]`): the deepest part of
 * the path that was written (its key or its value), trying both proto3 JSON spellings of each field.
 */
export function locate(root: unknown, path: string, part: 'key' | 'value' = 'key', at: Locate = rawLocation): string | undefined {
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
    const obj = node as Record<string, unknown>;
    const field = m[2] !== undefined ? (JSON.parse(m[2]) as string) : m[3]!;
    const key = [field, camel(field)].find((k) => Object.prototype.hasOwnProperty.call(obj, k));
    if (key === undefined) break;
    best = at(obj, key, part) ?? best;
    node = obj[key];
  }
  return best;
}

function asConfigErrors(err: unknown): ConfigError[] {
  if (err instanceof ConfigErrors) return err.errors;
  if (err instanceof ConfigError) return [err];
  throw err;
}

/** A ConfigError's reason without the location/path prefix its message carries. */
function reasonOf(e: ConfigError): string {
  const prefix = `${e.location ? e.location + ': ' : ''}${e.path ? e.path + ': ' : ''}`;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

const camel = (name: string) => name.replace(/_(.)/g, (_, c: string) => c.toUpperCase());
const join = (path: string, name: string) => (path ? `${path}.${name}` : name);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}` : `${typeof v} ${String(v)}`;
}
