import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { decodeMessage } from '../../../../api/envoy/index.js';
import type { DownstreamConnectionContext } from '../../../listener/network-filter.js';
import { StatsStore } from '../../../observability/stats.js';
import { networkRbacFilter } from './index.js';

const create = (cfg: object, stats = new StatsStore()) =>
  networkRbacFilter.create(decodeMessage('envoy.extensions.filters.network.rbac.v3.RBAC', { stat_prefix: 'tcp', ...cfg }), {
    stats,
    path: 'f',
    clusterManager: undefined as never,
    perConnectionBufferLimit: 0,
  });

const policy = (permission: object) => ({ p: { permissions: [permission], principals: [{ any: true }] } });

/** One real accepted connection through the filter: did it go on, and was the socket closed? */
async function through(filter: ReturnType<typeof create>, extra: Partial<DownstreamConnectionContext> = {}): Promise<{ passed: boolean; destroyed: boolean; metadata?: unknown }> {
  let accepted: net.Socket | undefined;
  const server = net.createServer((s) => (accepted = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  while (!accepted) await new Promise((r) => setTimeout(r, 5));
  let passed = false;
  const ctx = { socket: accepted, id: 1, peer: `127.0.0.1:${client.localPort}`, local: `127.0.0.1:${port}`, tls: undefined, sni: undefined, alpn: undefined, dynamicMetadata: undefined, ...extra };
  filter.onConnection(ctx as DownstreamConnectionContext, () => (passed = true));
  const destroyed = accepted.destroyed;
  client.destroy();
  accepted.destroy();
  await new Promise((r) => server.close(r));
  return { passed, destroyed, ...(ctx.dynamicMetadata ? { metadata: ctx.dynamicMetadata } : {}) };
}

test('DENY on the destination port closes the connection; others go on; <stat_prefix>.rbac.* counts them', async () => {
  const stats = new StatsStore();
  const denyLocal = create({ rules: { action: 'DENY', policies: policy({ destination_ip: { address_prefix: '127.0.0.0', prefix_len: 8 } }) } }, stats);
  assert.deepEqual(await through(denyLocal), { passed: false, destroyed: true });
  const denyOther = create({ rules: { action: 'DENY', policies: policy({ destination_port: 1 }) } }, stats);
  assert.deepEqual(await through(denyOther), { passed: true, destroyed: false });
  assert.equal(stats.counter('tcp.rbac.denied').value, 1);
  assert.equal(stats.counter('tcp.rbac.allowed').value, 1);
});

test('ALLOW by SNI and peer identity; header rules see no headers on a connection', async () => {
  const allowSni = create({ rules: { action: 'ALLOW', policies: policy({ requested_server_name: { exact: 'db.internal' } }) } });
  assert.equal((await through(allowSni, { sni: 'db.internal' })).passed, true);
  assert.equal((await through(allowSni, { sni: 'other' })).passed, false);
  const spiffe = create({
    rules: { action: 'ALLOW', policies: { p: { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { prefix: 'spiffe://cluster.local/ns/default/' } } }] } } },
  });
  assert.equal((await through(spiffe, { tls: { peerUriSan: ['spiffe://cluster.local/ns/default/sa/sleep'] } })).passed, true);
  assert.equal((await through(spiffe, { tls: { peerUriSan: ['spiffe://cluster.local/ns/prod/sa/sleep'] } })).passed, false);
  assert.equal((await through(spiffe)).passed, false, 'plaintext');
  const header = create({ rules: { action: 'ALLOW', policies: policy({ header: { name: ':authority', present_match: true } }) } });
  assert.equal((await through(header)).passed, false);
});

test('shadow rules only count; no rules lets everything through; both enforcement types are accepted', async () => {
  const stats = new StatsStore();
  const f = create({ shadow_rules: { action: 'DENY', policies: policy({ any: true }) }, shadow_rules_stat_prefix: 'dry_', enforcement_type: 'CONTINUOUS' }, stats);
  // the shadow result goes to the connection's metadata, where a later filter (ext_authz) can read it
  assert.deepEqual(await through(f), { passed: true, destroyed: false, metadata: { 'envoy.filters.network.rbac': { dry_shadow_effective_policy_id: 'p', dry_shadow_engine_result: 'denied' } } });
  assert.equal(stats.counter('tcp.rbac.dry_shadow_denied').value, 1);
  // the enforced engine reads it: a metadata rule sees what the shadow engine just wrote
  const onShadow = create({
    shadow_rules: { action: 'DENY', policies: policy({ any: true }) },
    shadow_rules_stat_prefix: 'x_',
    rules: { action: 'DENY', policies: policy({ metadata: { filter: 'envoy.filters.network.rbac', path: [{ key: 'x_shadow_engine_result' }], value: { string_match: { exact: 'denied' } } } }) },
  });
  assert.equal((await through(onShadow)).passed, false);
  assert.equal(stats.counter('tcp.rbac.allowed').value, 0);
});

test('config errors carry the field path', () => {
  assert.throws(() => networkRbacFilter.create({ rules: {} }, { stats: new StatsStore(), path: 'f', clusterManager: undefined as never, perConnectionBufferLimit: 0 }), /f\.stat_prefix/);
  assert.throws(() => create({ rules: { policies: policy({ metadata: { filter: 'a', path: [], value: { present_match: true } } }) } }), /metadata\.path/);
  assert.throws(() => create({ matcher: {} }), /matcher/);
});
