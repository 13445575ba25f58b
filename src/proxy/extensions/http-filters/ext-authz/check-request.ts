// The CheckRequest (envoy.service.auth.v3.CheckRequest, as proto3 JSON) Envoy's CheckRequestUtils::createHttpCheck
// builds for one request, and the answer both clients reduce the authorizer's reply to (Envoy's ExtAuthz::Response).
//
// What goes in, as Envoy fills it:
//  - source: the downstream remote address, the principal of its certificate (first URI SAN, else first DNS SAN,
//    else the subject), `service` from x-envoy-downstream-service-cluster; destination: the local address and
//    the principal of our own certificate (URI SAN, else subject).
//  - request.time (the stream's start), request.http: id, method, path (with the query: `query` and `fragment`
//    stay empty, as the API says), host (:authority), scheme, size (content-length, else -1), protocol
//    ("HTTP/1.1", "HTTP/2"), the headers (pseudo-headers included, repeated ones joined with ","; only the
//    allowed ones, none of the disallowed), and the buffered body (with_request_body) as `body` (UTF-8) or
//    `raw_body` (pack_as_bytes).
//  - context_extensions (a route's CheckSettings), metadata_context (the dynamic metadata namespaces named in
//    metadata_context_namespaces), tls_session.sni (include_tls_session).
import type { HeaderMap } from '../../../http/headers.js';
import type { StreamInfo, TlsInfo } from '../../../stream-info.js';
import type { HeaderKeyMatcher } from './matchers.js';

export type Json = Record<string, unknown>;

/** Envoy's ExtAuthz::Response: what the filter acts on, whichever client produced it. */
export interface AuthzResponse {
  readonly status: 'ok' | 'denied' | 'error';
  /** denied: the status sent to the client */
  readonly statusCode: number;
  /** denied: the body sent to the client */
  readonly body: string;
  /** ok: request headers replaced (added when absent); denied: headers set on the local reply */
  readonly headersToSet: readonly [string, string][];
  /** ok: request headers added as one more entry (HTTP allowed_upstream_headers_to_append) */
  readonly headersToAdd: readonly [string, string][];
  /** ok: appended to an existing value with ",", else added (gRPC HeaderValueOption append: true) */
  readonly headersToAppend: readonly [string, string][];
  readonly headersToRemove: readonly string[];
  /** ok: response headers added / set when the upstream's response passes */
  readonly responseHeadersToAdd: readonly [string, string][];
  readonly responseHeadersToSet: readonly [string, string][];
  readonly queryToSet: readonly [string, string][];
  readonly queryToRemove: readonly string[];
  /** set on the stream under envoy.filters.http.ext_authz */
  readonly dynamicMetadata: Json | undefined;
}

const EMPTY: readonly never[] = Object.freeze([]);

export function errorResponse(): AuthzResponse {
  return { status: 'error', statusCode: 403, body: '', headersToSet: EMPTY, headersToAdd: EMPTY, headersToAppend: EMPTY, headersToRemove: EMPTY, responseHeadersToAdd: EMPTY, responseHeadersToSet: EMPTY, queryToSet: EMPTY, queryToRemove: EMPTY, dynamicMetadata: undefined };
}

/** A check in flight: `cancel` when the stream goes away first. */
export interface PendingCheck {
  readonly result: Promise<AuthzResponse>;
  cancel(): void;
}

export interface AuthzClient {
  check(request: Json, headers: HeaderMap, info: StreamInfo): PendingCheck;
}

/** What the filter hands to createCheckRequest, per request. */
export interface CheckInput {
  readonly headers: HeaderMap;
  readonly info: StreamInfo;
  readonly streamId: number;
  readonly contextExtensions: Readonly<Record<string, string>> | undefined;
  /** buffered body (with_request_body), or undefined */
  readonly body: Buffer | undefined;
  readonly partialBody: boolean;
}

