// Filter chain selection: which of a listener's filter_chains serves a new connection, with Envoy's exact
// FilterChainMatch semantics (filter_chain_manager_impl.cc). The chains are compiled once into a tree with
// one level per criterion, in Envoy's order:
//
//   destination_port → destination IP (prefix_ranges) → server_names → transport_protocol →
//   application_protocols → direct source IP → source_type → source IP → source_ports
//
// At each level the connection descends into the MOST SPECIFIC branch that exists (exact port, longest
// prefix, exact server name then the longest wildcard suffix, ...; a chain that leaves the criterion unset
// sits in the catch-all branch) and never comes back up: if that branch fails further down, the connection
// gets the default_filter_chain (or none), not a less specific sibling. That is what Envoy does, and it is
// what makes the outcome independent of the order in which chains are listed.
import net from 'node:net';
import { ConfigError } from '../../common/errors.js';

// The subset of the decoded Listener / FilterChain the matcher reads (field names as in the v3 protos).
export interface CidrRangeConfig {
  address_prefix?: string;
  prefix_len?: number;
}
export interface FilterChainMatchConfig {
  destination_port?: number;
  prefix_ranges?: CidrRangeConfig[];
  address_suffix?: string;
  suffix_len?: number;
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
  direct_source_prefix_ranges?: CidrRangeConfig[];
  source_type?: 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';
  source_prefix_ranges?: CidrRangeConfig[];
  source_ports?: number[];
}
export interface FilterChainConfig {
  name?: string;
  filter_chain_match?: FilterChainMatchConfig;
  [field: string]: unknown;
}
export interface ListenerChainsConfig {
  name?: string;
  filter_chains?: FilterChainConfig[];
  default_filter_chain?: FilterChainConfig;
  filter_chain_matcher?: unknown;
}

/** What the listener knows about a new connection once its listener filters have run. */
export interface FilterChainMatchContext {
  destinationPort: number;
  destinationIp?: string;
  /** SNI from the tls_inspector (matched case-insensitively) */
  serverName?: string;
  /** 'tls' from the tls_inspector, else 'raw_buffer' (Envoy's default when nothing detected one) */
  transportProtocol: string;
  /** ALPN from the tls_inspector or the protocol from the http_inspector, in the client's preference order */
  applicationProtocols: readonly string[];
  /** the address after proxy_protocol / original_src rewrote it; defaults to directSourceIp */
  sourceIp?: string;
  /** the peer actually connected to the socket; defaults to sourceIp */
  directSourceIp?: string;
  sourcePort?: number;
}

export interface FilterChainMatcher<T> {
  /** the chain for this connection, the default chain when none matches, or null (Envoy closes the connection) */
  select(ctx: FilterChainMatchContext): T | null;
  /** some chain matches on SNI, transport protocol or ALPN, which only the tls_inspector can supply */
  needsTlsInspection: boolean;
  /** some chain matches a plaintext application protocol (http/1.0, http/1.1, h2c) that the http_inspector supplies */
  needsHttpInspection: boolean;
}

/** An IP address as bytes: 4 for IPv4 (IPv4-mapped IPv6 included), 16 for IPv6. */
type IpBytes = Uint8Array;

interface Conn {
  port: number;
  dst: IpBytes | undefined;
  sni: string;
  transport: string;
  alpn: readonly string[];
  directSrc: IpBytes | undefined;
  src: IpBytes | undefined;
  srcPort: number;
  local: boolean | undefined; // SAME_IP_OR_LOOPBACK, computed on first need
}

interface Range {
  bytes: IpBytes;
  len: number;
  kid: Branch | number;
}

/** One level of the tree: the criterion's values ('' = left unset by the chain) to the next level. */
class Branch {
  readonly kids = new Map<string, Branch | number>();
  /** for IP levels: the kids as ranges, longest prefix first */
  ranges: Range[] | undefined;
}

