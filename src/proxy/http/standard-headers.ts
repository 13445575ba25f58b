// The headers the connection manager itself manages, as Envoy's ConnectionManagerUtility does: hop-by-hop
// removal, x-forwarded-for / x-forwarded-proto with use_remote_address and xff_num_trusted_hops, stripping
// x-envoy-* from external clients, x-request-id, via, and the server header on the way back.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { HcmConfig } from './conn-manager-config.js';
import type { HeaderMap } from './headers.js';

/** Hop-by-hop headers never forwarded (RFC 9110 §7.6.1 and the legacy ones Envoy also drops). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding'];

/** RFC 1918, loopback, link-local and unique-local: Envoy's notion of an internal address. */
export function isInternalAddress(ip: string): boolean {
  if (ip.startsWith('::ffff:')) ip = ip.slice(7);
  const v = net.isIP(ip);
  if (v === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (v === 6) {
    const l = ip.toLowerCase();
    return l === '::1' || l.startsWith('fc') || l.startsWith('fd');
  }
  return false;
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
}

export interface MutateResult {
  /** the address Envoy calls the downstream remote address (after XFF processing), "ip:port" or "ip" */
  remoteAddress: string;
  internal: boolean;
}

export function mutateRequestHeaders(h: HeaderMap, cfg: HcmConfig, ctx: RequestContext): MutateResult {
  for (const name of HOP_BY_HOP) h.remove(name);
  if (!ctx.upgrade) h.remove('upgrade');
  const te = h.get('te');
  if (te !== undefined && te.toLowerCase() !== 'trailers') h.remove('te');

  const peerIp = ipOf(ctx.peer);
  let remoteAddress = ctx.peer;
  let internal: boolean;
  if (cfg.useRemoteAddress) {
    internal = isInternalAddress(peerIp);
    if (!cfg.skipXffAppend) appendXff(h, peerIp);
    h.set('x-forwarded-proto', ctx.scheme);
  } else {
    // The trusted client address is xff_num_trusted_hops entries from the right of XFF (Envoy's rule);
    // without XFF, it is the peer.
    const xff = h.getJoined('x-forwarded-for');
    if (xff) {
      const parts = xff.split(',').map((s) => s.trim()).filter(Boolean);
      const idx = parts.length - 1 - cfg.xffNumTrustedHops;
      if (idx >= 0 && net.isIP(parts[idx]!)) remoteAddress = parts[idx]!;
      internal = parts.length === 1 && isInternalAddress(parts[0]!);
    } else internal = isInternalAddress(peerIp);
    if (!h.has('x-forwarded-proto')) h.set('x-forwarded-proto', ctx.scheme);
  }

  if (!internal && cfg.useRemoteAddress) {
    // An external client must not steer the mesh: drop every x-envoy-* control header it sent.
    h.removePrefix('x-envoy-');
    h.set('x-envoy-external-address', ipOf(remoteAddress));
  } else if (internal && cfg.useRemoteAddress) {
    h.set('x-envoy-internal', 'true');
  }

  if (cfg.generateRequestId) {
    if (!h.has('x-request-id') || (!internal && cfg.useRemoteAddress && !cfg.preserveExternalRequestId)) h.set('x-request-id', randomUUID());
  }
  if (cfg.via) appendList(h, 'via', cfg.via);
  return { remoteAddress, internal };
}

function appendXff(h: HeaderMap, ip: string): void {
  appendList(h, 'x-forwarded-for', ip);
}

function appendList(h: HeaderMap, name: string, value: string): void {
  const prev = h.getJoined(name);
  h.set(name, prev ? `${prev},${value}` : value);
}

export function mutateResponseHeaders(h: HeaderMap, cfg: HcmConfig, requestId: string | undefined, upgrade: boolean): void {
  for (const name of HOP_BY_HOP) h.remove(name);
  if (!upgrade) h.remove('upgrade');
  else h.set('connection', 'upgrade');
  switch (cfg.serverHeaderTransformation) {
    case 'OVERWRITE':
      h.set('server', cfg.serverName);
      break;
    case 'APPEND_IF_ABSENT':
      if (!h.has('server')) h.set('server', cfg.serverName);
      break;
  }
  if (cfg.alwaysSetRequestIdInResponse && requestId) h.set('x-request-id', requestId);
  if (cfg.via) appendList(h, 'via', cfg.via);
}

/**
 * RFC 3986 §5.2.4 dot-segment removal and optional slash merging, applied to the path part only (the query
 * is left as sent). Returns null when the path cannot be normalized safely (Envoy rejects with 400).
 */
export function normalizePath(path: string, opts: { normalize: boolean; mergeSlashes: boolean }): string | null {
  const q = path.indexOf('?');
  let p = q >= 0 ? path.slice(0, q) : path;
  const rest = q >= 0 ? path.slice(q) : '';
  if (opts.normalize) {
    // percent-decoded unreserved characters are left encoded, as Envoy does; only dot segments collapse
    const segs = p.split('/');
    const out: string[] = [];
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if (s === '.' || s.toLowerCase() === '%2e') {
        if (i === segs.length - 1) out.push('');
        continue;
      }
      if (s === '..' || /^(\.|%2e){2}$/i.test(s)) {
        if (out.length > 1) out.pop();
        if (i === segs.length - 1) out.push('');
        continue;
      }
      out.push(s);
    }
    p = out.join('/');
    if (!p.startsWith('/')) p = '/' + p;
  }
  if (opts.mergeSlashes) p = p.replace(/\/{2,}/g, '/');
  return p + rest;
}
