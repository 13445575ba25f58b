#!/usr/bin/env node
// HTTP/1.1 reverse-proxy benchmark: Meshwork against nginx, haproxy and Node.js proxies.
//
// Every proxy gets core 0 to itself; wrk and the upstream share core 1. So the figure that
// differs between rows is what one core of each proxy can forward, and the "direct" row
// (wrk straight at the upstream) is the ceiling core 1 allows. See bench/README.md.
//
// Rows are measured in BENCH_ROUNDS interleaved rounds (every row once per round) and each row reports its
// median round: on a shared VM the rate drifts by tens of percent over minutes, and interleaving makes every row
// see the same drift. Ratios between rows are taken within a round, then their median is reported.
//
// Env: BENCH_DURATION (wrk -d, default 10s), BENCH_WARMUP (default 2s), BENCH_ROUNDS (default 3),
//      BENCH_ONLY=nginx,haproxy,... (peer keys, see PEERS), BENCH_KEEP_TMP=1 (keep configs/logs).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { meshworkBootstrap } from './meshwork-bootstrap.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const DURATION = process.env.BENCH_DURATION || '10s';
const WARMUP = process.env.BENCH_WARMUP || '2s';
const CONNECTIONS = 32;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 3));
const PROXY_CORE = '0';
const LOAD_CORE = '1';
const READY_TIMEOUT_MS = 20_000;
// nginx's `return` takes a quoted string: keep this free of quotes, `$` and backslashes.
const BODY = 'meshwork-bench:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM';
if (Buffer.byteLength(BODY) !== 64) throw new Error(`upstream body must be 64 bytes, is ${Buffer.byteLength(BODY)}`);

const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';
const MESHWORK = path.join(ROOT, 'bin', 'meshwork');

// ---------------------------------------------------------------- child processes
// Each child is spawned detached, i.e. leads its own process group, so one kill(-pid) also
// reaches what it forks (nginx's worker). The set is what the exit handlers must clean up.
const children = new Set();

function spawnChild(name, cmd, args, { env, logDir }) {
  const out = fs.openSync(path.join(logDir, `${name}.stdout`), 'w');
  const err = fs.openSync(path.join(logDir, `${name}.stderr`), 'w');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, err], env: { ...process.env, ...env } });
  fs.closeSync(out);
  fs.closeSync(err);
  child.benchName = name;
  child.stderrPath = path.join(logDir, `${name}.stderr`);
  child.exited = new Promise((resolve) => {
    const done = (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    };
    child.once('exit', done);
    // ENOENT and friends: 'exit' never comes.
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
    // already gone
  }
}

async function stopChild(child) {
  if (!children.has(child)) return;
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
  // nginx's worker may outlive its master by a moment; the group kill is idempotent.
  killGroup(child, 'SIGKILL');
}

