import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, decodeDeltaDiscoveryResponse, decodeDiscoveryResponse, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse, packAny } from '../../api/xds/index.js';
import type { ResourceEntry } from './server.js';
import { Flow, NO_RESOURCES, Shared } from './shared.js';
import { cluster } from './test-support.js';
import { resourceEntry, setVersion } from './version.js';

const entry = (name: string, timeout = '1s'): ResourceEntry => {
  const json = cluster(name, timeout);
  return resourceEntry(name, packAny(json, TYPE_URL.CLUSTER), json);
};
const set = (...entries: ResourceEntry[]) => new Map(entries.map((e) => [e.name, e]));

test('Change: upserts by identity then version, removals, additions, and the make-before-break set, each shared', () => {
  const shared = new Shared({ identifier: 'cp' });
  const a = entry('a');
  const b = entry('b');
  const prev = set(a, b);
  // 'a' re-parsed to an equal entry, 'b' changed, 'c' new, nothing removed.
  const next = set(entry('a'), entry('b', '2s'), entry('c'));
  const c = shared.change(prev, next);
  assert.equal(shared.change(prev, next), c, 'one Change per pair of sets');
  assert.deepEqual(c.upserts.map((e) => e.name), ['b', 'c']);
  assert.deepEqual(c.removed, []);
  assert.equal(c.added, true);
  assert.equal(c.withRemoved, next);

  const shrunk = set(a);
  const r = shared.change(prev, shrunk);
  assert.deepEqual(r.upserts, []);
  assert.equal(r.added, false);
  assert.deepEqual(r.removed, ['b']);
  assert.deepEqual([...r.withRemoved.values()], [a, b]);
  assert.equal(r.withRemoved, r.withRemoved);

  assert.deepEqual(shared.change(NO_RESOURCES, prev).upserts, [a, b]);
  assert.equal(shared.change(NO_RESOURCES, prev).added, true);
});

test('restrict: streams holding one set and unsubscribing alike get one Map, so their next push stays shared', () => {
  const shared = new Shared({ identifier: 'cp' });
  const [a, b, c] = [entry('a'), entry('b'), entry('c')];
  const held = set(a, b, c);
  const names = new Set(['a', 'c']);
  const kept = shared.restrict(held, names);
  assert.deepEqual([...kept.values()], [a, c]);
  assert.equal(shared.restrict(held, names), kept, 'the same Map for the same set and names');
  assert.notEqual(shared.restrict(held, new Set(['a', 'c'])), kept, 'keyed by the (interned) name set, not its contents');
  assert.equal(shared.restrict(held, new Set(['a', 'b', 'c', 'd'])), held, 'nothing dropped: the set itself');
  const next = set(a, entry('c', '2s'));
  assert.equal(shared.change(kept, next), shared.change(shared.restrict(held, names), next), 'hence one Change');
});

test('encoded messages: a set is encoded once, whole, nonce included; a stream that used a later nonce gets a fresh one', () => {
  const shared = new Shared({ identifier: 'cp' });
  const resources = set(entry('a'), entry('b'));
  const version = shared.version(resources);
  assert.equal(version, setVersion(resources.values()));
  const m = shared.sotwMessage(TYPE_URL.CLUSTER, resources, version);
  assert.equal(shared.sotwMessage(TYPE_URL.CLUSTER, resources, version), m, 'one message per set');
  const expected = { version_info: version, resources: [...resources.values()].map((e) => e.any), type_url: TYPE_URL.CLUSTER, control_plane: { identifier: 'cp' } };
  // A stream whose last nonce is older sends the message as it is.
  const asIs = shared.response(m, 0);
  assert.equal(asIs.nonce, m.nonce);
  assert.equal(encodeDiscoveryResponse(asIs.response), m.whole);
  assert.deepEqual(decodeDiscoveryResponse(encodeDiscoveryResponse(asIs.response)), { ...expected, nonce: String(m.nonce) });
  // One that already used this nonce (or a later one) gets the same content with a nonce new to everyone.
  const fresh = shared.response(m, m.nonce);
  assert.ok(fresh.nonce > m.nonce);
  assert.deepEqual(decodeDiscoveryResponse(encodeDiscoveryResponse(fresh.response)), { ...expected, nonce: String(fresh.nonce) });

  const [a, b] = [...resources.values()] as [ResourceEntry, ResourceEntry];
  const d = shared.deltaMessage(TYPE_URL.CLUSTER, 'v', [a, b], ['gone']);
  const decoded = decodeDeltaDiscoveryResponse(encodeDeltaDiscoveryResponse(shared.response(d, 0).response));
  assert.deepEqual(decoded, {
    system_version_info: 'v', type_url: TYPE_URL.CLUSTER, removed_resources: ['gone'], nonce: String(d.nonce), control_plane: { identifier: 'cp' },
    resources: [a, b].map((e) => ({ name: e.name, version: e.version, resource: e.any })),
  });
  assert.equal(shared.deltaMessage(TYPE_URL.CLUSTER, 'v', [b], []).parts[1], d.parts[2], "a resource's encoding is shared");
  const change = shared.change(set(a), resources);
  const shareAs = { change, phase: 'make' };
  assert.equal(shared.deltaMessage(TYPE_URL.CLUSTER, 'v', change.upserts, [], shareAs), shared.deltaMessage(TYPE_URL.CLUSTER, 'v', change.upserts, [], shareAs));
  assert.notEqual(shared.deltaMessage(TYPE_URL.CLUSTER, 'v', change.upserts, []), shared.deltaMessage(TYPE_URL.CLUSTER, 'v', change.upserts, []));
});

test('Flow: past the limit writes wait in order; each completed write lets the next go; a stall lets all go', async () => {
  const flow = new Flow(100, 50);
  const written: string[] = [];
  const w = (name: string, ok = true) => () => {
    if (ok) written.push(name);
    return ok;
  };
  flow.submit(60, w('a'));
  flow.submit(60, w('b')); // 60 < 100: goes
  flow.submit(10, w('c')); // 120 on the way: waits
  flow.submit(10, w('gone', false)); // its stream closed meanwhile
  flow.submit(10, w('d'));
  assert.deepEqual(written, ['a', 'b']);
  assert.equal(flow.inflight, 120);
  flow.done(60);
  assert.deepEqual(written, ['a', 'b', 'c', 'd']);
  assert.equal(flow.inflight, 80);
  // Nothing completes: after stallMs whatever waits goes anyway.
  flow.submit(50, w('e'));
  flow.submit(50, w('f'));
  assert.deepEqual(written.slice(4), ['e']);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.deepEqual(written.slice(4), ['e', 'f']);
});
