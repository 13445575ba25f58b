#!/usr/bin/env node
// xDS control-plane scale benchmark: `meshwork control-plane` serving XDS_CLUSTERS EDS clusters (and their
// endpoints, one listener and one route table) to XDS_CLIENTS simulated proxies over ADS, state of the world
// and delta. See bench/README.md.
//
// The control plane gets core 0 to itself (`taskset -c 0`); this harness and the client processes share core
// 1. For each mode (sotw, delta) a fresh control plane starts on a freshly written config dir, the clients
// connect all at once, and then config changes are made by writing files. Per change and client we time file
// write → that client's ACK of the version the fleet settles on, and read the control plane's CPU time and
// RSS from /proc.
//
// Env: XDS_CLIENTS (1000), XDS_CLUSTERS (1000), XDS_CHANGES (comma list, see CHANGES, or a count of `endpoint`
//      changes), XDS_MODES (sotw,delta),
//      XDS_ENDPOINTS (3 per cluster), XDS_CLIENT_PROCS (2), XDS_STREAMS_PER_CONN (1), XDS_QUIET_MS (2000),
//      XDS_TIMEOUT_MS (120000), XDS_LOG_LEVEL (info), XDS_DEBOUNCE_MS (control plane default),
//      XDS_CPU_PROF=<dir> (write the control plane's .cpuprofile there and print where its time went),
//      XDS_KEEP_TMP=1 (keep config dirs and logs), XDS_TMPDIR (where they go; default /dev/shm, see TMP_BASE), XDS_MESHWORK=<path> (another build's bin/meshwork),
//      XDS_CP_NODE_ARGS='--flag ...' (extra node flags for the control plane),
//      XDS_CLIENT_NODE_ARGS='--flag ...' (node flags for the client processes; see CLIENT_NODE_ARGS).
import { fork, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
// Another build's bin/meshwork (e.g. a fix under test in another checkout) can stand in for this one's.
const MESHWORK = path.resolve(process.env.XDS_MESHWORK || path.join(ROOT, 'bin', 'meshwork'));
const CODEC = path.join(ROOT, 'dist', 'src', 'api', 'xds', 'index.js');

const int = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${name} must be a positive whole number, is "${v}"`);
  return Number(v);
};
const list = (name, dflt) => (process.env[name] || dflt).split(',').map((s) => s.trim()).filter(Boolean);

const CLIENTS = int('XDS_CLIENTS', 1000);
const CLUSTERS = int('XDS_CLUSTERS', 1000);
const ENDPOINTS = int('XDS_ENDPOINTS', 3);
const CLIENT_PROCS = Math.min(int('XDS_CLIENT_PROCS', 2), CLIENTS);
const STREAMS_PER_CONN = int('XDS_STREAMS_PER_CONN', 1);
const QUIET_MS = int('XDS_QUIET_MS', 2000);
const TIMEOUT_MS = int('XDS_TIMEOUT_MS', 120_000);
const LOG_LEVEL = process.env.XDS_LOG_LEVEL || 'info';
const DEBOUNCE_MS = process.env.XDS_DEBOUNCE_MS;
const CPU_PROF = process.env.XDS_CPU_PROF ? path.resolve(process.env.XDS_CPU_PROF) : null;
const KEEP_TMP = Boolean(process.env.XDS_KEEP_TMP);
// Extra node flags for the control plane, e.g. `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=/tmp/x`.
const CP_NODE_ARGS = (process.env.XDS_CP_NODE_ARGS || '').split(' ').filter(Boolean);
const CLIENT_NODE_ARGS = (process.env.XDS_CLIENT_NODE_ARGS || '').split(' ').filter(Boolean);
const MODES = list('XDS_MODES', 'sotw,delta');
// A list of change kinds (CHANGES below), or a count: that many `endpoint` changes, the most common kind.
const CHANGE_KINDS = /^\d+$/.test(process.env.XDS_CHANGES ?? '')
  ? Array.from({ length: Number(process.env.XDS_CHANGES) }, () => 'endpoint')
  : list('XDS_CHANGES', 'endpoint,endpoint,endpoint,cluster,route,add-service,remove-service,all-endpoints');
// Envoy's default HTTP/2 windows are 256 MiB; grpc-js's 64 KiB would make every SotW push of ~150 KB per
// client wait on WINDOW_UPDATE round trips, which no Envoy fleet sees. 16 MiB is plenty for these sizes.
const CLIENT_WINDOW_BYTES = 16 * 1024 * 1024;
const CP_CORE = '0';
const CLIENT_CORE = '1';
const POLL_MS = 50;
const SAMPLE_MS = 50;
// What the issue asks for, and istiod's published figure for a comparable mesh (Istio's performance and
// scalability page: ~1 vCPU and 1.5 GB for 1,000 services and 2,000 sidecars). Not like for like: istiod also
// watches Kubernetes, does mTLS and builds far larger per-proxy configs.
const TARGET_ALL_ACK_MS = 2000;
const TARGET_RSS_MB = 300;
const ANCHOR = 'istiod: ~1 vCPU, ~1.5 GB at 1,000 services / 2,000 sidecars';

// The config dirs live in memory (tmpfs) where there is one: on this VM's ext4 disk each write-then-rename
// over an existing file costs ~1 ms (ext4 starts writing the new file's data out at the rename, its
// auto_da_alloc guard against zero-length files after a crash), so rewriting 1,000 service files took ~1 s of
// the harness's own time, counted in the change's latency before the control plane could see the change whole.
// On tmpfs it takes ~25 ms. (A Kubernetes ConfigMap volume changes with one symlink swap, however many keys.)
const TMP_BASE = process.env.XDS_TMPDIR || (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TYPE = {
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
};
const SHORT = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));

// ---------------------------------------------------------------- child processes
// Spawned detached (own process group) so that one kill(-pid) takes the whole tree; all of them are killed on
// any exit.
const children = new Set();
let tmpDir;
process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
  if (tmpDir && !KEEP_TMP) fs.rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping ${children.size} child process(es)`);
    process.exit(130);
  });
}