// Configs and access logs (tens of MB per row) live here; removed on any exit unless kept.
let tmpDir;
const KEEP_TMP = Boolean(process.env.BENCH_KEEP_TMP);
process.on('exit', () => {
  for (const child of children) killGroup(child, 'SIGKILL');
  if (tmpDir && !KEEP_TMP) fs.rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping ${children.size} child process(es)`);
    process.exit(130); // the 'exit' handler kills them
  });
}

function tail(file, lines = 8) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function childFailure(child, what) {
  const detail = child.spawnError ? child.spawnError.message : tail(child.stderrPath);
  return new Error(`${child.benchName} ${what}${detail ? `:\n${indent(detail)}` : ''}`);
}

const indent = (s) => s.replace(/^/gm, '    ');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
const NODE_PEERS = new Set(['node-undici', 'fastify-proxy', 'http-proxy']);

// ---------------------------------------------------------------- probes
async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

// Ready means: the process is alive and a request through it comes back 200 with the
// upstream's exact body, so we know the port is the proxy and the proxy reaches the upstream.
async function waitReady(child, port) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!children.has(child)) throw childFailure(child, 'exited during startup');
    try {
      const res = await get(port);
      if (res.status === 200 && res.body === BODY) return;
      last = `answered ${res.status} with ${JSON.stringify(res.body.slice(0, 80))}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${child.benchName} not ready on :${port} after ${READY_TIMEOUT_MS / 1000}s (last: ${last})`);
}

// RSS of the whole process tree (nginx master + worker, or a proxy that forks workers), in KiB.
// Pages shared between tree members are counted once per process, as `ps` would. The kernel's
// per-thread children lists save scanning all of /proc four times a second.
function treeRssKb(rootPid) {
  let total = 0;
  const todo = [rootPid];
  while (todo.length) {
    const pid = todo.pop();
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]);
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        if (kids) todo.push(...kids.split(' ').map(Number));
      }
    } catch {
      // exited while we looked
    }
  }
  return total || null;
}

// ---------------------------------------------------------------- wrk
function toMs(value, unit) {
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit];
  return Number(value) * scale;
}

function parseWrk(out) {
  const num = (re) => (re.exec(out) ? Number(re.exec(out)[1]) : null);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1], m[2]) : null;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in /),
    p50Ms: pct(50),
    p99Ms: pct(99),
    non2xx3xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    socketErrors: sock
      ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

async function runWrk(port, duration, logDir, onTick) {
  const args = ['-c', LOAD_CORE, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${duration}`, '--latency', `http://127.0.0.1:${port}/`];
  const child = spawnChild('wrk', 'taskset', args, { logDir });
  const ticker = onTick ? setInterval(onTick, 250) : null;
  const { code } = await child.exited;
  if (ticker) clearInterval(ticker);
  const out = fs.readFileSync(path.join(logDir, 'wrk.stdout'), 'utf8');
  if (code !== 0) throw childFailure(child, `exited with ${code}`);
  const parsed = parseWrk(out);
  if (parsed.rps === null) throw new Error(`could not parse wrk output:\n${indent(out)}`);
  return parsed;
}

// ---------------------------------------------------------------- configs
function nginxConf({ dir, listen, body, upstreamPort, accessLog }) {
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${path.join(dir, `${t}_temp`)};`)
    .join('\n');
  // Keep connections open for the whole run on both sides: a proxy that reconnects every
  // 1000 requests (nginx's default) would measure connection setup, not forwarding.
  const location = body
    ? `default_type text/plain;\n      return 200 "${body}";`
    : `proxy_pass http://up;\n      proxy_http_version 1.1;\n      proxy_set_header Connection "";`;
  const upstream = upstreamPort
    ? `  upstream up {\n    server 127.0.0.1:${upstreamPort};\n    keepalive 32;\n    keepalive_requests 1000000;\n  }\n`
    : '';
  return `worker_processes 1;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
events { worker_connections 4096; }
http {
${temps}
  ${accessLog ? `access_log ${accessLog} combined buffer=64k flush=1s;` : 'access_log off;'}
  keepalive_requests 1000000;
${upstream}  server {
    listen 127.0.0.1:${listen};
    location / {
      ${location}
    }
  }
}
`;
}

function haproxyConf({ listen, upstreamPort }) {
  return `global
  nbthread 1
  maxconn 4096
  log stdout format raw local0

defaults
  mode http
  log global
  option httplog
  option dontlognull
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend fe
  bind 127.0.0.1:${listen}
  default_backend be

backend be
  server up 127.0.0.1:${upstreamPort}
`;
}

// A bootstrap shaped like a real edge config: several routes and virtual hosts ahead of the
// catch-all that wrk's requests end up on, the router filter, a file access log in Envoy's
// default format, and the admin listener so /stats is live during the run.
// ---------------------------------------------------------------- peers
// start() launches the proxy pinned to core 0 and returns { child, accessLog? }.
const pin = (cmd, ...args) => ['taskset', ['-c', PROXY_CORE, cmd, ...args]];
const nodePeer = (file) => ({
  missing: () => null,
  start: ({ port, upstreamPort, logDir, name }) => {
    const [cmd, args] = pin(process.execPath, path.join(BENCH_DIR, 'peers', file));
    return { child: spawnChild(name, cmd, args, { logDir, env: { PORT: String(port), UPSTREAM: `127.0.0.1:${upstreamPort}` } }) };
  },
});

