// grpc_service: envoy.service.auth.v3.Authorization/Check, a unary gRPC call, as Envoy's GrpcClientImpl makes it.
//
// Why not @grpc/grpc-js: Envoy's envoy_grpc sends the call through the named cluster (its load balancer, TLS,
// circuit breakers), and so do we (common/upstream-call.ts) — a grpc-js channel would dial the host itself and skip
// the cluster's TLS, which a mesh with mTLS needs. A unary call is one HTTP/2 request: the length-prefixed
// message, then the reply's message and grpc-status (in trailers, or in the headers of a trailers-only reply).
// The messages are encoded with the xDS wire codec (src/api/xds/json.ts), whose schema the build extracts from
// the Envoy protos, so the proxy never loads a protobufjs Root for them.
//
// Reply → decision (Envoy's GrpcClientImpl::onSuccess/onFailure):
//  - grpc-status other than OK, a reset, a timeout, an undecodable reply: error.
//  - CheckResponse.status.code 0: ok, with ok_response's headers (append: true → appended to an existing value,
//    else set), headers_to_remove, response_headers_to_add (by append / append_action), query parameters.
//  - any other code: denied, with denied_response's status (default 403), headers and body.
//  - dynamic_metadata (ok_response.dynamic_metadata, deprecated, wins when set).
import { binaryToJson, jsonToBinary } from '../../../../api/xds/json.js';
import { HeaderMap } from '../../../http/headers.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import { errorResponse, type AuthzClient, type AuthzResponse, type Json, type PendingCheck } from './check-request.js';
import { callUpstream } from '../../common/upstream-call.js';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const REQUEST_TYPE = 'envoy.service.auth.v3.CheckRequest';
const RESPONSE_TYPE = 'envoy.service.auth.v3.CheckResponse';

export interface GrpcTarget {
  readonly cluster: string;
  /** :authority of the call (EnvoyGrpc.authority, default the cluster name) */
  readonly authority: string;
  readonly timeoutMs: number;
  /** GrpcService.initial_metadata */
  readonly metadata: readonly [string, string][];
}

/** A gRPC message frame: flag byte 0 (not compressed), big-endian length, the message. */
export function grpcFrame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

/** The one message of a unary reply, or undefined when the body is not exactly one uncompressed frame. */
export function unframe(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const len = body.readUInt32BE(1);
  return body.length === 5 + len ? body.subarray(5) : undefined;
}

export class GrpcAuthzClient implements AuthzClient {
  constructor(
    private readonly cm: ClusterManager,
    private readonly t: GrpcTarget,
  ) {}

  check(request: Json): PendingCheck {
    const h = new HeaderMap();
    h.add(':method', 'POST');
    h.add(':path', CHECK_PATH);
    h.add(':authority', this.t.authority);
    h.add('content-type', 'application/grpc');
    h.add('te', 'trailers');
    if (this.t.timeoutMs > 0) h.add('grpc-timeout', `${this.t.timeoutMs}m`);
    for (const [k, v] of this.t.metadata) h.add(k, v);
    let body: Buffer;
    try {
      body = grpcFrame(jsonToBinary(REQUEST_TYPE, request));
    } catch {
      return { result: Promise.resolve(errorResponse()), cancel() {} };
    }
    const call = callUpstream(this.cm, { cluster: this.t.cluster, timeoutMs: this.t.timeoutMs, http2: true }, h, body);
    const result = call.result.then(
      (r) => {
        // trailers-only replies carry grpc-status in the headers
        const status = (r.trailers ?? r.headers).get('grpc-status');
        if (r.headers.get(':status') !== '200' || status !== '0') return errorResponse();
        const msg = unframe(r.body);
        if (!msg) return errorResponse();
        try {
          return toResponse(binaryToJson<Json>(RESPONSE_TYPE, msg, { wireAny: true }));
        } catch {
          return errorResponse();
        }
      },
      () => errorResponse(),
    );
    return { result, cancel: call.cancel };
  }
}

type HeaderOption = { header?: { key?: string; value?: string; raw_value?: string }; append?: boolean | { value?: boolean }; append_action?: string };

const headerOf = (o: HeaderOption): [string, string] | undefined => {
  const key = o.header?.key?.toLowerCase();
  if (!key) return undefined;
  const value = o.header?.value ?? (o.header?.raw_value !== undefined ? Buffer.from(o.header.raw_value, 'base64').toString('latin1') : '');
  return [key, value];
};
/** BoolValue in the decoded JSON: the wrapper's value, undefined when absent */
const appendOf = (o: HeaderOption): boolean | undefined => (typeof o.append === 'object' ? o.append.value === true : o.append);