function track(child, name, stderrPath) {
  child.benchName = name;
  child.stderrPath = stderrPath;
  child.exited = new Promise((resolve) => {
    const done = (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    };
    child.once('exit', done);
    child.once('error', (e) => {
      child.spawnError = e;
      done(null, null);
    });
  });
  children.add(child);
  return child;
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stopChild(child, graceMs = 10_000) {
  if (!children.has(child)) return;
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

function tail(file, lines = 8) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const indent = (s) => s.replace(/^/gm, '    ');

function childFailure(child, what) {
  const detail = child.spawnError ? child.spawnError.message : tail(child.stderrPath);
  return new Error(`${child.benchName} ${what}${detail ? `:\n${indent(detail)}` : ''}`);
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// ---------------------------------------------------------------- /proc
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of one process, in seconds. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; fields after ')' start at field 3 (state).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

function statusKb(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Samples the control plane's CPU time and RSS and the clients' CPU time every SAMPLE_MS. */
class Sampler {
  constructor(cpPid, clientPids) {
    this.cpPid = cpPid;
    this.clientPids = clientPids;
    this.samples = [];
    this.take();
    this.timer = setInterval(() => this.take(), SAMPLE_MS);
  }

  take() {
    const clientCpu = this.clientPids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
    this.samples.push({ t: now(), cpu: cpuSeconds(this.cpPid), rssKb: statusKb(this.cpPid, 'VmRSS'), clientCpu });
  }

  stop() {
    clearInterval(this.timer);
  }

  /** The first sample at or after t (the last one if none). */
  at(t) {
    return this.samples.find((s) => s.t >= t) ?? this.samples[this.samples.length - 1];
  }

  peakRssKb(from, to) {
    let peak = 0;
    for (const s of this.samples) if (s.t >= from && s.t <= to && s.rssKb) peak = Math.max(peak, s.rssKb);
    return peak || null;
  }
}

// ---------------------------------------------------------------- the config dir
// One file per service (its Cluster and ClusterLoadAssignment), as a generator of per-service config would
// write them, plus one listener and one route table with a virtual host per service, shaped like Istio's
// outbound port-8080 listener and route.
const host = (i) => `svc-${String(i).padStart(4, '0')}.bench.svc.cluster.local`;
const clusterName = (i) => `outbound|8080||${host(i)}`;
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

class ConfigDir {
  constructor(dir, clusters) {
    this.dir = dir;
    this.services = new Map(); // index → { endpointGen, clusterGen }
    for (let i = 1; i <= clusters; i++) this.services.set(i, { endpointGen: 0, clusterGen: 0 });
    this.nextIndex = clusters + 1;
    this.routeGen = 0;
    fs.mkdirSync(dir, { recursive: true });
  }

  writeAll() {
    for (const i of this.services.keys()) this.writeService(i);
    this.write('listener.yaml', [this.listener()]);
    this.writeRoutes();
  }

  /** Write-then-rename, as editors and ConfigMap updates do, so that the watcher never reads half a file.
   *  Names starting with '.' are ignored by the control plane. */
  write(name, docs) {
    const text = docs.map((d) => YAML.stringify(d)).join('---\n');
    this.edit(() => {
      const tmp = path.join(this.dir, `.${name}.tmp`);
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, path.join(this.dir, name));
    });
  }

  remove(name) {
    this.edit(() => fs.rmSync(path.join(this.dir, name)));
  }

  /** Between stage() and commit(), edits are only queued, their YAML rendered: a change is timed from its
   *  first edit of the dir, not from when the harness starts rendering YAML on the clients' core (0.6 s for
   *  the route table, 2-3 s for all 1,000 service files, which the control plane cannot see coming). */
  stage() {
    this.staged = [];
  }

  commit() {
    const edits = this.staged;
    this.staged = null;
    for (const e of edits) e();
  }

  edit(fn) {
    if (this.staged) this.staged.push(fn);
    else fn();
  }

  serviceFile = (i) => `svc-${String(i).padStart(4, '0')}.yaml`;

  writeService(i) {
    this.write(this.serviceFile(i), [this.cluster(i), this.loadAssignment(i)]);
  }

  writeRoutes() {
    this.write('routes.yaml', [this.routes()]);
  }

  cluster(i) {
    const s = this.services.get(i);
    return {
      '@type': TYPE.cds,
      name: clusterName(i),
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
      connect_timeout: `${10 + s.clusterGen}s`,
      lb_policy: 'LEAST_REQUEST',
      circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295 }] },
      common_lb_config: { locality_weighted_lb_config: {} },
      metadata: { filter_metadata: { istio: { services: [{ host: host(i), name: `svc-${i}`, namespace: 'bench' }] } } },
    };
  }

  loadAssignment(i) {
    const { endpointGen } = this.services.get(i);
    const lbEndpoints = [];
    for (let k = 0; k < ENDPOINTS; k++) {
      // A change moves every endpoint of the service to new pod IPs, as a rollout does.
      const n = endpointGen * ENDPOINTS + k;
      const address = `10.${(i >> 8) & 255}.${i & 255}.${(n % 250) + 1}`;
      lbEndpoints.push({
        endpoint: { address: { socket_address: { address, port_value: 8080 + Math.floor(n / 250) } } },
        health_status: 'HEALTHY',
        load_balancing_weight: 1,
      });
    }
    return { '@type': TYPE.eds, cluster_name: clusterName(i), endpoints: [{ locality: { region: 'r1', zone: `z${i % 3}` }, lb_endpoints: lbEndpoints }] };
  }

  listener() {
    return {
      '@type': TYPE.lds,
      name: '0.0.0.0_8080',
      address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': HCM,
                stat_prefix: 'outbound_0.0.0.0_8080',
                rds: { route_config_name: '8080', config_source: { ads: {}, resource_api_version: 'V3' } },
                http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
              },
            },
          ],
        },
      ],
    };
  }

  routes() {
    const virtualHosts = [...this.services.keys()].map((i) => ({
      name: `${host(i)}:8080`,
      domains: [host(i), `${host(i)}:8080`, `svc-${String(i).padStart(4, '0')}`, `svc-${String(i).padStart(4, '0')}.bench`],
      routes: [
        {
          match: { prefix: '/' },
          route: { cluster: clusterName(i), timeout: i === 1 ? `${15 + this.routeGen}s` : '15s', retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: 2 } },
        },
      ],
    }));
    return { '@type': TYPE.rds, name: '8080', virtual_hosts: virtualHosts };
  }

  pick(seq) {
    const keys = [...this.services.keys()];
    return keys[(seq * 7919) % keys.length]; // spread over the services
  }
}