interface Level {
  /** the values a chain's match contributes at this level; '' for unset (catch-all) */
  keys(m: FilterChainMatchConfig, path: string): string[];
  /** the single most specific kid this connection descends into */
  pick(b: Branch, c: Conn): Branch | number | undefined;
  /** IP levels compile their keys into ranges */
  cidr?: true;
}

const LEVELS: Level[] = [
  {
    // destination_port: exact, else the chains without one (Envoy keys those as port 0)
    keys: (m) => [String(m.destination_port ?? 0)],
    pick: (b, c) => b.kids.get(String(c.port)) ?? b.kids.get('0'),
  },
  {
    keys: (m, path) => cidrKeys(m.prefix_ranges, `${path}.prefix_ranges`),
    pick: (b, c) => longestPrefix(b, c.dst),
    cidr: true,
  },
  {
    keys: (m, path) => serverNameKeys(m.server_names, `${path}.server_names`),
    pick: (b, c) => {
      const exact = c.sni === '' ? undefined : b.kids.get(c.sni);
      if (exact !== undefined) return exact;
      // "*.example.com" is stored as ".example.com"; try every suffix from the longest: for a.b.example.com
      // that is .b.example.com, .example.com, .com
      for (let i = c.sni.indexOf('.', 1); i !== -1 && i < c.sni.length - 1; i = c.sni.indexOf('.', i + 1)) {
        const wild = b.kids.get(c.sni.slice(i));
        if (wild !== undefined) return wild;
      }
      return b.kids.get('');
    },
  },
  {
    keys: (m) => [m.transport_protocol ?? ''],
    pick: (b, c) => b.kids.get(c.transport) ?? b.kids.get(''),
  },
  {
    keys: (m) => (m.application_protocols?.length ? [...m.application_protocols] : ['']),
    pick: (b, c) => {
      // the client's first protocol that some chain names wins
      for (const p of c.alpn) {
        const k = b.kids.get(p);
        if (k !== undefined) return k;
      }
      return b.kids.get('');
    },
  },
  {
    keys: (m, path) => cidrKeys(m.direct_source_prefix_ranges, `${path}.direct_source_prefix_ranges`),
    pick: (b, c) => longestPrefix(b, c.directSrc),
    cidr: true,
  },
  {
    keys: (m) => [m.source_type ?? 'ANY'],
    pick: (b, c) => {
      const local = b.kids.get('SAME_IP_OR_LOOPBACK');
      const external = b.kids.get('EXTERNAL');
      if (local !== undefined || external !== undefined) {
        c.local ??= isSameIpOrLoopback(c.src, c.dst);
        const k = c.local ? local : external;
        if (k !== undefined) return k;
      }
      return b.kids.get('ANY');
    },
  },
  {
    keys: (m, path) => cidrKeys(m.source_prefix_ranges, `${path}.source_prefix_ranges`),
    pick: (b, c) => longestPrefix(b, c.src),
    cidr: true,
  },
  {
    keys: (m) => (m.source_ports?.length ? m.source_ports.map(String) : ['0']),
    pick: (b, c) => b.kids.get(String(c.srcPort)) ?? (c.srcPort !== 0 ? b.kids.get('0') : undefined),
  },
];

/**
 * Compiles a listener's filter chains into a matcher. `build` turns each chain (and the default chain) into
 * whatever the listener runs for it, once; `select` only walks the precompiled tree. Throws ConfigError for
 * rules Envoy rejects: overlapping matches, partial wildcards, bad CIDRs, unimplemented fields.
 */
