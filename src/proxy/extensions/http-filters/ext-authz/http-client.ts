// http_service: the check as a plain HTTP request to the authorization server, as Envoy's RawHttpClientImpl
// sends it, and its reply turned into a decision:
//  - the request: the original method, `path_prefix` + the original path (query included), :authority and
//    Authorization always, the other client headers only when authorization_request.allowed_headers (or the
//    top-level allowed_headers) lets them through and disallowed_headers does not; headers_to_add (formatted
//    per request) overwrite; content-length is the buffered body's (0 without one).
//  - the reply: 5xx (or no reply) is an error; 200 is ok — headers matching allowed_upstream_headers replace
//    request headers, allowed_upstream_headers_to_append are added, allowed_client_headers_on_success go on the
//    response, dynamic_metadata_from_headers become dynamic metadata, and x-envoy-auth-headers-to-remove names
//    request headers to remove; anything else is denied with the reply's status and body, and the headers
//    allowed_client_headers admits (all but :authority when it is unset; with it, also :status,
//    content-length, www-authenticate and location) go on the local reply.
import type { Formatter } from '../../../observability/formatter.js';
import { HeaderMap } from '../../../http/headers.js';
import type { StreamInfo } from '../../../stream-info.js';
import type { ClusterManager } from '../../../upstream/cluster-manager.js';
import { errorResponse, type AuthzClient, type AuthzResponse, type Json, type PendingCheck } from './check-request.js';
import type { HeaderKeyMatcher } from './matchers.js';
import { callUpstream } from '../../common/upstream-call.js';

export const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

export interface HttpServiceConfig {
  readonly cluster: string;
  readonly timeoutMs: number;
  readonly pathPrefix: string;
  /** which client headers go to the server (the defaults included) */
  readonly requestHeaders: HeaderKeyMatcher;
  readonly disallowedHeaders: HeaderKeyMatcher | undefined;
  readonly headersToAdd: readonly { readonly name: string; readonly value: Formatter }[];
  readonly upstream: HeaderKeyMatcher | undefined;
  readonly upstreamAppend: HeaderKeyMatcher | undefined;
  readonly client: HeaderKeyMatcher;
  readonly clientOnSuccess: HeaderKeyMatcher | undefined;
  readonly toMetadata: HeaderKeyMatcher | undefined;
}

const never: HeaderKeyMatcher = { matches: () => false };

export class HttpAuthzClient implements AuthzClient {
  constructor(
    private readonly cm: ClusterManager,
    private readonly c: HttpServiceConfig,
  ) {}

  check(request: Json, headers: HeaderMap, info: StreamInfo): PendingCheck {
    const c = this.c;
    const http = ((request.attributes as Json).request as Json).http as Json;
    const bodyText = (http.body as string | undefined) ?? '';
    const body = bodyText ? Buffer.from(bodyText, 'utf8') : undefined;
    const h = new HeaderMap();
    const raw = headers.raw;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name === 'content-length' || !c.requestHeaders.matches(name) || c.disallowedHeaders?.matches(name)) continue;
      const value = raw[i + 1]!;
      if (name === ':path') h.add(name, c.pathPrefix + value);
      else if (h.has(name)) h.set(name, `${h.get(name)},${value}`);
      else h.add(name, value);
    }
    if (!h.has(':method')) h.add(':method', 'GET');
    if (!h.has(':path')) h.add(':path', c.pathPrefix || '/');
    if (!h.has(':authority')) h.add(':authority', c.cluster);
    if (http.headers && (http.headers as Record<string, string>)['x-envoy-auth-partial-body'] !== undefined) {
      h.set('x-envoy-auth-partial-body', (http.headers as Record<string, string>)['x-envoy-auth-partial-body']!);
    }
    for (const a of c.headersToAdd) h.set(a.name, a.value.format(info));
    h.set('content-length', String(body?.length ?? 0));
    const call = callUpstream(this.cm, { cluster: c.cluster, timeoutMs: c.timeoutMs }, h, body);
    return { result: call.result.then((r) => this.toResponse(r.headers, r.body), () => errorResponse()), cancel: call.cancel };
  }

  toResponse(headers: HeaderMap, body: Buffer): AuthzResponse {
    const c = this.c;
    const status = Number(headers.get(':status'));
    if (!(status >= 200) || status >= 500) return errorResponse();
    const ok = status === 200;
    const headersToRemove: string[] = [];
    if (ok) {
      for (const v of headers.getAll(HEADERS_TO_REMOVE)) {
        for (const n of v.split(',')) if (n.trim()) headersToRemove.push(n.trim().toLowerCase());
      }
    }
    const set: [string, string][] = [];
    const add: [string, string][] = [];
    const responseAdd: [string, string][] = [];
    let md: Json | undefined;
    const setMatcher = ok ? (c.upstream ?? never) : c.client;
    const raw = headers.raw;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name === HEADERS_TO_REMOVE) continue;
      // Envoy drops these from an OK reply before matching: they describe the reply, not the request
      if (ok && OK_DROPPED.has(name)) continue;
      if (setMatcher.matches(name)) set.push([name, value]);
      if (c.upstreamAppend?.matches(name)) add.push([name, value]);
      if (c.clientOnSuccess?.matches(name)) responseAdd.push([name, value]);
      if (c.toMetadata?.matches(name)) (md ??= {})[name] = value;
    }
    return {
      status: ok ? 'ok' : 'denied',
      statusCode: status,
      body: ok ? '' : body.toString('utf8'),
      headersToSet: set,
      headersToAdd: ok ? add : [],
      headersToAppend: [],
      headersToRemove,
      responseHeadersToAdd: ok ? responseAdd : [],
      responseHeadersToSet: [],
      queryToSet: [],
      queryToRemove: [],
      dynamicMetadata: md,
    };
  }
}

const OK_DROPPED = new Set([':status', 'date', 'x-envoy-upstream-service-time', ':method', ':path', 'content-length', 'content-type']);
