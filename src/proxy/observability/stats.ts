// The stats store: counters, gauges and histograms named like Envoy's (`cluster.<name>.upstream_rq_2xx`), and
// the three renderings the admin API serves: /stats text, /stats?format=json and /stats/prometheus.
//
// Hot path: `store.counter(name)` creates the stat once (config time) and code keeps the object; per request it
// only calls `c.inc()`, `g.set(v)`, `h.record(v)` — plain field updates, no name lookups or string building.
// Tag extraction (Envoy's default TagNames rules) and Prometheus names are computed lazily once per stat, when
// /stats/prometheus first renders it.
import { ConfigError, MeshworkError } from '../../common/errors.js';

/** Envoy's default histogram buckets (ms), used for Prometheus `le` buckets. */
export const DEFAULT_HISTOGRAM_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** The quantiles /stats prints, as fractions (Envoy prints them as P0, P25, ... P99.9, P100). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

interface Tagged {
  /** `envoy_<tag-extracted name>` sanitized */
  promName: string;
  /** `k="v",k2="v2"` (no braces), in extraction order */
  labels: string;
}

abstract class Stat {
  used = false;
  private tagged: Tagged | undefined;
  constructor(readonly name: string) {}

  /** @internal computed on first Prometheus render, then reused (the tag rules are fixed once the bootstrap
   *  is read, before the admin serves) */
  prometheus(tags?: TagRules): Tagged {
    return (this.tagged ??= toPrometheus(this.name, tags));
  }
}

export class Counter extends Stat {
  value = 0;

  inc(): void {
    this.value++;
    this.used = true;
  }

  add(n: number): void {
    this.value += n;
    this.used = true;
  }
}

export class Gauge extends Stat {
  value = 0;

  set(v: number): void {
    this.value = v;
    this.used = true;
  }

  inc(): void {
    this.value++;
    this.used = true;
  }

  dec(): void {
    this.value--;
    this.used = true;
  }

  add(n: number): void {
    this.value += n;
    this.used = true;
  }

  sub(n: number): void {
    this.value -= n;
    this.used = true;
  }
}

// Quantiles come from a log-linear histogram with two significant digits, the layout of the circllhist library
// Envoy uses: a value v > 0 falls in the bin [m·10^e, (m+1)·10^e) with m in 10..99, and a quantile is
// interpolated linearly inside its bin. So one recorded value of 1 gives P0 = 1, P25 = 1.025, P100 = 1.1,
// exactly like Envoy's output. Bins are keyed by one integer: (e + 400) * 100 + m; 0 is the bin for zero.

function binKey(v: number): number {
  if (v <= 0) return 0;
  let e = Math.floor(Math.log10(v)) - 1;
  let m = Math.floor(scaleDown(v, e));
  // log10 can be off by one ulp around powers of ten
  if (m >= 100) m = Math.floor(scaleDown(v, ++e));
  else if (m < 10) m = Math.floor(scaleDown(v, --e));
  return (e + 400) * 100 + m;
}

/** v / 10^e computed so that decimal results stay exact (divide by 10^-e rather than multiply by 10^e). */
function scaleDown(v: number, e: number): number {
  return e >= 0 ? v / 10 ** e : v * 10 ** -e;
}

function scaleUp(m: number, e: number): number {
  return e >= 0 ? m * 10 ** e : m / 10 ** -e;
}

/** Quantiles of a bin map; NaN when empty. */
function quantiles(bins: Map<number, number>, qs: readonly number[]): number[] {
  let total = 0;
  for (const c of bins.values()) total += c;
  if (total === 0) return qs.map(() => NaN);
  const keys = [...bins.keys()].sort((a, b) => a - b);
  const out: number[] = [];
  let bi = 0;
  let lower = 0;
  let upper = bins.get(keys[0]!)!;
  for (const q of qs) {
    const want = q * total;
    while (bi < keys.length - 1 && upper < want) {
      bi++;
      lower = upper;
      upper += bins.get(keys[bi]!)!;
    }
    const key = keys[bi]!;
    if (key === 0) {
      out.push(0);
      continue;
    }
    const e = Math.floor(key / 100) - 400;
    const m = key % 100;
    const frac = want <= lower ? 0 : want >= upper ? 1 : (want - lower) / (upper - lower);
    out.push(scaleUp(m + frac, e));
  }
  return out;
}