// A change edits the config dir and names the xDS types it is expected to change (checked after it settles).
const CHANGES = {
  endpoint: {
    what: 'the endpoints of one service move (one file rewritten)',
    types: ['eds'],
    apply(cfg, seq) {
      const i = cfg.pick(seq);
      cfg.services.get(i).endpointGen++;
      cfg.writeService(i);
    },
  },
  cluster: {
    what: "one cluster's connect_timeout changes (one file rewritten)",
    types: ['cds'],
    apply(cfg, seq) {
      const i = cfg.pick(seq);
      cfg.services.get(i).clusterGen++;
      cfg.writeService(i);
    },
  },
  route: {
    what: "one route's timeout changes (the route table file rewritten)",
    types: ['rds'],
    apply(cfg) {
      cfg.routeGen++;
      cfg.writeRoutes();
    },
  },
  'add-service': {
    what: 'a new service: its cluster and endpoints (new file), and a virtual host (route table rewritten)',
    types: ['cds', 'eds', 'rds'],
    apply(cfg) {
      const i = cfg.nextIndex++;
      cfg.services.set(i, { endpointGen: 0, clusterGen: 0 });
      cfg.writeService(i);
      cfg.writeRoutes();
    },
  },
  'remove-service': {
    what: 'a service goes: its file deleted, its virtual host removed (route table rewritten)',
    types: ['cds', 'eds', 'rds'],
    apply(cfg) {
      const i = Math.max(...cfg.services.keys());
      cfg.services.delete(i);
      cfg.remove(cfg.serviceFile(i));
      cfg.writeRoutes();
    },
  },
  'all-endpoints': {
    what: 'the endpoints of every service move (every service file rewritten, one after another)',
    types: ['eds'],
    apply(cfg) {
      for (const [i, s] of cfg.services) {
        s.endpointGen++;
        cfg.writeService(i);
      }
    },
  },
};

