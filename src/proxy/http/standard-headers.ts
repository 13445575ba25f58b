// The headers the connection manager itself manages, as Envoy's ConnectionManagerUtility does: hop-by-hop
// removal, x-forwarded-for / x-forwarded-proto with use_remote_address and xff_num_trusted_hops, internal vs
// external clients (internal_address_config) and the x-envoy-* control headers only internal ones may send,
// x-request-id, via, and the server header on the way back.
import net from 'node:net';
import { ConfigError } from '../../common/errors.js';
import { randomUuid } from '../../common/uuid.js';
import type { HcmConfig } from './conn-manager-config.js';
import type { HeaderMap } from './headers.js';
import type { TlsInfo } from '../stream-info.js';

// Hop-by-hop headers never forwarded (RFC 9110 §7.6.1 and the legacy ones Envoy also drops): connection,
// keep-alive, proxy-connection, transfer-encoding; removed by stripHopByHop / stripResponseHopByHop below.

/**
 * Envoy's legacy notion of an internal address (Network::Utility::isInternalAddress): RFC 1918, 127.0.0.1 exactly,
 * ::1 and fd00::/8. Since Envoy 1.33 it applies only when internal_address_config is present without cidr_ranges.
 */
export function isInternalAddress(ip: string): boolean {
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  const v = net.isIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 10 || ip === '127.0.0.1' || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (v === 6) {
    const l = ip.toLowerCase();
    return l === '::1' || /^fd[0-9a-f]{2}:/.test(l);
  }
  return false;
}

/**
 * Compile HttpConnectionManager.internal_address_config into the predicate the connection manager asks per
 * request. Current Envoy trusts no address when the field is absent: a client on loopback or a private network
 * is external (its x-envoy-* control headers are dropped, its x-request-id replaced) unless the operator lists
 * it. Present with no cidr_ranges, the legacy RFC 1918 set applies; with cidr_ranges, exactly those ranges.
 * Peers that are not IP sockets (unix sockets) are internal only with unix_sockets.
 */
export function compileInternalAddressConfig(cfg: { unix_sockets?: boolean; cidr_ranges?: { address_prefix?: string; prefix_len?: number }[] } | undefined, path: string): (ip: string) => boolean {
  if (!cfg) return () => false;
  const unix = cfg.unix_sockets === true;
  if (!cfg.cidr_ranges?.length) return (ip) => (net.isIP(ip) ? isInternalAddress(ip) : unix);
  const list = new net.BlockList();
  cfg.cidr_ranges.forEach((r, i) => {
    const family = net.isIP(r.address_prefix ?? '');
    const len = r.prefix_len ?? 0;
    if (!family) throw new ConfigError('MW_CONFIG_INVALID', `${path}.cidr_ranges[${i}].address_prefix`, `Cannot parse "${r.address_prefix ?? ''}": not an IP address`);
    if (!Number.isInteger(len) || len < 0 || len > (family === 4 ? 32 : 128)) {
      throw new ConfigError('MW_CONFIG_INVALID', `${path}.cidr_ranges[${i}].prefix_len`, `prefix length ${len} is out of range for ${r.address_prefix}`);
    }
    list.addSubnet(r.address_prefix!, len, family === 4 ? 'ipv4' : 'ipv6');
  });
  return (ip) => {
    if (ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7))) ip = ip.slice(7);
    const family = net.isIP(ip);
    if (!family) return unix;
    return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  };
}

export function ipOf(addr: string): string {
  if (addr.startsWith('[')) return addr.slice(1, addr.indexOf(']'));
  const i = addr.lastIndexOf(':');
  return i > 0 && addr.indexOf(':') === i ? addr.slice(0, i) : addr;
}

export interface RequestContext {
  /** socket peer "ip:port" */
  peer: string;
  /** 'http' | 'https' */
  scheme: string;
  upgrade: boolean;
  /** the downstream connection's TLS, for x-forwarded-client-cert */
  tls: TlsInfo | undefined;
}

export interface MutateResult {
  /** the address Envoy calls the downstream remote address (after XFF processing), "ip:port" (port 0 from XFF) */
  remoteAddress: string;
  internal: boolean;
}

