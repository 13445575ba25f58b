import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compileStatsTags, Counter, DEFAULT_HISTOGRAM_BUCKETS, extractTags, StatsStore, statsResponse } from './stats.js';

const PROMTOOL = '/usr/bin/promtool';

/** A store shaped like a running proxy's. */
function sampleStore(): StatsStore {
  const s = new StatsStore();
  const a = s.scope('cluster.service_a');
  a.counter('upstream_rq_total').add(3);
  a.counter('upstream_rq_2xx').add(2);
  a.counter('upstream_rq_5xx').inc();
  a.counter('upstream_rq_200').add(2);
  a.counter('upstream_rq_503').inc();
  a.gauge('upstream_rq_active').set(4);
  a.histogram('upstream_rq_time').record(1);
  s.scope('cluster.service_b.').counter('upstream_rq_total'); // created, never used
  s.scope('cluster.service_b.').histogram('upstream_rq_time');
  s.counter('http.ingress_http.downstream_rq_total').add(5);
  s.counter('http.ingress_http.downstream_rq_2xx').add(5);
  s.gauge('http.ingress_http.downstream_cx_active').set(1);
  s.counter('listener.0.0.0.0_10000.downstream_cx_total').add(2);
  s.counter('listener.0.0.0.0_10000.http.ingress_http.downstream_rq_2xx').add(5);
  s.counter('listener.admin.downstream_cx_total').inc();
  s.gauge('server.live').set(1);
  return s;
}

test('counter(name) returns the same object every time; scopes share the registry', () => {
  const s = new StatsStore();
  const c = s.scope('cluster.a').counter('upstream_rq_total');
  assert.equal(s.scope('cluster.a.').counter('upstream_rq_total'), c);
  assert.equal(s.counter('cluster.a.upstream_rq_total'), c);
  assert.equal(s.scope('cluster').scope('a').counter('upstream_rq_total'), c);
  assert.equal(c.name, 'cluster.a.upstream_rq_total');
  assert.ok(c instanceof Counter);
  c.inc();
  c.add(4);
  assert.equal(c.value, 5);
  const g = s.gauge('g');
  g.set(10);
  g.inc();
  g.dec();
  g.dec();
  g.add(5);
  g.sub(3);
  assert.equal(g.value, 11);
});

test('/stats text: counters and gauges sorted together, then histograms', () => {
  assert.equal(
    sampleStore().renderText(),
    [
      'cluster.service_a.upstream_rq_200: 2',
      'cluster.service_a.upstream_rq_2xx: 2',
      'cluster.service_a.upstream_rq_503: 1',
      'cluster.service_a.upstream_rq_5xx: 1',
      'cluster.service_a.upstream_rq_active: 4',
      'cluster.service_a.upstream_rq_total: 3',
      'cluster.service_b.upstream_rq_total: 0',
      'http.ingress_http.downstream_cx_active: 1',
      'http.ingress_http.downstream_rq_2xx: 5',
      'http.ingress_http.downstream_rq_total: 5',
      'listener.0.0.0.0_10000.downstream_cx_total: 2',
      'listener.0.0.0.0_10000.http.ingress_http.downstream_rq_2xx: 5',
      'listener.admin.downstream_cx_total: 1',
      'server.live: 1',
      'cluster.service_a.upstream_rq_time: P0(nan,1) P25(nan,1.025) P50(nan,1.05) P75(nan,1.075) P90(nan,1.09) P95(nan,1.095) P99(nan,1.099) P99.5(nan,1.0995) P99.9(nan,1.0999) P100(nan,1.1)',
      'cluster.service_b.upstream_rq_time: No recorded values',
      '',
    ].join('\n'),
  );
});

test('/stats ?filter (regex search), ?usedonly and ?type', () => {
  const s = sampleStore();
  const q = (query: string): string => statsResponse(s, '/stats', new URLSearchParams(query)).body;
  assert.equal(q('filter=upstream_rq_total'), 'cluster.service_a.upstream_rq_total: 3\ncluster.service_b.upstream_rq_total: 0\n');
  assert.equal(q('filter=upstream_rq_total&usedonly'), 'cluster.service_a.upstream_rq_total: 3\n');
  assert.equal(q('filter=^server\\.'), 'server.live: 1\n');
  assert.equal(q('filter=service_b&usedonly'), '');
  assert.equal(q('filter=service_b&type=Histograms'), 'cluster.service_b.upstream_rq_time: No recorded values\n');
  assert.equal(q('filter=service_a&type=Gauges'), 'cluster.service_a.upstream_rq_active: 4\n');
  assert.equal(q('usedonly&type=Counters').split('\n').length - 1, 10);
  const bad = statsResponse(s, '/stats', new URLSearchParams('filter=('));
  assert.equal(bad.status, 400);
  assert.equal(statsResponse(s, '/stats', new URLSearchParams('type=Nope')).status, 400);
  assert.equal(statsResponse(s, '/stats', new URLSearchParams('format=xml')).status, 400);
});