// ---------------------------------------------------------------- client processes
class ClientProc {
  constructor(name, logDir) {
    const err = path.join(logDir, `${name}.stderr`);
    const fd = fs.openSync(err, 'w');
    // fork() inherits this process's CPU affinity: the clients run on CLIENT_CORE with the harness.
    const child = fork(path.join(BENCH_DIR, 'xds-client.mjs'), [], { detached: true, stdio: ['ignore', fd, fd, 'ipc'], execArgv: [...process.execArgv, ...CLIENT_NODE_ARGS] });
    fs.closeSync(fd);
    track(child, name, err);
    this.child = child;
    this.pending = new Map();
    this.seq = 0;
    child.on('message', (msg) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      p.resolve(msg);
    });
    void child.exited.then(() => {
      for (const p of this.pending.values()) p.reject(childFailure(child, 'exited'));
      this.pending.clear();
    });
  }

  ask(cmd, fields = {}) {
    return new Promise((resolve, reject) => {
      if (!children.has(this.child)) return reject(childFailure(this.child, 'is not running'));
      const id = ++this.seq;
      this.pending.set(id, { resolve, reject });
      this.child.send({ cmd, id, ...fields });
    });
  }
}

const askAll = (procs, cmd, fields) => Promise.all(procs.map((p) => p.ask(cmd, fields)));

/** Every client's latest ACKed version per type, merged over the processes. */
async function fleetStatus(procs) {
  const all = await askAll(procs, 'status');
  const versions = {};
  let lastAckAt = 0;
  let synced = 0;
  const errors = [];
  for (const s of all) {
    for (const [t, counts] of Object.entries(s.versions)) {
      versions[t] ??= {};
      for (const [v, n] of Object.entries(counts)) versions[t][v] = (versions[t][v] ?? 0) + n;
    }
    lastAckAt = Math.max(lastAckAt, s.lastAckAt);
    synced += s.synced;
    errors.push(...s.errors);
  }
  if (errors.length) throw new Error(`xDS client error(s): ${errors.slice(0, 3).join('; ')}`);
  return { versions, lastAckAt, synced };
}

/** One version per type for the whole fleet, or null while clients disagree. */
function agreed(versions) {
  const out = {};
  for (const [t, counts] of Object.entries(versions)) {
    const vs = Object.keys(counts);
    if (vs.length !== 1 || vs[0] === '') return null;
    out[t] = vs[0];
  }
  return out;
}

/**
 * Waits until every client runs the same version of every type, at least one type differs from `baseline`,
 * and no client has ACKed anything for QUIET_MS (so no further push of this change is on its way).
 */
async function waitSettled(procs, baseline, { cp, label, needSynced = 0 }) {
  const deadline = now() + TIMEOUT_MS;
  let last;
  for (;;) {
    if (!children.has(cp)) throw childFailure(cp, `exited during ${label}`);
    last = await fleetStatus(procs);
    const versions = agreed(last.versions);
    const changed = versions ? Object.keys(versions).filter((t) => versions[t] !== baseline[t]) : [];
    if (versions && changed.length > 0 && last.synced >= needSynced && now() - last.lastAckAt >= QUIET_MS) return { versions, changed };
    if (now() > deadline) {
      const spread = Object.entries(last.versions).map(([t, c]) => `${SHORT[t]}: ${Object.entries(c).map(([v, n]) => `${v || '(none)'}×${n}`).join(' ')}`);
      throw new Error(`${label}: clients did not settle within ${TIMEOUT_MS / 1000}s (synced ${last.synced}/${CLIENTS}; ${spread.join('; ')})`);
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------- the control plane
async function startControlPlane(mode, configDir, logDir) {
  const xdsPort = await freePort();
  const httpPort = await freePort();
  // Node refuses --cpu-prof in NODE_OPTIONS, so it goes on the command line (bin/meshwork is plain JS).
  const prof = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=control-plane-${mode}.cpuprofile`] : [];
  if (CPU_PROF) fs.mkdirSync(CPU_PROF, { recursive: true });
  const args = ['-c', CP_CORE, process.execPath, ...CP_NODE_ARGS, ...prof, MESHWORK, 'control-plane', '--config-dir', configDir];
  args.push('--xds-address', `127.0.0.1:${xdsPort}`, '--http-address', `127.0.0.1:${httpPort}`, '-l', LOG_LEVEL);
  if (DEBOUNCE_MS) args.push('--debounce-ms', DEBOUNCE_MS);
  const env = { ...process.env };
  const name = `control-plane-${mode}`;
  const out = fs.openSync(path.join(logDir, `${name}.stdout`), 'w');
  const err = fs.openSync(path.join(logDir, `${name}.stderr`), 'w');
  const child = spawn('taskset', args, { detached: true, stdio: ['ignore', out, err], env });
  fs.closeSync(out);
  fs.closeSync(err);
  track(child, name, path.join(logDir, `${name}.stderr`));
  const started = now();
  const deadline = started + 60_000;
  for (;;) {
    if (!children.has(child)) throw childFailure(child, 'exited during startup');
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/ready`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (now() > deadline) throw childFailure(child, 'not ready after 60 s');
    await sleep(100);
  }
  return { child, xdsPort, httpPort, startupMs: now() - started };
}

function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([-\d.e+]+)$/i.exec(line);
    if (!m) continue;
    if (m[2]) (out[m[1]] ??= {})[m[2].slice(1, -1)] = Number(m[3]);
    else out[m[1]] = Number(m[3]);
  }
  return out;
}