// What Envoy strips from every request that is not internal (ConnectionManagerUtility::cleanInternalHeaders):
// the headers through which a client could steer retries, timeouts, stats or tracing. Only this list: other
// x-envoy-* names pass, as in Envoy.
const UNTRUSTED_CONTROL_HEADERS = [
  'x-envoy-retriable-status-codes', 'x-envoy-retriable-header-names', 'x-envoy-retry-on', 'x-envoy-retry-grpc-on',
  'x-envoy-max-retries', 'x-envoy-upstream-alt-stat-name', 'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms', 'x-envoy-upstream-rq-timeout-alt-response', 'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace', 'x-envoy-ip-tags', 'x-envoy-original-url', 'x-envoy-hedge-on-per-try-timeout',
];
// ... and, at the edge (use_remote_address), the ones that only a trusted proxy may set.
const EDGE_ONLY_CONTROL_HEADERS = ['x-envoy-decorator-operation', 'x-envoy-downstream-service-cluster', 'x-envoy-downstream-service-node'];

/**
 * Envoy's Utility::getLastAddressFromXFF: the address `skip` entries from the right of x-forwarded-for, and
 * whether XFF holds exactly that one address (the only case in which it may make a request internal).
 */
function lastXffAddress(h: HeaderMap, skip: number): { ip: string; single: boolean } | undefined {
  let xff = h.getJoined('x-forwarded-for');
  if (xff === undefined) return undefined;
  for (let i = 0; i < skip; i++) {
    const c = xff.lastIndexOf(',');
    if (c < 0) return undefined;
    xff = xff.slice(0, c);
  }
  const c = xff.lastIndexOf(',');
  const ip = (c >= 0 ? xff.slice(c + 1) : xff).trim();
  return net.isIP(ip) ? { ip, single: c < 0 && skip === 0 } : undefined;
}

/** An address read from XFF has no port; like Envoy, report it with port 0 ("1.2.3.4:0", "[::1]:0"). */
function xffAddress(ip: string | undefined): string | undefined {
  return ip === undefined ? undefined : net.isIPv6(ip) ? `[${ip}]:0` : `${ip}:0`;
}

// Per-request header stripping is done in single passes over the flat header array (compacting it in place)
// rather than one HeaderMap.remove() scan per name: about 25 names are checked on every request, and a scan +
// splice each was the largest item of the connection manager's own per-request cost.

const UNTRUSTED_SET = new Set(UNTRUSTED_CONTROL_HEADERS);
const UNTRUSTED_AND_EDGE_SET = new Set([...UNTRUSTED_CONTROL_HEADERS, ...EDGE_ONLY_CONTROL_HEADERS]);
const X_ENVOY = 'x-envoy-';
// what stripHopByHop reports present
const SEEN_XFF = 1;
const SEEN_XFP = 2;
const SEEN_REQUEST_ID = 4;

/**
 * Step 1 of mutateRequestHeaders in one pass: hop-by-hop headers (Connection kept on an upgrade), Upgrade unless
 * upgrading, TE unless its first value is "trailers" (the first value decides for all TE lines, as Envoy's
 * get() + remove() does), and x-envoy-internal. Returns which of the headers the next steps ask about are present.
 */
function stripHopByHop(a: string[], upgrade: boolean, dropXfcc: boolean): number {
  let w = 0;
  let seen = 0;
  let keepTe = -1; // -1: no TE seen yet; 0 / 1: the first TE value decided
  for (let r = 0; r < a.length; r += 2) {
    const name = a[r]!;
    let drop = false;
    // switch on the length first: most names are rejected by one integer compare
    switch (name.length) {
      case 2:
        if (name === 'te') {
          if (keepTe < 0) keepTe = a[r + 1]!.toLowerCase() === 'trailers' ? 1 : 0;
          drop = keepTe === 0;
        }
        break;
      case 7:
        drop = !upgrade && name === 'upgrade';
        break;
      case 10:
        drop = name === 'keep-alive' || (!upgrade && name === 'connection');
        break;
      case 12:
        if (name === 'x-request-id') seen |= SEEN_REQUEST_ID;
        break;
      case 15:
        if (name === 'x-forwarded-for') seen |= SEEN_XFF;
        break;
      case 16:
        drop = name === 'proxy-connection' || name === 'x-envoy-internal';
        break;
      case 17:
        if (name === 'transfer-encoding') drop = true;
        else if (name === 'x-forwarded-proto') seen |= SEEN_XFP;
        break;
      case 23:
        drop = dropXfcc && name === XFCC;
        break;
    }
    if (drop) continue;
    if (w !== r) {
      a[w] = name;
      a[w + 1] = a[r + 1]!;
    }
    w += 2;
  }
  if (w !== a.length) a.length = w;
  return seen;
}

