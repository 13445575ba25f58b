// examples/xds/ as the README shows it: a control plane serving examples/xds/config and a proxy with
// examples/xds/proxy.yaml. The files are copied to a temp dir with free ports put in, so the test can edit them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import { startControlPlane } from './helpers/control-plane.js';
import { freePort, ROOT, startProxy, tmpDir, waitFor } from './helpers/proxy.js';

const EXAMPLE = path.join(ROOT, 'examples/xds');

async function get(port: number, pathname: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${pathname}`);
  return { status: r.status, body: await r.text() };
}

test('examples/xds: the proxy gets listener, routes, cluster and endpoints from the control plane; edits apply live', async (t) => {
  const dir = tmpDir('meshwork-example-xds-');
  const cfg = path.join(dir, 'config');
  fs.cpSync(path.join(EXAMPLE, 'config'), cfg, { recursive: true });
  const listenPort = await freePort();
  const upstreamPort = await freePort();
  const edit = (file: string, from: string | RegExp, to: string) => {
    const p = path.join(cfg, file);
    const text = fs.readFileSync(p, 'utf8');
    assert.ok(text.match(from), `${file} has ${from}`);
    // write aside and rename, as editors do
    fs.writeFileSync(`${p}.tmp`, text.replace(from, to));
    fs.renameSync(`${p}.tmp`, p);
  };
  edit('listener.yaml', 'port_value: 10000', `port_value: ${listenPort}`);
  edit('web.yaml', 'port_value: 8081', `port_value: ${upstreamPort}`);

  const cp = await startControlPlane(cfg);
  t.after(() => cp.stop());
  const bootstrap = YAML.parse(fs.readFileSync(path.join(EXAMPLE, 'proxy.yaml'), 'utf8'));
  bootstrap.admin.address.socket_address.port_value = await freePort();
  bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = cp.xdsPort;
  const proxy = await startProxy(bootstrap);
  t.after(() => proxy.stop());

  assert.deepEqual(await waitFor(async () => {
    const r = await get(listenPort, '/hello').catch(() => undefined);
    return r?.status === 200 ? r : undefined;
  }, 'the listener from LDS answers', 15_000), { status: 200, body: 'hello from xDS\n' });
  // nothing listens on the endpoint yet: 503 from the EDS cluster
  assert.equal((await get(listenPort, '/')).status, 503);

  const upstream = http.createServer((_req, res) => res.end('web answered'));
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r));
  t.after(() => new Promise((r) => upstream.close(r)));
  assert.deepEqual(await get(listenPort, '/'), { status: 200, body: 'web answered' });

  edit('routes.yaml', 'hello from xDS', 'hello again');
  await waitFor(async () => (await get(listenPort, '/hello')).body === 'hello again\n', 'the edited route is live', 15_000);
});
