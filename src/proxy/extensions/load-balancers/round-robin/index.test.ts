import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeHosts, runLoadBalancerConformance, seededRandom } from '../conformance.js';
import { create, lbPolicy } from './index.js';

runLoadBalancerConformance({ name: 'round-robin', create, sticky: false, config: { lb_policy: lbPolicy } });

const names = (hosts: ReturnType<typeof makeHosts>) => new Map(hosts.map((h, i) => [h, 'ABCDEFGH'[i]!]));

function sequence(lb: ReturnType<typeof create>, hosts: ReturnType<typeof makeHosts>, n: number): string {
  const name = names(hosts);
  let out = '';
  for (let i = 0; i < n; i++) out += name.get(lb.chooseHost(undefined)!)!;
  return out;
}

test('equal weights: a strict rotation, each host once per round', () => {
  const hosts = makeHosts([2, 2, 2, 2]);
  const lb = create({}, { random: seededRandom(1) });
  lb.update(hosts);
  const seq = sequence(lb, hosts, 400);
  for (let i = 0; i + 4 <= seq.length; i += 4) assert.equal(new Set(seq.slice(i, i + 4)).size, 4, seq.slice(i, i + 4));
  // the rotation follows the host list order
  const start = 'ABCD'.indexOf(seq[0]!);
  assert.equal(seq.slice(0, 8), ('ABCDABCD' + 'ABCD').slice(start, start + 8));
});

test('the starting host is random per balancer', () => {
  const hosts = makeHosts([1, 1, 1, 1, 1]);
  const firsts = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const lb = create({}, { random: seededRandom(seed) });
    lb.update(hosts);
    firsts.add(lb.chooseHost(undefined)!.id);
  }
  assert.equal(firsts.size, 5);

  const weighted = makeHosts([1, 2, 3, 4]);
  const weightedFirsts = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const lb = create({}, { random: seededRandom(seed) });
    lb.update(weighted);
    weightedFirsts.add(lb.chooseHost(undefined)!.id);
  }
  assert.ok(weightedFirsts.size >= 3, `weighted schedules started on only ${weightedFirsts.size} hosts`);
});

test('weights 2:1 interleave smoothly: never three A in a row, never two B', () => {
  const hosts = makeHosts([2, 1]);
  const lb = create({}, { random: seededRandom(3) });
  lb.update(hosts);
  const seq = sequence(lb, hosts, 300);
  assert.ok(!seq.includes('AAA'), seq);
  assert.ok(!seq.includes('BB'), seq);
  assert.equal(seq.split('A').length - 1, 200);
});

test('weights 5:1:1: the heavy host is spread out, exact shares per cycle', () => {
  const hosts = makeHosts([5, 1, 1]);
  const lb = create({}, { random: seededRandom(4) });
  lb.update(hosts);
  const seq = sequence(lb, hosts, 700);
  for (const [c, n] of [['A', 500], ['B', 100], ['C', 100]] as const) assert.equal(seq.split(c).length - 1, n);
  // B and C are each picked once per 7 picks: at most 6 picks between consecutive B's
  const gaps = seq.split('B').slice(1, -1).map((s) => s.length);
  assert.ok(Math.max(...gaps) <= 6 && Math.min(...gaps) >= 5, gaps.join(','));
});

test('the rotation index survives an update', () => {
  const hosts = makeHosts([1, 1, 1]);
  const lb = create({}, { random: () => 0 });
  lb.update(hosts);
  assert.equal(sequence(lb, hosts, 4), 'ABCA');
  lb.update(hosts);
  assert.equal(sequence(lb, hosts, 2), 'BC');
});

test('shouldSkip: takes the next host in the rotation', () => {
  const hosts = makeHosts([1, 1, 1, 1]);
  const lb = create({}, { random: () => 0 });
  lb.update(hosts);
  const skipBC = (h: (typeof hosts)[number]) => h === hosts[1] || h === hosts[2];
  const name = names(hosts);
  let seq = '';
  for (let i = 0; i < 4; i++) seq += name.get(lb.chooseHost({ shouldSkip: skipBC })!);
  assert.equal(seq, 'ADAD');
});

// slow_start_config: common/slow-start.test.ts runs both balancers that support it
runLoadBalancerConformance({ name: 'round-robin (slow start)', create, sticky: false, config: { lb_policy: lbPolicy, round_robin_lb_config: { slow_start_config: { slow_start_window: 60_000 } } } });