/** The x-envoy-* control headers an external request may not carry, and the route table's internal_only_headers, in one pass. */
function stripExternal(a: string[], envoyNames: ReadonlySet<string>, internalOnly: readonly string[]): void {
  let w = 0;
  for (let r = 0; r < a.length; r += 2) {
    const name = a[r]!;
    if ((name.startsWith(X_ENVOY) && envoyNames.has(name)) || (internalOnly.length > 0 && internalOnly.includes(name))) continue;
    if (w !== r) {
      a[w] = name;
      a[w + 1] = a[r + 1]!;
    }
    w += 2;
  }
  if (w !== a.length) a.length = w;
}

/** ConnectionManagerUtility::mutateRequestHeaders, step for step (minus tracing and early data). */
export function mutateRequestHeaders(h: HeaderMap, cfg: HcmConfig, ctx: RequestContext): MutateResult {
  // Envoy forwards Connection and Upgrade of an upgrade request verbatim: the upstream needs both to switch.
  // Only this proxy says whether a request is internal (x-envoy-internal).
  // x-forwarded-client-cert (Envoy's mutateXfccRequestHeader): sanitized unless this connection is mTLS and the
  // mode keeps it, or ALWAYS_FORWARD_ONLY; APPEND_FORWARD and SANITIZE_SET then add this hop's element
  const mtls = ctx.tls?.peerCertificatePresented === true;
  const xfcc = cfg.xfcc;
  const seen = stripHopByHop(h.raw, ctx.upgrade, xfcc === 'SANITIZE' || (!mtls && xfcc !== 'ALWAYS_FORWARD_ONLY') || xfcc === 'SANITIZE_SET');
  if (mtls && (xfcc === 'APPEND_FORWARD' || xfcc === 'SANITIZE_SET')) appendList(h, XFCC, xfccElement(ctx.tls!, cfg.xfccDetails));
  const hasXff = (seen & SEEN_XFF) !== 0;
  let hasXfp = (seen & SEEN_XFP) !== 0;

  const peerIp = ipOf(ctx.peer);
  // Envoy's final_remote_address, and whether it may be trusted as internal at all
  let remote: string | undefined;
  let trustedChecks = false;
  if (cfg.useRemoteAddress) {
    // a request that already went through proxies (XFF present) is never internal
    trustedChecks = !hasXff;
    // with trusted proxies in front, the client is the address they recorded, read before we append ours
    if (cfg.xffNumTrustedHops > 0 && hasXff) remote = xffAddress(lastXffAddress(h, cfg.xffNumTrustedHops - 1)?.ip);
    remote ??= ctx.peer;
    // Envoy appends its own node address instead of a loopback peer; Meshwork appends the peer as it is.
    if (!cfg.skipXffAppend) appendList(h, 'x-forwarded-for', peerIp);
    // an untrusted previous hop does not get to say which scheme the client used
    if (cfg.xffNumTrustedHops === 0 || !hasXfp) {
      h.set('x-forwarded-proto', ctx.scheme);
      hasXfp = true;
    }
  } else if (hasXff) {
    // the trusted client address is xff_num_trusted_hops entries from the right of XFF; without XFF there is
    // none, and the request is external even from an internal peer
    const found = lastXffAddress(h, cfg.xffNumTrustedHops);
    if (found) {
      remote = xffAddress(found.ip);
      trustedChecks = found.single;
    }
  }
  if (!hasXfp) h.set('x-forwarded-proto', ctx.scheme);

  const internal = trustedChecks && remote !== undefined && cfg.isInternalAddress(ipOf(remote));
  const remoteAddress = remote ?? ctx.peer;
  // the first hop into the trusted network
  const edge = !internal && cfg.useRemoteAddress;
  let hasRequestId = (seen & SEEN_REQUEST_ID) !== 0;
  if (internal) h.set('x-envoy-internal', 'true');
  else {
    const internalOnly = cfg.routeTable.internalOnlyHeaders;
    stripExternal(h.raw, edge ? UNTRUSTED_AND_EDGE_SET : UNTRUSTED_SET, internalOnly);
    if (hasRequestId && internalOnly.length > 0) hasRequestId = h.has('x-request-id');
  }
  if (cfg.via) appendList(h, 'via', cfg.via);
  if (edge) h.set('x-envoy-external-address', ipOf(remoteAddress));

  if (cfg.generateRequestId) {
    // an edge client's id is replaced (unless configured to keep it); otherwise one is only added when missing
    if (!hasRequestId) h.add('x-request-id', randomUuid());
    else if (edge && !cfg.preserveExternalRequestId) h.set('x-request-id', randomUuid());
  }
  return { remoteAddress, internal };
}

