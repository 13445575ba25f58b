// A real Prometheus server (Debian's `prometheus`, installed by scripts/setup.sh) scraping the given admin
// ports' /stats/prometheus every second, and its HTTP query API.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, tmpDir } from './proxy.js';

export interface PrometheusServer {
  /** an instant query: the result vector */
  query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): void;
}

export async function startPrometheus(adminPorts: number[]): Promise<PrometheusServer> {
  const dir = tmpDir('meshwork-prometheus-');
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
- job_name: proxies
  metrics_path: /stats/prometheus
  static_configs:
  - targets: [${adminPorts.map((p) => `'127.0.0.1:${p}'`).join(', ')}]
`,
  );
  const child = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  return {
    async query(q) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
      return ((await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    },
    stop: () => void child.kill('SIGTERM'),
  };
}

/** Istio's dashboard query the tests ask: requests/s by destination service and response code. */
export const REQUESTS_BY_SERVICE = 'sum(rate(istio_requests_total[30s])) by (destination_service, response_code)';
