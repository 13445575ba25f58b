import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TYPE_URL, unpackAny } from '../../../api/xds/index.js';
import { FileSource } from './file-source.js';
import { parseResourceFile } from './parse.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meshwork-cfgdir-'));

/** 1-based line of the first line of `text` containing `needle` */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `"${needle}" not in text`);
  return i + 1;
}

const cluster = (name: string, timeout = '1s') => `"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
name: ${name}
connect_timeout: ${timeout}
type: EDS
eds_cluster_config: { eds_config: { ads: {} } }
`;

const MULTI = `# listeners and their routes
"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: ingress
address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
filter_chains:
- filters:
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
      stat_prefix: ingress
      rds: { route_config_name: local, config_source: { ads: {} } }
      http_filters:
      - name: envoy.filters.http.router
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
---
"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
name: local
virtualHosts:
- name: all
  domains: ["*"]
  routes: [{ match: { prefix: / }, route: { cluster: web } }]
---
---
resources:
- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
  cluster_name: web
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } } }] }]
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: server-cert
  tls_certificate: { certificate_chain: { filename: /etc/certs/cert.pem }, private_key: { filename: /etc/certs/key.pem } }
`;

test('a YAML file with several documents and a resources list gives one resource each, located in the file', () => {
  const rs = parseResourceFile(MULTI, 'dir/all.yaml');
  assert.deepEqual(rs.map((r) => [r.typeUrl, r.name]), [
    [TYPE_URL.LISTENER, 'ingress'],
    [TYPE_URL.ROUTE, 'local'],
    [TYPE_URL.ENDPOINT, 'web'],
    [TYPE_URL.SECRET, 'server-cert'],
  ]);
  assert.equal(rs[1]!.location, `dir/all.yaml:${lineOf(MULTI, 'RouteConfiguration')}:1`);
  assert.equal(rs[2]!.location, `dir/all.yaml:${lineOf(MULTI, 'ClusterLoadAssignment')}:3`);
  // camelCase in the file, canonical proto3 JSON out; filename DataSources left for the proxy to read
  assert.deepEqual((rs[1]!.json.virtual_hosts as any)[0].domains, ['*']);
  assert.equal((rs[3]!.json as any).tls_certificate.private_key.filename, '/etc/certs/key.pem');
  assert.deepEqual(unpackAny(rs[0]!.any), rs[0]!.json);
  assert.ok(rs.every((r) => r.file === 'dir/all.yaml' && /^[\w-]{16}$/.test(r.version)));
  // the version is the content: same bytes, same version; one changed field, another
  assert.equal(parseResourceFile(cluster('a'), 'x.yaml')[0]!.version, parseResourceFile(cluster('a'), 'y.yaml')[0]!.version);
  assert.notEqual(parseResourceFile(cluster('a'), 'x.yaml')[0]!.version, parseResourceFile(cluster('a', '2s'), 'x.yaml')[0]!.version);
});

test('only a line starting with "---" separates documents; block scalars and CRLF files are read whole', () => {
  const text = `"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
name: inline
tls_certificate:
  certificate_chain:
    inline_string: |
      -----BEGIN CERTIFICATE-----
      ---
      -----END CERTIFICATE-----
--- # a comment after the marker
${cluster('after')}`;
  const rs = parseResourceFile(text.replace(/\n/g, '\r\n'), 's.yaml');
  assert.deepEqual(rs.map((r) => r.name), ['inline', 'after']);
  assert.equal((rs[0]!.json as any).tls_certificate.certificate_chain.inline_string, '-----BEGIN CERTIFICATE-----\n---\n-----END CERTIFICATE-----\n');
  // the second document starts on the line after its "---" marker
  assert.equal(rs[1]!.location, `s.yaml:${lineOf(text, '--- #') + 1}:1`);
});

test('JSON files parse the same way', () => {
  const json = JSON.stringify({ '@type': TYPE_URL.CLUSTER, name: 'j', connectTimeout: '0.5s', type: 'STATIC' }, null, 2);
  const [r] = parseResourceFile(json, 'j.json');
  assert.equal(r!.name, 'j');
  assert.equal(r!.json.connect_timeout, '0.500s');
});

