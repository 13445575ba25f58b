// RBAC permissions and principals (envoy.config.rbac.v3.Permission / Principal), compiled once into closures,
// with the semantics of Envoy's source/extensions/filters/common/rbac/matchers.cc:
//  - and_rules / and_ids: every entry matches; or_rules / or_ids: some entry matches; not_rule / not_id: negation;
//  - header: Envoy's HeaderMatcher on the request headers (several values of one header are joined with ',');
//    on a connection (the network filter) the header map is empty;
//  - url_path: the PathMatcher on :path without query and fragment (the path the HCM normalized); no :path
//    (a connection, CONNECT) never matches;
//  - destination_ip / destination_port / destination_port_range: the downstream local address;
//  - requested_server_name: the SNI ("" when there is none);
//  - source_ip: the connection's peer, direct_remote_ip: the socket peer, remote_ip: the client address after
//    x-forwarded-for processing (use_remote_address / xff_num_trusted_hops);
//  - authenticated: a TLS connection; with principal_name, the peer certificate's URI SANs, then its DNS SANs,
//    then its subject (RFC 2253) — the first that matches wins, the subject is always tried last;
//  - metadata: a MetadataMatcher on the stream's dynamic metadata (metadata-matcher.ts), e.g. the JWT payload
//    jwt_authn wrote (payload_in_metadata); a connection (the network filter) has none, so only an inverted
//    matcher matches there.
// What needs machinery Meshwork does not have (filter_state, matcher and uri_template extensions) is rejected
// when the config is loaded, never ignored: an ignored rule could turn a DENY into an ALLOW.
import net from 'node:net';
import { ConfigError } from '../../../../common/errors.js';
import { HeaderMap } from '../../../http/headers.js';
import { ipOf } from '../../../http/standard-headers.js';
import {
  compileHeaderMatcher,
  compileStringMatcher,
  oneOf,
  removeQueryAndFragment,
  type HeaderMatcherConfig,
  type StringMatcherConfig,
} from '../../../router/matchers.js';
import type { TlsInfo } from '../../../stream-info.js';
import { compileMetadataMatcher, type DynamicMetadata } from './metadata-matcher.js';

/**
 * What a rule can look at besides the headers. StreamInfo has exactly these fields, so the HTTP filter passes
 * the stream's info as it is (no per-request object); the network filter builds one per connection.
 */
export interface RbacConnection {
  /** the socket peer, "ip:port" */
  readonly downstreamDirectRemoteAddress: string;
  /** the client address after x-forwarded-for processing (the socket peer on a connection) */
  readonly downstreamRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly requestedServerName: string | undefined;
  /** set on TLS connections; the peer certificate's SANs and subject were read once, at the handshake */
  readonly downstreamTls: TlsInfo | undefined;
  /** the stream's dynamic metadata (StreamInfo's); absent on a connection */
  readonly dynamicMetadata?: DynamicMetadata;
}

/** A compiled permission or principal. `headers` is an empty map on a connection. */
export type RbacMatcher = (headers: HeaderMap, conn: RbacConnection) => boolean;

/** The header map a connection-level check sees (Envoy passes an empty request header map). */
export const NO_HEADERS: HeaderMap = new HeaderMap();

const invalid = (path: string, reason: string) => new ConfigError('MW_CONFIG_INVALID', path, reason);
const unsupported = (path: string, reason: string) => new ConfigError('MW_CONFIG_UNSUPPORTED', path, reason);

const ALWAYS: RbacMatcher = () => true;

const PERMISSION_RULES = [
  'and_rules', 'or_rules', 'any', 'header', 'url_path', 'destination_ip', 'destination_port', 'destination_port_range',
  'metadata', 'not_rule', 'requested_server_name', 'matcher', 'uri_template',
] as const;

const PRINCIPAL_IDS = [
  'and_ids', 'or_ids', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'url_path',
  'metadata', 'filter_state', 'not_id',
] as const;

