#!/usr/bin/env node
// CPU instructions per proxied request, counted by valgrind's callgrind: the noise-free companion of
// run.mjs. Requests/s on a shared 2-core VM swing by ±30% between runs (other tenants, turbo, cache
// neighbours); an instruction count does not. It misses what happens in the kernel (syscalls are about the
// same per request for every Node proxy: one read and one write per side) and it weighs a cache miss like any
// instruction, so it ranks user-space work, which is the part a Node proxy's code decides.
//
// Each row runs under `valgrind --tool=callgrind --instr-atstart=no`: the process starts uninstrumented, is
// warmed up (JIT, pools), then `callgrind_control -i on` counts exactly the measured requests, and
// `callgrind_control -i off` stops before shutdown. Threads are counted apart (--separate-threads): the figure
// is the main thread's, where the proxy's JavaScript runs; all threads together (V8's background compiler and
// GC helpers, libuv's pool) are shown beside it, because when V8 compiles in the window they swing by 30%+.
//
// Usage: node bench/instructions.mjs            (env: INSTR_ONLY=meshwork,node-undici  INSTR_REQUESTS=3000)
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
const REQUESTS = Number(process.env.INSTR_REQUESTS || 3000);
const WARMUP = Number(process.env.INSTR_WARMUP || 2000);
const CONNECTIONS = 8;
const BODY = 'meshwork-bench:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM';

const ROWS = [
  { key: 'meshwork', label: 'Meshwork', args: (ctx) => [path.join(ROOT, 'bin', 'meshwork'), 'proxy', '-c', ctx.config, '-l', 'warning'] },
  { key: 'node-undici', label: 'node:http + undici Pool', args: () => [path.join(BENCH_DIR, 'peers', 'node-undici.mjs')] },
  { key: 'fastify-proxy', label: '@fastify/http-proxy', args: () => [path.join(BENCH_DIR, 'peers', 'fastify-proxy.mjs')] },
  { key: 'http-proxy', label: 'http-proxy (node-http-proxy)', args: () => [path.join(BENCH_DIR, 'peers', 'http-proxy.mjs')] },
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/** n requests over CONNECTIONS keep-alive connections; every answer must be the upstream's body. */
async function drive(port, n) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await get(port);
      if (res.status !== 200 || res.body !== BODY) throw new Error(`unexpected answer ${res.status} ${res.body.slice(0, 60)}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

async function waitReady(child, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited during startup (${child.exitCode})`);
    try {
      if ((await get(port)).status === 200) return;
    } catch {
      // not up yet
    }
    await sleep(500);
  }
  throw new Error(`not ready on :${port} after ${timeoutMs / 1000}s`);
}

function control(pid, ...args) {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

/** Ir totals of the dump valgrind wrote for this process: the main thread's, and all threads'. */
function instructions(dir, key) {
  let main = 0;
  let all = 0;
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(`${key}.callgrind`)) continue;
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const m = /^totals: (\d+)/m.exec(text);
    if (!m) continue;
    all += Number(m[1]);
    if (/^thread: 1$/m.test(text)) main += Number(m[1]);
  }
  return { main, all };
}

async function measure(row, ctx) {
  const port = await freePort();
  const out = path.join(ctx.dir, `${row.key}.callgrind.out`);
  if (row.key === 'meshwork') {
    const bootstrap = meshworkBootstrap({ listen: port, adminPort: await freePort(), upstreamPort: ctx.upstreamPort, accessLog: path.join(ctx.dir, 'access.log') });
    fs.writeFileSync(ctx.config, YAML.stringify(bootstrap));
  }
  const args = ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${out}`, process.execPath, ...(process.env.INSTR_NODE_ARGS?.split(' ').filter(Boolean) ?? []), ...row.args(ctx)];
  const stderr = fs.openSync(path.join(ctx.dir, `${row.key}.stderr`), 'w');
  const child = spawn('valgrind', args, { stdio: ['ignore', 'ignore', stderr], env: { ...process.env, PORT: String(port), UPSTREAM: `127.0.0.1:${ctx.upstreamPort}` } });
  fs.closeSync(stderr);
  try {
    await waitReady(child, port, 180_000);
    await drive(port, WARMUP);
    control(child.pid, '-i', 'on');
    await drive(port, REQUESTS);
    control(child.pid, '-i', 'off');
    control(child.pid, '-d');
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  }
  const { main, all } = instructions(ctx.dir, row.key);
  if (!main) throw new Error(`no callgrind totals in ${ctx.dir}`);
  return { key: row.key, name: row.label, mainThread: main, allThreads: all, perRequest: Math.round(main / REQUESTS), allThreadsPerRequest: Math.round(all / REQUESTS) };
}

async function main() {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind not found (apt-get install valgrind)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-instr-'));
  const upstreamPort = await freePort();
  const upstream = spawn(process.execPath, [path.join(BENCH_DIR, 'upstream-node.mjs')], { stdio: 'ignore', env: { ...process.env, PORT: String(upstreamPort), BODY } });
  const only = process.env.INSTR_ONLY?.split(',');
  const rows = [];
  try {
    await waitReady(upstream, upstreamPort, 10_000);
    const ctx = { dir, upstreamPort, config: path.join(dir, 'meshwork.yaml') };
    for (const row of ROWS) {
      if (only && !only.includes(row.key)) continue;
      process.stderr.write(`instructions: ${row.key} ...\n`);
      try {
        rows.push(await measure(row, ctx));
      } catch (e) {
        rows.push({ key: row.key, name: row.label, error: e.message });
      }
    }
  } finally {
    upstream.kill('SIGKILL');
    agent.destroy();
  }
  const mesh = rows.find((r) => r.key === 'meshwork' && r.perRequest);
  console.log(`\ninstructions per proxied request (callgrind, ${REQUESTS} keep-alive GETs over ${CONNECTIONS} connections after ${WARMUP} warm-up; 64-byte body)\n`);
  console.log('| proxy | main thread instructions/request | peer ÷ Meshwork | all threads (incl. JIT compiler, GC helpers) |\n| --- | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.error) console.log(`| ${r.name} | error: ${r.error} | | |`);
    else console.log(`| ${r.name} | ${r.perRequest.toLocaleString('en-US')} | ${mesh ? (r.perRequest / mesh.perRequest).toFixed(2) + '×' : '-'} | ${r.allThreadsPerRequest.toLocaleString('en-US')} |`);
  }
  const file = path.join(BENCH_DIR, 'results', `${new Date().toISOString().slice(0, 10)}-instructions.json`);
  fs.writeFileSync(file, `${JSON.stringify({ requests: REQUESTS, warmup: WARMUP, connections: CONNECTIONS, node: process.version, results: rows }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  if (!process.env.INSTR_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  else console.error(`instructions: kept ${dir}`);
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`instructions: ${err.stack ?? err}`);
    process.exit(1);
  },
);