function mergeInto(into: Map<number, number>, from: Map<number, number>): void {
  for (const [k, c] of from) into.set(k, (into.get(k) ?? 0) + c);
}

export class Histogram extends Stat {
  count = 0;
  sum = 0;
  /** per-bucket (not cumulative) counts for `bounds`; values above the last bound only count toward +Inf */
  private readonly bucketCounts: number[];
  private current = new Map<number, number>();
  private readonly merged = new Map<number, number>();
  private lastInterval: Map<number, number> | undefined;

  constructor(
    name: string,
    readonly bounds: readonly number[],
  ) {
    super(name);
    this.bucketCounts = bounds.map(() => 0);
  }

  record(v: number): void {
    if (!(v >= 0)) v = 0; // Envoy histograms hold unsigned values; NaN and negatives count as 0
    this.count++;
    this.sum += v;
    this.used = true;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.bucketCounts[i]!++;
        break;
      }
    }
    const k = binKey(v);
    this.current.set(k, (this.current.get(k) ?? 0) + 1);
  }

  /** Close the current interval (Envoy does this every stats_flush_interval). */
  mergeInterval(): void {
    this.lastInterval = this.current;
    mergeInto(this.merged, this.current);
    this.current = new Map();
  }

  /** Cumulative counts per bound, for Prometheus `le` buckets. */
  cumulativeBuckets(): number[] {
    let acc = 0;
    return this.bucketCounts.map((c) => (acc += c));
  }

  /** [interval, cumulative] per SUPPORTED_QUANTILES; interval is the last closed interval (NaN before one). */
  computedQuantiles(): { interval: number[]; cumulative: number[] } {
    const all = new Map(this.merged);
    mergeInto(all, this.current);
    return {
      interval: quantiles(this.lastInterval ?? new Map(), SUPPORTED_QUANTILES),
      cumulative: quantiles(all, SUPPORTED_QUANTILES),
    };
  }
}

export interface StatsStoreOptions {
  /** Prometheus bucket bounds for every histogram (default DEFAULT_HISTOGRAM_BUCKETS). */
  histogramBuckets?: readonly number[];
}

class StatRegistry {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();
  readonly labelled = new LabelledRegistry();
  /** bootstrap stats_config: custom tag rules, and whether Envoy's defaults apply too */
  tags: TagRules | undefined;
  constructor(readonly buckets: readonly number[]) {}
}

/** One series of a labelled counter family. */
export interface LabelledCounter {
  value: number;
}

/** One series of a labelled histogram family: plain buckets, sum and count (what Prometheus reads). */
export class LabelledHistogram {
  count = 0;
  sum = 0;
  readonly buckets: number[];
  constructor(readonly bounds: readonly number[]) {
    this.buckets = bounds.map(() => 0);
  }
  record(v: number): void {
    if (!(v >= 0)) v = 0;
    this.count++;
    this.sum += v;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

/**
 * Families with explicit Prometheus labels, for metrics whose labels are not in their names (Istio's standard
 * metrics: istio_requests_total{reporter=...,response_code=...}). A series is keyed by its rendered label text
 * (`a="x",b="y"`), which its user builds once per label set and caches.
 */
class LabelledRegistry {
  readonly counters = new Map<string, Map<string, LabelledCounter>>();
  readonly histograms = new Map<string, { bounds: readonly number[]; series: Map<string, LabelledHistogram> }>();
}

export type StatType = 'All' | 'Counters' | 'Gauges' | 'Histograms';

export interface StatsQuery {
  /** keep stats whose name this regex finds (Envoy: RE2 partial match) */
  filter?: RegExp;
  usedOnly?: boolean;
  type?: StatType;
}

/**
 * A store, or a scope of one: `store.scope('cluster.a.')` returns a view whose stats are named with that
 * prefix and live in the same registry. Rendering methods always render the whole registry.
 */
export class StatsStore {
  readonly prefix: string = '';
  private readonly reg: StatRegistry;