/** Compile an envoy.config.rbac.v3.Permission. */
export function compilePermission(p: any, path: string): RbacMatcher {
  if (p === null || typeof p !== 'object') throw invalid(path, 'a permission must be a message');
  const which = oneOf(p, PERMISSION_RULES, path, true)!;
  const at = `${path}.${which}`;
  switch (which) {
    case 'and_rules':
      return allOf(set(p.and_rules?.rules, `${at}.rules`).map((r, i) => compilePermission(r, `${at}.rules[${i}]`)));
    case 'or_rules':
      return anyOf(set(p.or_rules?.rules, `${at}.rules`).map((r, i) => compilePermission(r, `${at}.rules[${i}]`)));
    case 'not_rule': {
      const inner = compilePermission(p.not_rule, at);
      return (h, c) => !inner(h, c);
    }
    case 'any':
      if (p.any !== true) throw invalid(at, 'must be true');
      return ALWAYS;
    case 'header':
      return compileHeader(p.header, at);
    case 'url_path':
      return compileUrlPath(p.url_path, at);
    case 'destination_ip': {
      const inRange = compileCidr(p.destination_ip, at);
      return (_h, c) => inRange(ipOf(c.downstreamLocalAddress));
    }
    case 'destination_port': {
      const port = p.destination_port;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(at, `port ${port} is out of range [0, 65535]`);
      return (_h, c) => portOf(c.downstreamLocalAddress) === port;
    }
    case 'destination_port_range': {
      // Envoy's PortRangeMatcher: [start, end), both within [0, 65536], start < end
      const start = p.destination_port_range.start ?? 0;
      const end = p.destination_port_range.end ?? 0;
      if (!Number.isInteger(start) || start < 0 || start > 65536) throw invalid(`${at}.start`, `range start ${start} is out of bounds`);
      if (!Number.isInteger(end) || end < 0 || end > 65536) throw invalid(`${at}.end`, `range end ${end} is out of bounds`);
      if (start >= end) throw invalid(at, `range start ${start} cannot be greater or equal than range end ${end}`);
      return (_h, c) => {
        const port = portOf(c.downstreamLocalAddress);
        return port >= start && port < end;
      };
    }
    case 'requested_server_name': {
      const sm = compileStringMatcher(p.requested_server_name as StringMatcherConfig, at);
      return (_h, c) => sm.match(c.requestedServerName ?? '');
    }
    case 'metadata': {
      const m = compileMetadataMatcher(p.metadata, at);
      return (_h, c) => m(c.dynamicMetadata);
    }
    case 'matcher':
      throw unsupported(at, 'permission matcher extensions are not supported');
    case 'uri_template':
      throw unsupported(at, 'uri_template permissions are not supported; use url_path');
  }
}

/** Compile an envoy.config.rbac.v3.Principal. */
export function compilePrincipal(p: any, path: string): RbacMatcher {
  if (p === null || typeof p !== 'object') throw invalid(path, 'a principal must be a message');
  const which = oneOf(p, PRINCIPAL_IDS, path, true)!;
  const at = `${path}.${which}`;
  switch (which) {
    case 'and_ids':
      return allOf(set(p.and_ids?.ids, `${at}.ids`).map((r, i) => compilePrincipal(r, `${at}.ids[${i}]`)));
    case 'or_ids':
      return anyOf(set(p.or_ids?.ids, `${at}.ids`).map((r, i) => compilePrincipal(r, `${at}.ids[${i}]`)));
    case 'not_id': {
      const inner = compilePrincipal(p.not_id, at);
      return (h, c) => !inner(h, c);
    }
    case 'any':
      if (p.any !== true) throw invalid(at, 'must be true');
      return ALWAYS;
    case 'authenticated':
      return compileAuthenticated(p.authenticated, at);
    case 'source_ip':
    case 'direct_remote_ip': {
      // source_ip is the connection's remote address; without PROXY protocol or original_src that is the peer
      const inRange = compileCidr(p[which], at);
      return (_h, c) => inRange(ipOf(c.downstreamDirectRemoteAddress));
    }
    case 'remote_ip': {
      const inRange = compileCidr(p.remote_ip, at);
      return (_h, c) => inRange(ipOf(c.downstreamRemoteAddress));
    }
    case 'header':
      return compileHeader(p.header, at);
    case 'url_path':
      return compileUrlPath(p.url_path, at);
    case 'metadata': {
      const m = compileMetadataMatcher(p.metadata, at);
      return (_h, c) => m(c.dynamicMetadata);
    }
    case 'filter_state':
      throw unsupported(at, 'filter_state principals are not supported (no Meshwork filter writes filter state)');
  }
}

function set(list: unknown, path: string): any[] {
  if (!Array.isArray(list) || list.length === 0) throw invalid(path, 'at least one entry is required');
  return list;
}

