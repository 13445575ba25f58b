// Envoy's substitution formatter: `%COMMAND(param):len%` operators inside a format string, shared by access
// logs, local replies and header mutations.
//
// Why it is shaped this way: a format string is parsed ONCE, at config time, into an array whose items are
// either literal text or a compiled operator (a closure that reads one field of StreamInfo). Per request the
// formatter only walks that array; no parsing, no regexes, no lookups by operator name.
//
// Output rules follow Envoy: in text, an unset or empty value prints "-" ("" with omit_empty_values); in JSON
// (SubstitutionFormatString.json_format, i.e. "typed" JSON) a value that is exactly one operator keeps its type:
// numbers stay numbers, unset is null, metadata structs stay objects. START_TIME is always a string.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';
import { formatResponseFlags, type StreamInfo, type TlsInfo } from '../stream-info.js';

export interface Formatter {
  format(info: StreamInfo): string;
}

export interface FormatOptions {
  /** Print "" instead of "-" for unset values (JSON: drop the key). */
  omitEmptyValues?: boolean;
  /** Config path used in error messages. */
  path?: string;
}

/** Envoy's default access log format (used when an access logger configures no format). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** Reads one value; `undefined` means "not set". Strings, numbers, booleans or JSON-able objects. */
type Getter = (info: StreamInfo) => unknown;

interface CompiledOperator {
  get: Getter;
  /** `:Z` truncation */
  max: number | undefined;
  /** `:Z` for typed JSON (Envoy ignores it for metadata there) */
  typedMax: number | undefined;
}

type Part = string | CompiledOperator;

// ---------------------------------------------------------------------------------------------------------
// Operator table. `params` mirrors Envoy's syntax checks: most operators take neither a parameter nor a length.

interface OperatorSpec {
  params: 'none' | 'optional' | 'required';
  length?: boolean;
  /** typed JSON renders the whole value, ignoring `:Z` */
  typedIgnoresLength?: boolean;
  make(param: string | undefined, path: string): Getter;
}

const simple = (get: Getter): OperatorSpec => ({ params: 'none', make: () => get });
const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);
const floorMs = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.floor(ms));

/** "1.2.3.4:80" | "[::1]:80" → host part; a string without a port is returned whole. */
function withoutPort(a: string | undefined): string | undefined {
  if (!a) return undefined;
  if (a[0] === '[') {
    const end = a.indexOf(']');
    return end > 0 ? a.slice(1, end) : a;
  }
  const i = a.indexOf(':');
  return i >= 0 && a.indexOf(':', i + 1) < 0 ? a.slice(0, i) : a;
}

function portOf(a: string | undefined): number | undefined {
  if (!a) return undefined;
  const i = a.lastIndexOf(':');
  if (i < 0 || (a[0] !== '[' && a.indexOf(':') !== i)) return undefined;
  const p = Number(a.slice(i + 1));
  return Number.isInteger(p) ? p : undefined;
}

const joinSans = (l: string[] | undefined): string | undefined => (l && l.length > 0 ? l.join(',') : undefined);

