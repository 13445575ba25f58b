import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Jwks } from './jwks.js';
import { Status } from './jwt.js';
import { RemoteJwks, type RemoteJwksOptions } from './remote-jwks.js';

// a syntactically valid set; which key it holds does not matter to the cache
const SET = (kid: string) => JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid }] });

function harness(o: Partial<RemoteJwksOptions> = {}) {
  let clock = 0;
  const calls: number[] = [];
  const outcomes: boolean[] = [];
  let next: () => Promise<string> = async () => SET('k1');
  const src = new RemoteJwks({
    fetch: () => {
      calls.push(clock);
      return next();
    },
    cacheDurationMs: 1000,
    onFetch: (ok) => outcomes.push(ok),
    now: () => clock,
    ...o,
  });
  return {
    src,
    calls,
    outcomes,
    tick: (ms: number) => (clock += ms),
    respond: (fn: () => Promise<string>) => (next = fn),
  };
}

const kidOf = (j: unknown) => (j as Jwks).keys[0]!.kid;

test('on demand: the first request fetches, concurrent ones share the fetch, the cache serves until it expires', async () => {
  const h = harness();
  const a = h.src.get();
  const b = h.src.get();
  assert.ok(a instanceof Promise && b instanceof Promise);
  assert.equal(await a, await b);
  assert.equal(h.calls.length, 1, 'one fetch for both requests');
  h.tick(999);
  assert.ok(h.src.get() instanceof Jwks, 'cached: answered synchronously');
  h.tick(1);
  h.respond(async () => SET('k2'));
  const c = h.src.get();
  assert.ok(c instanceof Promise, 'expired: fetched again');
  assert.equal(kidOf(await c), 'k2');
  assert.deepEqual(h.outcomes, [true, true]);
});

test('on demand: a failed fetch (or an unusable document) fails the requests waiting for it; the next request tries again', async () => {
  const h = harness();
  h.respond(async () => {
    throw new Error('status 503');
  });
  assert.equal(await h.src.get(), Status.JwksFetchFail);
  h.respond(async () => '{"keys":[]}');
  assert.equal(await h.src.get(), Status.JwksFetchFail);
  h.respond(async () => SET('k1'));
  assert.equal(kidOf(await h.src.get()), 'k1');
  assert.deepEqual(h.outcomes, [false, false, true]);
});

test('async_fetch: fetched at start, expired keys keep serving while a background refresh runs, failures retried after failed_refetch_duration', async () => {
  const h = harness({ asyncFetch: { failedRefetchMs: 500 } });
  h.src.start();
  assert.equal(h.calls.length, 0, 'deferred a tick: the clusters of the config are not in place yet');
  await new Promise((r) => setImmediate(r));
  assert.equal(h.calls.length, 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(kidOf(h.src.get()), 'k1');
  h.tick(1500);
  let release!: (s: string) => void;
  h.respond(() => new Promise((r) => (release = r)));
  assert.equal(kidOf(h.src.get()), 'k1', 'stale keys answer at once');
  assert.equal(h.calls.length, 2, 'and a refresh started');
  assert.equal(kidOf(h.src.get()), 'k1');
  assert.equal(h.calls.length, 2, 'only one refresh at a time');
  release(SET('k2'));
  await new Promise((r) => setImmediate(r));
  assert.equal(kidOf(h.src.get()), 'k2');
  // a failed refresh: the old keys stay, and no new attempt before failed_refetch_duration
  h.tick(1500);
  h.respond(async () => {
    throw new Error('down');
  });
  assert.equal(kidOf(h.src.get()), 'k2');
  await new Promise((r) => setImmediate(r));
  assert.equal(h.calls.length, 3);
  h.tick(100);
  h.src.get();
  assert.equal(h.calls.length, 3, 'within failed_refetch_duration');
  h.tick(500);
  h.src.get();
  assert.equal(h.calls.length, 4, 'retried after it');
});

test('async_fetch: a failed first fetch is retried in the background after failed_refetch_duration', async () => {
  const h = harness({ asyncFetch: { failedRefetchMs: 20 } });
  h.respond(async () => {
    throw new Error('the cluster does not exist yet');
  });
  h.src.start();
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(h.calls.length, 1);
  h.respond(async () => SET('k1'));
  h.tick(20);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(h.calls.length, 2, 'retried without any request');
  assert.equal(kidOf(h.src.get()), 'k1');
  assert.deepEqual(h.outcomes, [false, true]);
});

test('unknown kid: one refetch, then none until the rate-limit interval passed', async () => {
  const h = harness({ cacheDurationMs: 600_000, kidRefetchIntervalMs: 30_000 });
  await h.src.get();
  h.respond(async () => SET('rotated'));
  const fresh = await h.src.refetchForUnknownKid();
  assert.equal(kidOf(fresh), 'rotated');
  assert.equal(h.calls.length, 2);
  h.tick(29_999);
  assert.equal(h.src.refetchForUnknownKid(), undefined, 'rate-limited');
  assert.equal(h.calls.length, 2);
  h.tick(1);
  assert.ok(h.src.refetchForUnknownKid() instanceof Promise);
  assert.equal(h.calls.length, 3);
  // while a fetch runs, an unknown kid waits for it instead of starting another
  const again = h.src.refetchForUnknownKid();
  assert.ok(again instanceof Promise);
  assert.equal(h.calls.length, 3);
  await again;
  // a failed refetch keeps the keys the cache had
  h.tick(30_000);
  h.respond(async () => {
    throw new Error('down');
  });
  assert.equal(await h.src.refetchForUnknownKid(), undefined);
  assert.equal(kidOf(h.src.get()), 'rotated');
});