  constructor(opts: StatsStoreOptions = {}) {
    this.reg = new StatRegistry(opts.histogramBuckets ?? DEFAULT_HISTOGRAM_BUCKETS);
  }

  /** A view with `prefix` prepended to names ("cluster.a" and "cluster.a." are the same scope). */
  scope(prefix: string): StatsStore {
    const p = prefix === '' || prefix.endsWith('.') ? prefix : prefix + '.';
    // Same registry, longer prefix: built without the constructor so the registry is shared, not copied.
    const s = Object.create(StatsStore.prototype) as StatsStore;
    Object.assign(s, { prefix: this.prefix + p, reg: this.reg });
    return s;
  }

  counter(name: string): Counter {
    const full = this.prefix + name;
    let c = this.reg.counters.get(full);
    if (!c) this.reg.counters.set(full, (c = new Counter(full)));
    return c;
  }

  gauge(name: string): Gauge {
    const full = this.prefix + name;
    let g = this.reg.gauges.get(full);
    if (!g) this.reg.gauges.set(full, (g = new Gauge(full)));
    return g;
  }

  histogram(name: string): Histogram {
    const full = this.prefix + name;
    let h = this.reg.histograms.get(full);
    if (!h) this.reg.histograms.set(full, (h = new Histogram(full, this.reg.buckets)));
    return h;
  }

  counters(): Counter[] {
    return [...this.reg.counters.values()];
  }

  gauges(): Gauge[] {
    return [...this.reg.gauges.values()];
  }

  histograms(): Histogram[] {
    return [...this.reg.histograms.values()];
  }

  /** The bootstrap's stats_config.stats_tags / use_all_default_tags (compileStatsTags), for /stats/prometheus. */
  configureTags(tags: TagRules): void {
    this.reg.tags = tags;
  }

  /** The series `labels` (rendered label text) of counter family `family` (a full Prometheus name). */
  labelledCounter(family: string, labels: string): LabelledCounter {
    let f = this.reg.labelled.counters.get(family);
    if (!f) this.reg.labelled.counters.set(family, (f = new Map()));
    let c = f.get(labels);
    if (!c) f.set(labels, (c = { value: 0 }));
    return c;
  }

  /** The series `labels` of histogram family `family`, whose buckets are `bounds` (fixed by its first use). */
  labelledHistogram(family: string, bounds: readonly number[], labels: string): LabelledHistogram {
    let f = this.reg.labelled.histograms.get(family);
    if (!f) this.reg.labelled.histograms.set(family, (f = { bounds, series: new Map() }));
    let h = f.series.get(labels);
    if (!h) f.series.set(labels, (h = new LabelledHistogram(f.bounds)));
    return h;
  }

  /** Close the current histogram interval everywhere; call every stats_flush_interval (Envoy: 5 s). */
  mergeHistograms(): void {
    for (const h of this.reg.histograms.values()) h.mergeInterval();
  }

  private select(q: StatsQuery): { values: (Counter | Gauge)[]; histograms: Histogram[] } {
    const keep = (s: Stat): boolean => (!q.usedOnly || s.used) && (!q.filter || q.filter.test(s.name));
    const type = q.type ?? 'All';
    const values: (Counter | Gauge)[] = [];
    if (type === 'All' || type === 'Counters') for (const c of this.reg.counters.values()) if (keep(c)) values.push(c);
    if (type === 'All' || type === 'Gauges') for (const g of this.reg.gauges.values()) if (keep(g)) values.push(g);
    const histograms = type === 'All' || type === 'Histograms' ? [...this.reg.histograms.values()].filter(keep) : [];
    values.sort(byName);
    histograms.sort(byName);
    return { values, histograms };
  }

  /** /stats: counters and gauges sorted together as `name: value`, then histograms' quantile summaries. */
  renderText(q: StatsQuery = {}): string {
    const { values, histograms } = this.select(q);
    let out = '';
    for (const s of values) out += `${s.name}: ${s.value}\n`;
    for (const h of histograms) out += `${h.name}: ${quantileSummary(h)}\n`;
    return out;
  }