async function timedGet(url) {
  const t = now();
  const res = await fetch(url);
  const body = await res.text();
  return { ms: now() - t, bytes: Buffer.byteLength(body), body, status: res.status };
}

// ---------------------------------------------------------------- one mode
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null);
const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s[s.length - 1] ?? null };
};
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

async function runMode(mode, logDir) {
  const delta = mode === 'delta';
  const cfg = new ConfigDir(path.join(logDir, `config-${mode}`), CLUSTERS);
  cfg.writeAll();
  const cp = await startControlPlane(mode, cfg.dir, logDir);
  const pid = cp.child.pid;
  console.error(`bench: [${mode}] control plane pid ${pid} ready in ${(cp.startupMs / 1000).toFixed(1)} s (xDS :${cp.xdsPort}, debug :${cp.httpPort})`);
  const procs = [];
  let sampler;
  try {
    await sleep(500); // let startup garbage settle before calling it idle
    const idleRssKb = statusKb(pid, 'VmRSS');

    // ---- connect: every client at once
    const perProc = Math.ceil(CLIENTS / CLIENT_PROCS);
    for (let p = 0; p * perProc < CLIENTS; p++) procs.push(new ClientProc(`clients-${mode}-${p}`, logDir));
    sampler = new Sampler(pid, procs.map((p) => p.child.pid));
    const cpu0 = cpuSeconds(pid);
    const t0 = now();
    await Promise.all(
      procs.map((p, k) =>
        p.ask('start', {
          xdsPort: cp.xdsPort, first: k * perProc + 1, count: Math.min(perProc, CLIENTS - k * perProc), delta, clusters: CLUSTERS,
          streamsPerConnection: STREAMS_PER_CONN, windowBytes: CLIENT_WINDOW_BYTES,
        }),
      ),
    );
    const { versions: baseline0 } = await waitSettled(procs, {}, { cp: cp.child, label: 'initial sync', needSynced: CLIENTS });
    const syncedAt = (await askAll(procs, 'synced')).flatMap((r) => r.times);
    const syncMs = syncedAt.map((t) => t - t0);
    const allSyncedAt = Math.max(...syncedAt);
    const connect = {
      ...summary(syncMs),
      cpuSeconds: sampler.at(allSyncedAt).cpu - cpu0,
      wallSeconds: (allSyncedAt - t0) / 1000,
      peakRssKb: sampler.peakRssKb(t0, now()),
      steadyRssKb: statusKb(pid, 'VmRSS'),
    };
    console.error(
      `bench: [${mode}] ${CLIENTS} clients synced: p50 ${fmtS(connect.p50)}, all ${fmtS(connect.max)}; control plane ${connect.cpuSeconds.toFixed(2)} vCPU-s, RSS ${fmtMb(connect.steadyRssKb)} (peak ${fmtMb(connect.peakRssKb)})`,
    );

    // ---- changes
    let baseline = baseline0;
    const changes = [];
    for (let seq = 0; seq < CHANGE_KINDS.length; seq++) {
      const kind = CHANGE_KINDS[seq];
      const change = CHANGES[kind];
      await askAll(procs, 'mark');
      const c0 = cpuSeconds(pid);
      const cc0 = sampler.clientPids.reduce((sum, p) => sum + (cpuSeconds(p) ?? 0), 0);
      const rendering = now();
      cfg.stage();
      change.apply(cfg, seq);
      const renderMs = now() - rendering;
      const start = now();
      cfg.commit();
      const writeMs = now() - start;
      const { versions, changed } = await waitSettled(procs, baseline, { cp: cp.child, label: `change ${seq + 1} (${kind})` });
      const target = Object.fromEntries(changed.map((t) => [t, versions[t]]));
      const got = await askAll(procs, 'collect', { target });
      const doneAt = got.flatMap((g) => g.doneAt);
      const missing = doneAt.filter((t) => t === null).length;
      const latencies = doneAt.filter((t) => t !== null).map((t) => t - start);
      const allAckedAt = Math.max(...doneAt.filter((t) => t !== null));
      const end = sampler.at(allAckedAt);
      const row = {
        seq: seq + 1,
        kind,
        what: change.what,
        expectedTypes: change.types,
        changedTypes: changed.map((t) => SHORT[t]).sort(),
        renderMs,
        writeMs,
        ...summary(latencies),
        missing,
        allWithinTarget: missing === 0 && latencies.every((ms) => ms <= TARGET_ALL_ACK_MS),
        cpuSeconds: end.cpu - c0,
        clientCpuSeconds: end.clientCpu - cc0,
        windowSeconds: (allAckedAt - start) / 1000,
        peakRssKb: sampler.peakRssKb(start, now()),
        responsesPerClient: mean(got.flatMap((g) => g.responses)),
        kbPerClient: mean(got.flatMap((g) => g.bytes)) / 1024,
      };
      if (row.changedTypes.join() !== [...change.types].sort().join()) {
        row.note = `expected ${change.types.join('+')} to change, saw ${row.changedTypes.join('+')}`;
      }
      changes.push(row);
      baseline = versions;
      const clientLoad = row.windowSeconds > 0 ? row.clientCpuSeconds / row.windowSeconds : 0;
      console.error(
        `bench: [${mode}] ${seq + 1}/${CHANGE_KINDS.length} ${kind}: p50 ${fmtS(row.p50)}, p99 ${fmtS(row.p99)}, all ${fmtS(row.max)}` +
          `; control plane ${row.cpuSeconds.toFixed(2)} vCPU-s, peak RSS ${fmtMb(row.peakRssKb)}; clients ${clientLoad.toFixed(2)} cores${row.note ? `; NOTE ${row.note}` : ''}`,
      );
    }

    // ---- the end: steady state, totals, then what the debug endpoints cost at this scale
    const endRssKb = statusKb(pid, 'VmRSS');
    const hwmKb = statusKb(pid, 'VmHWM');
    const runCpu = cpuSeconds(pid) - cpu0;
    const runWall = (now() - t0) / 1000;
    sampler.stop();
    const metrics = await timedGet(`http://127.0.0.1:${cp.httpPort}/metrics`);
    const m = parseMetrics(metrics.body);
    const syncz = await timedGet(`http://127.0.0.1:${cp.httpPort}/debug/syncz`);
    const synced = JSON.parse(syncz.body).filter((s) => Object.values(s.types).every((t) => t.status === 'SYNCED')).length;
    const debug = {
      metricsMs: metrics.ms,
      synczMs: syncz.ms,
      synczBytes: syncz.bytes,
      rssAfterDebugKb: statusKb(pid, 'VmRSS'),
      serverSyncedStreams: synced,
      pushes: m.meshwork_xds_pushes_total,
      pushSecondsTotal: m.meshwork_xds_push_seconds_total,
      responses: m.meshwork_xds_responses_total,
      acks: m.meshwork_xds_acks_total,
      nacks: m.meshwork_xds_nacks_total,
      streams: m.meshwork_xds_streams,
    };
    if (synced !== CLIENTS) console.error(`bench: [${mode}] WARNING: /debug/syncz shows ${synced}/${CLIENTS} streams SYNCED on every type`);
    return {
      mode, ok: true, pid, startupMs: cp.startupMs, idleRssKb, connect, changes, endRssKb, peakRssKb: hwmKb,
      run: { cpuSeconds: runCpu, wallSeconds: runWall, avgCores: runCpu / runWall }, debug,
    };
  } finally {
    sampler?.stop();
    await Promise.all(procs.map((p) => p.ask('stop').catch(() => {})));
    await Promise.all(procs.map((p) => stopChild(p.child)));
    // SIGTERM lets the control plane exit on its own, which is when --cpu-prof writes its profile.
    await stopChild(cp.child, 30_000);
  }
}

