// Process lifecycle of a real `meshwork proxy`: graceful drain on SIGTERM and /quitquitquit with a request in
// flight, live reload of the watched bootstrap file (good, bad, good again), `--mode validate`, the CLI's help
// and inline config, and a clean failure when a listener's port is taken.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { MESHWORK, startProxy, listenerPort, stat, waitFor, tmpDir, freePort, type RunningProxy } from './helpers/proxy.js';
import { httpListener, staticCluster, namedUpstream, get, sleep } from './helpers/robustness.js';

const procs: RunningProxy[] = [];
// A slow upstream whose requests wait until the test releases them: drain tests check what happens while a
// request is in flight without racing a timer.
const held: (() => void)[] = [];
const slow = await namedUpstream('slow', (req, res) => {
  req.resume();
  held.push(() => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('slow-done');
  });
});
const fast = await namedUpstream('fast');
const other = await namedUpstream('other');
after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  await slow.close();
  await fast.close();
  await other.close();
});

async function start(bootstrap: object, opts: Parameters<typeof startProxy>[1] = {}): Promise<RunningProxy> {
  const p = await startProxy(bootstrap, opts);
  procs.push(p);
  return p;
}

/** Run the CLI to completion; resolves exit code and output. */
function cli(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [MESHWORK, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`meshwork ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    c.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether a TCP connect to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const slowBootstrap = () => ({
  static_resources: {
    listeners: [httpListener('ingress', { cluster: 'slow' })],
    clusters: [staticCluster('slow', [slow.port])],
  },
});

async function drainsInFlight(trigger: (p: RunningProxy) => Promise<unknown>): Promise<void> {
  const p = await start(slowBootstrap());
  const port = await listenerPort(p, 'ingress');
  const hitsBefore = slow.hits;
  const inflight = get(port, '/hold');
  await waitFor(() => held.length > 0 && slow.hits > hitsBefore, 'the request to reach the upstream');
  await trigger(p);
  // new connections are refused while the request is still in flight
  await waitFor(() => refused(port), 'the listener to stop accepting');
  assert.equal(p.child.exitCode, null, 'exited with a request in flight');
  held.splice(0).forEach((f) => f());
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'slow-done');
  // exits 0 within the drain time (3 s, set by startProxy) - bounded so a hang fails the test
  const code = await Promise.race([p.exited, sleep(8000).then(() => 'timeout')]);
  assert.equal(code, 0, p.stderr());
}

test('SIGTERM drains: the in-flight request completes, new connections are refused, exit 0', async () => {
  await drainsInFlight(async (p) => p.child.kill('SIGTERM'));
});

test('/quitquitquit drains the same way', async () => {
  await drainsInFlight(async (p) => assert.equal((await p.admin('/quitquitquit', { method: 'POST' })).status, 200));
});

const directBootstrap = (body: string, extraRoutes: any[] = [], svcCluster = 'fast') => ({
  static_resources: {
    listeners: [
      httpListener('ingress', {
        routes: [
          ...extraRoutes,
          { match: { prefix: '/slow' }, route: { cluster: 'slow' } },
          { match: { prefix: '/svc' }, route: { cluster: svcCluster } },
          { match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } },
        ],
      }),
    ],
    clusters: [staticCluster('slow', [slow.port]), staticCluster('fast', [fast.port]), staticCluster('other', [other.port])],
  },
});

/** Rewrite the watched file like an editor: a temporary file renamed over it. */
function replaceFile(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** A raw keep-alive connection: one request at a time, each reply read by its Content-Length. */
async function keepAlive(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  let buf = '';
  let closed = false;
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  return {
    get closed() {
      return closed;
    },
    async request(p: string): Promise<{ status: number; head: string; body: string }> {
      buf = '';
      sock.write(`GET ${p} HTTP/1.1\r\nHost: test\r\n\r\n`);
      const onData = (d: Buffer) => (buf += d.toString('latin1'));
      sock.on('data', onData);
      try {
        return await waitFor(() => {
          const he = buf.indexOf('\r\n\r\n');
          if (he < 0) return closed ? Promise.reject(new Error('connection closed before a reply')) : undefined;
          const len = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, he))?.[1] ?? 0);
          if (buf.length < he + 4 + len) return undefined;
          return { status: Number(buf.slice(9, 12)), head: buf.slice(0, he), body: buf.slice(he + 4, he + 4 + len) };
        }, `a reply to ${p} on the kept-alive connection`);
      } finally {
        sock.off('data', onData);
      }
    },
    destroy: () => sock.destroy(),
  };
}

test('config file watch: changes apply, open connections and in-flight requests survive, bad files are refused', async () => {
  const p = await start(directBootstrap('version-1'));
  const port = await listenerPort(p, 'ingress');
  assert.equal((await get(port, '/')).body, 'version-1');
  assert.equal((await get(port, '/svc')).body, 'fast');

  const ka = await keepAlive(port);
  assert.equal((await ka.request('/')).body, 'version-1');
  const inflight = get(port, '/slow/hold');
  await waitFor(() => held.length > 0, 'the held request to reach the upstream');

  // 1. a valid change (in place), while a request is in flight and a keep-alive connection is open
  // direct_response body edited, a route added, and /svc's cluster changed
  fs.writeFileSync(p.configPath, stringify(directBootstrap('version-2', [{ match: { prefix: '/moved' }, route: { cluster: 'fast' } }], 'other')));
  await waitFor(async () => (await get(port, '/')).body === 'version-2', 'the edited direct_response body');
  assert.equal(await stat(p, 'server.config_reload.success'), 1);
  assert.equal((await get(port, '/moved')).body, 'fast');
  assert.equal((await get(port, '/svc')).body, 'other');
  held.splice(0).forEach((f) => f());
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'slow-done');
  // the idle connection opened before the change still answers (old or new config) while it drains, says
  // Connection: close (Envoy's HTTP/1 drain), then closes
  const again = await ka.request('/');
  assert.equal(again.status, 200);
  assert.match(again.body, /^version-[12]$/);
  assert.match(again.head, /\r\nconnection: close/i);
  await waitFor(() => ka.closed, 'the drained connection to close');

  // 2. an invalid file: logged with the field path, counted, and the old config keeps serving
  const bad = stringify(directBootstrap('version-3')).replace('type: STATIC', 'type: STATIK');
  assert.match(bad, /STATIK/);
  replaceFile(p.configPath, bad);
  await waitFor(async () => (await stat(p, 'server.config_reload.failure')) === 1, 'server.config_reload.failure');
  const rejected = p.stderr().split('\n').find((l) => l.includes('configuration rejected'))!;
  assert.match(rejected, /static_resources\.clusters\[0\]\.type/);
  assert.ok(rejected.includes(`${p.configPath}:`), `no file:line in: ${rejected}`);
  assert.equal((await get(port, '/')).body, 'version-2');
  assert.equal((await get(port, '/moved')).body, 'fast');
  assert.equal((await get(port, '/svc')).body, 'other');

  // 3. a valid file applies again
  replaceFile(p.configPath, stringify(directBootstrap('version-4')));
  await waitFor(async () => (await get(port, '/')).body === 'version-4', 'the valid file after the bad one');
  assert.equal(await stat(p, 'server.config_reload.success'), 2);
  assert.equal(await stat(p, 'server.config_reload.failure'), 1);
  // /moved is gone with version-4: it falls to the direct response
  assert.equal((await get(port, '/moved')).body, 'version-4');
  assert.equal((await get(port, '/svc')).body, 'fast');
  ka.destroy();
  assert.equal(p.child.exitCode, null);
});

test('--mode validate: exit 0 for a good file, 1 with the field path and file:line:col for a bad one', async () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.yaml');
  fs.writeFileSync(good, stringify(directBootstrap('ok')));
  const g = await cli(['proxy', '--mode', 'validate', '-c', good]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /OK/);

  const bad = path.join(dir, 'bad.yaml');
  const text = stringify(directBootstrap('ok')).replace('connect_timeout: 1s', 'connect_timeout: soon');
  fs.writeFileSync(bad, text);
  const line = text.split('\n').findIndex((l) => l.includes('connect_timeout: soon')) + 1;
  const col = text.split('\n')[line - 1]!.indexOf('soon') + 1;
  const b = await cli(['proxy', '--mode', 'validate', '-c', bad]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /static_resources\.clusters\[0\]\.connect_timeout/);
  assert.ok(b.stderr.includes(`${bad}:${line}:`), `expected ${bad}:${line}:<col> in:\n${b.stderr}`);
  assert.match(b.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:(${col}|${col - 'connect_timeout: '.length})\\b`));

  // a field the proxy does not implement is rejected by path, never silently ignored
  const unsupported = path.join(dir, 'unsupported.yaml');
  const ut = stringify(directBootstrap('ok')).replace(/(\n\s+)type: STATIC/, '$1type: STATIC$1lb_policy: LOAD_BALANCING_POLICY_CONFIG');
  assert.match(ut, /lb_policy: LOAD_BALANCING_POLICY_CONFIG/);
  fs.writeFileSync(unsupported, ut);
  const u = await cli(['proxy', '--mode', 'validate', '-c', unsupported]);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /static_resources\.clusters\[0\]\.lb_policy/);
  assert.match(u.stderr, /LOAD_BALANCING_POLICY_CONFIG/);
  assert.match(u.stderr, /unsupported\.yaml:\d+:\d+/);
});

