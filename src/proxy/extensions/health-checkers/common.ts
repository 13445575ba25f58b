// What the health checkers share: opening a connection to a host the way the cluster's pools do, so a
// cluster with an UpstreamTlsContext is health checked over TLS with the same verification.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { ConfigError } from '../../../common/errors.js';
import type { CheckResult, HealthCheckerContext, HealthCheckSession } from '../../upstream/health-check-manager.js';
import { connectTarget, type Host } from '../../upstream/host.js';
import type { UpstreamTransport } from '../../upstream/pool.js';

/** `alpn` overrides the TLS ALPN list (HTTP/2 and gRPC checks need h2). */
export function openConnection(host: Host, clusterTransport: UpstreamTransport, alpn?: string[]): net.Socket {
  // a host's transport_socket_matches entry applies to its health checks too
  const transport = host.transport ?? clusterTransport;
  if (!transport.tls) return net.connect(connectTarget(host));
  const cfg = transport.tls;
  const s = tls.connect({ ...cfg.connectOptions, ...(alpn ? { ALPNProtocols: alpn } : {}), ...connectTarget(host) });
  s.once('secureConnect', () => {
    const reason = cfg.verify(s);
    if (reason) s.destroy(new Error(reason));
  });
  return s;
}

/** Header additions/removals from HeaderValueOption lists, compiled once into [name, value] pairs. */
export function compileHeaderOptions(add: any[] | undefined, path: string): [string, string][] {
  return (add ?? []).map((o: any, i: number) => {
    const key = o.header?.key;
    if (!key || /[\0\r\n]/.test(key)) throw new ConfigError('MW_CONFIG_INVALID', `${path}[${i}].header.key`, 'a header name is required and must not contain NUL, CR or LF');
    const v = o.header.value ?? (o.header.raw_value ? Buffer.from(o.header.raw_value).toString('latin1') : '');
    return [String(key).toLowerCase(), v];
  });
}

/**
 * The HTTP/2 and gRPC checks' session: one h2 connection per host, opened on the first check and kept while it
 * is usable (the subclass closes it after each check when reuse_connection is off).
 */
export abstract class H2CheckSession implements HealthCheckSession {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    protected readonly host: Host,
    protected readonly ctx: HealthCheckerContext,
  ) {}

  abstract check(): Promise<CheckResult>;

  protected connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(`${(this.host.transport ?? this.ctx.transport).tls ? 'https' : 'http'}://${this.host.id}`, { createConnection: () => openConnection(this.host, this.ctx.transport, ['h2']) });
    s.on('error', () => {}); // surfaced on the stream
    s.on('close', () => {
      if (this.session === s) this.session = undefined;
    });
    return (this.session = s);
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}
