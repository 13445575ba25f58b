import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import { Host } from '../../../upstream/host.js';
import { makeHosts, runLoadBalancerConformance } from '../conformance.js';
import { create, lbPolicy } from './index.js';

runLoadBalancerConformance({ name: 'maglev', create, sticky: true, config: { lb_policy: lbPolicy } });
runLoadBalancerConformance({ name: 'maglev (table 1009)', create, sticky: true, config: { maglev_lb_config: { table_size: 1009 } } });

const ports = (n: number, weights?: number[]) => Array.from({ length: n }, (_, i) => new Host('127.0.0.1', 90 + i, { weight: weights?.[i] ?? 1 }));

// Tables from Envoy's maglev_lb_test.cc, so ours places hosts exactly where Envoy does.
test('the table for six hosts and size 7 is the one Envoy builds', () => {
  const hosts = ports(6);
  const lb = create({ maglev_lb_config: { table_size: 7 } });
  lb.update(hosts);
  assert.deepEqual(lb.stats, { minEntriesPerHost: 1, maxEntriesPerHost: 2 });
  const expected = [2, 4, 0, 1, 5, 0, 3];
  for (let i = 0; i < 21; i++) assert.equal(lb.chooseHost({ hash: BigInt(i) }), hosts[expected[i % 7]!], `hash ${i}`);
  // the same table whatever order the hosts come in
  lb.update([...hosts].reverse());
  for (let i = 0; i < 7; i++) assert.equal(lb.chooseHost({ hash: BigInt(i) }), hosts[expected[i]!]);
});

test('the weighted table (1:2, size 17) is the one Envoy builds', () => {
  const hosts = ports(2, [1, 2]);
  const lb = create({ maglev_lb_config: { table_size: 17 } });
  lb.update(hosts);
  assert.deepEqual(lb.stats, { minEntriesPerHost: 6, maxEntriesPerHost: 11 });
  const expected = [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1];
  for (let i = 0; i < 17; i++) assert.equal(lb.chooseHost({ hash: BigInt(i) }), hosts[expected[i]!], `hash ${i}`);
});

test('a rejected host is retried with Envoy\'s hash mutation', () => {
  const hosts = ports(6);
  const lb = create({ maglev_lb_config: { table_size: 7 } });
  lb.update(hosts);
  assert.equal(lb.chooseHost({ hash: 10n }), hosts[1]); // slot 3
  // attempt 1 uses 10 ^ 0xffff_ffff_ffff_ffff, which lands on slot 5 (Envoy's BasicWithRetryHostPredicate)
  assert.equal(lb.chooseHost({ hash: 10n, shouldSkip: (h) => h === hosts[1] }), hosts[0]);
});

test('table sizes: default 65537, weights honoured slot for slot', () => {
  const lb = create({});
  assert.equal(lb.tableSize, 65537);
  lb.update(makeHosts([1, 1, 1, 1]));
  // each host claims a slot per round, so counts differ by at most one
  assert.ok(lb.stats.maxEntriesPerHost - lb.stats.minEntriesPerHost <= 1, JSON.stringify(lb.stats));

  const w = create({ maglev_lb_config: { table_size: 10007 } });
  w.update(makeHosts([1, 4]));
  assert.equal(w.stats.minEntriesPerHost + w.stats.maxEntriesPerHost, 10007);
  assert.ok(Math.abs(w.stats.minEntriesPerHost - 10007 / 5) <= 2, JSON.stringify(w.stats));
});

test('table_size must be prime and at most 5000011', () => {
  const err = (text: string) => (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_INVALID' && e.message.includes(text);
  assert.throws(() => create({ maglev_lb_config: { table_size: 8 } }), err('must be prime'));
  assert.throws(() => create({ maglev_lb_config: { table_size: 1 } }), err('must be prime'));
  assert.throws(() => create({ maglev_lb_config: { table_size: 5_000_027 } }), err('no larger than 5000011'));
  assert.equal(create({ maglev_lb_config: { table_size: 5_000_011 } }).tableSize, 5_000_011);
  assert.throws(() => create({ common_lb_config: { consistent_hashing_lb_config: { use_hostname_for_hashing: true } } }), (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_UNSUPPORTED');
});