// ---------------------------------------------------------------- CPU profile summary
function profileSummary(file, top = 25) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    self.set(n, (self.get(n) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const where = (cf) => {
    const url = cf.url.replace(/^file:\/\//, '');
    const short = url.startsWith(ROOT) ? path.relative(ROOT, url) : url.replace(/.*node_modules\//, '');
    return short ? `${short}:${cf.lineNumber + 1}` : '';
  };
  const fns = new Map();
  const files = new Map();
  let total = 0;
  for (const [n, us] of self) {
    // Shares are of the time the process was busy: idle time only says how long the run was.
    if (n.callFrame.functionName === '(idle)') continue;
    total += us;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${where(cf)}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const url = cf.url.replace(/^file:\/\//, '');
    const group = !url
      ? cf.functionName || '(native)'
      : url.startsWith(path.join(ROOT, 'dist'))
        ? path.relative(path.join(ROOT, 'dist'), url).replace(/\/[^/]+$/, '/')
        : url.includes('node_modules/')
          ? url.replace(/.*node_modules\/((@[^/]+\/)?[^/]+).*/, '$1')
          : url.startsWith('node:')
            ? url.replace(/^(node:internal\/[^/]+).*/, '$1')
            : url;
    files.set(group, (files.get(group) ?? 0) + us);
  }
  const rank = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => ({ what: k, ms: us / 1000, share: us / total }));
  return { file, totalMs: total / 1000, functions: rank(fns), groups: rank(files) };
}

// ---------------------------------------------------------------- report
const fmtS = (ms) => (ms == null ? '-' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
const fmtMb = (kb) => (kb == null ? '-' : `${(kb / 1024).toFixed(0)} MB`);
const fmtNum = (n) => n.toLocaleString('en-US');

function mdTable(head, rows, numeric = new Set()) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => (numeric.has(i) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...rows.map(line)].join('\n');
}

function changeTable(results) {
  const head = ['mode', 'change', 'types', 'p50', 'p99', 'all ACKed', `≤ ${TARGET_ALL_ACK_MS / 1000} s`, 'CP vCPU-s', 'CP peak RSS', 'clients cores', 'resp/client', 'KB/client'];
  const rows = [];
  for (const r of results) {
    if (!r.ok) {
      rows.push([r.mode, `ERROR: ${r.error.split('\n')[0].slice(0, 100)}`, '', '', '', '', '', '', '', '', '', '']);
      continue;
    }
    const c = r.connect;
    rows.push([r.mode, `connect ${fmtNum(CLIENTS)} clients`, 'all', fmtS(c.p50), fmtS(c.p99), fmtS(c.max), '', c.cpuSeconds.toFixed(2), fmtMb(c.peakRssKb), '', '', '']);
    for (const x of r.changes) {
      rows.push([
        r.mode, `${x.seq}. ${x.kind}`, x.changedTypes.join('+'), fmtS(x.p50), fmtS(x.p99), fmtS(x.max), x.allWithinTarget ? 'yes' : 'NO',
        x.cpuSeconds.toFixed(2), fmtMb(x.peakRssKb), (x.clientCpuSeconds / Math.max(x.windowSeconds, 1e-9)).toFixed(2),
        x.responsesPerClient.toFixed(1), x.kbPerClient.toFixed(1),
      ]);
    }
  }
  return mdTable(head, rows, new Set([3, 4, 5, 7, 8, 9, 10, 11]));
}

function summaryTable(results) {
  const ok = results.filter((r) => r.ok);
  const cell = (f) => ok.map(f);
  const worst = (r) => r.changes.reduce((a, b) => (b.max > a.max ? b : a));
  const rows = [
    ['slowest change: all clients ACKed', ...cell((r) => `${fmtS(worst(r).max)} (${worst(r).kind})`), `≤ ${TARGET_ALL_ACK_MS / 1000} s`, '-'],
    ['changes with every client ≤ 2 s', ...cell((r) => `${r.changes.filter((c) => c.allWithinTarget).length}/${r.changes.length}`), 'all', '-'],
    ['connect: all clients synced', ...cell((r) => fmtS(r.connect.max)), '-', '-'],
    ['CP RSS idle (config loaded, no clients)', ...cell((r) => fmtMb(r.idleRssKb)), '-', '-'],
    ['CP RSS steady, all clients connected', ...cell((r) => fmtMb(r.connect.steadyRssKb)), `< ${TARGET_RSS_MB} MB`, '~1.5 GB'],
    ['CP RSS at the end', ...cell((r) => fmtMb(r.endRssKb)), `< ${TARGET_RSS_MB} MB`, '~1.5 GB'],
    ['CP RSS peak (VmHWM)', ...cell((r) => fmtMb(r.peakRssKb)), `< ${TARGET_RSS_MB} MB`, '-'],
    ['CP CPU, connect', ...cell((r) => `${r.connect.cpuSeconds.toFixed(1)} vCPU-s in ${r.connect.wallSeconds.toFixed(1)} s`), '-', '-'],
    ['CP CPU, whole run', ...cell((r) => `${r.run.cpuSeconds.toFixed(1)} vCPU-s in ${r.run.wallSeconds.toFixed(0)} s = ${r.run.avgCores.toFixed(2)} cores`), '-', '~1 vCPU'],
    ['CP push time (its own metric), total', ...cell((r) => `${r.debug.pushSecondsTotal?.toFixed(2)} s in ${r.debug.pushes} pushes`), '-', '-'],
    ['GET /metrics, /debug/syncz at this scale', ...cell((r) => `${fmtS(r.debug.metricsMs)}, ${fmtS(r.debug.synczMs)} (${(r.debug.synczBytes / 1e6).toFixed(1)} MB)`), '-', '-'],
  ];
  return mdTable(['figure', ...ok.map((r) => r.mode), 'target', 'istiod anchor'], rows);
}

function version(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim())?.trim() ?? null;
}

// ---------------------------------------------------------------- main
async function main() {
  if (spawnSync('sh', ['-c', 'command -v taskset']).status !== 0) {
    console.error('bench: taskset not found (util-linux)');
    return 1;
  }
  if (!fs.existsSync(CODEC)) {
    console.error(`bench: ${path.relative(ROOT, CODEC)} not found; run \`npm run build\` first`);
    return 1;
  }
  const unknownModes = MODES.filter((m) => m !== 'sotw' && m !== 'delta');
  const unknownChanges = CHANGE_KINDS.filter((k) => !CHANGES[k]);
  if (unknownModes.length || unknownChanges.length) {
    console.error(`bench: unknown XDS_MODES ${unknownModes.join(',') || '-'} / XDS_CHANGES ${unknownChanges.join(',') || '-'}; known changes: ${Object.keys(CHANGES).join(', ')}`);
    return 1;
  }
  // The harness and the clients it forks share core 1; the control plane has core 0.
  spawnSync('taskset', ['-a', '-p', '-c', CLIENT_CORE, String(process.pid)], { stdio: 'ignore' });
  const logDir = (tmpDir = fs.mkdtempSync(path.join(TMP_BASE, 'meshwork-bench-xds-')));
  const startedAt = new Date();
  const loadavgAtStart = os.loadavg();
  console.error(
    `bench: ${fmtNum(CLIENTS)} clients in ${CLIENT_PROCS} process(es) (${STREAMS_PER_CONN} stream(s) per connection) × ${fmtNum(CLUSTERS)} clusters of ${ENDPOINTS} endpoints; modes ${MODES.join(', ')}; ${CHANGE_KINDS.length} changes; temp files in ${logDir}`,
  );
  const results = [];
  for (const mode of MODES) {
    try {
      results.push(await runMode(mode, logDir));
    } catch (err) {
      console.error(`bench: [${mode}] error: ${err.message}`);
      results.push({ mode, ok: false, error: err.message });
    }
  }

  const profiles = [];
  if (CPU_PROF) {
    for (const mode of MODES) {
      const file = path.join(CPU_PROF, `control-plane-${mode}.cpuprofile`);
      if (fs.existsSync(file)) profiles.push({ mode, ...profileSummary(file) });
    }
  }

  console.log(`## xDS: ${fmtNum(CLIENTS)} clients × ${fmtNum(CLUSTERS)} clusters (${ENDPOINTS} endpoints each), control plane on 1 core\n`);
  console.log(summaryTable(results));
  console.log(`\nAnchor: ${ANCHOR} (Istio docs; not like for like). Target (issue 4): every client ACKs a change within 2 s, control plane under ${TARGET_RSS_MB} MB.\n`);
  console.log(changeTable(results));
  console.log('\nTimes run from the first file write to each client\'s ACK of the version the fleet settled on (for every type the change touched); "connect" from the clients\' start. "clients cores" near 1.00 means core 1 was saturated and latencies include client time.');
  for (const p of profiles) {
    console.log(`\n### Control plane CPU profile, ${p.mode}: ${(p.totalMs / 1000).toFixed(1)} s busy over its whole life, startup included (${p.file})\n`);
    console.log(mdTable(['self time by module', 'ms', 'share'], p.groups.slice(0, 12).map((g) => [g.what, g.ms.toFixed(0), `${(g.share * 100).toFixed(1)}%`]), new Set([1, 2])));
    console.log('');
    console.log(mdTable(['self time by function', 'ms', 'share'], p.functions.slice(0, 20).map((g) => [g.what, g.ms.toFixed(0), `${(g.share * 100).toFixed(1)}%`]), new Set([1, 2])));
  }

  const report = {
    benchmark: 'xds-control-plane',
    startedAt: startedAt.toISOString(),
    settings: {
      clients: CLIENTS, clusters: CLUSTERS, endpointsPerCluster: ENDPOINTS, clientProcesses: CLIENT_PROCS, streamsPerConnection: STREAMS_PER_CONN,
      clientFlowControlWindowBytes: CLIENT_WINDOW_BYTES, modes: MODES, changes: CHANGE_KINDS, quietMs: QUIET_MS, logLevel: LOG_LEVEL,
      debounceMs: DEBOUNCE_MS ? Number(DEBOUNCE_MS) : 'default', controlPlaneCore: Number(CP_CORE), clientCore: Number(CLIENT_CORE), cpuProfile: Boolean(CPU_PROF), controlPlaneNodeArgs: CP_NODE_ARGS, clientNodeArgs: CLIENT_NODE_ARGS, meshwork: MESHWORK,
    },
    targets: { allAckMs: TARGET_ALL_ACK_MS, rssMb: TARGET_RSS_MB, anchor: ANCHOR },
    machine: { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, kernel: os.release(), loadavgAtStart },
    versions: {
      node: process.version,
      meshworkCommit: version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
      // Uncommitted changes under src/ mean the figures are not those of the commit above.
      meshworkSrcDirty: spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout?.trim() !== '',
    },
    results,
    profiles,
  };
  const resultsDir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-xds.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (KEEP_TMP) console.error(`bench: kept ${logDir}`);
  return results.some((r) => !r.ok) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err.stack ?? err}`);
    process.exit(1);
  },
);
