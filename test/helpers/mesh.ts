// Test helpers for whole meshes (a `meshwork control-plane` process driving `meshwork proxy` processes): a
// config dir the test edits the way editors and ConfigMap mounts do, the control plane's debug API as JSON,
// and a continuous keep-alive client load that records every failed request.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { stringify } from 'yaml';
import type { RunningControlPlane } from './control-plane.js';
import { TYPE_URL, get } from './xds-proxy.js';

/** A resource for a config file: its proto3 JSON with the '@type' the file format wants. */
export const typed = (typeUrl: string, json: Record<string, unknown>): Record<string, unknown> => ({ '@type': typeUrl, ...json });
export const listenerDoc = (json: Record<string, unknown>) => typed(TYPE_URL.LISTENER, json);
export const routeDoc = (json: Record<string, unknown>) => typed(TYPE_URL.ROUTE, json);
export const clusterDoc = (json: Record<string, unknown>) => typed(TYPE_URL.CLUSTER, json);
export const endpointDoc = (json: Record<string, unknown>) => typed(TYPE_URL.ENDPOINT, json);

/**
 * Write `resources` (each with its '@type') as one YAML file of `---`-separated documents in `dir`. Written
 * to a dot-file first and renamed over the target, so the watcher never reads half a file (a half-read file
 * would be rejected and counted, which some assertions look at).
 */
export function writeResources(dir: string, file: string, resources: object[]): void {
  const text = resources.map((r) => stringify(r, { aliasDuplicateObjects: false })).join('---\n');
  const tmp = path.join(dir, `.${file}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path.join(dir, file));
}

export function removeFile(dir: string, file: string): void {
  fs.rmSync(path.join(dir, file));
}

/** JSON from the control plane's debug port; throws on a non-200 answer. */
export async function debugJson(cp: RunningControlPlane, pathname: string): Promise<any> {
  const r = await cp.http(pathname);
  if (r.status !== 200) throw new Error(`GET ${pathname}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The /debug/syncz entry of one proxy (node id), undefined while it has no stream. */
export async function syncOf(cp: RunningControlPlane, proxyId: string): Promise<any | undefined> {
  const all: any[] = await debugJson(cp, '/debug/syncz');
  return all.find((s) => s.proxy === proxyId);
}

/** `n` requests on fresh connections: each response's body and x-route header. */
export async function sample(port: number, n: number, pathname = '/'): Promise<{ status: number; body: string; route: string | undefined }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await get(port, pathname);
    out.push({ status: r.status, body: r.body, route: r.headers['x-route'] as string | undefined });
  }
  return out;
}

export interface LoadResult {
  ok: number;
  /** every non-2xx response and request error, as "<status> <body>" or "error: <message>" */
  failures: string[];
  /** 2xx responses per body */
  bodies: Record<string, number>;
}

export interface Load {
  /** results so far */
  readonly result: LoadResult;
  /** stop after the requests in flight finish; the agent's sockets are closed */
  stop(): Promise<LoadResult>;
}

/**
 * `concurrency` clients each sending GET `pathname` back to back on one keep-alive agent, until stopped.
 * Nothing is retried: a reset connection or a 503 during a config change is a failure to count.
 */
export function startLoad(port: number, o: { concurrency?: number; pathname?: string } = {}): Load {
  const concurrency = o.concurrency ?? 2;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failures: [], bodies: {} };
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const r = await get(port, o.pathname ?? '/', agent);
        if (r.status >= 200 && r.status < 300) {
          result.ok++;
          result.bodies[r.body] = (result.bodies[r.body] ?? 0) + 1;
        } else result.failures.push(`${r.status} ${r.body}`);
      } catch (err) {
        result.failures.push(`error: ${(err as Error).message}`);
        // a refused connection fails at once; do not spin
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}
