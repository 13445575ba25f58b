// gRPC health checker (HealthCheck.grpc_health_check): grpc.health.v1.Health/Check over HTTP/2 with
// `service_name`; passes when grpc-status is 0 and the answer is SERVING.
//
// Why not @grpc/grpc-js: its channel owns connection management (reconnect back-off, idle timers, name
// resolution), which would blur what a health check measures — one attempt on one connection to this host,
// within `timeout`. The request and response are one-field protobuf messages, so they are encoded by hand
// over a plain node:http2 session that the session keeps (or closes) per reuse_connection.
import { ConfigError } from '../../../../common/errors.js';
import type { Host } from '../../../upstream/host.js';
import type { CheckResult, HealthCheckerContext, HealthCheckerFactory } from '../../../upstream/health-check-manager.js';
import { compileHeaderOptions, H2CheckSession } from '../common.js';

/** A length-prefixed gRPC message holding HealthCheckRequest{ service = 1 }. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const s = Buffer.from(service, 'utf8');
  const len: number[] = [];
  let n = s.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  const msg = s.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...len]), s]);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

/** The ServingStatus of a length-prefixed HealthCheckResponse (0 UNKNOWN when the field is absent), or -1. */
export function decodeServingStatus(data: Buffer): number {
  if (data.length < 5 || data[0] !== 0) return -1; // compressed or truncated
  const len = data.readUInt32BE(1);
  const msg = data.subarray(5, 5 + len);
  if (msg.length !== len) return -1;
  let i = 0;
  let status = 0;
  while (i < msg.length) {
    const tag = msg[i++]!;
    const readVarint = (): number => {
      let v = 0;
      let shift = 0;
      for (;;) {
        if (i >= msg.length) throw new Error('truncated varint');
        const b = msg[i++]!;
        v += (b & 0x7f) * 2 ** shift;
        if (!(b & 0x80)) return v;
        shift += 7;
      }
    };
    try {
      const wire = tag & 7;
      if (wire === 0) {
        const v = readVarint();
        if (tag >> 3 === 1) status = v;
      } else if (wire === 2) {
        const len = readVarint(); // read first: `i += readVarint()` would add to the old i
        i += len;
      } else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return -1;
    } catch {
      return -1;
    }
  }
  return status;
}

const SERVING = 1;

export const grpcHealthChecker: HealthCheckerFactory = {
  name: 'grpc_health_check',
  compile(cfg: any, ctx: HealthCheckerContext) {
    const body = encodeHealthCheckRequest(cfg.service_name ?? '');
    if (cfg.authority !== undefined && /[\0\r\n]/.test(cfg.authority)) throw new ConfigError('MW_CONFIG_INVALID', `${ctx.path}.authority`, 'must not contain NUL, CR or LF');
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      ':authority': cfg.authority || ctx.clusterName,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'Envoy/HC',
    };
    for (const [k, v] of compileHeaderOptions(cfg.initial_metadata, `${ctx.path}.initial_metadata`)) headers[k] = v;
    return (host) => new GrpcSession(host, ctx, headers, body);
  },
};

class GrpcSession extends H2CheckSession {
  constructor(
    host: Host,
    ctx: HealthCheckerContext,
    private readonly headers: Record<string, string>,
    private readonly body: Buffer,
  ) {
    super(host, ctx);
  }

  check(): Promise<CheckResult> {
    return new Promise((resolve) => {
      const stream = this.connect().request(this.headers);
      stream.end(this.body);
      let grpcStatus: string | undefined;
      let httpStatus = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); // trailers-only answer
      });
      stream.on('trailers', (t) => {
        if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']);
      });
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('error', (err) => resolve({ ok: false, network: true, reason: err.message }));
      stream.on('close', () => {
        if (!this.ctx.reuseConnection) this.close();
        if (httpStatus === 0) return resolve({ ok: false, network: true, reason: 'stream closed before a response' });
        if (httpStatus !== 200) return resolve({ ok: false, network: false, reason: `HTTP status ${httpStatus}` });
        if (grpcStatus !== '0') return resolve({ ok: false, network: false, reason: `grpc-status ${grpcStatus ?? 'missing'}` });
        const serving = decodeServingStatus(Buffer.concat(chunks));
        resolve(serving === SERVING ? { ok: true } : { ok: false, network: false, reason: `serving status ${serving}` });
      });
    });
  }
}