/** What the compiled config contributes to every check. */
export interface CheckRequestOptions {
  /** undefined: every header */
  readonly allowedHeaders: HeaderKeyMatcher | undefined;
  readonly disallowedHeaders: HeaderKeyMatcher | undefined;
  readonly packAsBytes: boolean;
  readonly includeTlsSession: boolean;
  /** include_peer_certificate: the client's certificate, URL-encoded PEM, in source.certificate */
  readonly includePeerCertificate: boolean;
  readonly metadataContextNamespaces: readonly string[];
}

/** The source and destination peers of a check (HTTP or TCP): addresses, the principals of both certificates
 *  (the client's first URI SAN, else DNS SAN, else subject; ours: URI SAN, else subject), and with
 *  `includeCertificate` the client's certificate as URL-encoded PEM, as Envoy fills AttributeContext.Peer. */
export function peerAttributes(remote: string, local: string, tls: TlsInfo | undefined, includeCertificate: boolean): { source: Json; destination: Json } {
  const source: Json = { address: socketAddress(remote) };
  const destination: Json = { address: socketAddress(local) };
  if (tls) {
    const peer = tls.peerUriSan?.[0] ?? tls.peerDnsSan?.[0] ?? tls.peerSubject;
    if (peer) source.principal = peer;
    if (includeCertificate && tls.peerCertificatePem) source.certificate = encodeURIComponent(tls.peerCertificatePem());
    const ours = tls.localUriSan?.[0] ?? tls.localSubject;
    if (ours) destination.principal = ours;
  }
  return { source, destination };
}

/** "ip:port" or "[v6]:port" → a config.core.v3.Address. */
export function socketAddress(hostPort: string): Json {
  const i = hostPort.lastIndexOf(':');
  let ip = i < 0 ? hostPort : hostPort.slice(0, i);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const port = i < 0 ? 0 : Number(hostPort.slice(i + 1));
  return { socket_address: { address: ip, port_value: Number.isFinite(port) ? port : 0 } };
}

export function createCheckRequest(input: CheckInput, o: CheckRequestOptions): Json {
  const { headers, info } = input;
  const tls = info.downstreamTls;
  const { source, destination } = peerAttributes(info.downstreamRemoteAddress, info.downstreamLocalAddress, tls, o.includePeerCertificate);
  const service = headers.get('x-envoy-downstream-service-cluster');
  if (service) source.service = service;

  const map: Record<string, string> = {};
  const raw = headers.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (o.allowedHeaders && !o.allowedHeaders.matches(name)) continue;
    if (o.disallowedHeaders?.matches(name)) continue;
    const prev = map[name];
    map[name] = prev === undefined ? raw[i + 1]! : `${prev},${raw[i + 1]!}`;
  }
  if (input.body !== undefined) map['x-envoy-auth-partial-body'] = input.partialBody ? 'true' : 'false';

  const cl = headers.get('content-length');
  const size = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : input.body !== undefined && !input.partialBody ? input.body.length : -1;
  const http: Json = {
    id: String(input.streamId),
    method: headers.get(':method') ?? '',
    headers: map,
    path: headers.get(':path') ?? '',
    host: headers.get(':authority') ?? '',
    scheme: headers.get(':scheme') ?? (tls ? 'https' : 'http'),
    size,
    protocol: info.protocol ?? '',
  };
  if (input.body !== undefined && input.body.length > 0) {
    if (o.packAsBytes) http.raw_body = input.body.toString('base64');
    else http.body = input.body.toString('utf8');
  }
  const attributes: Json = {
    source,
    destination,
    request: { time: new Date(info.startTime).toISOString(), http },
  };
  if (input.contextExtensions) attributes.context_extensions = input.contextExtensions;
  if (o.metadataContextNamespaces.length && info.dynamicMetadata) {
    const filterMetadata: Json = {};
    for (const ns of o.metadataContextNamespaces) {
      const v = info.dynamicMetadata[ns];
      if (v !== undefined) filterMetadata[ns] = v;
    }
    if (Object.keys(filterMetadata).length) attributes.metadata_context = { filter_metadata: filterMetadata };
  }
  if (o.includeTlsSession && tls?.sni) attributes.tls_session = { sni: tls.sni };
  return { attributes };
}