const XFCC = 'x-forwarded-client-cert';

/** This hop's XFCC element, fields in Envoy's order: By (our URI SAN), Hash (SHA-256 of the client's certificate),
 *  then Cert and Chain (URL-encoded PEM), Subject, URI and DNS as set_current_client_cert_details asks. */
function xfccElement(t: TlsInfo, d: HcmConfig['xfccDetails']): string {
  const parts: string[] = [];
  const by = t.localUriSan?.[0];
  if (by) parts.push(`By=${by}`);
  if (t.peerFingerprint256) parts.push(`Hash=${t.peerFingerprint256}`);
  if (d.cert && t.peerCertificatePem) parts.push(`Cert="${encodeURIComponent(t.peerCertificatePem())}"`);
  if (d.chain && t.peerChainPem) parts.push(`Chain="${encodeURIComponent(t.peerChainPem())}"`);
  if (d.subject) parts.push(`Subject="${(t.peerSubject ?? '').replace(/"/g, '\\"')}"`);
  if (d.uri) parts.push(`URI=${t.peerUriSan?.[0] ?? ''}`);
  if (d.dns) for (const dns of t.peerDnsSan ?? []) parts.push(`DNS=${dns}`);
  return parts.join(';');
}

function appendList(h: HeaderMap, name: string, value: string): void {
  const prev = h.getJoined(name);
  h.set(name, prev ? `${prev},${value}` : value);
}

/** Hop-by-hop headers of a response (and Upgrade unless it is one) in one pass; returns whether Server is present. */
function stripResponseHopByHop(a: string[], upgrade: boolean): boolean {
  let w = 0;
  let server = false;
  for (let r = 0; r < a.length; r += 2) {
    const name = a[r]!;
    let drop = false;
    switch (name.length) {
      case 6:
        if (name === 'server') server = true;
        break;
      case 7:
        drop = !upgrade && name === 'upgrade';
        break;
      case 10:
        drop = name === 'connection' || name === 'keep-alive';
        break;
      case 16:
        drop = name === 'proxy-connection';
        break;
      case 17:
        drop = name === 'transfer-encoding';
        break;
    }
    if (drop) continue;
    if (w !== r) {
      a[w] = name;
      a[w + 1] = a[r + 1]!;
    }
    w += 2;
  }
  if (w !== a.length) a.length = w;
  return server;
}

export function mutateResponseHeaders(h: HeaderMap, cfg: HcmConfig, requestId: string | undefined, upgrade: boolean): void {
  const hasServer = stripResponseHopByHop(h.raw, upgrade);
  if (upgrade) h.add('connection', 'upgrade');
  switch (cfg.serverHeaderTransformation) {
    case 'OVERWRITE':
      if (hasServer) h.set('server', cfg.serverName);
      else h.add('server', cfg.serverName);
      break;
    case 'APPEND_IF_ABSENT':
      if (!hasServer) h.add('server', cfg.serverName);
      break;
  }
  if (cfg.alwaysSetRequestIdInResponse && requestId) h.set('x-request-id', requestId);
  if (cfg.via) appendList(h, 'via', cfg.via);
}
