import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EffectivePolicy } from '../../model/destination-rules.js';
import type { Endpoint } from '../../model/instances.js';
import { applyLocalityLb, groupByLocality, lbPriority, localityMatch, needsLocalityWeights, parseLocality, withTopologyLabels } from './locality.js';

const ep = (address: string, locality: string | undefined, labels: Record<string, string> = {}, weight = 1): Endpoint => ({
  address, port: 80, labels, ...(locality ? { locality } : {}), weight, health: 'HEALTHY', instanceId: address,
});
const OD: EffectivePolicy = { outlierDetection: { consecutive5xxErrors: 3 } };
const view = (gs: readonly { locality: string; priority: number; weight: number; endpoints: readonly Endpoint[] }[]) =>
  gs.map((g) => `${g.locality || '-'} P${g.priority} w${g.weight} [${g.endpoints.map((e) => e.address).join(',')}]`);

const EPS = [
  ep('a', 'r1/z1/s1'), ep('b', 'r1/z1/s2'), ep('c', 'r1/z2'), ep('d', 'r2/z1'), ep('e', 'r3/z1'), ep('f', undefined),
];

test('Istio LbPriority and LocalityMatch', () => {
  const me = parseLocality('r1/z1/s1');
  assert.deepEqual(['r1/z1/s1', 'r1/z1/s2', 'r1/z2/s1', 'r2/z1/s1'].map((l) => lbPriority(me, parseLocality(l))), [0, 1, 2, 3]);
  assert.equal(localityMatch(me, 'r1'), true);
  assert.equal(localityMatch(me, 'r1/*'), true);
  assert.equal(localityMatch(me, 'r1/z1/*'), true);
  assert.equal(localityMatch(me, '*'), true);
  assert.equal(localityMatch(me, 'r1/z2'), false);
  assert.equal(localityMatch(me, 'r1/z1/s2'), false);
});

test('default: proximity priorities only with outlier detection', () => {
  const groups = groupByLocality(EPS);
  const client = { locality: 'r1/z1/s1', labels: {} };
  // without outlierDetection nothing changes: one priority, weights by endpoint count
  assert.deepEqual(applyLocalityLb(groups, client, {}), groups);
  // P0 same subzone, P1 same zone, P2 same region, P3 other regions (and no locality)
  assert.deepEqual(view(applyLocalityLb(groups, client, OD)), [
    '- P3 w1 [f]', 'r1/z1/s1 P0 w1 [a]', 'r1/z1/s2 P1 w1 [b]', 'r1/z2 P2 w1 [c]', 'r2/z1 P3 w1 [d]', 'r3/z1 P3 w1 [e]',
  ]);
  // priorities are compacted: a client in r2 sees its region first, then everything else
  assert.deepEqual(view(applyLocalityLb(groups, { locality: 'r2/z9', labels: {} }, OD)).map((s) => s.split(' ').slice(0, 2).join(' ')), [
    '- P1', 'r1/z1/s1 P1', 'r1/z1/s2 P1', 'r1/z2 P1', 'r2/z1 P0', 'r3/z1 P1',
  ]);
  // enabled: false turns it off
  assert.deepEqual(applyLocalityLb(groups, client, { ...OD, loadBalancer: { localityLbSetting: { enabled: false } } }), groups);
});

test('failover: only the named region stays next, every other region drops a level', () => {
  const groups = groupByLocality(EPS);
  const policy: EffectivePolicy = { ...OD, loadBalancer: { localityLbSetting: { failover: [{ from: 'r1', to: 'r3' }] } } };
  assert.deepEqual(view(applyLocalityLb(groups, { locality: 'r1/z1/s1', labels: {} }, policy)).map((s) => s.split(' ').slice(0, 2).join(' ')), [
    '- P4', 'r1/z1/s1 P0', 'r1/z1/s2 P1', 'r1/z2 P2', 'r2/z1 P4', 'r3/z1 P3',
  ]);
  // a rule for another region does not apply
  assert.deepEqual(view(applyLocalityLb(groups, { locality: 'r2/z1', labels: {} }, policy)).map((s) => s.split(' ').slice(0, 2).join(' ')), [
    '- P1', 'r1/z1/s1 P1', 'r1/z1/s2 P1', 'r1/z2 P1', 'r2/z1 P0', 'r3/z1 P1',
  ]);
});

