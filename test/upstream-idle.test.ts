// Upstream connection idle_timeout: 0 disables it (Envoy), so a keep-alive connection is reused after a pause
// instead of being closed the moment it goes idle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { listenerPort, startProxy } from './helpers/proxy.js';
import { hcmListener, routerFilter, staticCluster } from './helpers/bootstrap.js';

test('upstream idle_timeout 0s keeps idle connections for reuse', async () => {
  let connections = 0;
  const upstream = http.createServer((_req, res) => res.end('ok'));
  upstream.keepAliveTimeout = 60_000;
  upstream.on('connection', () => connections++);
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upPort = (upstream.address() as net.AddressInfo).port;
  const cluster = staticCluster('up', [upPort], {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: '0s' },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  });
  const listener = hcmListener('idle', {
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'up' } }] }] },
    http_filters: [routerFilter()],
  });
  const proxy = await startProxy({ static_resources: { listeners: [listener], clusters: [cluster] } });
  try {
    const port = await listenerPort(proxy, 'idle');
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/${i}`);
      assert.equal(await r.text(), 'ok');
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(connections, 1, 'one upstream connection, reused across idle gaps');
  } finally {
    await proxy.stop();
    upstream.close();
  }
});
