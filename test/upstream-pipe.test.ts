// Cluster endpoints on Unix domain sockets (Envoy's Address.pipe), with a real `meshwork proxy` and real servers
// listening on socket files: HTTP/1.1 and HTTP/2 (h2c) upstreams through the router, a TCP echo through
// tcp_proxy; /clusters shows the pipe address. A DNS cluster with a pipe endpoint is refused at load, naming the
// field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { hcmListener, routerFilter } from './helpers/bootstrap.js';
import { listenerPort, startProxy, tmpDir } from './helpers/proxy.js';
import { curl } from './helpers/protocols.js';

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const H2 = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };

const pipeCluster = (name: string, socket: string, extra: object = {}) => ({
  name,
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socket } } } }] }] },
  ...extra,
});

const listen = (server: net.Server, socket: string) => new Promise<void>((r) => server.listen(socket, r));

test('pipe endpoints: HTTP/1.1, HTTP/2 and TCP upstreams on Unix sockets', async (t) => {
  const dir = tmpDir('meshwork-pipes-');
  const sockets = { h1: path.join(dir, 'h1.sock'), h2: path.join(dir, 'h2.sock'), tcp: path.join(dir, 'tcp.sock') };
  const h1 = http.createServer((req, res) => res.end(`h1 ${req.url} ${req.httpVersion}`));
  const h2 = http2.createServer((req, res) => res.end(`h2 ${req.url} ${req.httpVersion}`));
  const echo = net.createServer((s) => s.pipe(s));
  await Promise.all([listen(h1, sockets.h1), listen(h2, sockets.h2), listen(echo, sockets.tcp)]);
  t.after(() => {
    h1.close();
    h2.close();
    echo.close();
  });

  const proxy = await startProxy({
    static_resources: {
      listeners: [
        hcmListener('web', {
          route_config: {
            virtual_hosts: [
              {
                name: 'all',
                domains: ['*'],
                routes: [
                  { match: { prefix: '/two' }, route: { cluster: 'h2' } },
                  { match: { prefix: '/' }, route: { cluster: 'h1' } },
                ],
              },
            ],
          },
          http_filters: [routerFilter()],
        }),
        {
          name: 'tcp',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'tcp', cluster: 'echo' } }] }],
        },
      ],
      clusters: [pipeCluster('h1', sockets.h1), pipeCluster('h2', sockets.h2, H2), pipeCluster('echo', sockets.tcp)],
    },
  });
  t.after(() => proxy.stop());
  const web = await listenerPort(proxy, 'web');
  assert.equal((await curl([`http://127.0.0.1:${web}/one`])).stdout, 'h1 /one 1.1');
  assert.equal((await curl([`http://127.0.0.1:${web}/two`])).stdout, 'h2 /two 2.0');

  const tcpPort = await listenerPort(proxy, 'tcp');
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = net.connect(tcpPort, '127.0.0.1', () => s.write('ping'));
    s.setEncoding('utf8');
    s.once('data', (d: string) => {
      s.destroy();
      resolve(d);
    });
    s.once('error', reject);
  });
  assert.equal(echoed, 'ping');

  const clusters: any = await (await proxy.admin('/clusters?format=json')).json();
  const h1Status = clusters.cluster_statuses.find((c: any) => c.name === 'h1');
  assert.deepEqual(h1Status.host_statuses[0].address, { pipe: { path: sockets.h1 } });
  assert.match(await (await proxy.admin('/clusters')).text(), new RegExp(`^h1::${sockets.h1.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}::rq_success::1$`, 'm'));
});

test('a pipe endpoint in a DNS cluster is refused, naming the field', async () => {
  const proxy = startProxy(
    { static_resources: { clusters: [{ ...pipeCluster('dns', '/tmp/none.sock'), type: 'STRICT_DNS' }] } },
    { waitReady: true },
  );
  await assert.rejects(proxy, /static_resources\.clusters\[0\]\.load_assignment\.endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.pipe.*STRICT_DNS cluster resolves host names/);
});
