// `meshwork control-plane` as a real process: a config dir, a real gRPC ADS client (@grpc/grpc-js with the
// codec's service definition), file edits pushed as new versions, the debug port (/ready, /debug/syncz,
// /debug/config_dump, /debug/resources, /metrics through the real promtool) and a clean SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ADS_SERVICE, TYPE_URL, unpackAny, type DiscoveryRequest, type DiscoveryResponse } from '../src/api/xds/index.js';
import { startControlPlane } from './helpers/control-plane.js';
import { MESHWORK, tmpDir, waitFor } from './helpers/proxy.js';

const cluster = (name: string) => `"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
name: ${name}
connect_timeout: 1s
type: EDS
eds_cluster_config: { eds_config: { ads: {} } }
`;

const LISTENERS = `"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: ingress
address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
      stat_prefix: ingress
      rds: { route_config_name: local, config_source: { ads: {} } }
      http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
---
"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: local
virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: / }, route: { cluster: web } }] }]
`;

/** An ADS stream with a queue of responses per type URL. */
function adsStream(port: number, nodeId: string) {
  const Client = grpc.makeGenericClientConstructor(ADS_SERVICE, 'AggregatedDiscoveryService');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (client as any).StreamAggregatedResources() as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  const queued: DiscoveryResponse[] = [];
  const waiters: (() => void)[] = [];
  let ended: Error | undefined;
  call.on('data', (r: DiscoveryResponse) => {
    queued.push(r);
    waiters.splice(0).forEach((w) => w());
  });
  const end = (e: Error) => {
    ended = e;
    waiters.splice(0).forEach((w) => w());
  };
  call.on('error', end);
  call.on('end', () => end(new Error('stream ended')));
  const node = { id: nodeId, cluster: 'test' };
  return {
    call,
    send(typeUrl: string, r: Partial<DiscoveryRequest> = {}) {
      call.write({ version_info: '', resource_names: [], response_nonce: '', node, type_url: typeUrl, ...r });
    },
    /** the next response for a type, within 5 s */
    async next(typeUrl: string): Promise<DiscoveryResponse> {
      const deadline = Date.now() + 5000;
      for (;;) {
        const i = queued.findIndex((r) => r.type_url === typeUrl);
        if (i >= 0) return queued.splice(i, 1)[0]!;
        if (ended) throw ended;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${typeUrl} response within 5 s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => (clearTimeout(t), resolve()));
        });
      }
    },
    ended: () => ended,
    close() {
      call.cancel();
      client.close();
    },
  };
}

const names = (r: DiscoveryResponse) => r.resources.map((a) => (unpackAny(a) as any).name).sort();

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    const t = setTimeout(() => (p.kill('SIGKILL'), reject(new Error('promtool did not finish in 10 s'))), 10_000);
    p.on('error', reject);
    p.on('exit', (code) => (clearTimeout(t), resolve({ code, output })));
    p.stdin.end(text);
  });
}