test('/stats?format=json has Envoy\'s shape, histograms last with nulls for NaN', () => {
  const s = new StatsStore();
  s.counter('c').inc();
  s.gauge('b').set(2);
  s.histogram('h').record(1);
  const r = statsResponse(s, '/stats', new URLSearchParams('format=json'));
  assert.equal(r.contentType, 'application/json');
  const body = JSON.parse(r.body);
  assert.deepEqual(body.stats.slice(0, 2), [
    { name: 'b', value: 2 },
    { name: 'c', value: 1 },
  ]);
  const hist = body.stats[2].histograms;
  assert.deepEqual(hist.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
  assert.equal(hist.computed_quantiles[0].name, 'h');
  assert.deepEqual(hist.computed_quantiles[0].values[0], { interval: null, cumulative: 1 });
  assert.deepEqual(hist.computed_quantiles[0].values[9], { interval: null, cumulative: 1.1 });
  assert.deepEqual(JSON.parse(statsResponse(s, '/stats', new URLSearchParams('format=json&filter=^c$')).body), { stats: [{ name: 'c', value: 1 }] });
});

test('histogram quantiles: cumulative is live, interval covers the last merged interval', () => {
  const s = new StatsStore();
  const h = s.histogram('cluster.a.upstream_rq_time');
  for (let v = 1; v <= 100; v++) h.record(v);
  let { interval, cumulative } = h.computedQuantiles();
  assert.ok(interval.every(Number.isNaN), 'no interval has closed yet');
  assert.equal(cumulative[0], 1);
  assert.equal(cumulative[9], 110); // 100 falls in the bin [100, 110)
  for (let i = 1; i < cumulative.length; i++) assert.ok(cumulative[i]! >= cumulative[i - 1]!, 'quantiles are monotonic');
  assert.ok(cumulative[2]! >= 45 && cumulative[2]! <= 55, `P50 near the median, got ${cumulative[2]}`);
  s.mergeHistograms();
  h.record(5000);
  ({ interval, cumulative } = h.computedQuantiles());
  assert.equal(interval[9], 110, 'the closed interval holds 1..100 only');
  assert.equal(cumulative[9], 5100, 'cumulative includes the value recorded after the merge');
  s.mergeHistograms();
  ({ interval } = h.computedQuantiles());
  assert.equal(interval[0], 5000);
  s.mergeHistograms();
  assert.ok(h.computedQuantiles().interval.every(Number.isNaN), 'an empty interval prints nan');
  assert.equal(h.count, 101);
  assert.equal(h.sum, 5050 + 5000);
});

test('histogram zero, negative and NaN values count as 0', () => {
  const h = new StatsStore().histogram('h');
  h.record(0);
  h.record(-3);
  h.record(NaN);
  assert.deepEqual(h.computedQuantiles().cumulative, Array(10).fill(0));
  assert.equal(h.cumulativeBuckets()[0], 3);
});

test("Envoy's default tag extraction", () => {
  const cases: [string, string, [string, string][]][] = [
    ['cluster.service_a.upstream_rq_2xx', 'cluster.upstream_rq_xx', [['envoy.response_code_class', '2'], ['envoy.cluster_name', 'service_a']]],
    ['cluster.service_a.upstream_rq_503', 'cluster.upstream_rq', [['envoy.response_code', '503'], ['envoy.cluster_name', 'service_a']]],
    ['cluster.service_a.upstream_rq_time', 'cluster.upstream_rq_time', [['envoy.cluster_name', 'service_a']]],
    ['http.ingress_http.downstream_rq_total', 'http.downstream_rq_total', [['envoy.http_conn_manager_prefix', 'ingress_http']]],
    ['http.ingress_http.downstream_rq_4xx', 'http.downstream_rq_xx', [['envoy.response_code_class', '4'], ['envoy.http_conn_manager_prefix', 'ingress_http']]],
    ['listener.0.0.0.0_10000.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '0.0.0.0_10000']]],
    ['listener.[__1]_8080.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '[__1]_8080']]],
    ['listener.my_listener.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', 'my_listener']]],
    [
      'listener.0.0.0.0_10000.http.ingress_http.downstream_rq_2xx',
      'listener.http.downstream_rq_xx',
      [['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'ingress_http'], ['envoy.listener_address', '0.0.0.0_10000']],
    ],
    ['listener.admin.downstream_cx_total', 'listener.admin.downstream_cx_total', []],
    ['vhost.local.vcluster.other.upstream_rq_200', 'vhost.vcluster.upstream_rq', [['envoy.response_code', '200'], ['envoy.virtual_cluster', 'other'], ['envoy.virtual_host', 'local']]],
    ['tcp.ingress_tcp.downstream_cx_total', 'tcp.downstream_cx_total', [['envoy.tcp_prefix', 'ingress_tcp']]],
    ['http.ingress_http.rds.local_route.config_reload', 'http.rds.config_reload', [['envoy.rds_route_config', 'local_route'], ['envoy.http_conn_manager_prefix', 'ingress_http']]],
    ['listener_manager.worker_1.dispatcher.loop_duration_us', 'listener_manager.worker_dispatcher.loop_duration_us', [['envoy.worker_id', '1']]],
    ['server.live', 'server.live', []],
    ['cluster_manager.active_clusters', 'cluster_manager.active_clusters', []],
  ];
  for (const [name, extracted, tags] of cases) {
    const r = extractTags(name);
    assert.equal(r.name, extracted, name);
    assert.deepEqual(r.tags.map((t) => [t.name, t.value]), tags, name);
  }
});

test('/stats/prometheus: exact lines with TYPE, tags as labels, histogram buckets, _sum and _count', () => {
  const r = statsResponse(sampleStore(), '/stats/prometheus', new URLSearchParams());
  assert.match(r.contentType, /^text\/plain; version=0\.0\.4/);
  const lines = r.body.split('\n');
  const expectBlock = (block: string[]): void => {
    const at = lines.indexOf(block[0]!);
    assert.ok(at >= 0, `missing ${block[0]}`);
    assert.deepEqual(lines.slice(at, at + block.length), block);
  };
  expectBlock([
    '# TYPE envoy_cluster_upstream_rq_xx counter',
    'envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="service_a"} 2',
    'envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="service_a"} 1',
  ]);
  expectBlock([
    '# TYPE envoy_cluster_upstream_rq counter',
    'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="service_a"} 2',
    'envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="service_a"} 1',
  ]);
  expectBlock([
    '# TYPE envoy_cluster_upstream_rq_total counter',
    'envoy_cluster_upstream_rq_total{envoy_cluster_name="service_a"} 3',
    'envoy_cluster_upstream_rq_total{envoy_cluster_name="service_b"} 0',
  ]);
  expectBlock(['# TYPE envoy_http_downstream_rq_total counter', 'envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_http"} 5']);
  expectBlock(['# TYPE envoy_listener_downstream_cx_total counter', 'envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_10000"} 2']);
  expectBlock([
    '# TYPE envoy_listener_http_downstream_rq_xx counter',
    'envoy_listener_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress_http",envoy_listener_address="0.0.0.0_10000"} 5',
  ]);
  expectBlock(['# TYPE envoy_listener_admin_downstream_cx_total counter', 'envoy_listener_admin_downstream_cx_total{} 1']);
  expectBlock(['# TYPE envoy_cluster_upstream_rq_active gauge', 'envoy_cluster_upstream_rq_active{envoy_cluster_name="service_a"} 4']);
  expectBlock(['# TYPE envoy_server_live gauge', 'envoy_server_live{} 1']);
  const le = DEFAULT_HISTOGRAM_BUCKETS.map((b) => `envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="${b}"} ${b < 1 ? 0 : 1}`);
  expectBlock([
    ...le,
    'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="service_a",le="+Inf"} 1',
    'envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="service_a"} 1',
    'envoy_cluster_upstream_rq_time_count{envoy_cluster_name="service_a"} 1',
  ]);
  assert.equal(lines.filter((l) => l === '# TYPE envoy_cluster_upstream_rq_time histogram').length, 1, 'one TYPE line per family');
  assert.ok(le[0]!.includes('le="0.5"') && le.at(-1)!.includes('le="3600000"'));
  // counters, then gauges, then histograms
  const firstGauge = lines.findIndex((l) => l.endsWith(' gauge'));
  const lastCounter = lines.length - 1 - [...lines].reverse().findIndex((l) => l.endsWith(' counter'));
  const firstHistogram = lines.findIndex((l) => l.endsWith(' histogram'));
  assert.ok(lastCounter < firstGauge && firstGauge < firstHistogram);
  // usedonly and filter apply too
  const used = statsResponse(sampleStore(), '/stats', new URLSearchParams('format=prometheus&usedonly&filter=service_b')).body;
  assert.equal(used, '');
});

/** Run the real promtool on an exposition; resolve its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: install the Debian package "prometheus" (npm run setup does)`);
  return new Promise((resolve, reject) => {
    const p = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      p.kill();
      reject(new Error('promtool did not finish in 10 s'));
    }, 10_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    p.stdin.end(text);
  });
}

// promtool exits 1 on a parse error and 3 on lint findings. Envoy's naming (no HELP, counters without _total,
// `_ms` units) always draws lint findings, so those - and only those - are accepted.
const ACCEPTED_LINT = [/ no help text$/, / counter metrics should have "_total" suffix$/, / metric names should not contain abbreviated units$/];

function assertValidExposition(r: { code: number | null; output: string }): void {
  assert.ok(r.code === 0 || r.code === 3, `promtool rejected the exposition (exit ${r.code}):\n${r.output}`);
  for (const line of r.output.split('\n').filter(Boolean)) {
    assert.ok(ACCEPTED_LINT.some((re) => re.test(line)), `unexpected promtool finding: ${line}`);
  }
}

test('promtool accepts the Prometheus exposition of a realistic store', async () => {
  const s = sampleStore();
  s.counter('cluster.we"ird\\name.upstream_cx_total').inc(); // label value needing escapes
  s.counter('cluster.dash-name.upstream_cx_connect_fail').inc();
  s.histogram('cluster.service_a.upstream_cx_connect_ms').record(12.5);
  s.histogram('http.ingress_http.downstream_rq_time').record(250);
  s.histogram('server.initialization_time_ms').record(90_000_000);
  const text = s.renderPrometheus();
  assert.ok(text.includes('envoy_cluster_upstream_cx_total{envoy_cluster_name="we\\"ird\\\\name"} 1'));
  assertValidExposition(await promtoolCheck(text));
});

test('the promtool check itself fails on a broken exposition', async () => {
  const broken = '# TYPE envoy_x counter\nenvoy_x{} 1\n# TYPE envoy_x counter\nenvoy_x{a="b"} 2\n';
  const r = await promtoolCheck(broken);
  assert.throws(() => assertValidExposition(r));
});

test('stats_config: custom stats_tags come first and a regex\'s first group is cut; use_all_default_tags false drops the defaults', () => {
  const istioCluster = { tag_name: 'cluster_name', regex: String.raw`^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)` };
  const name = 'cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_200';
  // Envoy's default rule stops at the first dot
  assert.deepEqual(extractTags(name).tags.find((t) => t.name === 'envoy.cluster_name')?.value, 'outbound|9080||reviews');
  const istio = compileStatsTags({ use_all_default_tags: false, stats_tags: [istioCluster, { tag_name: 'response_code', regex: String.raw`_rq(_(\d{3}))$` }, { tag_name: 'mesh', fixed_value: 'm1' }] }, 'stats_config');
  assert.deepEqual(extractTags(name, istio), {
    name: 'cluster.upstream_rq',
    tags: [
      { name: 'cluster_name', value: 'outbound|9080||reviews.default.svc.cluster.local' },
      { name: 'response_code', value: '200' },
      { name: 'mesh', value: 'm1' },
    ],
  });
  // with the defaults kept, a custom tag wins over the default of its name, and the other defaults still apply
  const both = compileStatsTags({ stats_tags: [{ tag_name: 'envoy.cluster_name', regex: istioCluster.regex }] }, 'stats_config');
  assert.deepEqual(extractTags(name, both).tags.map((t) => [t.name, t.value]), [
    ['envoy.cluster_name', 'outbound|9080||reviews.default.svc.cluster.local'],
    ['envoy.response_code', '200'],
  ]);
  // the store renders with them
  const s = new StatsStore();
  s.configureTags(istio);
  s.counter(name).inc();
  assert.match(s.renderPrometheus(), /^envoy_cluster_upstream_rq\{cluster_name="outbound\|9080\|\|reviews\.default\.svc\.cluster\.local",response_code="200",mesh="m1"\} 1$/m);
  assert.throws(() => compileStatsTags({ stats_tags: [{ tag_name: 'x', regex: '(' }] }, 'stats_config'), /stats_config\.stats_tags\[0\]\.regex/);
});
