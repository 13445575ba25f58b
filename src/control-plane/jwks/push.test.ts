// The fetcher wired into the mesh generator, as the control plane wires it: the config's jwksUri is fetched when
// the snapshot is built, listeners inline the stand-in set until the keys arrive, then a push carries the keys;
// a rotation at the key server is pushed again; a RequestAuthentication removed stops the fetching.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TYPE_URL } from '../../api/xds/index.js';
import { waitFor } from '../../../test/helpers/proxy.js';
import { MeshFileStore } from '../sources/file/mesh-store.js';
import { MeshGenerator } from '../xds/mesh-generator.js';
import type { ProxyInfo } from '../xds/server.js';
import { UNAVAILABLE_JWKS } from './keys.js';
import { JwksResolver } from './resolver.js';

const jwk = (kid: string) => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid });

test('listeners inline the fetched keys once they arrive, and again after a rotation; nothing is fetched without a rule', async () => {
  let body = JSON.stringify({ keys: [jwk('a')] });
  let fetches = 0;
  const srv = http.createServer((_req, res) => {
    fetches++;
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const uri = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-jwks-'));
  const file = path.join(dir, 'ra.yaml');
  fs.writeFileSync(
    file,
    `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: default }
spec:
  jwtRules: [{ issuer: https://i.test, jwksUri: "${uri}" }]
`,
  );
  const store = new MeshFileStore({ dir });
  await store.start({ watch: false });
  const changes: string[] = [];
  const jwks = new JwksResolver({ onChange: (why) => gen.jwksChanged(why), refreshIntervalMs: 100 });
  const gen: MeshGenerator = new MeshGenerator({ store, onChange: (why) => changes.push(why), jwks });
  const node: ProxyInfo = {
    connectionId: 'c1',
    node: { id: 'api-1', metadata: { NAMESPACE: 'default', SERVICE: 'api', INBOUND_PORTS: '9080:8080' } },
    peer: '127.0.0.1:1',
    connectedAt: new Date(),
    delta: false,
  };
  /** the local_jwks of the inbound listener's jwt_authn provider, as served now */
  const inlined = (): string | undefined => {
    let found: string | undefined;
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (o.local_jwks) found = (o.local_jwks as { inline_string: string }).inline_string;
      for (const x of Object.values(o)) walk(x);
    };
    for (const e of gen.generate(node, TYPE_URL.LISTENER, '*').values()) walk(e.json);
    return found;
  };
  try {
    gen.start();
    // before the first fetch completes, or once it has
    const first = inlined();
    assert.ok(first === UNAVAILABLE_JWKS || first?.includes('"kid":"a"'), first);
    await waitFor(() => changes.includes(`jwks ${uri} fetched`), 'the fetch to ask for a push');
    assert.match(inlined()!, /"kid":"a"/);

    body = JSON.stringify({ keys: [jwk('b')] });
    await waitFor(() => changes.includes(`jwks ${uri} changed`), 'the rotation to ask for a push');
    assert.match(inlined()!, /"kid":"b"/);

    fs.writeFileSync(file, '');
    await store.reload();
    assert.equal(jwks.status().length, 0, 'no rule names it: forgotten');
    const n = fetches;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(fetches, n, 'and no longer fetched');
  } finally {
    gen.close();
    jwks.close();
    store.close();
    srv.closeAllConnections();
    srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
