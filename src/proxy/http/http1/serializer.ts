// Serializers for the HTTP/1.1 codec. A head is built as one string and written once (socket.write(head,
// 'latin1')): one copy into the socket, no intermediate Buffers.
//
// writeRequestHead / writeResponseHead decide framing the way Envoy's StreamEncoderImpl::encodeHeadersBase does
// (Content-Length kept, `content-length: 0` for an empty body, chunked otherwise, nothing for bodiless statuses,
// raw for tunnels and HTTP/1.0 peers), drop any transfer-encoding in the map (framing belongs to the codec;
// Envoy asserts there is none) and return the framing, so the caller knows how to write the body.
// Pseudo-headers follow the HeaderMap convention: :authority is written as host (and then a plain host entry is
// dropped); :method, :path, :status and the rest are never written as fields.
//
// Header values are written as given. Values parsed by our parsers are already validated; values set by
// filters come from validated config (Envoy likewise only asserts on encode). Names are written lowercase as
// stored (Envoy's default header_key_format).
import { STATUS_CODES } from 'node:http';
import { MeshworkError } from '../../../common/errors.js';
import type { HeaderMap } from '../headers.js';
import { CONN_UPGRADE, connectionTokens } from './message-parser.js';

/** How the body after a head is written:
 *  'none'    no body bytes follow
 *  'length'  exactly Content-Length bytes, written as-is
 *  'chunked' each piece wrapped with chunkHeader()/CRLF, ended with LAST_CHUNK or encodeTrailers()
 *  'close'   bytes written as-is, the end signalled by closing (tunnels, HTTP/1.0 peers) */
export type Framing = 'none' | 'length' | 'chunked' | 'close';

export interface EncodedHead {
  /** start line, field lines and the blank line; write with latin1 */
  head: string;
  framing: Framing;
}

export interface ResponseHeadOptions {
  /** no body follows (Envoy's end_stream): adds `content-length: 0` where a body would be allowed */
  endStream: boolean;
  /** method of the request answered: HEAD responses have no body, 2xx to CONNECT open a tunnel */
  requestMethod?: string;
  /** the peer's HTTP minor version: a 1.0 peer gets an HTTP/1.0 status line and no chunking (as Envoy) */
  peerMinor?: 0 | 1;
  /** reason phrase; default the standard one for the status (node's STATUS_CODES), else "Unknown" */
  reason?: string;
}

export const CRLF = '\r\n';
/** the last chunk of a chunked body without trailers */
export const LAST_CHUNK = '0\r\n\r\n';
export const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';

// Envoy's HeaderUtility::requestShouldHaveNoBody: no `content-length: 0` is added for these
const BODILESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'TRACE', 'CONNECT']);

const statusLines: string[] = [];

/** "HTTP/1.1 200 OK\r\n"; cached per status for the default reason. */
export function statusLine(status: number, peerMinor: 0 | 1 = 1, reason?: string): string {
  if (reason === undefined && peerMinor === 1) {
    const cached = statusLines[status];
    if (cached !== undefined) return cached;
    const line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (status >= 100 && status <= 999) statusLines[status] = line;
    return line;
  }
  return `HTTP/1.${peerMinor} ${status} ${reason ?? STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

/** `name: value\r\n` per header: pseudo-headers skipped except :authority (written as host, and then plain
 * host entries are dropped); transfer-encoding skipped, the codec owns framing. */
function fieldLines(raw: string[]): string {
  let hasAuthority = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] === ':authority') {
      hasAuthority = true;
      break;
    }
  }
  let s = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (name === ':authority') s += 'host: ' + raw[i + 1] + '\r\n';
      continue;
    }
    if (name === 'transfer-encoding' || (hasAuthority && name === 'host')) continue;
    s += name + ': ' + raw[i + 1] + '\r\n';
  }
  return s;
}

function isUpgrade(headers: HeaderMap): boolean {
  const conn = headers.get('connection');
  return conn !== undefined && (connectionTokens(conn) & CONN_UPGRADE) !== 0 && headers.has('upgrade');
}

/** Request head for an upstream, framing decided by the codec (see the file comment). For CONNECT the
 * request-target is the authority (:authority or host) and `path` is ignored. */
export function writeRequestHead(method: string, path: string, headers: HeaderMap, endStream: boolean): EncodedHead {
  let target = path;
  if (method === 'CONNECT') {
    const authority = headers.get(':authority') ?? headers.get('host');
    if (authority === undefined) throw new MeshworkError('MW_INTERNAL', 'Cannot encode CONNECT without :authority or host');
    target = authority;
  }
  let extra = '';
  let framing: Framing;
  if (method === 'CONNECT' || isUpgrade(headers)) {
    // tunnels are never chunk-encoded: after the head, bytes pass through as they are
    framing = 'close';
  } else if (headers.has('content-length')) {
    framing = 'length';
  } else if (endStream) {
    if (!BODILESS_METHODS.has(method)) extra = 'content-length: 0\r\n';
    framing = 'none';
  } else {
    extra = 'transfer-encoding: chunked\r\n';
    framing = 'chunked';
  }
  return { head: method + ' ' + target + ' HTTP/1.1\r\n' + fieldLines(headers.raw) + extra + '\r\n', framing };
}

/** Response head for a downstream client, framing decided by the codec (see the file comment). */
export function writeResponseHead(status: number, headers: HeaderMap, opts: ResponseHeadOptions): EncodedHead {
  const peerMinor = opts.peerMinor ?? 1;
  let extra = '';
  let framing: Framing;
  if (status === 101 || (opts.requestMethod === 'CONNECT' && status >= 200 && status < 300)) {
    framing = 'close';
  } else if (status < 200 || status === 204 || status === 304 || opts.requestMethod === 'HEAD') {
    // RFC 9110 §6.4.1: these never carry a body, whatever Content-Length says
    framing = 'none';
  } else if (headers.has('content-length')) {
    framing = 'length';
  } else if (opts.endStream) {
    extra = 'content-length: 0\r\n';
    framing = 'none';
  } else if (peerMinor === 0) {
    // HTTP/1.0 has no chunked coding: the body ends when the connection does
    framing = 'close';
  } else {
    extra = 'transfer-encoding: chunked\r\n';
    framing = 'chunked';
  }
  return { head: statusLine(status, peerMinor, opts.reason) + fieldLines(headers.raw) + extra + '\r\n', framing };
}

/** The line before a chunk of `length` (> 0) bytes; follow the data with CRLF. */
export function chunkHeader(length: number): string {
  return length.toString(16) + '\r\n';
}

/** One chunk as a single Buffer (copies: for small pieces; for large ones write chunkHeader, data, CRLF). */
export function encodeChunk(data: Buffer): Buffer {
  const h = chunkHeader(data.length);
  const out = Buffer.allocUnsafe(h.length + data.length + 2);
  out.write(h, 0, 'latin1');
  data.copy(out, h.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/** The last chunk followed by a trailer section. */
export function encodeTrailers(trailers: HeaderMap): string {
  return '0\r\n' + fieldLines(trailers.raw) + '\r\n';
}