test('control plane: serves the config dir over ADS, pushes edits, reports on its debug port, exits 0 on SIGTERM', async () => {
  const dir = tmpDir('meshwork-cp-');
  fs.writeFileSync(path.join(dir, 'listeners.yaml'), LISTENERS);
  fs.writeFileSync(path.join(dir, 'clusters.yaml'), cluster('web'));
  const cp = await startControlPlane(dir, ['--debounce-ms', '20']);
  const ads = adsStream(cp.xdsPort, 'sidecar-1');
  try {
    assert.equal((await cp.http('/ready')).status, 200);

    // CDS then LDS, wildcard; each ACKed
    ads.send(TYPE_URL.CLUSTER);
    const cds1 = await ads.next(TYPE_URL.CLUSTER);
    assert.deepEqual(names(cds1), ['web']);
    assert.ok(cds1.version_info && cds1.nonce);
    ads.send(TYPE_URL.CLUSTER, { version_info: cds1.version_info, response_nonce: cds1.nonce });
    ads.send(TYPE_URL.LISTENER);
    const lds1 = await ads.next(TYPE_URL.LISTENER);
    assert.deepEqual(names(lds1), ['ingress']);
    ads.send(TYPE_URL.LISTENER, { version_info: lds1.version_info, response_nonce: lds1.nonce });

    const synced = await waitFor(async () => {
      const s: any[] = await (await cp.http('/debug/syncz')).json();
      const p = s.find((x) => x.proxy === 'sidecar-1');
      return p?.types.cds?.status === 'SYNCED' && p?.types.lds?.status === 'SYNCED' && p;
    }, 'sidecar-1 SYNCED in /debug/syncz');
    assert.equal(synced.types.cds.acked, cds1.version_info);

    // an edit the way editors save (temp file renamed over) → a new CDS version with both clusters
    fs.writeFileSync(path.join(dir, '.clusters.yaml.tmp'), `${cluster('web')}---\n${cluster('api')}`);
    fs.renameSync(path.join(dir, '.clusters.yaml.tmp'), path.join(dir, 'clusters.yaml'));
    const cds2 = await ads.next(TYPE_URL.CLUSTER);
    assert.deepEqual(names(cds2), ['api', 'web']);
    assert.notEqual(cds2.version_info, cds1.version_info);
    ads.send(TYPE_URL.CLUSTER, { version_info: cds2.version_info, response_nonce: cds2.nonce });
    await waitFor(async () => {
      const s: any[] = await (await cp.http('/debug/syncz')).json();
      const t = s.find((x) => x.proxy === 'sidecar-1')?.types.cds;
      return t?.status === 'SYNCED' && t.acked === cds2.version_info;
    }, 'the new CDS version ACKed in /debug/syncz');

    const dump = await cp.http('/debug/config_dump?proxy=sidecar-1');
    assert.equal(dump.status, 200);
    assert.match(JSON.stringify(await dump.json()), /"api"/);
    const unknown = await cp.http('/debug/config_dump?proxy=nobody');
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as any).error, /nobody/);

    // a bad edit: rejected with its location, last good kept (no push), counted in /metrics
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), cluster('web').replace('connect_timeout: 1s', 'connect_timeout: 1s\nbogus: 1'));
    const res: any = await waitFor(async () => {
      const r: any = await (await cp.http('/debug/resources')).json();
      return r.errors.length > 0 && r;
    }, 'the config error in /debug/resources');
    assert.equal(res.errors[0].file, path.join(dir, 'clusters.yaml'));
    assert.match(res.errors[0].location, /clusters\.yaml:4:1$/);
    assert.deepEqual(res.resources.Cluster.map((r: any) => r.name).sort(), ['api', 'web']);
    assert.deepEqual(res.resources.Listener.map((r: any) => [r.name, r.file]), [['ingress', path.join(dir, 'listeners.yaml')]]);
    assert.match(cp.stderr(), /"code":"MW_CONFIG_UNKNOWN_FIELD"/);

    const metrics = await cp.http('/metrics');
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    assert.match(text, /^meshwork_config_errors 1$/m);
    assert.match(text, /^meshwork_xds_connected_proxies 1$/m);
    assert.match(text, /^meshwork_xds_pushes_total(\{[^}]*\})? [1-9]\d*$/m);
    // the edit's CDS response was ACKed: one convergence sample (change → ACK), within the test's time
    assert.match(text, /^meshwork_xds_convergence_seconds_count 1$/m);
    const sum = Number(/^meshwork_xds_convergence_seconds_sum (\S+)$/m.exec(text)?.[1]);
    assert.ok(sum > 0 && sum < 30, `convergence ${sum}s`);
    assert.match(text, /^meshwork_xds_convergence_seconds_bucket\{le="\+Inf"\} 1$/m);
    const check = await promtool(text);
    assert.equal(check.code, 0, `promtool check metrics:\n${check.output}`);

    assert.equal((await cp.http('/nope')).status, 404);
    assert.equal(await cp.stop('SIGTERM'), 0);
    assert.ok(ads.ended(), 'the ADS stream ends when the control plane stops');
  } finally {
    ads.close();
    await cp.stop('SIGKILL');
  }
});

test('control plane CLI: --help, usage errors, an unreadable config dir', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const p = spawn(process.execPath, [MESHWORK, 'control-plane', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      p.on('exit', (code) => (clearTimeout(t), resolve({ code, out, err })));
    });
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /--config-dir/);
  assert.equal((await run([])).code, 2);
  assert.equal((await run(['--config-dir', tmpDir(), '--xds-address', 'nonsense'])).code, 2);
  const missing = await run(['--config-dir', path.join(tmpDir(), 'missing'), '--xds-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /Cannot read config dir .*missing.*ENOENT/);
});
