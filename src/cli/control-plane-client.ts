// What `meshwork proxy-status` and `meshwork proxy-config` share: reading the control plane's debug HTTP port
// (the same public JSON the dashboard reads, docs/xds.md) and printing tables the way istioctl does.
import http from 'node:http';
import { parseHostPort } from '../control-plane/debug/debug-server.js';

export const DEFAULT_CONTROL_PLANE_HTTP = '127.0.0.1:15014';

/** The control plane did not answer, or not with JSON: the commands exit 1 with this message. */
export class ControlPlaneError extends Error {}

/** Why `address` is not a --control-plane-http value, or undefined when it is one. */
export function addressProblem(address: string): string | undefined {
  try {
    if (parseHostPort(address).port !== 0) return undefined;
  } catch {
    // reported below, in terms of this flag
  }
  return `Cannot use --control-plane-http "${address}": expected host:port`;
}

/** GET `pathname` on the debug port; any answer (404 included) resolves, no answer at all rejects with
 *  ControlPlaneError naming the address. */
export async function debugGet(address: string, pathname: string): Promise<{ status: number; body: any }> {
  const { host, port } = parseHostPort(address);
  // node:http, not fetch: fetch refuses "bad ports" (6000, 10080, ...) that a debug port may well use
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.get({ host, port, path: pathname, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  }).catch((err: NodeJS.ErrnoException) => {
    throw new ControlPlaneError(`Cannot reach the control plane at "${address}": ${err.code ?? err.message} (give its debug address, its --http-address, with --control-plane-http)`);
  });
  try {
    return { status, body: JSON.parse(text) };
  } catch {
    throw new ControlPlaneError(`Cannot read the answer of "${address}${pathname}": HTTP ${status}, not JSON (is that the control plane's debug address?)`);
  }
}

/** The node ids of the connected proxies, for "unknown proxy" messages. */
export async function connectedProxies(address: string): Promise<string[]> {
  const { body } = await debugGet(address, '/debug/syncz');
  return [...new Set((body as { proxy: string }[]).map((s) => s.proxy))].sort();
}

export function unknownProxyMessage(proxy: string, connected: string[]): string {
  return `no connected proxy with node id "${proxy}"; ${connected.length ? `connected: ${connected.join(', ')}` : 'no proxy is connected'}`;
}

/** Columns padded to their widest cell, three spaces apart, as istioctl's tabwriter prints them (so a cell
 *  may hold single spaces: "NOT SENT", "STALE (3s)"). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd() + '\n';
  return line(header) + rows.map(line).join('');
}

/** 850ms, 12s, 3m4s, 2h5m, 3d4h */
export function age(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}
