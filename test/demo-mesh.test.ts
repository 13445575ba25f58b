// `meshwork demo` as a newcomer runs it: the control plane, an ingress gateway and services A, B (v1, v2), C
// with their sidecars, all real processes. Through the gateway: A answers with B's and C's answers; B's
// traffic splits 90/10 by seed 002's canary; applying seed 002's 7 s fault delay to the running demo's
// mesh.yaml delays B as the article says; a real Prometheus server scraping the proxies answers Istio's
// requests/s query for A, B and C; Ctrl-C stops everything and frees every port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { REQUESTS_BY_SERVICE, startPrometheus } from './helpers/prometheus.js';
import { MESHWORK, waitFor } from './helpers/proxy.js';

interface Answer {
  service: string;
  version: string;
  calls: { service: string; status: number; body?: { version: string } }[];
}

function get(port: number): Promise<{ status: number; body: Answer; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Answer, ms: Date.now() - t0 }));
      })
      .on('error', reject);
  });
}

// seed 002's fault snippet, indentation fixed, on the demo's service B
const FAULT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: service-b
spec:
  hosts:
  - service-b
  http:
  - fault:
      delay:
        fixedDelay: 7s
        percent: 100
    route:
    - destination:
        host: service-b
        subset: v2
`;

test('meshwork demo: gateway → A → B (90/10 v1/v2) and C; seed 002 fault delay applied live; Ctrl-C stops all', async () => {
  // below 32768 (Linux's ephemeral ports start there) and away from the --static demo test's range
  const offset = 1000 + Math.floor(Math.random() * 3000); // top port 15104 + 4000 stays under the other range (20080+)
  const demo = spawn(process.execPath, [MESHWORK, 'demo', '--port-offset', String(offset), '--no-traffic'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  demo.stdout.on('data', (d) => (out += d));
  demo.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => demo.once('exit', (c) => r(c)));
  const gateway = 8080 + offset;
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes('The mesh is up')) {
      if (demo.exitCode !== null) throw new Error(`demo exited early:\n${out}`);
      if (Date.now() > deadline) throw new Error(`demo not up within 60 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(out.includes(`curl http://127.0.0.1:${gateway}/`), 'prints the URL to try');
    const meshFile = /Mesh config: (\S+)/.exec(out)?.[1];
    assert.ok(meshFile && fs.existsSync(meshFile), 'prints the mesh.yaml it serves');

    const N = 200;
    let v2 = 0;
    for (let i = 0; i < N; i++) {
      const r = await get(gateway);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.service, 'service-a');
      const b = r.body.calls.find((c) => c.service === 'service-b')!;
      const c = r.body.calls.find((c) => c.service === 'service-c')!;
      assert.equal(b.status, 200);
      assert.equal(c.status, 200);
      assert.equal(c.body?.version, 'v1');
      if (b.body?.version === 'v2') v2++;
    }
    // 10 % of 200 is 20, standard deviation 4.2: 6..38 is beyond ±3 sd
    assert.ok(v2 >= 6 && v2 <= 38, `B v2 answered ${v2} of ${N}, expected about 20`);

    // every proxy joined the mesh's mTLS: A's sidecar (admin 15001) terminated TLS for the gateway's calls,
    // and holds a certificate for its service account
    const statsA = await (await fetch(`http://127.0.0.1:${15001 + offset}/stats?filter=ssl.handshake`)).text();
    assert.match(statsA, /ssl\.handshake: [1-9]/, `the gateway reached A over mTLS:\n${statsA}`);
    const certs = (await (await fetch(`http://127.0.0.1:${15001 + offset}/certs`)).json()) as { workload_certificate?: { identity: string } };
    assert.equal(certs.workload_certificate?.identity, 'spiffe://cluster.local/ns/default/sa/service-a');

    // issue 7: a real Prometheus scraping the demo's proxies (gateway and the four sidecars) sees Istio's
    // requests/s by destination service and code for every service behind the gateway, while traffic flows
    const prometheus = await startPrometheus([0, 1, 2, 3, 4].map((i) => 15000 + i + offset));
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        await get(gateway).catch(() => {});
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const services = ['service-a', 'service-b', 'service-c'].map((n) => `${n}.default.svc.cluster.local`);
      const seen = await waitFor(
        async () => {
          const res = await prometheus.query(REQUESTS_BY_SERVICE).catch(() => []);
          const ok = res.filter((s) => s.metric.response_code === '200' && Number(s.value[1]) > 0).map((s) => s.metric.destination_service);
          return services.every((svc) => ok.includes(svc)) ? res : undefined;
        },
        'Prometheus to see traffic to A, B and C',
        60_000,
      );
      // what flows now is all 200 (a series of start-up answers may linger at rate 0)
      assert.ok(seen.every((s) => s.metric.response_code === '200' || Number(s.value[1]) === 0), JSON.stringify(seen));
    } finally {
      flowing = false;
      await traffic;
      prometheus.stop();
    }

    // seed 002: "add this to your VirtualService to add some chaos": every call to B waits 7 s, and goes to v2
    const yaml = fs.readFileSync(meshFile, 'utf8');
    const docs = yaml.split(/^---$/m);
    const i = docs.findIndex((d) => /kind: VirtualService\s+metadata:\s+name: service-b/.test(d));
    assert.ok(i >= 0);
    docs[i] = `\n${FAULT.replace(/number: (\d+)/g, (_m, n) => `number: ${Number(n) + offset}`)}`;
    fs.writeFileSync(meshFile, docs.join('---'));
    let delayed: Awaited<ReturnType<typeof get>> | undefined;
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const r = await get(gateway);
      if (r.ms >= 7000) {
        delayed = r;
        break;
      }
    }
    assert.ok(delayed, 'a request delayed by 7 s within 30 s of the edit');
    assert.equal(delayed.status, 200);
    assert.equal(delayed.body.calls.find((c) => c.service === 'service-b')!.body?.version, 'v2');
    assert.ok(delayed.ms < 9000, `${delayed.ms} ms: the delay is 7 s, not more`);
  } finally {
    demo.kill('SIGINT');
  }
  assert.equal(await exited, 0, out.slice(-3000));
  await assert.rejects(fetch(`http://127.0.0.1:${gateway}/`));
  await assert.rejects(fetch(`http://127.0.0.1:${15014 + offset}/ready`));
});
