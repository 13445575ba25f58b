// Test helpers: start real `meshwork proxy` processes from a bootstrap, find free ports, wait for readiness,
// and stop everything at the end of a test. Every test talks to these over real sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const MESHWORK = path.join(ROOT, 'bin/meshwork');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function tmpDir(prefix = 'meshwork-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface RunningProxy {
  child: ChildProcess;
  adminPort: number;
  configPath: string;
  stderr: () => string;
  stdout: () => string;
  admin(pathname: string, init?: RequestInit): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Signal a child started by a helper and wait for its exit code; SIGKILL if it has not exited within 10 s. */
export async function stopChild(child: ChildProcess, exited: Promise<number | null>, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Start `meshwork proxy -c <file>` with the given bootstrap (object → YAML, or YAML text). An admin listener
 * on a free port is added unless the bootstrap has one. Resolves once /ready answers LIVE.
 */
export async function startProxy(bootstrap: object | string, opts: { args?: string[]; dir?: string; waitReady?: boolean; env?: Record<string, string> } = {}): Promise<RunningProxy> {
  // freePort() only finds a port that was free a moment ago: another test's process may bind it first, and then
  // the admin that answers /ready is someone else's. A chosen admin port is checked and, taken, chosen again.
  for (let attempt = 1; ; attempt++) {
    const p = await startProxyOnce(bootstrap, opts);
    if (opts.waitReady === false || (typeof bootstrap !== 'object') || (bootstrap as any).admin || (await isOurs(p))) return p;
    await p.stop('SIGKILL').catch(() => {});
    if (attempt === 3) throw new Error('the admin port chosen for the proxy was taken three times');
  }
}

/** Does the admin at p.adminPort belong to p (its config path)? */
async function isOurs(p: RunningProxy): Promise<boolean> {
  try {
    const info = (await (await p.admin('/server_info')).json()) as { command_line_options?: { config_path?: string } };
    return info.command_line_options?.config_path === p.configPath;
  } catch {
    return false;
  }
}

async function startProxyOnce(bootstrap: object | string, opts: { args?: string[]; dir?: string; waitReady?: boolean; env?: Record<string, string> }): Promise<RunningProxy> {
  const dir = opts.dir ?? tmpDir();
  let text: string;
  let adminPort: number;
  if (typeof bootstrap === 'string') {
    text = bootstrap;
    const m = /admin:[\s\S]*?port_value:\s*(\d+)/.exec(text);
    adminPort = m ? Number(m[1]) : 0;
  } else {
    const b: any = structuredClone(bootstrap);
    if (!b.admin) {
      adminPort = await freePort();
      b.admin = { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } };
    } else adminPort = b.admin.address.socket_address.port_value;
    text = stringify(b);
  }
  const configPath = path.join(dir, `bootstrap-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(configPath, text);
  const child = spawn(process.execPath, [MESHWORK, 'proxy', '-c', configPath, '-l', 'warning', '--drain-time-s', '3', ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  running.add(child);
  let err = '';
  let out = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const admin = (p: string, init?: RequestInit) => fetch(`http://127.0.0.1:${adminPort}${p}`, init);
  const proxy: RunningProxy = {
    child,
    adminPort,
    configPath,
    stderr: () => err,
    stdout: () => out,
    admin,
    exited,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal),
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode} before becoming ready:\n${err}`);
      try {
        const r = await admin('/ready');
        if (r.status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`proxy did not become ready within 15 s:\n${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return proxy;
}

/** The bound port of a listener (for port_value: 0 listeners), from /listeners?format=json. */
export async function listenerPort(p: RunningProxy, name: string): Promise<number> {
  const j: any = await (await p.admin('/listeners?format=json')).json();
  const l = j.listener_statuses.find((x: any) => x.name === name);
  if (!l) throw new Error(`no listener ${name}`);
  return l.local_address.socket_address.port_value;
}

/** A stat's value from /stats?format=json (undefined when absent). */
export async function stat(p: RunningProxy, name: string): Promise<number | undefined> {
  const j: any = await (await p.admin(`/stats?format=json&filter=${encodeURIComponent('^' + name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$')}`)).json();
  const s = j.stats.find((x: any) => x.name === name);
  return s?.value;
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