  /** /stats?format=json, Envoy's shape: {"stats":[{"name","value"}..., {"histograms":{...}}]} */
  renderJson(q: StatsQuery = {}): string {
    const { values, histograms } = this.select(q);
    const stats: unknown[] = values.map((s) => ({ name: s.name, value: s.value }));
    if (histograms.length > 0) {
      const nanToNull = (v: number): number | null => (Number.isNaN(v) ? null : tidy(v));
      stats.push({
        histograms: {
          supported_quantiles: SUPPORTED_QUANTILES.map(percent),
          computed_quantiles: histograms.map((h) => {
            const { interval, cumulative } = h.computedQuantiles();
            return { name: h.name, values: interval.map((v, i) => ({ interval: nanToNull(v), cumulative: nanToNull(cumulative[i]!) })) };
          }),
        },
      });
    }
    return JSON.stringify({ stats });
  }

  /** /stats/prometheus: text exposition format 0.0.4 with Envoy's tag extraction and `envoy_` names. */
  renderPrometheus(q: StatsQuery = {}): string {
    const { values, histograms } = this.select(q);
    const tags = this.reg.tags;
    let out = '';
    const counters = values.filter((s): s is Counter => s instanceof Counter);
    const gauges = values.filter((s): s is Gauge => s instanceof Gauge);
    for (const [type, list] of [['counter', counters], ['gauge', gauges]] as const) {
      for (const [family, members] of families(list, tags)) {
        out += `# TYPE ${family} ${type}\n`;
        for (const s of members) out += `${family}{${s.prometheus(tags).labels}} ${promNumber(s.value)}\n`;
      }
    }
    for (const [family, members] of families(histograms, tags)) {
      out += `# TYPE ${family} histogram\n`;
      for (const h of members) {
        const labels = h.prometheus(tags).labels;
        const sep = labels ? ',' : '';
        const cum = h.cumulativeBuckets();
        for (let i = 0; i < h.bounds.length; i++) out += `${family}_bucket{${labels}${sep}le="${promNumber(h.bounds[i]!)}"} ${cum[i]}\n`;
        out += `${family}_bucket{${labels}${sep}le="+Inf"} ${h.count}\n`;
        out += `${family}_sum{${labels}} ${promNumber(h.sum)}\n`;
        out += `${family}_count{${labels}} ${h.count}\n`;
      }
    }
    return out + this.renderLabelled(q);
  }

