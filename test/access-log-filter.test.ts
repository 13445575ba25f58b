// Access log filters through a real `meshwork proxy`: one listener, one request mix (200s, a 404 from the app, a
// route that does not exist (NR), a health check answered by the health_check filter, a "gRPC" request to a
// missing route, a request with x-log), and one file access log per filter kind. Each file must hold exactly the
// requests its filter keeps. A bad filter is refused at load with its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { hcmListener, routerFilter, staticCluster } from './helpers/bootstrap.js';
import { curl, fileLog } from './helpers/protocols.js';
import { listenerPort, startProxy, tmpDir, waitFor } from './helpers/proxy.js';

const FORMAT = '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%';

test('access log filters: status code, duration, health check, runtime, and/or, header, response flag, gRPC status', async (t) => {
  const app = http.createServer((req, res) => {
    if (req.url === '/missing') res.writeHead(404).end('no');
    else res.end('ok');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.after(() => app.close());
  const dir = tmpDir('meshwork-alf-');
  const logs: Record<string, object> = {
    errors: { status_code_filter: { comparison: { op: 'GE', value: { default_value: 400, runtime_key: 'unused' } } } },
    exact200: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 200, runtime_key: 'a' } } } },
    slowOrAll: { duration_filter: { comparison: { op: 'GE', value: { default_value: 0, runtime_key: 'b' } } } },
    noHealth: { not_health_check_filter: {} },
    never: { runtime_filter: { runtime_key: 'x', percent_sampled: { numerator: 0, denominator: 'HUNDRED' } } },
    always: { runtime_filter: { runtime_key: 'x', percent_sampled: { numerator: 1_000_000, denominator: 'MILLION' } } },
    tagged: { and_filter: { filters: [{ header_filter: { header: { name: 'x-log', present_match: true } } }, { status_code_filter: { comparison: { op: 'LE', value: { default_value: 299, runtime_key: 'c' } } } }] } },
    either: { or_filter: { filters: [{ response_flag_filter: { flags: ['NR'] } }, { header_filter: { header: { name: 'x-log', string_match: { exact: 'yes' } } } }] } },
    anyFlag: { response_flag_filter: {} },
    grpcUnimplemented: { grpc_status_filter: { statuses: ['UNIMPLEMENTED'] } },
  };
  const accessLog = Object.entries(logs).map(([name, filter]) => ({ ...(fileLog(path.join(dir, `${name}.log`), FORMAT) as object), filter }));
  const proxy = await startProxy({
    static_resources: {
      listeners: [
        hcmListener('web', {
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/app' }, route: { cluster: 'app' } }, { match: { path: '/missing' }, route: { cluster: 'app' } }] }] },
          http_filters: [
            { name: 'envoy.filters.http.health_check', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck', pass_through_mode: false, headers: [{ name: ':path', string_match: { exact: '/healthz' } }] } },
            routerFilter(),
          ],
          access_log: accessLog,
        }),
      ],
      clusters: [staticCluster('app', [(app.address() as net.AddressInfo).port])],
    },
  });
  t.after(() => proxy.stop());
  const port = await listenerPort(proxy, 'web');
  const get = (p: string, headers: string[] = []) => curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', ...headers.flatMap((h) => ['-H', h]), `http://127.0.0.1:${port}${p}`]);
  assert.equal((await get('/app/1')).stdout, '200');
  assert.equal((await get('/app/2', ['x-log: yes'])).stdout, '200');
  assert.equal((await get('/missing')).stdout, '404');
  assert.equal((await get('/nowhere')).stdout, '404');
  assert.equal((await get('/healthz')).stdout, '200');
  assert.equal((await get('/grpc-nowhere', ['content-type: application/grpc'])).stdout, '200');
  const all = ['/app/1 200 -', '/app/2 200 -', '/missing 404 -', '/nowhere 404 NR', '/healthz 200 -', '/grpc-nowhere 200 NR'];

  // the file loggers flush every second
  const read = (name: string) => {
    const f = path.join(dir, `${name}.log`);
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
  };
  await waitFor(() => read('always').length === all.length, 'the unfiltered log to hold every request', 10_000);
  const expected: Record<string, string[]> = {
    errors: ['/missing 404 -', '/nowhere 404 NR'],
    exact200: ['/app/1 200 -', '/app/2 200 -', '/healthz 200 -', '/grpc-nowhere 200 NR'],
    slowOrAll: all,
    noHealth: all.filter((l) => !l.startsWith('/healthz')),
    never: [],
    always: all,
    tagged: ['/app/2 200 -'],
    either: ['/app/2 200 -', '/nowhere 404 NR', '/grpc-nowhere 200 NR'],
    anyFlag: ['/nowhere 404 NR', '/grpc-nowhere 200 NR'],
    grpcUnimplemented: ['/grpc-nowhere 200 NR'],
  };
  // each file flushes on its own one-second timer: wait until every file has what it should, then compare exactly
  await waitFor(() => Object.entries(expected).every(([name, lines]) => read(name).length >= lines.length), 'every log flushed', 10_000).catch(() => {});
  // and one more flush interval, so that a file that should stay empty (never) had its chance to show a line
  await new Promise((r) => setTimeout(r, 1200));
  for (const [name, lines] of Object.entries(expected)) assert.deepEqual(read(name), lines, name);
});

test('a bad access log filter is refused at load, naming the field', async () => {
  const bad = {
    static_resources: {
      listeners: [
        hcmListener('web', {
          route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [] }] },
          http_filters: [routerFilter()],
          access_log: [{ ...(fileLog('/dev/null', FORMAT) as object), filter: { response_flag_filter: { flags: ['NOPE'] } } }],
        }),
      ],
    },
  };
  await assert.rejects(startProxy(bad), /access_log\[0\]\.filter\.response_flag_filter\.flags\[0\]/);
});
