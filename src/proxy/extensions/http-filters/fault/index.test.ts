import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../../common/errors.js';
import { HeaderMap } from '../../../http/headers.js';
import { compileRouteConfiguration } from '../../../router/route-table.js';
import { compileFaultSettings, faultFilter } from './index.js';
import { ResponseRateLimiter } from './response-rate-limiter.js';

const throwsAt = (cfg: object, re: RegExp) =>
  assert.throws(() => compileFaultSettings(cfg, 'f'), (e: unknown) => e instanceof ConfigError && re.test(e.message));

test('compiles delay, abort and response rate limit with Envoy defaults (an unset percentage is 0 %)', () => {
  const s = compileFaultSettings(
    {
      delay: { fixed_delay: 7000, percentage: { numerator: 100 } },
      abort: { grpc_status: 14 },
      response_rate_limit: { header_limit: {}, percentage: { numerator: 50, denominator: 'TEN_THOUSAND' } },
      headers: [{ name: 'x-test', exact_match: 'yes' }],
      downstream_nodes: ['a', 'b'],
    },
    'f',
  );
  assert.equal(s.delay!.fixedMs, 7000);
  assert.deepEqual(s.delay!.percentage.configured, { numerator: 100, denominator: 100 });
  assert.deepEqual(s.abort!.percentage.configured, { numerator: 0, denominator: 100 });
  assert.equal(s.abort!.grpcStatus, 14);
  assert.equal(s.responseRateLimit!.kbps, undefined);
  assert.equal(s.responseRateLimit!.percentage.header, 'x-envoy-fault-throughput-response-percentage');
  assert.equal(s.maxActiveFaults, Infinity);
  assert.deepEqual([...s.downstreamNodes!], ['a', 'b']);
  assert.equal(s.headers.length, 1);
});

test('rejects bad settings with field paths', () => {
  throwsAt({ delay: { fixed_delay: -5, percentage: { numerator: 1 } } }, /f\.delay\.fixed_delay: must be a positive duration/);
  throwsAt({ delay: { percentage: { numerator: 1 } } }, /f\.delay: one of fixed_delay or header_delay/);
  throwsAt({ abort: { http_status: 503, percentage: { numerator: 200 } } }, /f\.abort\.percentage\.numerator: 200 is more than/);
  throwsAt({ abort: { http_status: 700 } }, /f\.abort\.http_status: must be in \[200, 600\)/);
  throwsAt({ abort: { percentage: { numerator: 1 } } }, /f\.abort: exactly one of/);
  throwsAt({ response_rate_limit: { fixed_limit: { limit_kbps: 0 } } }, /f\.response_rate_limit\.fixed_limit\.limit_kbps/);
  throwsAt({ headers: [{ name: '' }] }, /f\.headers\[0\]\.name/);
});

test('typed_per_filter_config is compiled once at route table compile time, keyed by filter name', () => {
  let calls = 0;
  const rt = compileRouteConfiguration(
    {
      virtual_hosts: [{
        name: 'v',
        domains: ['*'],
        routes: [
          { match: { prefix: '/a' }, route: { cluster: 'c' }, typed_per_filter_config: { myfault: { '@type': 'x', abort: { http_status: 418, percentage: { numerator: 100 } } } } },
          { match: { prefix: '/' }, route: { cluster: 'c' } },
        ],
      }],
    },
    {
      perFilterConfig: (name, value, path) => {
        calls++;
        assert.equal(name, 'myfault');
        assert.match(path, /routes\[0\]\.typed_per_filter_config\.myfault$/);
        return faultFilter.createPerRoute!(value, { path, name } as never);
      },
    },
  );
  const req = (p: string) => HeaderMap.from({ ':authority': 'h', ':path': p, ':method': 'GET' });
  for (let i = 0; i < 5; i++) assert.equal((rt.route(req('/a'))!.perFilterConfig('myfault') as any).abort.httpStatus, 418);
  assert.equal(rt.route(req('/b'))!.perFilterConfig('myfault'), undefined);
  assert.equal(calls, 1);
  // a bad override fails the route table with its path
  assert.throws(
    () => compileRouteConfiguration(
      { virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, typed_per_filter_config: { f: { abort: { http_status: 100 } } } }] }] },
      { perFilterConfig: (_n, v, path) => faultFilter.createPerRoute!(v, { path } as never) },
    ),
    /typed_per_filter_config\.f\.abort\.http_status/,
  );
});

test('ResponseRateLimiter sends a slice at once, the rest in order per 1/16 s, then the end (or trailers)', async () => {
  const out: { len: number; end: boolean; at: number }[] = [];
  const data = Buffer.alloc(4096, 7);
  const t0 = performance.now();
  // 16 KiB/s: 1 KiB per slice
  await new Promise<void>((resolve) => {
    const l = new ResponseRateLimiter(16 * 1024, (d, end) => {
      out.push({ len: d.length, end, at: performance.now() - t0 });
      if (end) resolve();
    }, () => assert.fail('no trailers'));
    l.writeData(data.subarray(0, 1500), false);
    l.writeData(data.subarray(1500), true);
  });
  assert.equal(out.reduce((n, o) => n + o.len, 0), 4096);
  assert.equal(out[0]!.len, 1024);
  assert.ok(out.every((o) => o.len <= 1024));
  assert.equal(out.filter((o) => o.end).length, 1);
  assert.ok(out.at(-1)!.at >= 3 * 62, `4 KiB at 16 KiB/s must take 3 more slices, took ${out.at(-1)!.at} ms`);

  const events: string[] = [];
  await new Promise<void>((resolve) => {
    const l = new ResponseRateLimiter(16 * 1024, (d, end) => events.push(`data ${d.length} ${end}`), () => {
      events.push('trailers');
      resolve();
    });
    l.writeData(Buffer.alloc(1500), false);
    l.writeTrailers(HeaderMap.from({ 'grpc-status': '0' }));
  });
  assert.deepEqual(events, ['data 1024 false', 'data 476 false', 'trailers']);
});

test('a destroyed limiter sends nothing more', async () => {
  let sent = 0;
  const l = new ResponseRateLimiter(16 * 1024, (d) => (sent += d.length), () => {});
  l.writeData(Buffer.alloc(4096), true);
  l.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(sent, 1024);
});