/** `X?Y` → header lookup with fallback, names lowercased once here. */
function headerOperator(which: (info: StreamInfo) => HeaderMap | undefined): OperatorSpec {
  return {
    params: 'required',
    length: true,
    make(param, path) {
      const names = param!.split('?').map((n) => n.trim().toLowerCase());
      if (names.length > 2 || names.some((n) => n === '')) {
        throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot parse header operator "(${param})": expected (HEADER) or (HEADER?ALTERNATIVE)`);
      }
      const [main, alt] = names as [string, string | undefined];
      if (alt === undefined) return (info) => which(info)?.get(main);
      return (info) => {
        const h = which(info);
        return h ? h.get(main) ?? h.get(alt) : undefined;
      };
    },
  };
}

const tls = (pick: (t: TlsInfo) => string | undefined, upstream = false): OperatorSpec =>
  simple((info) => {
    const t = upstream ? info.upstreamTls : info.downstreamTls;
    return t ? nonEmpty(pick(t)) : undefined;
  });

const OPERATORS: Record<string, OperatorSpec> = {
  START_TIME: { params: 'optional', make: (p) => startTimeGetter(p) },
  REQ: headerOperator((i) => i.requestHeaders),
  RESP: headerOperator((i) => i.responseHeaders),
  TRAILER: headerOperator((i) => i.responseTrailers),
  PROTOCOL: simple((i) => i.protocol),
  // Envoy prints 0 when no response was sent (the client went away first); TCP logs show 0 too.
  RESPONSE_CODE: simple((i) => i.responseCode ?? 0),
  RESPONSE_CODE_DETAILS: simple((i) => nonEmpty(i.responseCodeDetails)),
  CONNECTION_TERMINATION_DETAILS: simple((i) => nonEmpty(i.connectionTerminationDetails)),
  RESPONSE_FLAGS: simple((i) => formatResponseFlags(i.responseFlags)),
  RESPONSE_FLAGS_LONG: simple((i) => formatResponseFlags(i.responseFlags, true)),
  BYTES_RECEIVED: simple((i) => i.bytesReceived),
  BYTES_SENT: simple((i) => i.bytesSent),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: simple((i) => i.upstreamRequestAttemptCount),
  // Durations are whole milliseconds, truncated like Envoy's duration_cast.
  DURATION: simple((i) => Math.floor(i.duration())),
  REQUEST_DURATION: simple((i) => floorMs(i.lastDownstreamRxByteReceived)),
  REQUEST_TX_DURATION: simple((i) => floorMs(i.lastUpstreamTxByteSent)),
  RESPONSE_DURATION: simple((i) => floorMs(i.firstUpstreamRxByteReceived)),
  RESPONSE_TX_DURATION: simple((i) =>
    i.lastDownstreamTxByteSent === undefined || i.firstUpstreamRxByteReceived === undefined
      ? undefined
      : Math.floor(i.lastDownstreamTxByteSent - i.firstUpstreamRxByteReceived),
  ),
  UPSTREAM_HOST: simple((i) => nonEmpty(i.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS: simple((i) => nonEmpty(i.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: simple((i) => withoutPort(i.upstreamHost)),
  UPSTREAM_REMOTE_PORT: simple((i) => portOf(i.upstreamHost)),
  UPSTREAM_CLUSTER: simple((i) => nonEmpty(i.upstreamCluster)),
  UPSTREAM_LOCAL_ADDRESS: simple((i) => nonEmpty(i.upstreamLocalAddress)),
  UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: simple((i) => withoutPort(i.upstreamLocalAddress)),
  UPSTREAM_LOCAL_PORT: simple((i) => portOf(i.upstreamLocalAddress)),
  UPSTREAM_TRANSPORT_FAILURE_REASON: simple((i) => nonEmpty(i.upstreamTransportFailureReason)),
  DOWNSTREAM_REMOTE_ADDRESS: simple((i) => nonEmpty(i.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: simple((i) => withoutPort(i.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_PORT: simple((i) => portOf(i.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: simple((i) => nonEmpty(i.downstreamDirectRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: simple((i) => withoutPort(i.downstreamDirectRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_PORT: simple((i) => portOf(i.downstreamDirectRemoteAddress)),
  DOWNSTREAM_LOCAL_ADDRESS: simple((i) => nonEmpty(i.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: simple((i) => withoutPort(i.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_PORT: simple((i) => portOf(i.downstreamLocalAddress)),
  REQUESTED_SERVER_NAME: simple((i) => nonEmpty(i.requestedServerName ?? i.downstreamTls?.sni)),
  ROUTE_NAME: simple((i) => nonEmpty(i.routeName)),
  VIRTUAL_CLUSTER_NAME: simple((i) => nonEmpty(i.virtualClusterName)),
  CONNECTION_ID: simple((i) => i.connectionId),
  HOSTNAME: { params: 'none', make: () => { const h = hostname(); return () => h; } },
  DOWNSTREAM_PEER_URI_SAN: tls((t) => joinSans(t.peerUriSan)),
  DOWNSTREAM_PEER_DNS_SAN: tls((t) => joinSans(t.peerDnsSan)),
  DOWNSTREAM_PEER_SUBJECT: tls((t) => t.peerSubject),
  DOWNSTREAM_LOCAL_URI_SAN: tls((t) => joinSans(t.localUriSan)),
  DOWNSTREAM_LOCAL_SUBJECT: tls((t) => t.localSubject),
  DOWNSTREAM_TLS_VERSION: tls((t) => t.version),
  DOWNSTREAM_TLS_CIPHER: tls((t) => t.cipher),
  DOWNSTREAM_PEER_FINGERPRINT_256: tls((t) => t.peerFingerprint256),
  DOWNSTREAM_PEER_SERIAL: tls((t) => t.peerSerial),
  UPSTREAM_PEER_URI_SAN: tls((t) => joinSans(t.peerUriSan), true),
  UPSTREAM_PEER_SUBJECT: tls((t) => t.peerSubject, true),
  UPSTREAM_TLS_VERSION: tls((t) => t.version, true),
  UPSTREAM_TLS_CIPHER: tls((t) => t.cipher, true),
  DYNAMIC_METADATA: { params: 'required', length: true, typedIgnoresLength: true, make: (p) => metadataGetter(p!) },
  // Envoy reads the environment once, when the format is compiled.
  ENVIRONMENT: {
    params: 'required',
    length: true,
    make: (p) => {
      const v = nonEmpty(process.env[p!]);
      return () => v;
    },
  },
  // Meshwork convenience (not an Envoy operator): the router's x-envoy-upstream-service-time as a number.
  UPSTREAM_SERVICE_TIME: simple((i) => {
    const v = i.responseHeaders?.get('x-envoy-upstream-service-time');
    if (v === undefined || v === '') return undefined;
    return /^\d+$/.test(v) ? Number(v) : v;
  }),
};

// Envoy operators that exist but Meshwork does not implement: say so instead of "unknown".
const UNSUPPORTED = new Set([
  'REQUEST_HEADERS_BYTES', 'RESPONSE_HEADERS_BYTES', 'RESPONSE_TRAILERS_BYTES', 'UPSTREAM_PROTOCOL',
  'UPSTREAM_WIRE_BYTES_SENT', 'UPSTREAM_WIRE_BYTES_RECEIVED', 'UPSTREAM_HEADER_BYTES_SENT',
  'UPSTREAM_HEADER_BYTES_RECEIVED', 'DOWNSTREAM_WIRE_BYTES_SENT', 'DOWNSTREAM_WIRE_BYTES_RECEIVED',
  'DOWNSTREAM_HEADER_BYTES_SENT', 'DOWNSTREAM_HEADER_BYTES_RECEIVED', 'GRPC_STATUS', 'GRPC_STATUS_NUMBER',
  'CLUSTER_METADATA', 'UPSTREAM_METADATA', 'FILTER_STATE', 'UPSTREAM_FILTER_STATE', 'DOWNSTREAM_PEER_ISSUER',
  'DOWNSTREAM_TLS_SESSION_ID', 'DOWNSTREAM_PEER_FINGERPRINT_1', 'DOWNSTREAM_PEER_CERT',
  'DOWNSTREAM_PEER_CERT_V_START', 'DOWNSTREAM_PEER_CERT_V_END', 'UPSTREAM_PEER_ISSUER', 'UPSTREAM_TLS_SESSION_ID',
  'UPSTREAM_PEER_CERT', 'UPSTREAM_PEER_CERT_V_START', 'UPSTREAM_PEER_CERT_V_END', 'LOCAL_REPLY_BODY',
  'FILTER_CHAIN_NAME', 'STREAM_ID', 'UNIQUE_ID', 'REQ_WITHOUT_QUERY', 'METADATA', 'CEL',
]);

/** `ns:key:nested` → the value at that path of the stream's dynamic metadata. */
function metadataGetter(param: string): Getter {
  const [ns, ...keys] = param.split(':');
  return (info) => {
    let v: unknown = info.dynamicMetadata?.[ns!];
    for (const k of keys) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v === null ? undefined : v;
  };
}

// ---------------------------------------------------------------------------------------------------------
// START_TIME: strftime in UTC (as Envoy formats it), plus Envoy's %s and %f / %1f..%9f.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const p3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));
const dayOfYear = (d: Date): number => Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
const hour12 = (d: Date): number => d.getUTCHours() % 12 || 12;

type DatePart = (d: Date, ms: number) => string;

const STRFTIME: Record<string, DatePart> = {
  Y: (d) => String(d.getUTCFullYear()),
  C: (d) => p2(Math.floor(d.getUTCFullYear() / 100)),
  y: (d) => p2(d.getUTCFullYear() % 100),
  m: (d) => p2(d.getUTCMonth() + 1),
  d: (d) => p2(d.getUTCDate()),
  e: (d) => String(d.getUTCDate()).padStart(2, ' '),
  H: (d) => p2(d.getUTCHours()),
  I: (d) => p2(hour12(d)),
  M: (d) => p2(d.getUTCMinutes()),
  S: (d) => p2(d.getUTCSeconds()),
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  j: (d) => p3(dayOfYear(d)),
  a: (d) => DAYS[d.getUTCDay()]!.slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()]!,
  b: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  h: (d) => MONTHS[d.getUTCMonth()]!.slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()]!,
  u: (d) => String(d.getUTCDay() || 7),
  w: (d) => String(d.getUTCDay()),
  F: (d) => `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`,
  T: (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`,
  R: (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`,
  D: (d) => `${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)}`,
  r: (d) => `${p2(hour12(d))}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`,
  z: () => '+0000',
  Z: () => 'UTC',
  n: () => '\n',
  t: () => '\t',
  '%': () => '%',
  s: (_d, ms) => String(Math.floor(ms / 1000)),
};

/** Fractional seconds with `digits` digits. StreamInfo keeps wall time in ms, so digits past 3 are zeros. */
function fraction(digits: number): DatePart {
  return (_d, ms) => {
    const frac = p3(((Math.floor(ms) % 1000) + 1000) % 1000);
    return digits <= 3 ? frac.slice(0, digits) : frac.padEnd(digits, '0');
  };
}

/** Compile a strftime-style pattern once; the result formats an epoch-ms time. Unknown specifiers stay literal. */
export function compileStrftime(fmt: string): (ms: number) => string {
  const parts: (string | DatePart)[] = [];
  let lit = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%' || i === fmt.length - 1) {
      lit += c;
      continue;
    }
    const next = fmt[i + 1]!;
    let part: DatePart | undefined;
    if (next >= '1' && next <= '9' && fmt[i + 2] === 'f') {
      part = fraction(Number(next));
      i += 2;
    } else if (next === 'f') {
      part = fraction(9);
      i += 1;
    } else if ((part = STRFTIME[next])) {
      i += 1;
    } else {
      lit += c;
      continue;
    }
    if (lit) parts.push(lit);
    lit = '';
    parts.push(part);
  }
  if (lit) parts.push(lit);
  return (ms) => {
    const d = new Date(ms);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(d, ms);
    return out;
  };
}

// Date#toISOString costs a Date and a full formatting per access-log line (~2% of a proxied request). Requests
// of the same second share everything up to the milliseconds, so that prefix is formatted once per second.
let isoSecond = -1;
let isoPrefix = '';
export function isoTime(t: number): string {
  const ms = Math.floor(t);
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    const full = new Date(sec * 1000).toISOString(); // 2026-12-02T04:39:26.000Z
    // years outside 0000–9999 are formatted with a sign and 6 digits: not worth a cache
    if (full.length !== 24) return new Date(ms).toISOString();
    isoSecond = sec;
    isoPrefix = full.slice(0, 20);
  }
  const m = ms - sec * 1000;
  return isoPrefix + (m < 10 ? '00' : m < 100 ? '0' : '') + m + 'Z';
}

function startTimeGetter(fmt: string | undefined): Getter {
  // Default is RFC 3339 with milliseconds in UTC, which is exactly Date#toISOString.
  if (!fmt) return (info) => isoTime(info.startTime);
  const render = compileStrftime(fmt);
  return (info) => render(info.startTime);
}

// ---------------------------------------------------------------------------------------------------------
// Parsing

// Envoy's command grammar: %NAME%, %NAME(param)%, %NAME(param):len%, %NAME:len%
const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y;

function parseFormat(fmt: string, path: string): Part[] {
  if (typeof fmt !== 'string') throw new ConfigError('MW_CONFIG_INVALID', path, 'Cannot compile format: expected a string');
  const parts: Part[] = [];
  let lit = '';
  let i = 0;
  while (i < fmt.length) {
    const pct = fmt.indexOf('%', i);
    if (pct < 0) {
      lit += fmt.slice(i);
      break;
    }
    lit += fmt.slice(i, pct);
    if (fmt[pct + 1] === '%') {
      lit += '%';
      i = pct + 2;
      continue;
    }
    COMMAND.lastIndex = pct;
    const m = COMMAND.exec(fmt);
    if (!m) {
      throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot parse format string ${JSON.stringify(fmt)}: no valid command operator at position ${pct} (write %% for a literal %)`);
    }
    const [, name, param, len] = m as unknown as [string, string, string | undefined, string | undefined];
    const spec = OPERATORS[name];
    if (!spec) {
      const code = UNSUPPORTED.has(name) ? 'MW_CONFIG_UNSUPPORTED' : 'MW_CONFIG_INVALID';
      const why = code === 'MW_CONFIG_UNSUPPORTED' ? 'Meshwork does not implement this Envoy command operator' : 'unknown command operator';
      throw new ConfigError(code, path, `Cannot compile format string: ${why} "%${name}%"`);
    }
    if (spec.params === 'none' && param !== undefined) {
      throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot compile format string: %${name}% takes no parameter`);
    }
    if (spec.params === 'required' && !param) {
      throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot compile format string: %${name}(...)% needs a parameter`);
    }
    if (len !== undefined && !spec.length) {
      throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot compile format string: %${name}% does not accept a length (:${len})`);
    }
    if (lit) parts.push(lit);
    lit = '';
    const max = len === undefined ? undefined : Number(len);
    parts.push({ get: spec.make(param, path), max, typedMax: spec.typedIgnoresLength ? undefined : max });
    i = pct + m[0].length;
  }
  if (lit) parts.push(lit);
  return parts;
}

function textOf(v: unknown, max: number | undefined, empty: string): string {
  if (v === undefined || v === null || v === '') return empty;
  const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return max !== undefined && s.length > max ? s.slice(0, max) : s;
}

class TextFormatter implements Formatter {
  constructor(
    private readonly parts: readonly Part[],
    private readonly empty: string,
  ) {}

  format(info: StreamInfo): string {
    let out = '';
    for (const p of this.parts) out += typeof p === 'string' ? p : textOf(p.get(info), p.max, this.empty);
    return out;
  }
}

/** Compile once at config time; `format` runs per request. Throws ConfigError on an unknown operator. */
export function compileFormatString(fmt: string, opts?: FormatOptions): Formatter {
  const parts = parseFormat(fmt, opts?.path ?? '');
  if (parts.length === 0) return { format: () => '' };
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const constant = parts[0];
    return { format: () => constant };
  }
  return new TextFormatter(parts, opts?.omitEmptyValues ? '' : '-');
}

// ---------------------------------------------------------------------------------------------------------
// JSON (format dictionaries)

export interface JsonFormatOptions extends FormatOptions {
  /** false: every value renders as a string, like the deprecated FileAccessLog.json_format. Default true. */
  typed?: boolean;
  /** json_format_options.sort_properties */
  sortProperties?: boolean;
}

/** Renders one JSON value, or undefined when omit_empty_values drops it. */
type JsonNode = (info: StreamInfo) => string | undefined;

function compileJsonNode(v: unknown, path: string, o: JsonFormatOptions): JsonNode {
  const omit = o.omitEmptyValues === true;
  if (typeof v === 'string') {
    const parts = parseFormat(v, path);
    const only = parts.length === 1 ? parts[0] : undefined;
    if (o.typed !== false && only !== undefined && typeof only !== 'string') {
      const { get, typedMax: max } = only;
      return (info) => {
        const x = get(info);
        if (x === undefined || x === null) return omit ? undefined : 'null';
        if (typeof x === 'string') {
          if (x === '' && omit) return undefined;
          return JSON.stringify(max !== undefined && x.length > max ? x.slice(0, max) : x);
        }
        if (typeof x === 'number') return Number.isFinite(x) ? String(x) : 'null';
        return JSON.stringify(x); // booleans and metadata structs keep their shape
      };
    }
    const text = parts.length === 0 ? { format: () => '' } : new TextFormatter(parts, omit ? '' : '-');
    return (info) => {
      const s = text.format(info);
      return s === '' && omit ? undefined : JSON.stringify(s);
    };
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
    const constant = JSON.stringify(v);
    return () => constant;
  }
  if (Array.isArray(v)) {
    const items = v.map((x, i) => compileJsonNode(x, `${path}[${i}]`, o));
    return (info) => {
      let out = '';
      for (const item of items) {
        const s = item(info);
        if (s !== undefined) out += (out ? ',' : '') + s;
      }
      return `[${out}]`;
    };
  }
  if (typeof v === 'object') {
    let keys = Object.keys(v as object);
    if (o.sortProperties) keys = keys.sort();
    const prefixes = keys.map((k) => JSON.stringify(k) + ':');
    const values = keys.map((k) => compileJsonNode((v as Record<string, unknown>)[k], `${path}.${k}`, o));
    return (info) => {
      let out = '';
      for (let i = 0; i < values.length; i++) {
        const s = values[i]!(info);
        if (s !== undefined) out += (out ? ',' : '') + prefixes[i] + s;
      }
      return out === '' && omit && keys.length > 0 ? undefined : `{${out}}`;
    };
  }
  throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot compile json_format: unsupported value of type ${typeof v}`);
}