const PEERS = [
  {
    key: 'direct',
    label: 'upstream direct (ceiling)',
    note: 'wrk straight at the upstream, no proxy: the most core 1 can drive',
    missing: () => null,
  },
  {
    key: 'meshwork',
    label: 'Meshwork',
    missing: () => (fs.existsSync(MESHWORK) ? null : `${path.relative(ROOT, MESHWORK)} not found`),
    start: async ({ port, upstreamPort, logDir, name }) => {
      const accessLog = path.join(logDir, `${name}.access.log`);
      const cfg = path.join(logDir, 'meshwork.yaml');
      const bootstrap = meshworkBootstrap({ listen: port, adminPort: await freePort(), upstreamPort, accessLog });
      fs.writeFileSync(cfg, YAML.stringify(bootstrap));
      const [cmd, args] = pin(MESHWORK, 'proxy', '-c', cfg, '-l', 'warning');
      return { child: spawnChild(name, cmd, args, { logDir }), accessLog };
    },
  },
  {
    key: 'nginx',
    label: 'nginx',
    missing: () => (fs.existsSync(NGINX) ? null : `${NGINX} not found (npm run setup)`),
    start: ({ port, upstreamPort, logDir, name }) => startNginx(name, logDir, { listen: port, upstreamPort, log: true }),
  },
  {
    key: 'haproxy',
    label: 'haproxy',
    missing: () => (fs.existsSync(HAPROXY) ? null : `${HAPROXY} not found (npm run setup)`),
    start: ({ port, upstreamPort, logDir, name }) => {
      const cfg = path.join(logDir, 'haproxy.cfg');
      fs.writeFileSync(cfg, haproxyConf({ listen: port, upstreamPort }));
      // -db: stay in the foreground. Its log goes to stdout, i.e. to haproxy.stdout.
      const [cmd, args] = pin(HAPROXY, '-db', '-f', cfg);
      return { child: spawnChild(name, cmd, args, { logDir }), accessLog: path.join(logDir, `${name}.stdout`) };
    },
  },
  { key: 'node-undici', label: 'node:http + undici Pool', ...nodePeer('node-undici.mjs') },
  { key: 'fastify-proxy', label: '@fastify/http-proxy', ...nodePeer('fastify-proxy.mjs') },
  { key: 'http-proxy', label: 'http-proxy (node-http-proxy)', ...nodePeer('http-proxy.mjs') },
];

