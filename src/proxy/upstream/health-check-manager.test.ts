import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { ConfigError } from '../../common/errors.js';
import { StatsStore } from '../observability/stats.js';
import { Host } from './host.js';
import { compileHealthChecks, HealthCheckManager } from './health-check-manager.js';
import '../extensions/registry.js';

const transport = { connectTimeoutMs: 1000, idleTimeoutMs: 60_000, perConnectionBufferLimit: 1 << 20, h2MaxConcurrentStreams: 100, onConnectFail: () => {} } as any;

function listen(server: net.Server): Promise<number> {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
}

function manager(hc: any, opts: { traffic?: boolean } = {}) {
  const events: [number, boolean][] = [];
  const stats = new StatsStore();
  const compiled = compileHealthChecks({ name: 'svc', transport }, [hc], 'clusters[0].health_checks')!;
  let onChange = (): void => {};
  const m = new HealthCheckManager({ name: 'svc', transport, statsScope: stats.scope('cluster.svc.'), hadTraffic: () => opts.traffic ?? true, onHealthChanged: () => onChange() }, compiled);
  return { m, stats, events, setOnChange: (f: () => void) => (onChange = f) };
}

const base = { timeout: 1000, interval: 20, unhealthy_threshold: 3, healthy_threshold: 2 };

test('thresholds: first pass skips healthy_threshold, retriable statuses count, other statuses fail at once', async () => {
  // answers to /health in order; after the script, 200
  const script = [200, 429, 429, 200, 429, 429, 429, 200, 200, 503];
  let n = 0;
  const seen: { path?: string; host?: string; ua?: string; extra?: string } = {};
  const server = http.createServer((req, res) => {
    Object.assign(seen, { path: req.url, host: req.headers.host, ua: req.headers['user-agent'], extra: req.headers['x-hc'] });
    res.writeHead(script[n++] ?? 200).end();
  });
  const port = await listen(server);
  const { m, stats, events, setOnChange } = manager({
    ...base,
    http_health_check: { path: '/health', retriable_statuses: [{ start: 429, end: 430 }], request_headers_to_add: [{ header: { key: 'x-hc', value: '1' } }] },
  });
  const host = new Host('127.0.0.1', port);
  const done = new Promise<void>((resolve) =>
    setOnChange(() => {
      events.push([n, host.failedActiveHc]);
      if (events.length === 4) resolve();
    }),
  );
  m.updateHosts([host]);
  assert.equal(host.failedActiveHc, true, 'a new host waits for its first check');
  await m.firstRound();
  await done;
  m.stop();
  server.close();
  assert.deepEqual(events, [
    [1, false], // first check passes: healthy at once
    [7, true], // the third consecutive retriable failure
    [9, false], // healthy_threshold 2
    [10, true], // 503 is not expected and not retriable: unhealthy at once
  ]);
  assert.deepEqual(seen, { path: '/health', host: 'svc', ua: 'Envoy/HC', extra: '1' });
  assert.equal(stats.counter('cluster.svc.health_check.failure').value, 6);
  assert.ok(stats.counter('cluster.svc.health_check.attempt').value >= 10);
  assert.equal(stats.gauge('cluster.svc.health_check.healthy').value, 0);
});

test('a refused or silent TCP host fails as a network failure; send/receive payloads pass in order', async () => {
  const closed = net.createServer();
  const refusedPort = await listen(closed);
  await new Promise<void>((r) => closed.close(() => r()));
  // The checker resets connections it gives up on: the accepted sockets ignore that ECONNRESET (and are
  // destroyed at the end), or it would surface after the test as an uncaught error.
  const accepted = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    accepted.add(s);
    s.on('error', () => {});
  };
  const silent = net.createServer(track); // accepts and never answers: the check times out
  const silentPort = await listen(silent);
  const echo = net.createServer((s) => {
    track(s);
    s.on('data', (d) => d.toString() === 'PING' && s.write('xxPOyyNGzz'));
  });
  const echoPort = await listen(echo);
  const { m, stats } = manager({ ...base, timeout: 200, unhealthy_threshold: 1, tcp_health_check: { send: { text: '50494e47' }, receive: [{ text: '504f' }, { text: '4e47' }] } });
  const hosts = [new Host('127.0.0.1', refusedPort), new Host('127.0.0.1', silentPort), new Host('127.0.0.1', echoPort)];
  m.updateHosts(hosts);
  await m.firstRound();
  m.stop();
  for (const s of accepted) s.destroy();
  await Promise.all([silent, echo].map((srv) => new Promise((r) => srv.close(r))));
  assert.deepEqual(hosts.map((h) => h.failedActiveHc), [true, true, false]);
  const nf = stats.counter('cluster.svc.health_check.network_failure').value;
  assert.ok(nf >= 2 && nf === stats.counter('cluster.svc.health_check.failure').value, `network failures ${nf}`);
});

test('no_traffic_interval applies until the cluster had traffic', async () => {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.end();
  });
  const port = await listen(server);
  const { m } = manager({ ...base, http_health_check: { path: '/' } }, { traffic: false });
  m.updateHosts([new Host('127.0.0.1', port)]);
  await m.firstRound();
  await new Promise((r) => setTimeout(r, 300));
  m.stop();
  server.close();
  assert.equal(hits, 1, 'after the first check the next one waits no_traffic_interval (60 s by default)');
});

test('config is validated with field paths', () => {
  const bad = (hc: any, path: string) =>
    assert.throws(() => compileHealthChecks({ name: 'svc', transport }, Array.isArray(hc) ? hc : [hc], 'c.health_checks'), (e: ConfigError) => {
      assert.equal(e.path, path);
      return true;
    });
  bad({ ...base, timeout: -1, tcp_health_check: {} }, 'c.health_checks[0].timeout');
  bad({ ...base, interval: undefined, tcp_health_check: {} }, 'c.health_checks[0].interval');
  bad({ ...base, healthy_threshold: undefined, tcp_health_check: {} }, 'c.health_checks[0].healthy_threshold');
  bad({ ...base }, 'c.health_checks[0]');
  bad({ ...base, http_health_check: {} }, 'c.health_checks[0].http_health_check.path');
  bad({ ...base, http_health_check: { path: '/', expected_statuses: [{ start: 200, end: 700 }] } }, 'c.health_checks[0].http_health_check.expected_statuses[0]');
  bad({ ...base, tcp_health_check: { send: { text: 'zz' } } }, 'c.health_checks[0].tcp_health_check.send.text');
  bad([{ ...base, tcp_health_check: {} }, { ...base, tcp_health_check: {} }], 'c.health_checks[1]');
});
