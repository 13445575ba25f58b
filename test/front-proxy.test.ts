// Seed 004's mesh end to end: `meshwork demo` starts a front proxy and services A, B, C each behind its own
// sidecar (seven real processes). A request to the front proxy reaches A through A's sidecar, and A's calls to
// B and C go through A's outbound listeners and B's and C's sidecars.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { MESHWORK } from './helpers/proxy.js';

const exec = promisify(execFile);

test('meshwork demo --static: front proxy → A (sidecar) → B and C (sidecars), then Ctrl-C stops everything', async () => {
  // Every demo port (8080–9904 + offset) stays below 32768, where Linux's ephemeral range starts: ports above it
  // are what freePort() and every outgoing connection of the tests running beside this one get (a collision
  // failed CI with EADDRINUSE).
  const offset = 12000 + Math.floor(Math.random() * 10700);
  const demo = spawn(process.execPath, [MESHWORK, 'demo', '--static', '--port-offset', String(offset)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.on('data', (d) => (out += d));
  demo.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => demo.once('exit', (c) => r(c)));
  try {
    const deadline = Date.now() + 30_000;
    while (!out.includes('The mesh is up')) {
      if (demo.exitCode !== null) throw new Error(`demo exited early:\n${out}`);
      if (Date.now() > deadline) throw new Error(`demo not up within 30 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = `http://127.0.0.1:${8080 + offset}/orders?id=7`;
    assert.ok(out.includes(`curl http://127.0.0.1:${8080 + offset}/`), 'the demo prints the URL to try');
    const { stdout } = await exec('curl', ['-sS', '-i', '-H', 'x-request-id: trace-me-123', url]);
    const [head, body] = stdout.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 200/);
    assert.match(head!, /\r\nserver: meshwork\r\n/);
    assert.match(head!, /\r\nx-envoy-upstream-service-time: \d+\r\n/);
    const j = JSON.parse(body!);
    assert.equal(j.service, 'service_a');
    assert.equal(j.path, '/orders?id=7');
    assert.equal(j.forwarded_for, '127.0.0.1', 'the front proxy (use_remote_address) appends the client address');
    // x-request-id from an internal client is kept, and A forwards it through its sidecar to B and C
    assert.equal(j.request_id, 'trace-me-123');
    const services = j.calls.map((c: any) => c.body?.service).sort();
    assert.deepEqual(services, ['service_b', 'service_c']);
    for (const c of j.calls) {
      assert.equal(c.status, 200);
      assert.equal(c.body.request_id, 'trace-me-123');
    }
    // every hop counted the request in its stats
    for (const [admin, cluster] of [[9901, 'service_a'], [9902, 'service_b'], [9902, 'service_c'], [9903, 'service_b'], [9904, 'service_c']] as const) {
      const s: any = await (await fetch(`http://127.0.0.1:${admin + offset}/stats?format=json&filter=^cluster\\.${cluster}\\.upstream_rq_2xx$`)).json();
      assert.ok(s.stats[0]?.value >= 1, `cluster.${cluster}.upstream_rq_2xx on admin :${admin}`);
    }
    // the front proxy's stdout access log has the request in Envoy's default format
    const logDeadline = Date.now() + 5000;
    while (!/\[front-envoy\] \[[^\]]+\] "GET \/orders\?id=7 HTTP\/1\.1" 200 - 0 \d+ \d+ \d+ "127\.0\.0\.1" "curl\/[^"]+" "trace-me-123"/.test(out)) {
      if (Date.now() > logDeadline) throw new Error(`no access log line:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    demo.kill('SIGINT');
  }
  assert.equal(await exited, 0);
  // nothing is left listening on the demo's ports
  await assert.rejects(fetch(`http://127.0.0.1:${8080 + offset}/`));
  await assert.rejects(fetch(`http://127.0.0.1:${9902 + offset}/ready`));
});
