// Bootstrap builders shared by the protocol / TLS / TCP end-to-end suites: an HCM or tcp_proxy listener on
// 127.0.0.1:0, STATIC clusters pointing at in-test servers, and small client helpers (curl, raw sockets).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type net from 'node:net';
import { HCM, routerFilter, staticCluster as clusterOver } from './bootstrap.js';

export { HCM, ROUTER } from './bootstrap.js';
export const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const HTTP_PROTOCOL_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export function fileLog(path: string, format: string): object {
  return { name: 'envoy.access_loggers.file', typed_config: { '@type': FILE_LOG, path, log_format: { text_format_source: { inline_string: format + '\n' } } } };
}

export interface HcmOptions {
  statPrefix?: string;
  codecType?: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** route_config.virtual_hosts[0].routes; default: everything to `cluster` */
  routes?: object[];
  cluster?: string;
  accessLog?: object[];
  extra?: Record<string, unknown>;
}

export function hcmFilter(o: HcmOptions): object {
  const routes = o.routes ?? [{ match: { prefix: '/' }, route: { cluster: o.cluster ?? 'backend' } }];
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM,
      stat_prefix: o.statPrefix ?? 'ingress',
      ...(o.codecType ? { codec_type: o.codecType } : {}),
      route_config: { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] },
      http_filters: [routerFilter()],
      ...(o.accessLog ? { access_log: o.accessLog } : {}),
      ...(o.extra ?? {}),
    },
  };
}

export function tcpProxyFilter(cluster: string, extra: Record<string, unknown> = {}): object {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster, ...extra } };
}

export function listener(name: string, filterChains: object[], extra: Record<string, unknown> = {}): object {
  return { name, address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: filterChains, ...extra };
}

export interface ClusterOptions {
  h2?: boolean;
  /** an UpstreamTlsContext (without @type) for transport_socket */
  tls?: Record<string, unknown>;
  connectTimeout?: string;
}

export function staticCluster(name: string, port: number, o: ClusterOptions = {}): object {
  return clusterOver(name, [port], {
    connect_timeout: o.connectTimeout ?? '2s',
    ...(o.h2
      ? { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } } }
      : {}),
    ...(o.tls
      ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', ...o.tls } } }
      : {}),
  });
}

export function bootstrap(listeners: object[], clusters: object[]): object {
  return { static_resources: { listeners, clusters } };
}

export interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run curl with a hard time limit; never throws on a non-zero exit (tests assert on it). */
export function curl(args: string[], timeoutMs = 10_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeout: timeoutMs + 2000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      // execFile reports curl's exit status as err.code (a number); a spawn failure has a string code
      const code: unknown = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** Collect everything a socket sends until it closes (bounded by a timeout). */
export function readAll(sock: net.Socket, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`socket did not close within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {});
    // a half-open client would otherwise wait forever after the peer's FIN
    sock.once('end', () => sock.end());
    sock.once('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** Lines of an access log file once it has at least `n` (the file sink flushes about once a second). */
export async function logLines(path: string, n: number, timeoutMs = 6000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(path) ? fs.readFileSync(path, 'utf8') : '';
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) throw new Error(`access log ${path} has ${lines.length} lines, expected ${n}: ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `p`, or a rejection naming `what` after `ms` (so that a hang fails the test instead of stalling the run). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}
