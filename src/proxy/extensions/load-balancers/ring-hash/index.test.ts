import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../common/errors.js';
import { Host } from '../../../upstream/host.js';
import { makeHosts, runLoadBalancerConformance, seededRandom } from '../conformance.js';
import { create, lbPolicy } from './index.js';

// A ring of ~1024 points gives each of a handful of hosts a few hundred points, so shares deviate by several
// percent from exact for a given set of addresses: hence 20% (ignoring weights would be off by 100%).
runLoadBalancerConformance({ name: 'ring-hash', create, sticky: true, tolerance: 0.2, config: { lb_policy: lbPolicy } });
runLoadBalancerConformance({ name: 'ring-hash (murmur2)', create, sticky: true, tolerance: 0.2, config: { ring_hash_lb_config: { hash_function: 'MURMUR_HASH_2' } } });

const ports = (first: number) => Array.from({ length: 6 }, (_, i) => new Host('127.0.0.1', first + i));

// The ring Envoy's ring_hash_lb_test.cc ("Basic") expects for these six hosts with minimum_ring_size 12: two
// points per host, in this order (port: position):
//   94: 833437586790550860     92: 928266305478181108     90: 1033482794131418490
//   95: 3551244743356806947    93: 3851675632748031481    91: 5583722120771150861
//   91: 6311230543546372928    93: 7700377290971790572    95: 13144177310400110813
//   92: 13444792449719432967   94: 15516499411664133160   90: 16117243373044804889
test('xxHash ring is the one Envoy builds', () => {
  const hosts = ports(90);
  const lb = create({ ring_hash_lb_config: { minimum_ring_size: 12 } });
  lb.update(hosts);
  assert.deepEqual(lb.stats, { size: 12, minHashesPerHost: 2, maxHashesPerHost: 2 });
  const at = (hash: bigint) => lb.chooseHost({ hash })!.port;
  assert.equal(at(0n), 94);
  assert.equal(at(0xffff_ffff_ffff_ffffn), 94); // past the last point: wraps to the first
  assert.equal(at(3551244743356806947n), 95); // exactly on a point
  assert.equal(at(3551244743356806948n), 93); // just past it
  assert.equal(at(16117243373044804880n), 90);
  assert.equal(at(16117243373044804889n), 90);
  assert.equal(at(16117243373044804890n), 94);
  // walking on from a rejected host's point: the next points belong to 92, then 90
  assert.equal(lb.chooseHost({ hash: 0n, shouldSkip: (h) => h.port === 94 })!.port, 92);
  assert.equal(lb.chooseHost({ hash: 0n, shouldSkip: (h) => h.port === 94 || h.port === 92 })!.port, 90);
});

// ring_hash_lb_test.cc "BasicWithMurmur2": ports 80..85, minimum_ring_size 12
//   85: 1358027074129602068   83: 4361834613929391114   84: 7224494972555149682   81: 7701421856454313576
//   82: 8649315368077433379   84: 8739448859063030639   81: 9887544217113020895   82: 10150910876324007731
//   83: 15168472011420622455  80: 15427156902705414897  85: 16375050414328759093  80: 17613279263364193813
test('MURMUR_HASH_2 ring is the one Envoy builds', () => {
  const lb = create({ ring_hash_lb_config: { minimum_ring_size: 12, hash_function: 'MURMUR_HASH_2' } });
  lb.update(ports(80));
  const at = (hash: bigint) => lb.chooseHost({ hash })!.port;
  assert.equal(at(0n), 85);
  assert.equal(at(0xffff_ffff_ffff_ffffn), 85);
  assert.equal(at(1358027074129602068n), 85);
  assert.equal(at(1358027074129602069n), 83);
  assert.equal(at(10150910876324007730n), 82);
  assert.equal(at(15427156902705414897n), 80);
  assert.equal(at(15427156902705414898n), 85);
});

test('ring sizes: the lightest host gets a whole number of points; maximum_ring_size caps the ring', () => {
  let lb = create({});
  lb.update(makeHosts([1, 1, 1, 1]));
  assert.deepEqual(lb.stats, { size: 1024, minHashesPerHost: 256, maxHashesPerHost: 256 });

  // weights 1:2 → shares 1/3, 2/3; ceil(1024/3) = 342 points for the light host, twice that for the heavy one
  lb = create({});
  lb.update(makeHosts([1, 2]));
  assert.deepEqual(lb.stats, { size: 1026, minHashesPerHost: 342, maxHashesPerHost: 684 });

  // 1:99: the light host gets ceil(1024 / 100) = 11 points, the heavy one 99 times that
  lb = create({});
  lb.update(makeHosts([1, 99]));
  assert.deepEqual(lb.stats, { size: 1100, minHashesPerHost: 11, maxHashesPerHost: 1089 });
  // 1:1000 needs 2 × 1001 points...
  lb = create({});
  lb.update(makeHosts([1, 1000]));
  assert.deepEqual(lb.stats, { size: 2002, minHashesPerHost: 2, maxHashesPerHost: 2000 });
  // ...unless maximum_ring_size caps the ring
  lb = create({ ring_hash_lb_config: { minimum_ring_size: 1000, maximum_ring_size: 1000 } });
  lb.update(makeHosts([1, 1000]));
  // (the running sums land a hair above 1000, so there are 1001 points, exactly as Envoy's doubles give)
  assert.deepEqual(lb.stats, { size: 1000, minHashesPerHost: 1, maxHashesPerHost: 1000 });
  // and a minimum above the default grows it
  lb = create({ ring_hash_lb_config: { minimum_ring_size: 4096 } });
  lb.update(makeHosts([1, 1]));
  assert.deepEqual(lb.stats, { size: 4096, minHashesPerHost: 2048, maxHashesPerHost: 2048 });
});

test('weights scale a host\'s share of the keyspace', () => {
  const hosts = makeHosts([1, 4]);
  const lb = create({}, { random: seededRandom(1) });
  lb.update(hosts);
  let light = 0;
  const r = seededRandom(2);
  for (let i = 0; i < 20_000; i++) if (lb.chooseHost({ hash: BigInt(Math.floor(r() * 2 ** 53)) << 11n }) === hosts[0]) light++;
  assert.ok(Math.abs(light - 4000) <= 400, `${light}`);
});

test('config validation', () => {
  const err = (code: string, text?: string) => (e: unknown) => e instanceof ConfigError && e.code === code && (!text || e.message.includes(text));
  assert.throws(() => create({ ring_hash_lb_config: { minimum_ring_size: 20, maximum_ring_size: 10 } }), err('MW_CONFIG_INVALID', 'minimum_ring_size (20) > maximum_ring_size (10)'));
  assert.throws(() => create({ ring_hash_lb_config: { maximum_ring_size: 8_388_609 } }), err('MW_CONFIG_INVALID', 'maximum_ring_size'));
  assert.throws(() => create({ ring_hash_lb_config: { hash_function: 'CRC32' } }), err('MW_CONFIG_INVALID', 'hash_function'));
  assert.throws(() => create({ common_lb_config: { consistent_hashing_lb_config: { use_hostname_for_hashing: true } } }), err('MW_CONFIG_UNSUPPORTED'));
  assert.throws(() => create({ common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 150 } } }), err('MW_CONFIG_UNSUPPORTED'));
  // the defaults and explicit Envoy defaults are fine
  create({ ring_hash_lb_config: { minimum_ring_size: 1024, maximum_ring_size: 8_388_608, hash_function: 'XX_HASH' } });
});
