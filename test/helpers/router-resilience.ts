// Shared pieces of the retries / timeouts / mirror suites: the example configs of examples/resilience/ (which
// docs/resilience.md shows) as fixtures, clusters over chaos upstreams, an HTTP client that reports what it
// got (or how it failed), and the proxy's access log lines.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse } from 'yaml';
import { hcmListener, routerFilter } from './bootstrap.js';
import { ROOT } from './proxy.js';

/** examples/resilience/<name>.yaml, parsed. */
export function example(name: string): any {
  return parse(fs.readFileSync(path.join(ROOT, 'examples/resilience', `${name}.yaml`), 'utf8'));
}

export { staticCluster as cluster } from './bootstrap.js';

export const ACCESS_LOG_FORMAT = '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\n';

/** An HTTP listener on 127.0.0.1:0 with the given virtual hosts, logging ACCESS_LOG_FORMAT to `logFile`. */
export function listener(name: string, virtualHosts: any[], logFile: string, hcm: object = {}): any {
  return hcmListener(name, {
    route_config: { name: `${name}_routes`, virtual_hosts: virtualHosts },
    http_filters: [routerFilter()],
    access_log: [{
      name: 'file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path: logFile,
        log_format: { text_format_source: { inline_string: ACCESS_LOG_FORMAT } },
      },
    }],
    ...hcm,
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on its own connection; rejects on a connection error or after `timeoutMs`. */
export function request(port: number, opts: { path?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer; host?: string; agent?: http.Agent; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { ...(opts.host ? { host: opts.host } : {}), ...(opts.headers ?? {}) }, agent: opts.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The access log lines for `pathPrefix` (written when each stream completes). */
export function logLines(logFile: string, pathPrefix: string): string[] {
  if (!fs.existsSync(logFile)) return [];
  return fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith(pathPrefix + ' ') || l.startsWith(pathPrefix + '/') || l.startsWith(pathPrefix + '?'));
}