test('meshwork --help and meshwork proxy --help', async () => {
  const top = await cli(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /^Usage: meshwork <command>/);
  assert.match(top.stdout, /^ {2}proxy /m);
  const px = await cli(['proxy', '--help']);
  assert.equal(px.code, 0);
  assert.match(px.stdout, /^Usage: meshwork proxy/);
  for (const flag of ['--config-path', '--config-yaml', '--mode', '--drain-time-s', '--service-node', '--log-level']) assert.ok(px.stdout.includes(flag), flag);
  const wrong = await cli(['proxy', '--no-such-flag']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /no-such-flag/);
});

test('--config-yaml alone runs the proxy', async () => {
  const adminPort = await freePort();
  const lp = await freePort();
  const b: any = directBootstrap('inline-yaml');
  b.static_resources.listeners[0].address.socket_address.port_value = lp;
  b.admin = { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } };
  const c = spawn(process.execPath, [MESHWORK, 'proxy', '--config-yaml', stringify(b), '-l', 'warning', '--drain-time-s', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  c.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  try {
    const r = await waitFor(async () => {
      const x = await get(lp, '/');
      return x.status === 200 && x;
    }, 'the inline-config proxy to answer', 15_000);
    assert.equal(r.body, 'inline-yaml');
    const info: any = await (await fetch(`http://127.0.0.1:${adminPort}/server_info`)).json();
    assert.match(info.command_line_options.config_yaml, /inline-yaml/);
  } finally {
    c.kill('SIGTERM');
    assert.equal(await Promise.race([exited, sleep(8000).then(() => 'timeout')]), 0, stderr);
  }
});

test('a listener whose port is taken: exit 1 with a clear message', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const busy = (blocker.address() as net.AddressInfo).port;
  try {
    const b: any = directBootstrap('never');
    b.static_resources.listeners[0].address.socket_address.port_value = busy;
    const dir = tmpDir();
    const file = path.join(dir, 'busy.yaml');
    fs.writeFileSync(file, stringify(b));
    const r = await cli(['proxy', '-c', file, '-l', 'warning']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`listener "?ingress"?`));
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${busy}`));
    assert.match(r.stderr, /EADDRINUSE|address already in use/i);
  } finally {
    blocker.close();
  }
});