test('errors name the code and file:line:column of every bad document', () => {
  const text = `${cluster('ok')}---
${cluster('bad').replace('type: EDS', 'type: EDS\nno_such_field: 1')}---
"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
name: worse
lb_policy: NOT_A_POLICY
---
"@type": type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap
---
name: untyped
---
${cluster('ok')}`;
  assert.throws(() => parseResourceFile(text, 'c.yaml'), (err: any) => {
    const byLine = new Map(err.errors.map((e: any) => [Number(/^c\.yaml:(\d+):\d+$/.exec(e.location)?.[1]), e]));
    const at = (needle: string, code: string, re: RegExp) => {
      const e: any = byLine.get(lineOf(text, needle));
      assert.ok(e, `no error on the line of "${needle}": ${err.message}`);
      assert.equal(e.code, code);
      assert.match(e.message, re);
    };
    at('no_such_field', 'MW_CONFIG_UNKNOWN_FIELD', /no_such_field/);
    at('NOT_A_POLICY', 'MW_CONFIG_INVALID', /NOT_A_POLICY/);
    at('Bootstrap', 'MW_CONFIG_INVALID', /not a type the control plane serves/);
    at('name: untyped', 'MW_CONFIG_INVALID', /'@type'/);
    const dup: any = err.errors.find((e: any) => e.code === 'MW_CONFIG_DUPLICATE');
    assert.match(dup.message, /Cluster "ok" is defined twice \(first at c\.yaml:1:1\)/);
    assert.equal(err.errors.length, 5);
    return true;
  });
  assert.throws(() => parseResourceFile('name: x\n  bad: [\n', 'syntax.yaml'), (err: any) => err.errors[0].code === 'MW_CONFIG_PARSE' && /^syntax\.yaml:\d+:\d+$/.test(err.errors[0].location));
});

test('a bad edit keeps the last good resources of that file while other files update; fixing it applies it', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'a.yaml'), cluster('a'));
  fs.writeFileSync(path.join(dir, 'b.yaml'), cluster('b'));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not config');
  const changes: string[] = [];
  const src = new FileSource({ dir, onChange: (r) => changes.push(r) });
  await src.start({ watch: false });
  const versionA = src.resources(TYPE_URL.CLUSTER).get('a')!.version;
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()].sort(), ['a', 'b']);

  const bad = cluster('a2').replace('connect_timeout: 1s', 'connect_timeout: soon');
  fs.writeFileSync(path.join(dir, 'a.yaml'), bad);
  fs.writeFileSync(path.join(dir, 'b.yaml'), cluster('b', '3s'));
  await src.reload();
  const clusters = src.resources(TYPE_URL.CLUSTER);
  assert.deepEqual([...clusters.keys()].sort(), ['a', 'b'], 'a keeps serving, a2 is not served');
  assert.equal(clusters.get('a')!.version, versionA);
  assert.equal(clusters.get('b')!.json.connect_timeout, '3s');
  const [e] = src.errors();
  assert.equal(src.errors().length, 1);
  assert.equal(e!.location, `${path.join(dir, 'a.yaml')}:${lineOf(bad, 'soon')}:18`);
  assert.equal(src.rejectedTotal, 1);
  assert.deepEqual(src.status().errors.map((x) => [x.code, x.file]), [[e!.code, path.join(dir, 'a.yaml')]]);
  assert.deepEqual(changes, ['config dir: a.yaml, b.yaml', 'config dir: b.yaml']);

  fs.writeFileSync(path.join(dir, 'a.yaml'), cluster('a2'));
  await src.reload();
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()].sort(), ['a2', 'b']);
  assert.deepEqual(src.errors(), []);
  // an unchanged directory is not a change
  await src.reload();
  assert.equal(changes.length, 3);
  // a deleted file takes its resources with it
  fs.rmSync(path.join(dir, 'b.yaml'));
  await src.reload();
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()], ['a2']);
  src.close();
});

test('a name defined in two files: the later file waits, and gets in once the other definition goes', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, '1.yaml'), cluster('shared', '1s'));
  fs.writeFileSync(path.join(dir, '2.yaml'), `${cluster('shared', '2s')}---\n${cluster('other')}`);
  const src = new FileSource({ dir });
  await src.start({ watch: false });
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()], ['shared']);
  assert.equal(src.resources(TYPE_URL.CLUSTER).get('shared')!.json.connect_timeout, '1s');
  const [e] = src.errors();
  assert.equal(e!.code, 'MW_CONFIG_DUPLICATE');
  assert.equal(e!.message, `${path.join(dir, '2.yaml')}:1:1: Cluster "shared" is also defined at ${path.join(dir, '1.yaml')}:1:1`);

  fs.writeFileSync(path.join(dir, '1.yaml'), cluster('renamed'));
  await src.reload();
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()].sort(), ['other', 'renamed', 'shared']);
  assert.equal(src.resources(TYPE_URL.CLUSTER).get('shared')!.json.connect_timeout, '2s');
  assert.deepEqual(src.errors(), []);
  src.close();
});

