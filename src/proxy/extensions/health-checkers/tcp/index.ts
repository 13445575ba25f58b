// TCP health checker (HealthCheck.tcp_health_check): connect, write `send`, and pass once every `receive`
// block has arrived, in order but not necessarily contiguous (Envoy's "fuzzy" match). With no payloads a
// successful connect passes. The connection is kept between checks when reuse_connection is on.
import type net from 'node:net';
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';
import type { CheckResult, HealthCheckerContext, HealthCheckerFactory, HealthCheckSession } from '../../../upstream/health-check-manager.js';
import { openConnection } from '../common.js';

/** HealthCheck.Payload: `text` is hex, `binary` raw bytes. */
export function decodePayload(p: any, path: string): Buffer {
  if (p?.text !== undefined) {
    if (!/^([0-9a-fA-F]{2})+$/.test(p.text)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.text`, 'must be hex-encoded bytes');
    return Buffer.from(p.text, 'hex');
  }
  if (p?.binary !== undefined) return Buffer.from(p.binary);
  throw new ConfigError('MW_CONFIG_INVALID', path, 'a payload needs text (hex) or binary');
}

export const tcpHealthChecker: HealthCheckerFactory = {
  name: 'tcp_health_check',
  compile(cfg: any, ctx: HealthCheckerContext) {
    if (cfg.proxy_protocol_config) throw new ConfigError('MW_CONFIG_UNSUPPORTED', `${ctx.path}.proxy_protocol_config`, 'PROXY protocol health checks are not supported');
    const send = cfg.send ? decodePayload(cfg.send, `${ctx.path}.send`) : undefined;
    const receive = (cfg.receive ?? []).map((r: any, i: number) => decodePayload(r, `${ctx.path}.receive[${i}]`));
    return (host) => new TcpSession(host, ctx, send, receive);
  },
};

/** Whether every block occurs in `buf`, in order (not necessarily adjacent). */
export function containsInOrder(buf: Buffer, blocks: readonly Buffer[]): boolean {
  let at = 0;
  for (const b of blocks) {
    const i = buf.indexOf(b, at);
    if (i < 0) return false;
    at = i + b.length;
  }
  return true;
}

class TcpSession implements HealthCheckSession {
  private socket: net.Socket | undefined;
  private connected = false;

  constructor(
    private readonly host: Host,
    private readonly ctx: HealthCheckerContext,
    private readonly send: Buffer | undefined,
    private readonly receive: readonly Buffer[],
  ) {}

  check(): Promise<CheckResult> {
    return new Promise((resolve) => {
      let s = this.socket;
      if (!s || s.destroyed) {
        s = this.socket = openConnection(this.host, this.ctx.transport);
        this.connected = false;
        s.on('error', () => {});
        s.once('close', () => {
          if (this.socket === s) this.socket = undefined;
        });
      }
      const sock = s;
      let got = Buffer.alloc(0);
      const done = (r: CheckResult): void => {
        sock.off('data', onData);
        sock.off('close', onClose);
        sock.off('error', onError);
        if (!r.ok || !this.ctx.reuseConnection) this.close();
        resolve(r);
      };
      const onData = (d: Buffer): void => {
        got = Buffer.concat([got, d]);
        if (containsInOrder(got, this.receive)) done({ ok: true });
      };
      const onError = (err: Error): void => done({ ok: false, network: true, reason: err.message });
      const onClose = (): void => done({ ok: false, network: true, reason: 'connection closed before the expected response' });
      const ready = (): void => {
        this.connected = true;
        if (this.send) sock.write(this.send);
        if (this.receive.length === 0) done({ ok: true });
      };
      sock.on('data', onData);
      sock.on('error', onError);
      sock.on('close', onClose);
      if (this.connected) ready();
      else sock.once((this.host.transport ?? this.ctx.transport).tls ? 'secureConnect' : 'connect', ready);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }
}