/** CheckResponse (proto3 JSON) → the filter's decision. */
export function toResponse(res: Json): AuthzResponse {
  const code = Number((res.status as Json | undefined)?.code ?? 0);
  const headersToSet: [string, string][] = [];
  const headersToAppend: [string, string][] = [];
  const copyHeaders = (list: HeaderOption[] | undefined) => {
    for (const o of list ?? []) {
      const h = headerOf(o);
      if (h) (appendOf(o) === true ? headersToAppend : headersToSet).push(h);
    }
  };
  const ok = res.ok_response as Json | undefined;
  const denied = res.denied_response as Json | undefined;
  const dynamicMetadata = (ok?.dynamic_metadata as Json | undefined) ?? (res.dynamic_metadata as Json | undefined);
  const base = {
    headersToAdd: [] as [string, string][],
    headersToSet,
    headersToAppend,
    dynamicMetadata: dynamicMetadata && Object.keys(dynamicMetadata).length ? dynamicMetadata : undefined,
  };
  if (code === 0) {
    copyHeaders(ok?.headers as HeaderOption[] | undefined);
    const responseHeadersToAdd: [string, string][] = [];
    const responseHeadersToSet: [string, string][] = [];
    for (const o of (ok?.response_headers_to_add as HeaderOption[] | undefined) ?? []) {
      const h = headerOf(o);
      if (!h) continue;
      const append = appendOf(o);
      // without `append`, append_action decides (default APPEND_IF_EXISTS_OR_ADD)
      const add = append !== undefined ? append : (o.append_action ?? 'APPEND_IF_EXISTS_OR_ADD') === 'APPEND_IF_EXISTS_OR_ADD';
      (add ? responseHeadersToAdd : responseHeadersToSet).push(h);
    }
    const qp = (ok?.query_parameters_to_set as { key?: string; value?: string }[] | undefined) ?? [];
    return {
      ...base,
      status: 'ok',
      statusCode: 200,
      body: '',
      headersToRemove: ((ok?.headers_to_remove as string[] | undefined) ?? []).map((n) => n.toLowerCase()),
      responseHeadersToAdd,
      responseHeadersToSet,
      queryToSet: qp.filter((q) => q.key).map((q) => [q.key!, q.value ?? ''] as [string, string]),
      queryToRemove: (ok?.query_parameters_to_remove as string[] | undefined) ?? [],
    };
  }
  copyHeaders(denied?.headers as HeaderOption[] | undefined);
  const deniedCode = (denied?.status as Json | undefined)?.code;
  const statusCode = typeof deniedCode === 'string' ? HTTP_STATUS[deniedCode] ?? 403 : typeof deniedCode === 'number' && deniedCode > 0 ? deniedCode : 403;
  return {
    ...base,
    status: 'denied',
    statusCode,
    body: (denied?.body as string | undefined) ?? '',
    headersToRemove: [],
    responseHeadersToAdd: [],
    responseHeadersToSet: [],
    queryToSet: [],
    queryToRemove: [],
  };
}

/** envoy.type.v3.StatusCode names (the decoded JSON names enums) → numbers */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  Continue: 100, OK: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203, NoContent: 204, ResetContent: 205, PartialContent: 206,
  MultiStatus: 207, AlreadyReported: 208, IMUsed: 226, MultipleChoices: 300, MovedPermanently: 301, Found: 302, SeeOther: 303, NotModified: 304,
  UseProxy: 305, TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400, Unauthorized: 401, PaymentRequired: 402, Forbidden: 403,
  NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406, ProxyAuthenticationRequired: 407, RequestTimeout: 408, Conflict: 409, Gone: 410,
  LengthRequired: 411, PreconditionFailed: 412, PayloadTooLarge: 413, URITooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416,
  ExpectationFailed: 417, MisdirectedRequest: 421, UnprocessableEntity: 422, Locked: 423, FailedDependency: 424, UpgradeRequired: 426,
  PreconditionRequired: 428, TooManyRequests: 429, RequestHeaderFieldsTooLarge: 431, InternalServerError: 500, NotImplemented: 501,
  BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504, HTTPVersionNotSupported: 505, VariantAlsoNegotiates: 506,
  InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511,
};

/** HttpStatus.code as decoded (enum name or number) → the number; `fallback` when absent or unknown. */
export function httpStatusCode(code: unknown, fallback: number): number {
  if (typeof code === 'number' && code > 0) return code;
  if (typeof code === 'string') return HTTP_STATUS[code] ?? fallback;
  return fallback;
}
