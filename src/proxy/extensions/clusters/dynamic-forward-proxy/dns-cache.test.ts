import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../../../observability/stats.js';
import { acquireDnsCache, cacheKey, compileDnsCacheConfig, DnsCache, HOST_OVERFLOW, PENDING_OVERFLOW, splitKey, type DnsHostEntry, type DnsWaiter } from './dns-cache.js';

/** A resolver the test answers by hand: each lookup waits until resolve()/reject() is called for its name. */
function manualResolver() {
  const calls: { name: string; resolve: (a: string[]) => void; reject: (e: Error) => void }[] = [];
  const fn = (name: string) => new Promise<string[]>((resolve, reject) => calls.push({ name, resolve, reject }));
  return { fn, calls };
}

function waiter(): DnsWaiter & { got: DnsHostEntry[] } {
  const got: DnsHostEntry[] = [];
  return { got, onDnsResolved: (e) => void got.push(e) };
}

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('cacheKey keeps an authority with a port as it is and adds the default port otherwise', () => {
  const a = 'example.com:8080';
  assert.equal(cacheKey(a, 80), a);
  assert.equal(cacheKey('example.com', 80), 'example.com:80');
  assert.equal(cacheKey('[::1]', 80), '[::1]:80');
  assert.equal(cacheKey('[::1]:9', 80), '[::1]:9');
  assert.deepEqual(splitKey('[::1]:9'), { host: '::1', port: 9 });
  assert.deepEqual(splitKey('localhost:443'), { host: 'localhost', port: 443 });
  for (const bad of ['localhost:0', 'localhost:70000', 'a:b:1', ':80', 'host:', '[::1:80', 'h:8x']) assert.equal(splitKey(bad), null, bad);
});

test('compileDnsCacheConfig applies Envoy defaults and rejects bad values with their path', () => {
  const s = compileDnsCacheConfig({ name: 'c' }, 'p');
  assert.deepEqual({ ...s, preresolve: [...s.preresolve] }, {
    name: 'c', family: 'AUTO', refreshMs: 60_000, failureRefreshMs: 60_000, hostTtlMs: 300_000, maxHosts: 1024,
    maxPendingRequests: 1024, queryTimeoutMs: 5000, preresolve: [],
  });
  assert.throws(() => compileDnsCacheConfig({}, 'p'), /p\.name: a DNS cache needs a name/);
  assert.throws(() => compileDnsCacheConfig({ name: 'c', max_hosts: 0 }, 'p'), /p\.max_hosts/);
  assert.throws(() => compileDnsCacheConfig({ name: 'c', dns_failure_refresh_rate: {} }, 'p'), /p\.dns_failure_refresh_rate\.base_interval/);
  assert.equal(compileDnsCacheConfig({ name: 'c', dns_failure_refresh_rate: { base_interval: 50 } }, 'p').failureRefreshMs, 50);
});

test('requests for one new host share one lookup; a resolved host is answered from the cache', async () => {
  const r = manualResolver();
  const cache = new DnsCache(compileDnsCacheConfig({ name: 't1' }, 'p'), r.fn);
  const stats = new StatsStore();
  cache.bindStats(stats);
  const added: string[] = [];
  cache.addListener({ onHostAddOrUpdate: (e) => void added.push(e.hostId!), onHostRemove: () => {} });
  const w1 = waiter();
  const w2 = waiter();
  const e1 = cache.load('svc.test:8080', 80, w1);
  const e2 = cache.load('svc.test:8080', 80, w2);
  assert.ok(typeof e1 === 'object' && e1 !== null && e1.resolving);
  assert.equal(e1, e2);
  assert.equal(r.calls.length, 1);
  assert.equal(r.calls[0]!.name, 'svc.test');
  r.calls[0]!.resolve(['10.0.0.7']);
  await tick();
  // the listener (the cluster) hears first, so the host exists when the waiters resume
  assert.deepEqual(added, ['10.0.0.7:8080']);
  assert.equal(w1.got.length, 1);
  assert.equal(w2.got.length, 1);
  assert.equal(w1.got[0]!.address, '10.0.0.7');
  const w3 = waiter();
  const hit = cache.load('svc.test:8080', 80, w3);
  assert.ok(typeof hit === 'object' && hit !== null && !hit.resolving && hit.address === '10.0.0.7');
  assert.equal(w3.got.length, 0, 'a cache hit never queues the waiter');
  assert.equal(cache.lookup('svc.test:8080')?.hostId, '10.0.0.7:8080');
  assert.equal(cache.lookup('svc.test:80'), undefined, 'another port is another host');
  assert.equal(stats.counter('dns_cache.t1.dns_query_success').value, 1);
  assert.equal(stats.gauge('dns_cache.t1.num_hosts').value, 1);
  cache.stop();
});