  /** The labelled families, after Envoy's own (a `filter` applies to the family name). */
  private renderLabelled(q: StatsQuery): string {
    if (q.type === 'Gauges') return '';
    const keep = (family: string) => !q.filter || q.filter.test(family);
    let out = '';
    if (q.type !== 'Histograms') {
      for (const [family, series] of [...this.reg.labelled.counters].sort((a, b) => cmp(a[0], b[0]))) {
        if (!keep(family) || series.size === 0) continue;
        out += `# TYPE ${family} counter\n`;
        for (const [labels, c] of series) out += `${family}{${labels}} ${promNumber(c.value)}\n`;
      }
    }
    if (q.type !== 'Counters') {
      for (const [family, f] of [...this.reg.labelled.histograms].sort((a, b) => cmp(a[0], b[0]))) {
        if (!keep(family) || f.series.size === 0) continue;
        out += `# TYPE ${family} histogram\n`;
        for (const [labels, h] of f.series) {
          let cum = 0;
          for (let i = 0; i < f.bounds.length; i++) {
            cum += h.buckets[i]!;
            out += `${family}_bucket{${labels},le="${promNumber(f.bounds[i]!)}"} ${cum}\n`;
          }
          out += `${family}_bucket{${labels},le="+Inf"} ${h.count}\n`;
          out += `${family}_sum{${labels}} ${promNumber(h.sum)}\n`;
          out += `${family}_count{${labels}} ${h.count}\n`;
        }
      }
    }
    return out;
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byName = (a: Stat, b: Stat): number => cmp(a.name, b.name);
const percent = (q: number): number => Math.round(q * 1000) / 10; // 0.995 → 99.5 without float noise

function quantileSummary(h: Histogram): string {
  if (!h.used) return 'No recorded values';
  const { interval, cumulative } = h.computedQuantiles();
  return SUPPORTED_QUANTILES.map((q, i) => `P${percent(q)}(${fmt(interval[i]!)},${fmt(cumulative[i]!)})`).join(' ');
}

// 15 significant digits hide interpolation noise (109.94999999999999 → 109.95) without losing real precision.
const tidy = (v: number): number => Number(v.toPrecision(15));
const fmt = (v: number): string => (Number.isNaN(v) ? 'nan' : String(tidy(v)));

function promNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Group stats by Prometheus family name, families sorted, members sorted by labels. */
function families<T extends Stat>(stats: T[], tags: TagRules | undefined): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const s of stats) {
    const name = s.prometheus(tags).promName;
    const g = groups.get(name);
    if (g) g.push(s);
    else groups.set(name, [s]);
  }
  const out = [...groups.entries()].sort((a, b) => cmp(a[0], b[0]));
  for (const [, members] of out) members.sort((a, b) => cmp(a.prometheus(tags).labels, b.prometheus(tags).labels));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Tag extraction: Envoy's default TagNames rules (source/common/config/well_known_names.cc), the subset that
// applies to the stats Meshwork emits. Each rule finds a tag value in the full stat name and marks a span to
// cut; the tag-extracted name is the name without all cut spans. Order follows Envoy's TagProducer: rules
// without a leading literal token first, then rules whose first token equals the stat's first token; regex
// rules before tokenized ones; a tag name that has two rules is taken from the first that matches.

interface Extractor {
  tag: string;
  /** first literal token, or '' */
  prefix: string;
  /** returns [value, cutStart, cutEnd] or undefined */
  match(name: string, tokens: string[]): [string, number, number] | undefined;
}

const ADDRESS = String.raw`(?:(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[[a-fA-F_\d]+\])_\d+)`;

/** Regex rule: group 1 is the span to cut, group 2 the tag value. */
function regexRule(tag: string, source: string, prefix: string, negative?: string): Extractor {
  const re = new RegExp(source.replaceAll('<ADDRESS>', ADDRESS), 'd');
  return {
    tag,
    prefix,
    match(name) {
      const m = re.exec(name);
      if (!m || m[2] === undefined || m[2] === negative) return undefined;
      const [start, end] = m.indices![1]!;
      return [m[2], start, end];
    },
  };
}

/**
 * Tokenized rule ("cluster.$.**"): literal tokens must match, `*` is any one token, `$` is the tag value (cut
 * together with the dot after it), a trailing `**` is one or more further tokens.
 */
function tokenRule(tag: string, pattern: string): Extractor {
  const pt = pattern.split('.');
  const first = pt[0]!;
  return {
    tag,
    prefix: first === '$' || first === '*' ? '' : first,
    match(name, tokens) {
      if (pt[pt.length - 1] === '**' ? tokens.length < pt.length : tokens.length !== pt.length) return undefined;
      let offset = 0;
      let found: [string, number, number] | undefined;
      for (let i = 0; i < pt.length; i++) {
        const p = pt[i]!;
        if (p === '**') break;
        const t = tokens[i]!;
        if (p === '$') found = [t, offset, offset + t.length + 1];
        else if (p !== '*' && p !== t) return undefined;
        offset += t.length + 1;
      }
      return found && found[0] !== '' ? found : undefined;
    },
  };
}

const REGEX_RULES: Extractor[] = [
  regexRule('envoy.response_code', String.raw`_rq(_(\d{3}))$`, ''),
  regexRule('envoy.response_code_class', String.raw`_rq_((\d))xx$`, ''),
  regexRule('envoy.ssl_cipher', String.raw`^listener\..*?\.ssl\.ciphers(\.([\w-]+))$`, 'listener'),
  regexRule('envoy.ssl_curve', String.raw`^(?:listener|cluster)\..*?\.ssl\.curves(\.([\w-]+))$`, ''),
  regexRule('envoy.ssl_sigalg', String.raw`^(?:listener|cluster)\..*?\.ssl\.sigalgs(\.([\w-]+))$`, ''),
  regexRule('envoy.ssl_version', String.raw`^(?:listener|cluster)\..*?\.ssl\.versions(\.(TLSv\d\.\d))$`, ''),
  regexRule('cipher_suite', String.raw`^cluster\.[^.]+\.ssl\.ciphers(\.([\w-]+))$`, 'cluster'),
  regexRule('envoy.http_conn_manager_prefix', String.raw`^listener\..*?\.http\.(([^.]+)\.)`, 'listener'),
  regexRule('envoy.worker_id', String.raw`^(?:listener\.(?:<ADDRESS>|[^.]+)\.|server\.|listener_manager\.)worker_((\d+)\.)`, ''),
  regexRule('envoy.listener_address', String.raw`^listener\.((<ADDRESS>|[^.]+)\.)`, 'listener', 'admin'),
  regexRule('envoy.rds_route_config', String.raw`^http\.[^.]+\.rds\.(([\w.-]+)\.)\w+?$`, 'http'),
];

const TOKEN_RULES: Extractor[] = [
  tokenRule('envoy.http_user_agent', 'http.*.user_agent.$.**'),
  tokenRule('envoy.virtual_cluster', 'vhost.*.vcluster.$.**'),
  tokenRule('envoy.fault_downstream_cluster', 'http.*.fault.$.**'),
  tokenRule('envoy.tcp_prefix', 'tcp.$.**'),
  tokenRule('envoy.ratelimit_prefix', 'ratelimit.$.**'),
  tokenRule('envoy.cluster_name', 'cluster.$.**'),
  tokenRule('envoy.ext_authz_prefix', 'cluster.*.ext_authz.$.**'),
  tokenRule('envoy.ext_authz_prefix', 'http.*.ext_authz.$.**'),
  tokenRule('envoy.http_conn_manager_prefix', 'http.$.**'),
  tokenRule('envoy.virtual_host', 'vhost.$.**'),
  tokenRule('envoy.route', 'vhost.*.route.$.**'),
  tokenRule('envoy.local_http_ratelimit_prefix', '$.http_local_rate_limit.**'),
  tokenRule('envoy.local_network_ratelimit_prefix', 'local_rate_limit.$.**'),
];

const RULES_WITHOUT_PREFIX = [...REGEX_RULES, ...TOKEN_RULES].filter((r) => r.prefix === '');
const RULES_BY_PREFIX = new Map<string, Extractor[]>();
for (const r of [...REGEX_RULES, ...TOKEN_RULES]) {
  if (r.prefix === '') continue;
  const l = RULES_BY_PREFIX.get(r.prefix);
  if (l) l.push(r);
  else RULES_BY_PREFIX.set(r.prefix, [r]);
}

export interface Tag {
  name: string;
  value: string;
}

/** The bootstrap's tag rules: custom ones (tried first; a default rule of the same tag name is then skipped) and
 *  whether Envoy's defaults apply (use_all_default_tags, default true). */
export interface TagRules {
  readonly custom: readonly Extractor[];
  readonly useDefaults: boolean;
}

/** stats_config → TagRules; throws ConfigError naming the field. Envoy: a regex's first capture group is cut
 *  from the name and its second (or, with one group, the first) is the value; fixed_value tags every stat. */
export function compileStatsTags(cfg: any, path: string): TagRules {
  const custom = (cfg?.stats_tags ?? []).map((t: any, i: number): Extractor => {
    const p = `${path}.stats_tags[${i}]`;
    if (!t.tag_name) throw new ConfigError('MW_CONFIG_INVALID', `${p}.tag_name`, 'a tag name is required');
    if (t.fixed_value !== undefined) return { tag: t.tag_name, prefix: '', match: () => [String(t.fixed_value), 0, 0] };
    let re: RegExp;
    try {
      re = new RegExp(String(t.regex ?? ''), 'd');
    } catch (err) {
      throw new ConfigError('MW_CONFIG_INVALID', `${p}.regex`, `not a regular expression: ${(err as Error).message}`);
    }
    return {
      tag: t.tag_name,
      prefix: '',
      match(name) {
        const m = re.exec(name);
        if (!m || m[1] === undefined) return undefined;
        const [start, end] = m.indices![1]!;
        return [m[2] ?? m[1], start, end];
      },
    };
  });
  return { custom, useDefaults: cfg?.use_all_default_tags !== false };
}

/** Envoy's tag extraction: `cluster.a.upstream_rq_2xx` → `cluster.upstream_rq_xx` + tags; the bootstrap's
 *  custom rules first, then (unless turned off) the defaults. */
export function extractTags(name: string, config?: TagRules): { name: string; tags: Tag[] } {
  const tokens = name.split('.');
  const tags: Tag[] = [];
  const cuts: [number, number][] = [];
  const defaults = config?.useDefaults === false ? [] : [...RULES_WITHOUT_PREFIX, ...(RULES_BY_PREFIX.get(tokens[0]!) ?? [])];
  const rules = config?.custom.length ? [...config.custom, ...defaults] : defaults;
  for (const r of rules) {
    if (tags.some((t) => t.name === r.tag)) continue;
    const m = r.match(name, tokens);
    if (!m) continue;
    tags.push({ name: r.tag, value: m[0] });
    cuts.push([m[1], m[2]]);
  }
  if (cuts.length === 0) return { name, tags };
  const keep = new Uint8Array(name.length).fill(1);
  for (const [s, e] of cuts) keep.fill(0, s, e);
  let out = '';
  for (let i = 0; i < name.length; i++) if (keep[i]) out += name[i];
  return { name: out, tags };
}

const sanitize = (s: string): string => s.replace(/[^a-zA-Z0-9_]/g, '_');
const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function toPrometheus(statName: string, rules?: TagRules): Tagged {
  const { name, tags } = extractTags(statName, rules);
  return {
    promName: 'envoy_' + sanitize(name),
    labels: tags.map((t) => `${sanitize(t.name)}="${escapeLabel(t.value)}"`).join(','),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Admin endpoint glue

/** Read Envoy's /stats query parameters: filter, usedonly, type. Throws MeshworkError on a bad regex or type. */
export function parseStatsQuery(params: URLSearchParams): StatsQuery {
  const q: StatsQuery = {};
  const filter = params.get('filter');
  if (filter) {
    try {
      q.filter = new RegExp(filter);
    } catch (err) {
      throw new MeshworkError('MW_CONFIG_INVALID', `Cannot use filter ${JSON.stringify(filter)}: ${(err as Error).message}`);
    }
  }
  if (params.has('usedonly')) q.usedOnly = true;
  const type = params.get('type');
  if (type) {
    if (!['All', 'Counters', 'Gauges', 'Histograms'].includes(type)) {
      throw new MeshworkError('MW_CONFIG_INVALID', `Cannot use type "${type}": expected All, Counters, Gauges or Histograms`);
    }
    q.type = type as StatType;
  }
  return q;
}

/** Serve /stats (text, ?format=json, ?format=prometheus) and /stats/prometheus; a bad query is a 400. */
export function statsResponse(store: StatsStore, pathname: string, params: URLSearchParams): { status: number; contentType: string; body: string } {
  let q: StatsQuery;
  try {
    q = parseStatsQuery(params);
  } catch (err) {
    return { status: 400, contentType: 'text/plain; charset=UTF-8', body: `${(err as Error).message}\n` };
  }
  const format = pathname === '/stats/prometheus' ? 'prometheus' : params.get('format') ?? 'text';
  if (format === 'json') return { status: 200, contentType: 'application/json', body: store.renderJson(q) };
  if (format === 'prometheus') return { status: 200, contentType: 'text/plain; version=0.0.4; charset=UTF-8', body: store.renderPrometheus(q) };
  if (format === 'text') return { status: 200, contentType: 'text/plain; charset=UTF-8', body: store.renderText(q) };
  return { status: 400, contentType: 'text/plain; charset=UTF-8', body: `Cannot render stats in format "${format}": expected text, json or prometheus\n` };
}