/** All must match. Short lists get straight-line closures: these run on every request. */
export function allOf(ms: readonly RbacMatcher[]): RbacMatcher {
  if (ms.length === 1) return ms[0]!;
  if (ms.length === 2) {
    const [a, b] = ms as [RbacMatcher, RbacMatcher];
    return (h, c) => a(h, c) && b(h, c);
  }
  return (h, c) => {
    for (let i = 0; i < ms.length; i++) if (!ms[i]!(h, c)) return false;
    return true;
  };
}

/** Some must match (an empty list never does). */
export function anyOf(ms: readonly RbacMatcher[]): RbacMatcher {
  if (ms.length === 0) return () => false;
  if (ms.length === 1) return ms[0]!;
  if (ms.length === 2) {
    const [a, b] = ms as [RbacMatcher, RbacMatcher];
    return (h, c) => a(h, c) || b(h, c);
  }
  return (h, c) => {
    for (let i = 0; i < ms.length; i++) if (ms[i]!(h, c)) return true;
    return false;
  };
}

function compileHeader(hm: HeaderMatcherConfig, path: string): RbacMatcher {
  const m = compileHeaderMatcher(hm, path);
  return (h) => m.matches(h);
}

/** envoy.type.matcher.v3.PathMatcher: its StringMatcher on :path without query and fragment. */
function compileUrlPath(pm: { path?: StringMatcherConfig } | undefined, path: string): RbacMatcher {
  if (!pm?.path) throw invalid(`${path}.path`, 'a path string matcher is required');
  const sm = compileStringMatcher(pm.path, `${path}.path`);
  return (h) => {
    const p = h.get(':path');
    return p !== undefined && sm.match(removeQueryAndFragment(p));
  };
}

function compileAuthenticated(a: { principal_name?: StringMatcherConfig } | undefined, path: string): RbacMatcher {
  // no principal_name: any TLS connection, whatever the peer presented (Envoy checks connection.ssl() only)
  if (!a?.principal_name) return (_h, c) => c.downstreamTls !== undefined;
  const sm = compileStringMatcher(a.principal_name, `${path}.principal_name`);
  return (_h, c) => {
    const t = c.downstreamTls;
    if (t === undefined) return false;
    const uris = t.peerUriSan;
    if (uris) for (let i = 0; i < uris.length; i++) if (sm.match(uris[i]!)) return true;
    const dns = t.peerDnsSan;
    if (dns) for (let i = 0; i < dns.length; i++) if (sm.match(dns[i]!)) return true;
    // no certificate: Envoy's subjectPeerCertificate() is ""
    return sm.match(t.peerSubject ?? '');
  };
}

/** The port of an "ip:port" address (-1 when there is none, e.g. a unix socket). */
export function portOf(addr: string): number {
  const i = addr.lastIndexOf(':');
  if (i < 0) return -1;
  const n = Number(addr.slice(i + 1));
  return Number.isInteger(n) ? n : -1;
}

/**
 * envoy.config.core.v3.CidrRange → a test on an IP string. Envoy's CidrRange::isInRange: same family only (an
 * IPv4 address is never in an IPv6 range), prefix_len 0 covers the whole family. IPv4 is compared as a 32-bit
 * number (the common case, no allocation); IPv6 goes through node's BlockList.
 */
export function compileCidr(r: { address_prefix?: string; prefix_len?: number } | undefined, path: string): (ip: string) => boolean {
  const prefix = r?.address_prefix ?? '';
  const family = net.isIP(prefix);
  if (!family) throw invalid(`${path}.address_prefix`, `Cannot parse "${prefix}": malformed IP address`);
  const len = r?.prefix_len ?? 0;
  const max = family === 4 ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > max) throw invalid(`${path}.prefix_len`, `prefix length ${len} is out of range [0, ${max}] for ${prefix}`);
  if (family === 4) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const base = (ipv4ToInt(prefix) & mask) >>> 0;
    return (ip) => {
      const v = ipv4ToInt(ip);
      return v >= 0 && ((v & mask) >>> 0) === base;
    };
  }
  const list = new net.BlockList();
  list.addSubnet(prefix, len, 'ipv6');
  return (ip) => net.isIPv6(ip) && list.check(ip, 'ipv6');
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 when `ip` is not one. */
export function ipv4ToInt(ip: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return v * 256 + part;
}