test('a failed lookup is remembered and answered at once; a cancelled waiter is not called', async () => {
  const r = manualResolver();
  const cache = new DnsCache(compileDnsCacheConfig({ name: 't2' }, 'p'), r.fn);
  const w = waiter();
  const gone = waiter();
  const e = cache.load('nope.test', 80, w) as DnsHostEntry;
  cache.load('nope.test', 80, gone);
  cache.cancel(e, gone);
  r.calls[0]!.reject(Object.assign(new Error('x'), { code: 'ENOTFOUND' }));
  await tick();
  assert.equal(w.got.length, 1);
  assert.equal(gone.got.length, 0);
  assert.equal(e.address, undefined);
  assert.equal(e.error, 'ENOTFOUND');
  const again = cache.load('nope.test:80', 80, waiter()) as DnsHostEntry;
  assert.equal(again, e);
  assert.equal(again.resolving, false);
  assert.equal(r.calls.length, 1, 'no new lookup until the failure refresh');
  assert.equal(cache.load('bad:host:1', 80, waiter()), null, 'not an authority');
  cache.stop();
});

test('max_hosts and max_pending_requests overflow', async () => {
  const r = manualResolver();
  const cache = new DnsCache(compileDnsCacheConfig({ name: 't3', max_hosts: 2, dns_cache_circuit_breaker: { max_pending_requests: 2 } }, 'p'), r.fn);
  cache.load('a.test', 80, waiter());
  cache.load('b.test', 80, waiter());
  assert.equal(cache.load('a.test', 80, waiter()), PENDING_OVERFLOW, 'two requests wait already');
  for (const c of r.calls) c.resolve(['10.0.0.1']);
  await tick();
  assert.equal(cache.load('c.test', 80, waiter()), HOST_OVERFLOW);
  assert.equal((cache.load('a.test', 80, waiter()) as DnsHostEntry).address, '10.0.0.1');
  cache.stop();
});

test('entries re-resolve every dns_refresh_rate, keep their address when a refresh fails, and unused ones go after host_ttl', async () => {
  let answer: string[] | Error = ['10.0.0.1'];
  let lookups = 0;
  const cache = new DnsCache(compileDnsCacheConfig({ name: 't4', dns_refresh_rate: 30, host_ttl: 300 }, 'p'), async () => {
    lookups++;
    if (answer instanceof Error) throw answer;
    return answer;
  });
  const events: string[] = [];
  cache.addListener({ onHostAddOrUpdate: (e) => void events.push(`add ${e.hostId}`), onHostRemove: (e) => void events.push(`remove ${e.hostId}`) });
  /** requests keep using the host for `ms` */
  const inUse = async (ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      cache.lookup('r.test:80');
      await sleep(15);
    }
  };
  cache.load('r.test', 80, waiter());
  await tick();
  assert.deepEqual(events, ['add 10.0.0.1:80']);
  answer = ['10.0.0.2'];
  await inUse(120);
  assert.deepEqual(events, ['add 10.0.0.1:80', 'add 10.0.0.2:80'], 'a changed address is reported');
  answer = new Error('SERVFAIL');
  const before = lookups;
  await inUse(400);
  assert.ok(lookups > before + 3, 'still refreshed');
  assert.equal(cache.lookup('r.test:80')?.address, '10.0.0.2', 'a failed refresh keeps the address; a used entry outlives host_ttl');
  // nobody uses it any more: purged at a refresh after host_ttl
  await sleep(600);
  assert.equal(cache.size, 0);
  assert.equal(events.at(-1), 'remove 10.0.0.2:80');
  const n = lookups;
  await sleep(100);
  assert.equal(lookups, n, 'a purged entry is not refreshed');
  cache.stop();
});

test('acquireDnsCache shares a cache by name and replaces it when its settings change', () => {
  const a = acquireDnsCache({ name: 'shared-t5', max_hosts: 5 }, 'p');
  assert.equal(acquireDnsCache({ name: 'shared-t5', max_hosts: 5 }, 'q'), a);
  const b = acquireDnsCache({ name: 'shared-t5', max_hosts: 6 }, 'p');
  assert.notEqual(b, a);
  assert.equal(b.settings.maxHosts, 6);
  b.stop();
});