/** Compile a format dictionary (json_format): each string value is a format string; output is one JSON line. */
export function compileJsonFormat(obj: Record<string, unknown>, opts?: JsonFormatOptions): Formatter {
  const path = opts?.path ?? 'json_format';
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ConfigError('MW_CONFIG_INVALID', path, 'Cannot compile json_format: expected an object');
  }
  const root = compileJsonNode(obj, path, opts ?? {});
  return { format: (info) => (root(info) ?? '{}') + '\n' };
}

// ---------------------------------------------------------------------------------------------------------
// envoy.config.core.v3.SubstitutionFormatString

export interface SubstitutionFormatter extends Formatter {
  readonly contentType: string;
}

/** Text of a decoded envoy.config.core.v3.DataSource, read once at config time. */
function dataSourceText(ds: Record<string, unknown>, path: string): string {
  if (typeof ds.inline_string === 'string') return ds.inline_string;
  if (Buffer.isBuffer(ds.inline_bytes)) return ds.inline_bytes.toString('utf8');
  if (typeof ds.filename === 'string') {
    try {
      return readFileSync(ds.filename, 'utf8');
    } catch (err) {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}.filename`, `Cannot read "${ds.filename}": ${(err as Error).message}`);
    }
  }
  if (typeof ds.environment_variable === 'string') {
    const v = process.env[ds.environment_variable];
    if (v === undefined) throw new ConfigError('MW_CONFIG_INVALID', `${path}.environment_variable`, `Cannot read environment variable "${ds.environment_variable}": not set`);
    return v;
  }
  throw new ConfigError('MW_CONFIG_INVALID', path, 'Cannot read data source: none of inline_string, inline_bytes, filename, environment_variable is set');
}

/** Compile a decoded SubstitutionFormatString (text_format | text_format_source | json_format + options). */
export function compileSubstitutionFormat(sfs: Record<string, any>, path: string): SubstitutionFormatter {
  if (Array.isArray(sfs.formatters) && sfs.formatters.length > 0) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.formatters`, 'Cannot compile format: formatter extensions are not implemented');
  }
  const set = ['text_format', 'text_format_source', 'json_format'].filter((k) => sfs[k] !== undefined);
  if (set.length !== 1) {
    throw new ConfigError('MW_CONFIG_INVALID', path, `Cannot compile format: exactly one of text_format, text_format_source, json_format must be set (got ${set.length ? set.join(', ') : 'none'})`);
  }
  const omitEmptyValues = sfs.omit_empty_values === true;
  if (sfs.json_format !== undefined) {
    const f = compileJsonFormat(sfs.json_format, {
      path: `${path}.json_format`,
      omitEmptyValues,
      sortProperties: sfs.json_format_options?.sort_properties === true,
    });
    return { format: (i) => f.format(i), contentType: sfs.content_type || 'application/json' };
  }
  const text =
    sfs.text_format !== undefined ? sfs.text_format : dataSourceText(sfs.text_format_source, `${path}.text_format_source`);
  const f = compileFormatString(text, { omitEmptyValues, path: `${path}.${set[0]}` });
  return { format: (i) => f.format(i), contentType: sfs.content_type || 'text/plain' };
}