test('distribute: weights from the first matching rule, unnamed localities dropped, wildcards split by weight', () => {
  const eps = [ep('a', 'r1/z1'), ep('b', 'r1/z1'), ep('c', 'r1/z2', {}, 3), ep('d', 'r1/z3'), ep('e', 'r2/z1')];
  const policy: EffectivePolicy = {
    loadBalancer: {
      localityLbSetting: {
        distribute: [
          { from: 'r9/*', to: { 'r2/*': 100 } },
          { from: 'r1/z1/*', to: { 'r1/z1/*': 80, 'r1/z2/*': 5, 'r1/z3/*': 15 } },
          { from: 'r2/*', to: { 'r1/*': 50, 'r2/*': 50 } },
        ],
      },
    },
  };
  // no outlier detection needed for distribute
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), { locality: 'r1/z1/s7', labels: {} }, policy)), [
    'r1/z1 P0 w80 [a,b]', 'r1/z2 P0 w5 [c]', 'r1/z3 P0 w15 [d]',
  ]);
  // "r1/*" covers three groups of weights 2, 3, 1: 50 × 2/6, 50 × 3/6, 50 × 1/6, rounded up
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), { locality: 'r2/z1', labels: {} }, policy)), [
    'r1/z1 P0 w17 [a,b]', 'r1/z2 P0 w25 [c]', 'r1/z3 P0 w9 [d]', 'r2/z1 P0 w50 [e]',
  ]);
  // a proxy no rule matches keeps the plain groups
  assert.deepEqual(applyLocalityLb(groupByLocality(eps), { locality: 'r5', labels: {} }, policy), groupByLocality(eps));
  assert.equal(needsLocalityWeights(policy), true);
  assert.equal(needsLocalityWeights(OD), false);
  assert.equal(needsLocalityWeights({ ...OD, loadBalancer: { localityLbSetting: { failover: [{ from: 'r1', to: 'r2' }] } } }), true);
  assert.equal(needsLocalityWeights({ loadBalancer: { localityLbSetting: { failover: [{ from: 'r1', to: 'r2' }] } } }), false);
});

test('failoverPriority: priorities by the labels shared with the proxy, in order; topology labels implied', () => {
  const eps = [
    ep('a', 'r1/z1', { net: 'n1', rack: 'k1' }),
    ep('b', 'r1/z1', { net: 'n1', rack: 'k2' }),
    ep('c', 'r1/z2', { net: 'n1', rack: 'k1' }),
    ep('d', 'r2/z1', { net: 'n2', rack: 'k1' }),
  ];
  const client = { locality: 'r1/z1', labels: { net: 'n1', rack: 'k1' } };
  const byLabels: EffectivePolicy = { ...OD, loadBalancer: { localityLbSetting: { failoverPriority: ['net', 'rack'] } } };
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), client, byLabels)), [
    'r1/z1 P0 w1 [a]', 'r1/z1 P1 w1 [b]', 'r1/z2 P0 w1 [c]', 'r2/z1 P2 w1 [d]',
  ]);
  // "label=value" compares with that value instead of the proxy's
  const pinned: EffectivePolicy = { ...OD, loadBalancer: { localityLbSetting: { failoverPriority: ['net=n2'] } } };
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), client, pinned)).map((s) => s.split(' ').slice(0, 2).join(' ')), ['r1/z1 P1', 'r1/z2 P1', 'r2/z1 P0']);
  // the topology labels of the locality can be named
  const zonal: EffectivePolicy = { ...OD, loadBalancer: { localityLbSetting: { failoverPriority: ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone'] } } };
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), { locality: 'r1/z2', labels: {} }, zonal)).map((s) => s.split(' ').slice(0, 2).join(' ')), ['r1/z1 P1', 'r1/z2 P0', 'r2/z1 P2']);
  // with failover too, locality proximity refines each label priority (label priority × 5 + locality priority)
  const both: EffectivePolicy = { ...OD, loadBalancer: { localityLbSetting: { failoverPriority: ['net'], failover: [{ from: 'r1', to: 'r2' }] } } };
  assert.deepEqual(view(applyLocalityLb(groupByLocality(eps), client, both)).map((s) => s.split(' ').slice(0, 2).join(' ')), ['r1/z1 P0', 'r1/z2 P1', 'r2/z1 P2']);
  // without outlier detection, none of it
  assert.deepEqual(applyLocalityLb(groupByLocality(eps), client, { loadBalancer: byLabels.loadBalancer }), groupByLocality(eps));
  assert.deepEqual(withTopologyLabels({ app: 'x' }, 'r1/z1/s1'), { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1', 'topology.istio.io/subzone': 's1', app: 'x' });
});