export function compileFilterChains<T>(
  listener: ListenerChainsConfig,
  build: (fc: FilterChainConfig, path: string) => T,
  path = 'listener',
): FilterChainMatcher<T> {
  if (listener.filter_chain_matcher !== undefined) {
    throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${path}.filter_chain_matcher`, 'the unified matcher for filter chains is not supported; use filter_chain_match');
  }
  const chains = listener.filter_chains ?? [];
  if (chains.length === 0 && !listener.default_filter_chain) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.filter_chains`, 'no filter chains specified');
  }

  const root = new Branch();
  const canon: string[] = [];
  let needsTlsInspection = false;
  let needsHttpInspection = false;
  chains.forEach((fc, i) => {
    const fcPath = `${path}.filter_chains[${i}]`;
    const m = fc.filter_chain_match ?? {};
    const mPath = `${fcPath}.filter_chain_match`;
    if (m.address_suffix || m.suffix_len !== undefined) {
      throw new ConfigError('MW_CONFIG_UNSUPPORTED', mPath, 'address_suffix and suffix_len are not implemented (by Envoy either)');
    }
    const keys = LEVELS.map((l) => l.keys(m, mPath));
    canon.push(JSON.stringify(keys));
    insert(root, 0, keys, i, (other) => {
      const reason =
        other === i
          ? 'the filter chain match lists the same value twice'
          : canon[other] === canon[i]
            ? `filter chain has the same matching rules defined as filter_chains[${other}]`
            : `multiple filter chains with overlapping matching rules are defined (filter_chains[${other}] and filter_chains[${i}])`;
      return new ConfigError('MW_CONFIG_INVALID', mPath, reason);
    });
    const ap = m.application_protocols ?? [];
    if (m.server_names?.length || m.transport_protocol === 'tls' || (ap.length && m.transport_protocol !== 'raw_buffer')) needsTlsInspection = true;
    if (m.transport_protocol !== 'tls' && ap.some((p) => p === 'http/1.0' || p === 'http/1.1' || p === 'h2c')) needsHttpInspection = true;
  });
  compileRanges(root, 0);

  const built = chains.map((fc, i) => build(fc, `${path}.filter_chains[${i}]`));
  const fallback = listener.default_filter_chain ? build(listener.default_filter_chain, `${path}.default_filter_chain`) : null;

  return {
    needsTlsInspection,
    needsHttpInspection,
    select(ctx) {
      const directSrc = parseIp(ctx.directSourceIp ?? ctx.sourceIp, true);
      const c: Conn = {
        port: ctx.destinationPort,
        dst: parseIp(ctx.destinationIp, true),
        sni: ctx.serverName ? ctx.serverName.toLowerCase() : '',
        transport: ctx.transportProtocol,
        alpn: ctx.applicationProtocols,
        directSrc,
        src: ctx.sourceIp === undefined ? directSrc : parseIp(ctx.sourceIp, true),
        srcPort: ctx.sourcePort ?? 0,
        local: undefined,
      };
      let node: Branch | number | undefined = root;
      for (const level of LEVELS) {
        node = level.pick(node as Branch, c);
        if (node === undefined) return fallback;
      }
      return built[node as number];
    },
  };
}

function insert(b: Branch, depth: number, keys: string[][], chain: number, clash: (other: number) => ConfigError): void {
  const last = depth === LEVELS.length - 1;
  for (const k of keys[depth]) {
    const kid = b.kids.get(k);
    if (last) {
      if (kid !== undefined) throw clash(kid as number);
      b.kids.set(k, chain);
      continue;
    }
    let next = kid as Branch | undefined;
    if (!next) b.kids.set(k, (next = new Branch()));
    insert(next, depth + 1, keys, chain, clash);
  }
}

function compileRanges(b: Branch, depth: number): void {
  if (LEVELS[depth].cidr) {
    const ranges: Range[] = [];
    for (const [key, kid] of b.kids) {
      if (key === '') {
        // an unset criterion is 0.0.0.0/0 and ::/0
        ranges.push({ bytes: new Uint8Array(4), len: 0, kid }, { bytes: new Uint8Array(16), len: 0, kid });
      } else {
        const [addr, len] = key.split('/');
        ranges.push({ bytes: parseIp(addr, false)!, len: Number(len), kid });
      }
    }
    b.ranges = ranges.sort((x, y) => y.len - x.len);
  }
  if (depth < LEVELS.length - 1) for (const kid of b.kids.values()) compileRanges(kid as Branch, depth + 1);
}

