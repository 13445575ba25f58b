// Prometheus text exposition (format 0.0.4) for the control plane's /metrics. The control plane has a few
// dozen series, read from their owners at scrape time, so there is no registry: owners hand over families.

export interface MetricSample {
  labels?: Readonly<Record<string, string>>;
  value: number;
  /** a histogram's `_bucket` / `_sum` / `_count` line */
  suffix?: '_bucket' | '_sum' | '_count';
}

export interface MetricFamily {
  /** full name; counters end in _total (promtool's lint wants it) */
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  samples: readonly MetricSample[];
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Families → exposition text. Families with the same name are merged (a scrape must name each once). */
export function formatPrometheus(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`);
    const prev = merged.get(f.name);
    merged.set(f.name, prev ? { ...prev, samples: [...prev.samples, ...f.samples] } : f);
  }
  let out = '';
  for (const f of merged.values()) {
    out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += `${f.name}${s.suffix ?? ''}${labels(s.labels)} ${number(s.value)}\n`;
  }
  return out;
}

function labels(l: Readonly<Record<string, string>> | undefined): string {
  if (!l) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(l)) {
    if (!LABEL.test(k)) throw new Error(`invalid label name ${JSON.stringify(k)}`);
    parts.push(`${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  }
  return parts.length ? `{${parts.join(',')}}` : '';
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The samples of a histogram: cumulative `le` buckets, +Inf, sum and count. */
export function histogramSamples(h: { bounds: readonly number[]; counts: readonly number[]; sum: number; count: number }): MetricSample[] {
  const out: MetricSample[] = [];
  let cum = 0;
  h.bounds.forEach((b, i) => {
    cum += h.counts[i]!;
    out.push({ suffix: '_bucket', labels: { le: String(b) }, value: cum });
  });
  out.push({ suffix: '_bucket', labels: { le: '+Inf' }, value: h.count }, { suffix: '_sum', value: h.sum }, { suffix: '_count', value: h.count });
  return out;
}