function startNginx(name, logDir, { listen, upstreamPort, body, core = PROXY_CORE, log = false }) {
  const dir = path.join(logDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const accessLog = log ? path.join(logDir, `${name}.access.log`) : undefined;
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConf({ dir, listen, body, upstreamPort, accessLog }));
  // -e: the compiled-in error log under /var/log may not be writable; keep everything here.
  const args = ['-c', core, NGINX, '-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
  return { child: spawnChild(name, 'taskset', args, { logDir }), accessLog };
}

async function startUpstream(logDir) {
  const port = await freePort();
  let child;
  let kind;
  if (fs.existsSync(NGINX)) {
    ({ child } = startNginx('upstream', logDir, { listen: port, body: BODY, core: LOAD_CORE }));
    kind = `nginx \`return 200\` with a 64-byte body, pinned to core ${LOAD_CORE}`;
  } else {
    console.error(`bench: note: ${NGINX} not found, using the Node.js fallback upstream; it may cap every row`);
    child = spawnChild('upstream', 'taskset', ['-c', LOAD_CORE, process.execPath, path.join(BENCH_DIR, 'upstream-node.mjs')], {
      logDir,
      env: { PORT: String(port), BODY },
    });
    kind = `node:http (fallback, nginx missing) with a 64-byte body, pinned to core ${LOAD_CORE}`;
  }
  await waitReady(child, port);
  return { child, port, kind };
}

// ---------------------------------------------------------------- one row
async function measure(peer, upstream, logDir) {
  const row = { key: peer.key, name: peer.label };
  const missing = peer.missing();
  if (missing) return { ...row, ok: false, skipped: true, error: missing };
  let started;
  try {
    let port = upstream.port;
    let pid = upstream.child.pid;
    if (peer.start) {
      port = await freePort();
      started = await peer.start({ port, upstreamPort: upstream.port, logDir, name: peer.key });
      pid = started.child.pid;
      await waitReady(started.child, port);
    }
    await sleep(500); // let startup garbage settle before calling it idle
    const idleRssKb = treeRssKb(pid);
    await runWrk(port, WARMUP, logDir);
    let loadedRssKb = null;
    let peakRssKb = idleRssKb;
    const result = await runWrk(port, DURATION, logDir, () => {
      const rss = treeRssKb(pid);
      if (rss === null) return;
      loadedRssKb = rss;
      peakRssKb = Math.max(peakRssKb ?? 0, rss);
    });
    if (started && !children.has(started.child)) throw childFailure(started.child, 'exited during the load');
    const errors = result.non2xx3xx + Object.values(result.socketErrors).reduce((a, b) => a + b, 0);
    const accessLogBytes = started?.accessLog ? (fs.statSync(started.accessLog, { throwIfNoEntry: false })?.size ?? 0) : undefined;
    return { ...row, ok: errors === 0, errors, ...result, idleRssKb, loadedRssKb, peakRssKb, accessLogBytes };
  } catch (e) {
    return { ...row, ok: false, error: e.message };
  } finally {
    if (started) await stopChild(started.child);
  }
}

// ---------------------------------------------------------------- report
const fmtMs = (v) => (v == null ? '-' : v < 1 ? `${(v * 1000).toFixed(0)} us` : `${v.toFixed(2)} ms`);
const oneLine = (s, max = 100) => {
  const flat = s.replace(/\s*\n\s*/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
const fmtMb = (kb) => (kb == null ? '-' : `${(kb / 1024).toFixed(1)} MB`);

function table(rows) {
  const head = ['name', 'req/s (median)', 'p50', 'p99', 'idle RSS', 'loaded RSS', 'req/s ÷ nginx', 'rounds req/s', 'notes'];
  const body = rows.map((r) => {
    const notes = r.skipped
      ? `skipped: ${r.error}`
      : r.error
        ? `ERROR: ${oneLine(r.error)}`
        : r.errors
          ? `FLAGGED: ${r.non2xx3xx} non-2xx/3xx, ${Object.values(r.socketErrors).reduce((a, b) => a + b, 0)} socket errors`
          : '';
    return [
      r.name,
      r.rps == null ? '-' : Math.round(r.rps).toLocaleString('en-US'),
      fmtMs(r.p50Ms),
      fmtMs(r.p99Ms),
      fmtMb(r.idleRssKb),
      fmtMb(r.loadedRssKb),
      r.vsNginx == null ? '-' : `${r.vsNginx.toFixed(2)}×`,
      r.roundsRps ? r.roundsRps.map((x) => x.toLocaleString('en-US')).join(' / ') : '-',
      notes,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const numeric = new Set([1, 2, 3, 4, 5, 6]);
  const line = (cells) => `| ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (numeric.has(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...body.map(line)].join('\n');
}

// First line a tool prints about itself: `nginx -v` writes to stderr, `wrk -v` exits 1.
function version(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim())?.trim() ?? null;
}

// ---------------------------------------------------------------- main
async function main() {
  for (const tool of ['taskset', 'wrk']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.error(`bench: ${tool} not found; run \`npm run setup\` first`);
      return 1;
    }
  }
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean) : null;
  const unknown = (only ?? []).filter((k) => !PEERS.some((p) => p.key === k));
  if (unknown.length) {
    console.error(`bench: unknown BENCH_ONLY key(s): ${unknown.join(', ')}; known: ${PEERS.map((p) => p.key).join(', ')}`);
    return 1;
  }
  let peers = only ? PEERS.filter((p) => only.includes(p.key)) : PEERS;
  const keys = peers.map((p) => p.key);
  // This harness (its RSS sampler, its wrk bookkeeping) must not take time from the proxy.
  spawnSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });

  const logDir = (tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-bench-')));
  // nginx workers drop to an unprivileged user and must still reach their temp dirs.
  fs.chmodSync(logDir, 0o755);
  const startedAt = new Date();
  // Read before our own load: how busy the shared machine was when the run began.
  const loadavgAtStart = os.loadavg();
  const allRows = [];
  let upstream;
  try {
    console.error(`bench: ${peers.length} row(s), ${DURATION} each after a ${WARMUP} warm-up, ${CONNECTIONS} connections; temp files in ${logDir}`);
    upstream = await startUpstream(logDir);
    console.error(`bench: upstream: ${upstream.kind} on :${upstream.port}`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const peer of peers) {
        console.error(`bench: round ${round}/${ROUNDS}: ${peer.label} ...`);
        const row = await measure(peer, upstream, logDir);
        row.round = round;
        console.error(
          row.error
            ? `bench:   ${row.skipped ? 'skipped' : 'error'}: ${row.error}`
            : `bench:   ${Math.round(row.rps)} req/s, p99 ${fmtMs(row.p99Ms)}${row.errors ? `, ${row.errors} errors` : ''}`,
        );
        allRows.push(row);
        if (row.skipped) peers = peers.filter((p) => p !== peer);
      }
    }
  } finally {
    if (upstream) await stopChild(upstream.child);
  }

  // Ratios within each round, so that drift between rounds cancels out.
  const ratios = { vsNginx: [], vsBestNode: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const inRound = allRows.filter((r) => r.round === round && r.ok && r.rps != null);
    const nginx = inRound.find((r) => r.key === 'nginx')?.rps;
    for (const r of inRound) r.vsNginx = nginx ? r.rps / nginx : null;
    const mesh = inRound.find((r) => r.key === 'meshwork')?.rps;
    const bestNode = Math.max(0, ...inRound.filter((r) => NODE_PEERS.has(r.key)).map((r) => r.rps));
    if (mesh && nginx) ratios.vsNginx.push(mesh / nginx);
    if (mesh && bestNode) ratios.vsBestNode.push(mesh / bestNode);
  }
  // One row per peer: its median round (an errored round, if any, wins so that it is seen).
  const rows = keys
    .map((key) => {
      const mine = allRows.filter((r) => r.key === key);
      const bad = mine.find((r) => !r.ok);
      if (bad) return bad;
      const sorted = [...mine].sort((a, b) => a.rps - b.rps);
      return { ...sorted[(sorted.length - 1) >> 1], roundsRps: mine.map((r) => Math.round(r.rps)) };
    })
    .filter(Boolean);

  console.log(table(rows));
  const fmtRatios = (xs) => (xs.length ? `median ${median(xs).toFixed(2)}× (rounds: ${xs.map((x) => x.toFixed(2)).join(', ')})` : '-');
  console.log(`\nMeshwork ÷ best Node.js peer, per round: ${fmtRatios(ratios.vsBestNode)}`);
  console.log(`Meshwork ÷ nginx, per round: ${fmtRatios(ratios.vsNginx)}`);

  const report = {
    benchmark: 'http1-proxy',
    startedAt: startedAt.toISOString(),
    settings: {
      duration: DURATION,
      warmup: WARMUP,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      wrkThreads: 1,
      proxyCore: Number(PROXY_CORE),
      loadCore: Number(LOAD_CORE),
      upstream: upstream.kind,
      bodyBytes: 64,
    },
    machine: { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, kernel: os.release(), loadavgAtStart },
    versions: {
      node: process.version,
      wrk: version('wrk', ['-v']),
      nginx: version(NGINX, ['-v']),
      haproxy: version(HAPROXY, ['-v']),
      meshworkCommit: version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    },
    ratios: { meshworkVsBestNodePeer: ratios.vsBestNode, meshworkVsNginx: ratios.vsNginx },
    results: rows,
    allRounds: allRows,
  };
  const resultsDir = path.join(BENCH_DIR, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${startedAt.toISOString().slice(0, 10)}-http1.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);

  if (KEEP_TMP) console.error(`bench: kept ${logDir}`);
  return allRows.some((r) => r.error && !r.skipped) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`bench: ${err.stack ?? err}`);
    process.exit(1);
  },
);