function longestPrefix(b: Branch, ip: IpBytes | undefined): Branch | number | undefined {
  // Without an IP address (a pipe, an internal listener) only the catch-all branch can match.
  if (!ip) return b.kids.get('');
  for (const r of b.ranges!) if (inRange(ip, r.bytes, r.len)) return r.kid;
  return undefined;
}

function inRange(ip: IpBytes, net: IpBytes, len: number): boolean {
  if (ip.length !== net.length) return false;
  const whole = len >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== net[i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole] & mask) === (net[whole] & mask);
}

/** Normalized "address/len" keys (host bits cleared, so 10.1.2.3/8 and 10.0.0.0/8 are the same rule). */
function cidrKeys(ranges: CidrRangeConfig[] | undefined, path: string): string[] {
  if (!ranges?.length) return [''];
  return ranges.map((r, i) => {
    const ip = parseIp(r.address_prefix, false);
    if (!ip) throw new ConfigError('MW_CONFIG_INVALID', `${path}[${i}].address_prefix`, `Cannot parse "${r.address_prefix ?? ''}": not an IP address`);
    const len = r.prefix_len ?? 0;
    if (!Number.isInteger(len) || len < 0 || len > ip.length * 8) {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}[${i}].prefix_len`, `prefix length ${len} is out of range for ${r.address_prefix}`);
    }
    const masked = ip.map((byte, j) => (j * 8 >= len ? 0 : j * 8 + 8 <= len ? byte : byte & ((0xff << (8 - (len - j * 8))) & 0xff)));
    return `${formatIp(masked)}/${len}`;
  });
}

function serverNameKeys(names: string[] | undefined, path: string): string[] {
  if (!names?.length) return [''];
  return names.map((n, i) => {
    const name = n.toLowerCase();
    if (name.includes('*') && !name.startsWith('*.')) {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}[${i}]`, `partial wildcards are not supported in server_names: "${n}"`);
    }
    // "*.example.com" matches any name ending in ".example.com" (any number of labels), like Envoy
    return name.startsWith('*.') ? name.slice(1) : name;
  });
}

function isSameIpOrLoopback(src: IpBytes | undefined, dst: IpBytes | undefined): boolean {
  if (!src) return false;
  if (src.length === 4 && src[0] === 127) return true;
  if (src.length === 16 && src.every((byte, i) => byte === (i === 15 ? 1 : 0))) return true;
  return dst !== undefined && dst.length === src.length && dst.every((byte, i) => byte === src[i]);
}

/**
 * Parses an IPv4 or IPv6 address (a %zone is dropped). With `unmap`, an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, what a dual-stack socket reports for IPv4 peers) becomes IPv4, so IPv4 ranges match it.
 */
function parseIp(s: string | undefined, unmap: boolean): IpBytes | undefined {
  if (!s) return undefined;
  if (net.isIPv4(s)) return Uint8Array.from(s.split('.'), Number);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (!net.isIPv6(s)) return undefined;
  const words = (part: string): number[] => {
    const out: number[] = [];
    for (const g of part === '' ? [] : part.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = s.indexOf('::');
  const head = words(gap >= 0 ? s.slice(0, gap) : s);
  const tail = gap >= 0 ? words(s.slice(gap + 2)) : [];
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  if (unmap && bytes[10] === 0xff && bytes[11] === 0xff && bytes.subarray(0, 10).every((x) => x === 0)) return bytes.slice(12);
  return bytes;
}

function formatIp(b: IpBytes): string {
  if (b.length === 4) return b.join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i] << 8) | b[i + 1]).toString(16));
  return words.join(':');
}