test('generate: everything of a type for a wildcard, only the named ones that exist otherwise', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'all.yaml'), MULTI);
  const src = new FileSource({ dir });
  await src.start({ watch: false });
  const proxy = { connectionId: '1', node: { id: 'p' }, peer: 'test', connectedAt: new Date(), delta: false };
  assert.deepEqual([...src.generate(proxy, TYPE_URL.LISTENER, '*').keys()], ['ingress']);
  assert.deepEqual([...src.generate(proxy, TYPE_URL.ENDPOINT, new Set(['web', 'nope'])).keys()], ['web']);
  assert.equal(src.generate(proxy, TYPE_URL.CLUSTER, '*').size, 0);
  src.close();
});

test('an edit keeps what it did not change: other types keep their Map, unchanged resources their entry', async () => {
  const dir = tmp();
  const endpoints = (port: number) => `"@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
cluster_name: a
endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]
`;
  fs.writeFileSync(path.join(dir, 'a.yaml'), `${cluster('a')}---\n${endpoints(1)}`);
  fs.writeFileSync(path.join(dir, 'b.yaml'), cluster('b'));
  const src = new FileSource({ dir });
  await src.start({ watch: false });
  const proxy = { connectionId: '1', node: { id: 'p' }, peer: 'test', connectedAt: new Date(), delta: false };
  const names = new Set(['a', 'b']);
  const clusters = src.generate(proxy, TYPE_URL.CLUSTER, '*');
  const namedClusters = src.generate(proxy, TYPE_URL.CLUSTER, names);
  const namedEndpoints = src.generate(proxy, TYPE_URL.ENDPOINT, names);
  assert.equal(src.generate(proxy, TYPE_URL.CLUSTER, new Set(['b', 'a'])), namedClusters, 'the same names give the same Map');
  const clusterA = clusters.get('a');

  fs.writeFileSync(path.join(dir, 'a.yaml'), `${cluster('a')}---\n${endpoints(2)}`);
  await src.reload();
  assert.equal(src.generate(proxy, TYPE_URL.CLUSTER, '*'), clusters);
  assert.equal(src.generate(proxy, TYPE_URL.CLUSTER, names), namedClusters);
  const edsAfter = src.generate(proxy, TYPE_URL.ENDPOINT, names);
  assert.notEqual(edsAfter, namedEndpoints);
  assert.equal(edsAfter.get('a')!.json.endpoints instanceof Array, true);
  assert.notEqual(edsAfter.get('a')!.version, namedEndpoints.get('a')!.version);

  // A changed cluster: a new CDS Map, in which the untouched cluster keeps its entry.
  fs.writeFileSync(path.join(dir, 'b.yaml'), cluster('b', '3s'));
  await src.reload();
  const clustersAfter = src.generate(proxy, TYPE_URL.CLUSTER, '*');
  assert.notEqual(clustersAfter, clusters);
  assert.equal(clustersAfter.get('a'), clusterA);
  assert.equal(clustersAfter.get('b')!.json.connect_timeout, '3s');
  src.close();
});

test('the watch picks up an edit made the way editors make it: write a temp file, rename it over', async () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'c.yaml'), cluster('before'));
  let changed!: () => void;
  const seen = new Promise<void>((resolve) => (changed = resolve));
  const src = new FileSource({ dir, debounceMs: 20, onChange: () => src.resources(TYPE_URL.CLUSTER).has('after') && changed() });
  await src.start();
  assert.ok(src.resources(TYPE_URL.CLUSTER).has('before'));
  fs.writeFileSync(path.join(dir, '.c.yaml.swp'), cluster('after'));
  fs.renameSync(path.join(dir, '.c.yaml.swp'), path.join(dir, 'c.yaml'));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([seen, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no change seen within 5 s')), 5000)))]);
  clearTimeout(timer);
  assert.deepEqual([...src.resources(TYPE_URL.CLUSTER).keys()], ['after']);
  src.close();
});

test('a missing config dir is an error; an empty one serves nothing', async () => {
  await assert.rejects(new FileSource({ dir: path.join(tmp(), 'nope') }).start({ watch: false }), (e: any) => e.code === 'MW_CONFIG_PARSE' && /ENOENT/.test(e.message));
  const src = new FileSource({ dir: tmp() });
  await src.start({ watch: false });
  assert.equal(src.resources(TYPE_URL.LISTENER).size, 0);
  assert.deepEqual(src.status().resources.Listener, []);
});
