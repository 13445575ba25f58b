// Istio's standard metrics, end to end with real processes: a control plane with the CA, a client sidecar
// (productpage v1) and a server sidecar (reviews v2), both joined to mTLS. Requests from the client to reviews
// are counted by both sidecars in istio_requests_total with Istio's labels — reporter source on the client's,
// destination on the server's, each naming both workloads (the peer's came over x-envoy-peer-metadata, which
// never reaches the apps), the SPIFFE principals, mutual_tls on the server side — and the duration and size
// histograms. The exposition passes the real promtool, and a real Prometheus server scraping both sidecars
// answers `sum(rate(istio_requests_total[30s])) by (destination_service, response_code)` with the traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { tcpEcho, TestMesh, tryRequest } from './helpers/mesh.js';
import { REQUESTS_BY_SERVICE, startPrometheus, type PrometheusServer } from './helpers/prometheus.js';
import { freePort, waitFor } from './helpers/proxy.js';

/** The istio_requests_total series of an exposition, as label maps with their value. */
function requestSeries(text: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^istio_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }));
    child.stdin!.end(text);
  });
}

test('istio_requests_total and friends, labelled by both sidecars; promtool and a Prometheus server read them', async () => {
  const mesh = await TestMesh.withCa();
  const fail = (e: Error) => {
    throw new Error(`${e.message}\n${mesh.logs()}`);
  };
  let prometheus: PrometheusServer | undefined;
  const closers: (() => void)[] = [];
  try {
    const join = (sa: string) => ['--join-token-file', mesh.joinTokenFile, '--service-account', sa];
    const reviews = await mesh.app('reviews', (req, res) => {
      // the metadata exchange headers are the sidecars' business
      if (req.headers['x-envoy-peer-metadata'] !== undefined) res.writeHead(500).end('peer metadata leaked to the app');
      else if (req.url === '/missing') res.writeHead(404).end('no');
      else return false;
      return true;
    });
    const port = await freePort();
    const tcpPort = await freePort();
    const echo = net.createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    closers.push(() => echo.close());
    const server = await mesh.sidecar({
      id: 'reviews-v2-1',
      service: 'reviews',
      labels: 'app=reviews,version=v2',
      ports: [`${port}:${reviews.port}:${await freePort()}`, `${tcpPort}:${(echo.address() as net.AddressInfo).port}:${await freePort()}/tcp`],
      args: join('reviews'),
    });
    const client = await mesh.sidecar({ id: 'productpage-1', service: 'productpage', labels: 'app=productpage,version=v1', args: join('productpage') });
    const call = (p: string) => tryRequest(port, { host: client.outboundBind, path: p, headers: { host: `reviews.default.svc.cluster.local:${port}` } });
    await waitFor(async () => (await call('/warm')).status === 200, 'reviews through the mesh', 30_000).catch(fail);
    // mTLS in place (the client's sidecar may have started before reviews' certificate was known)
    await waitFor(
      async () => {
        await call('/warm');
        return (await (await server.admin('/stats/prometheus')).text()).includes('connection_security_policy="mutual_tls"');
      },
      'an mTLS request counted',
      30_000,
    ).catch(fail);
    for (let i = 0; i < 5; i++) assert.equal((await call(`/r${i}`)).status, 200);
    const missing = await call('/missing');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['x-envoy-peer-metadata'], undefined, 'the exchange headers never reach the client app');

    const serverText = await (await server.admin('/stats/prometheus')).text();
    const clientText = await (await client.admin('/stats/prometheus')).text();
    const fqdn = 'reviews.default.svc.cluster.local';
    const serverOk = requestSeries(serverText).find((s) => s.labels.response_code === '200' && s.labels.connection_security_policy === 'mutual_tls');
    assert.ok(serverOk, serverText);
    assert.ok(serverOk.value >= 5);
    assert.deepEqual(
      {
        reporter: serverOk.labels.reporter,
        source_workload: serverOk.labels.source_workload,
        source_app: serverOk.labels.source_app,
        source_version: serverOk.labels.source_version,
        source_principal: serverOk.labels.source_principal,
        destination_workload: serverOk.labels.destination_workload,
        destination_version: serverOk.labels.destination_version,
        destination_principal: serverOk.labels.destination_principal,
        destination_service: serverOk.labels.destination_service,
        destination_service_name: serverOk.labels.destination_service_name,
        destination_service_namespace: serverOk.labels.destination_service_namespace,
        request_protocol: serverOk.labels.request_protocol,
        response_flags: serverOk.labels.response_flags,
      },
      {
        reporter: 'destination',
        source_workload: 'productpage',
        source_app: 'productpage',
        source_version: 'v1',
        source_principal: 'spiffe://cluster.local/ns/default/sa/productpage',
        destination_workload: 'reviews',
        destination_version: 'v2',
        destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
        destination_service: fqdn,
        destination_service_name: 'reviews',
        destination_service_namespace: 'default',
        request_protocol: 'http',
        response_flags: '-',
      },
    );
    // (the warm-up may have gone out before mTLS was in place: the series of the five requests is the largest)
    const clientOk = requestSeries(clientText)
      .filter((s) => s.labels.response_code === '200' && s.labels.destination_workload === 'reviews')
      .sort((a, b) => b.value - a.value)[0];
    assert.ok(clientOk, clientText);
    assert.equal(clientOk.labels.reporter, 'source');
    assert.equal(clientOk.labels.source_workload, 'productpage');
    assert.equal(clientOk.labels.destination_version, 'v2', 'the server\'s metadata came back on the response');
    assert.equal(clientOk.labels.destination_service, fqdn);
    assert.equal(clientOk.labels.destination_principal, 'spiffe://cluster.local/ns/default/sa/reviews');
    assert.ok(requestSeries(clientText).some((s) => s.labels.response_code === '404' && s.value === 1), 'the 404 is its own series');
    // Envoy's own families carry Istio's tags (the mesh bootstrap's stats_config): the whole cluster name
    assert.match(clientText, new RegExp(`^envoy_cluster_upstream_rq_total\\{cluster_name="outbound\\|${port}\\|\\|reviews\\.default\\.svc\\.cluster\\.local"\\} [1-9]`, 'm'));
    assert.match(serverText, /^istio_request_duration_milliseconds_bucket\{reporter="destination",.*le="\+Inf"\} \d+$/m);
    assert.match(clientText, /^istio_response_bytes_sum\{reporter="source",/m);
    // promtool: a parse error exits 1; lint findings exit 3. Envoy's own names draw lint findings (no HELP,
    // counters without _total), as in stats.test.ts; Istio's names draw only the two Istio's own exposition draws
    // (no HELP, and milliseconds rather than seconds in istio_request_duration_milliseconds).
    for (const text of [serverText, clientText]) {
      const r = await promtool(text);
      assert.ok(r.code === 0 || r.code === 3, `promtool rejected the exposition (exit ${r.code}):\n${r.output}`);
      const findings = r.output.split('\n').filter(Boolean);
      for (const l of findings) {
        if (l.startsWith('istio_')) assert.match(l, / no help text$|^istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"$/);
        else assert.match(l, / no help text$| counter metrics should have "_total" suffix$| non-counter metrics should not have "_total" suffix$| metric names should not contain abbreviated units$/);
      }
    }

    // TCP: Istio's TCP metrics on both sides (peer workloads are not exchanged on TCP yet: principals are, on the
    // server side, from the mTLS certificate)
    assert.equal(await tcpEcho(client, tcpPort), 'ping');
    const tcpSeries = (text: string, family: string) =>
      text.split('\n').filter((l) => l.startsWith(`${family}{`)).map((l) => ({ line: l, value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
    await waitFor(async () => tcpSeries(await (await server.admin('/stats/prometheus')).text(), 'istio_tcp_connections_closed_total').length > 0, 'the TCP connection counted', 10_000).catch(fail);
    const serverTcp = await (await server.admin('/stats/prometheus')).text();
    const opened = tcpSeries(serverTcp, 'istio_tcp_connections_opened_total').find((x) => x.line.includes('connection_security_policy="mutual_tls"'));
    assert.ok(opened && opened.value >= 1, serverTcp);
    for (const label of ['reporter="destination"', `destination_service="${fqdn}"`, 'source_principal="spiffe://cluster.local/ns/default/sa/productpage"', 'destination_workload="reviews"', 'request_protocol="tcp"']) {
      assert.ok(opened.line.includes(label), `${label} in ${opened.line}`);
    }
    assert.ok(tcpSeries(serverTcp, 'istio_tcp_received_bytes_total').some((x) => x.value >= 4), 'the 4 bytes sent');
    assert.ok(tcpSeries(serverTcp, 'istio_tcp_sent_bytes_total').some((x) => x.value >= 4), 'the 4 bytes echoed');
    await waitFor(async () => tcpSeries(await (await client.admin('/stats/prometheus')).text(), 'istio_tcp_connections_closed_total').some((x) => x.line.includes('reporter="source"')), 'the client side counted', 10_000).catch(fail);
    const clientTcp = await (await client.admin('/stats/prometheus')).text();
    assert.ok(tcpSeries(clientTcp, 'istio_tcp_connections_opened_total').some((x) => x.line.includes(`destination_service="${fqdn}"`) && x.line.includes('source_workload="productpage"')), clientTcp);

    // a real Prometheus scraping both sidecars every second
    prometheus = await startPrometheus([server.adminPort, client.adminPort]);
    // traffic while Prometheus scrapes, so that rate() has at least two samples that differ
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        await call('/load');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const result = await waitFor(
        async () => {
          const res = await prometheus!.query(REQUESTS_BY_SERVICE).catch(() => []);
          const ok = res.find((s) => s.metric.destination_service === fqdn && s.metric.response_code === '200');
          return ok && Number(ok.value[1]) > 0 ? res : undefined;
        },
        'Prometheus to see the traffic',
        60_000,
      ).catch(fail);
      assert.ok(result.every((s) => s.metric.destination_service === fqdn), JSON.stringify(result));
    } finally {
      stop = true;
      await traffic;
    }
  } finally {
    prometheus?.stop();
    for (const c of closers) c();
    await mesh.close();
  }
});
