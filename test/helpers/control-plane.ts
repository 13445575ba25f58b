// Test helper: start a real `meshwork control-plane` process on free ports and find them from its log.
import { spawn, type ChildProcess } from 'node:child_process';
import { MESHWORK, stopChild } from './proxy.js';

export interface RunningControlPlane {
  child: ChildProcess;
  xdsPort: number;
  httpPort: number;
  stderr: () => string;
  /** GET on the debug HTTP port */
  http(pathname: string): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * `meshwork control-plane --config-dir <dir>` on port 0s; resolves once it logs "control plane serving".
 * `xdsPort` binds that xDS port instead (a restarted control plane where its proxies look for it); `meshDir`
 * serves the dir as Istio-style resources (--mesh-dir) instead of Envoy resources.
 */
export async function startControlPlane(configDir: string, args: string[] = [], opts: { xdsPort?: number; meshDir?: boolean } = {}): Promise<RunningControlPlane> {
  const xdsAddress = `127.0.0.1:${opts.xdsPort ?? 0}`;
  const child = spawn(process.execPath, [MESHWORK, 'control-plane', opts.meshDir ? '--mesh-dir' : '--config-dir', configDir, '--xds-address', xdsAddress, '--http-address', '127.0.0.1:0', '-l', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const ports = await new Promise<{ xdsPort: number; httpPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`control plane did not serve within 15 s:\n${err}`));
    }, 15_000);
    let found = false;
    child.stderr!.on('data', (d) => {
      err += d;
      if (found) return;
      const line = err.split('\n').slice(0, -1).find((l) => l.includes('"control plane serving"'));
      if (!line) return;
      found = true;
      clearTimeout(timer);
      const j = JSON.parse(line);
      resolve({ xdsPort: j.xdsPort, httpPort: j.httpPort });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited with ${code} before serving:\n${err}`));
    });
  });
  return {
    child,
    ...ports,
    stderr: () => err,
    http: (p) => fetch(`http://127.0.0.1:${ports.httpPort}${p}`),
    exited,
    stop: (signal: NodeJS.Signals = 'SIGTERM') => stopChild(child, exited, signal),
  };
}
