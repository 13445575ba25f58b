// Redirect Locations, built the way Envoy's router builds them: the redirect's own path rewrite runs first (as
// rewritePathHeader does before the local reply), then Http::Utility::newUri assembles scheme, host, port and path.
import { ConfigError } from '../../common/errors.js';
import type { HeaderMap } from '../http/headers.js';
import { oneOf, removeQueryAndFragment } from './matchers.js';
import { compileRegexRewrite, type RegexMatchAndSubstituteConfig } from './path-rewrite.js';

export interface RedirectActionConfig {
  https_redirect?: boolean;
  scheme_redirect?: string;
  host_redirect?: string;
  port_redirect?: number;
  path_redirect?: string;
  prefix_rewrite?: string;
  regex_rewrite?: RegexMatchAndSubstituteConfig;
  response_code?: 'MOVED_PERMANENTLY' | 'FOUND' | 'SEE_OTHER' | 'TEMPORARY_REDIRECT' | 'PERMANENT_REDIRECT';
  strip_query?: boolean;
}

/** What a Location is computed from. `scheme` is the request's :scheme. */
export interface LocationRequest {
  readonly authority: string;
  readonly path: string;
  readonly scheme: string;
  readonly headers: HeaderMap;
}

export interface CompiledRedirect {
  readonly responseCode: number;
  /** `matchedLength`: how much of the :path the route matched (for prefix_rewrite), see CompiledRouteMatch */
  location(req: LocationRequest, matchedLength: number): string;
}

const REDIRECT_CODES = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
} as const;

const CTL = /[\0\r\n]/;

interface UriParts {
  scheme?: string;
  host?: string;
  /** ":port" or "" */
  port: string;
  path?: string;
  pathHasQuery: boolean;
  stripQuery: boolean;
}

const NO_PARTS: UriParts = { port: '', pathHasQuery: false, stripQuery: false };

/**
 * Http::Utility::newUri. Without a redirect config it rebuilds the request URL (used for 201/3xx direct
 * responses).
 */
export function newUri(req: LocationRequest, parts: UriParts = NO_PARTS, path = req.path): string {
  const scheme = parts.scheme ?? req.scheme;
  const host = parts.host ?? requestHost(req, scheme, parts.port);
  let finalPath: string;
  if (parts.path !== undefined) {
    // a path_redirect with its own query replaces the request's; otherwise the request's query is carried over
    if (parts.pathHasQuery) finalPath = parts.path;
    else {
      const q = path.indexOf('?');
      finalPath = q >= 0 ? parts.path + path.slice(q) : parts.path;
    }
  } else {
    finalPath = path;
  }
  if (!finalPath.startsWith('/')) finalPath = '/' + finalPath;
  if (parts.stripQuery && !parts.pathHasQuery) {
    const q = finalPath.indexOf('?');
    if (q >= 0) finalPath = finalPath.slice(0, q);
  }
  return `${scheme}://${host}${parts.port}${finalPath}`;
}

// processRequestHost: keep the request's host, dropping its port when a new port is set or when the scheme
// changes away from the request's (x-forwarded-proto) scheme and the port was that scheme's default.
function requestHost(req: LocationRequest, newScheme: string, newPort: string): string {
  const host = req.authority;
  if (host === '') return host;
  let end: number;
  if (host[0] === '[') {
    end = host.lastIndexOf(']:');
    if (end >= 0) end += 1;
  } else {
    end = host.lastIndexOf(':');
  }
  if (end < 0) return host;
  const port = host.slice(end);
  const proto = req.headers.get('x-forwarded-proto') ?? req.scheme;
  let remove = newPort !== '';
  if (newScheme !== proto) {
    const p = proto.toLowerCase();
    remove ||= (p === 'https' && port === ':443') || (p === 'http' && port === ':80');
  }
  return remove ? host.slice(0, end) : host;
}

/** The Location of a virtual host's require_tls redirect (Envoy's SslRedirectRoute). */
export function sslRedirectLocation(req: LocationRequest): string {
  return `https://${req.authority}${req.path}`;
}

export function compileRedirect(cfg: RedirectActionConfig, path: string): CompiledRedirect {
  oneOf(cfg, ['https_redirect', 'scheme_redirect'] as const, path, false);
  const pathSpec = oneOf(cfg, ['path_redirect', 'prefix_rewrite', 'regex_rewrite'] as const, path, false);
  for (const f of ['scheme_redirect', 'host_redirect', 'path_redirect', 'prefix_rewrite'] as const) {
    const v = cfg[f];
    if (v !== undefined && CTL.test(v)) throw new ConfigError('MW_CONFIG_INVALID', `${path}.${f}`, 'value contains NUL, CR or LF');
  }
  const responseCode = REDIRECT_CODES[cfg.response_code ?? 'MOVED_PERMANENTLY'];
  if (responseCode === undefined) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.response_code`, `unknown redirect response code ${cfg.response_code}`);
  }
  const port = cfg.port_redirect ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 0xffffffff) {
    throw new ConfigError('MW_CONFIG_INVALID', `${path}.port_redirect`, `${port} is not a uint32`);
  }
  const parts: UriParts = Object.freeze({
    scheme: cfg.scheme_redirect || (cfg.https_redirect ? 'https' : undefined),
    host: cfg.host_redirect || undefined,
    port: port ? `:${port}` : '',
    path: cfg.path_redirect || undefined,
    pathHasQuery: (cfg.path_redirect ?? '').includes('?'),
    stripQuery: cfg.strip_query === true,
  });

  let rewrite: ((p: string, matchedLength: number) => string) | undefined;
  if (pathSpec === 'prefix_rewrite' && cfg.prefix_rewrite) {
    const pr = cfg.prefix_rewrite;
    rewrite = (p, matchedLength) => pr + p.slice(matchedLength);
  } else if (pathSpec === 'regex_rewrite') {
    const rr = compileRegexRewrite(cfg.regex_rewrite!, `${path}.regex_rewrite`);
    rewrite = (p) => {
      const just = removeQueryAndFragment(p);
      const replaced = rr.replaceAll(just);
      // Envoy treats an empty rewrite result as "no rewrite configured" and keeps the path
      return replaced === '' ? p : replaced + p.slice(just.length);
    };
  }
  return Object.freeze({
    responseCode,
    location: (req: LocationRequest, matchedLength: number) =>
      newUri(req, parts, rewrite ? rewrite(req.path, matchedLength) : req.path),
  });
}
