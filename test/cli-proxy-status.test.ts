// `meshwork proxy-status` and `meshwork proxy-config` against a real mesh: a control plane (--mesh-dir, with a
// Gateway credential served over SDS), a service sidecar, a gateway, and a client sidecar whose bootstrap has a
// static cluster with the name of a mesh cluster, so that it NACKs every CDS response (a dynamic cluster may not
// replace a static one). The CLI runs as its own process, as users run it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { makePki, serialOf, type CertFiles } from './helpers/certs.js';
import { debugJson, httpGatewayYaml, syncOf, TestMesh, tryRequest, type Sidecar } from './helpers/mesh.js';
import { MESHWORK, freePort, tmpDir, waitFor } from './helpers/proxy.js';

const WAIT_MS = 30_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHWORK, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** A table of istioctl's shape (cells three spaces or more apart, none empty) as one object per row. */
function rowsOf(text: string): Record<string, string>[] {
  const [head, ...lines] = text.split('\n\n')[0]!.trimEnd().split('\n');
  const header = head!.split(/ {2,}/);
  return lines.map((l) => {
    const cells = l.split(/ {2,}/);
    assert.equal(cells.length, header.length, `row "${l}" has a cell per column of "${head}"`);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]!]));
  });
}

describe('meshwork proxy-status and proxy-config', () => {
  let mesh: TestMesh;
  let cp: string;
  let port: number;
  let httpsPort: number;
  let gatewayPort: number;
  let leaf: CertFiles;
  let webA: Sidecar;
  let webAListen: number;
  let client: Sidecar;
  const run = (...args: string[]) => cli([...args, '--control-plane-http', cp]);

  before(async () => {
    const pki = makePki();
    leaf = pki.leaf('a', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' });
    const creds = tmpDir('meshwork-credentials-');
    fs.mkdirSync(path.join(creds, 'a-cred'));
    fs.writeFileSync(path.join(creds, 'a-cred', 'tls.crt'), leaf.certPem);
    fs.writeFileSync(path.join(creds, 'a-cred', 'tls.key'), leaf.keyPem);
    gatewayPort = await freePort();
    httpsPort = await freePort();
    port = await freePort();
    mesh = await TestMesh.start(
      {
        'gateway.yaml': `${httpGatewayYaml('gw', gatewayPort)}---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: tls }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${httpsPort}, name: https, protocol: HTTPS }
    hosts: [a.example.com]
    tls: { mode: SIMPLE, credentialName: a-cred }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: ["*"]
  gateways: [gw, tls]
  http:
  - match: [{ uri: { prefix: /api } }]
    route:
    - destination: { host: web, port: { number: ${port} } }
  - route:
    - destination: { host: web, port: { number: ${port} } }
`,
      },
      ['--credentials-dir', creds],
    );
    cp = `127.0.0.1:${mesh.cp.httpPort}`;
    const app = await mesh.app('a');
    webAListen = await freePort();
    webA = await mesh.sidecar({ id: 'web-a', service: 'web', labels: 'app=web', ports: [`${port}:${app.port}:${webAListen}`] });
    const clash = `outbound|${port}||web.default.svc.cluster.local`;
    const staticCluster = { name: clash, type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: clash, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } };
    client = await mesh.sidecar({ id: 'client', args: ['--config-yaml', JSON.stringify({ static_resources: { clusters: [staticCluster] } })] });
    await mesh.gateway({ id: 'gw-1' });
    const steady = async () => {
      const [w, g, c] = await Promise.all(['web-a', 'gw-1', 'client'].map((id) => syncOf(mesh.cp, id)));
      return ['cds', 'lds', 'eds', 'rds'].every((t) => w?.types[t]?.status === 'SYNCED' && g?.types[t]?.status === 'SYNCED') && g?.types.sds?.status === 'SYNCED' && c?.types.cds?.status === 'NACKED';
    };
    await waitFor(async () => (await tryRequest(gatewayPort)).body === 'a /' && (await steady()), 'the mesh to serve, the client to NACK its CDS', WAIT_MS).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
  });

  after(() => mesh?.close());

  test('proxy-status: one row per proxy, per type SYNCED / NOT SENT / NACKED, the NACK error under the table', async () => {
    const r = await run('proxy-status');
    assert.equal(r.code, 0, r.stderr);
    const rows = rowsOf(r.stdout);
    assert.deepEqual(rows.map((x) => x.NAME), ['client', 'gw-1', 'web-a']);
    const [c, g, w] = rows as [Record<string, string>, Record<string, string>, Record<string, string>];
    assert.deepEqual([w.CLUSTER, w.CDS, w.LDS, w.EDS, w.RDS, w.SDS], ['web', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED', 'NOT SENT']);
    assert.deepEqual([g.CLUSTER, g.CDS, g.LDS, g.EDS, g.RDS, g.SDS], ['ingress', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
    assert.equal(c.CDS, 'NACKED');
    assert.match(w.CONNECTED!, /^\d+(ms|s|m\d+s)$/);
    const nack = (await syncOf(mesh.cp, 'client')).types.cds.nacked;
    assert.match(nack.message, /is a static cluster/);
    const details = r.stdout.slice(r.stdout.indexOf('\nNACKED:\n'));
    assert.ok(details.includes(`client CDS version ${nack.version}`), details);
    assert.ok(details.includes(nack.message), details);
  });

  test('proxy-status <proxy>: every type\'s versions and nonces, and the last NACK', async () => {
    const s = await syncOf(mesh.cp, 'client');
    const r = await run('proxy-status', 'client');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Proxy: +client$/m);
    assert.match(r.stdout, new RegExp(`^Admin: +127\\.0\\.0\\.1:${client.adminPort}$`, 'm'));
    const table = r.stdout.slice(r.stdout.indexOf('TYPE'));
    const types = Object.fromEntries(rowsOf(table).map((x) => [x.TYPE, x]));
    assert.deepEqual([types.CDS!.STATUS, types.CDS!.SENT, types.CDS!.NONCE, types.CDS!.ACKED], ['NACKED', s.types.cds.sent, s.types.cds.sentNonce, s.types.cds.acked ?? '-']);
    assert.notEqual(types.CDS!.ACKED, s.types.cds.sent);
    assert.deepEqual([types.LDS!.STATUS, types.LDS!.SENT, types.LDS!.ACKED, types.LDS!.SUBSCRIBED], ['SYNCED', s.types.lds.sent, s.types.lds.sent, '*']);
    assert.deepEqual([types.RDS!.STATUS, types.RDS!.SUBSCRIBED], ['SYNCED', String(port)]);
    assert.ok(r.stdout.includes(`Last NACK of CDS (version ${s.types.cds.nacked.version}`), r.stdout);
    assert.ok(r.stdout.includes(s.types.cds.nacked.message), r.stdout);
  });

  test('proxy-status -o json / yaml: the /debug/syncz entries', async () => {
    const r = await run('proxy-status', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const all = JSON.parse(r.stdout);
    assert.deepEqual(all.map((s: any) => s.proxy).sort(), ['client', 'gw-1', 'web-a']);
    assert.equal(all.find((s: any) => s.proxy === 'client').types.cds.status, 'NACKED');
    const one = await run('proxy-status', 'web-a', '-o', 'yaml');
    assert.equal(one.code, 0, one.stderr);
    const entries = parse(one.stdout);
    assert.deepEqual(entries.map((s: any) => [s.proxy, s.labels]), [['web-a', { app: 'web' }]]);
  });

  test('proxy-status shows STALE, with how long, while a proxy has not answered the latest push', async () => {
    // a stopped process cannot ACK: the next push to it stays unanswered until it runs again
    webA.child.kill('SIGSTOP');
    try {
      mesh.write('retries.yaml', `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web-mesh }
spec:
  hosts: [web]
  http:
  - route:
    - destination: { host: web, port: { number: ${port} } }
    retries: { attempts: 5 }
`);
      await waitFor(async () => (await syncOf(mesh.cp, 'web-a'))?.types.rds?.status === 'STALE', 'web-a RDS STALE', WAIT_MS);
      await new Promise((r) => setTimeout(r, 1100));
      const rows = rowsOf((await run('proxy-status')).stdout);
      const w = rows.find((x) => x.NAME === 'web-a')!;
      assert.match(w.RDS!, /^STALE \([1-9]\d*s\)$/, 'stale for a second or more');
      assert.equal(w.CDS, 'SYNCED');
    } finally {
      webA.child.kill('SIGCONT');
    }
    await waitFor(async () => (await syncOf(mesh.cp, 'web-a'))?.types.rds?.status === 'SYNCED', 'web-a RDS SYNCED again', WAIT_MS);
    assert.equal(rowsOf((await run('proxy-status')).stdout).find((x) => x.NAME === 'web-a')!.RDS, 'SYNCED');
  });

  test('an unknown proxy or an unreachable control plane: exit 1 with a message naming what is there; usage errors exit 2', async () => {
    const unknown = await run('proxy-status', 'nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no connected proxy with node id "nope"; connected: client, gw-1, web-a/);
    const config = await run('proxy-config', 'nope', 'clusters');
    assert.equal(config.code, 1);
    assert.match(config.stderr, /no connected proxy with node id "nope"; connected: client, gw-1, web-a/);
    const nobody = `127.0.0.1:${await freePort()}`;
    for (const args of [['proxy-status'], ['proxy-config', 'web-a', 'clusters']]) {
      const r = await cli([...args, '--control-plane-http', nobody]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.ok(r.stderr.includes(`Cannot reach the control plane at "${nobody}": ECONNREFUSED`), r.stderr);
    }
    const badAddress = await cli(['proxy-status', '--control-plane-http', 'nonsense']);
    assert.equal(badAddress.code, 2);
    assert.match(badAddress.stderr, /Cannot use --control-plane-http "nonsense": expected host:port/);
    const usage = await run('proxy-config', 'web-a', 'widgets');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown type "widgets"/);
  });

  test('proxy-config clusters, listeners, routes, endpoints: tables of what was sent; json is the resources', async () => {
    const clusters = await run('proxy-config', 'web-a', 'clusters');
    assert.equal(clusters.code, 0, clusters.stderr);
    assert.deepEqual(rowsOf(clusters.stdout), [
      { NAME: `inbound|${webAListen}||`, TYPE: 'STATIC', DIRECTION: 'inbound', SUBSET: '-' },
      { NAME: `outbound|${port}||web.default.svc.cluster.local`, TYPE: 'EDS', DIRECTION: 'outbound', SUBSET: '-' },
      { NAME: 'PassthroughCluster', TYPE: 'envoy.clusters.dynamic_forward_proxy', DIRECTION: '-', SUBSET: '-' },
    ]);
    const json = await run('proxy-config', 'web-a', 'clusters', '-o', 'json');
    assert.deepEqual(JSON.parse(json.stdout), (await debugJson(mesh.cp, '/debug/config_dump?proxy=web-a')).types.cds.resources);

    const listeners = rowsOf((await run('proxy-config', 'client', 'listeners')).stdout);
    assert.deepEqual(listeners.find((l) => l['ADDRESS:PORT'] === `${client.outboundBind}:${port}`), {
      NAME: `0.0.0.0_${port}`, 'ADDRESS:PORT': `${client.outboundBind}:${port}`, MATCH: 'ALL', DESTINATION: `Route: ${port}`,
    });
    // istioctl's argument order works too
    const gwListeners = rowsOf((await run('proxy-config', 'listener', 'gw-1')).stdout);
    assert.deepEqual(gwListeners.find((l) => l['ADDRESS:PORT'] === `0.0.0.0:${httpsPort}`)?.MATCH, 'SNI a.example.com');

    const routes = rowsOf((await run('proxy-config', 'gw-1', 'routes')).stdout).filter((x) => x.NAME === `http.${gatewayPort}`);
    const cluster = `outbound|${port}||web.default.svc.cluster.local`;
    // in the order the proxy matches them
    assert.deepEqual(routes.map((x) => [x.DOMAINS, x.MATCH, x.DESTINATION]), [['*', '/api*', cluster], ['*', '/*', cluster]]);

    const endpoints = rowsOf((await run('proxy-config', 'gw-1', 'endpoints')).stdout);
    assert.deepEqual(endpoints, [{ ENDPOINT: `127.0.0.1:${webAListen}`, STATUS: 'HEALTHY', LOCALITY: '-', CLUSTER: cluster }]);
  });

  test('proxy-config secrets: serial and expiry of the certificate, the private key redacted in every format', async () => {
    const short = await run('proxy-config', 'gw-1', 'secrets');
    assert.equal(short.code, 0, short.stderr);
    assert.deepEqual(rowsOf(short.stdout), [
      { NAME: 'kubernetes://a-cred', TYPE: 'Cert Chain', 'SERIAL NUMBER': serialOf(leaf), 'NOT AFTER': new Date(new crypto.X509Certificate(leaf.certPem).validTo).toISOString(), SOURCE: 'inline' },
    ]);
    const keyBody = leaf.keyPem.split('\n')[1]!;
    const sent = JSON.stringify((await debugJson(mesh.cp, '/debug/config_dump?proxy=gw-1')).types.sds);
    assert.ok(sent.includes(keyBody), 'the control plane did send the key inline (else this test proves nothing)');
    for (const format of ['json', 'yaml']) {
      const r = await run('proxy-config', 'gw-1', 'secrets', '-o', format);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes('PRIVATE KEY') && !r.stdout.includes(keyBody), `${format}: no private key in\n${r.stdout}`);
      const [secret] = format === 'json' ? JSON.parse(r.stdout) : parse(r.stdout);
      assert.deepEqual(secret.tls_certificate.private_key, { inline_string: '[redacted]' });
      assert.equal(secret.tls_certificate.certificate_chain.inline_string.trim(), leaf.certPem.trim());
    }
  });

});
