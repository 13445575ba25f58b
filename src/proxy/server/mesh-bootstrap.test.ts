import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeshworkError } from '../../common/errors.js';
import { meshBootstrap, parseLocality } from './mesh-bootstrap.js';

const base = { controlPlane: '127.0.0.1:15010', namespace: 'default', labels: {}, ports: [], ip: '127.0.0.1', admin: { address: '127.0.0.1', port: 15000 } };

test('--locality becomes node.locality (region, zone, sub_zone); without it the node has none', () => {
  const b = meshBootstrap({ ...base, type: 'sidecar', service: 'reviews', locality: 'us-east1/us-east1-b/rack-4' }) as { node: Record<string, unknown> };
  assert.deepEqual(b.node.locality, { region: 'us-east1', zone: 'us-east1-b', sub_zone: 'rack-4' });
  const g = meshBootstrap({ ...base, type: 'router', name: 'ingress', locality: 'eu-west' }) as { node: Record<string, unknown> };
  assert.deepEqual(g.node.locality, { region: 'eu-west' });
  assert.equal((meshBootstrap({ ...base, type: 'router', name: 'ingress' }) as { node: Record<string, unknown> }).node.locality, undefined);
  for (const bad of ['', 'a//c', 'a/b/c/d', 'a/*', 'a b']) {
    assert.throws(() => parseLocality(bad), (e: unknown) => e instanceof MeshworkError && e.code === 'MW_CLI_USAGE', bad);
  }
});
