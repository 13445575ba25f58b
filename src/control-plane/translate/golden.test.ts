// Golden files, as Istio tests its config generation: testdata/<case>/input.yaml (Istio resources, the proxy,
// registered workloads) → testdata/<case>/{clusters,endpoints,listeners,routes}.golden.yaml. A golden file
// changes only with a reviewed diff: regenerate with
//   UPDATE_GOLDEN=1 node --test dist/src/control-plane/translate/golden.test.js
// and read `git diff`.
//
// Every generated resource must also be something a Meshwork proxy (and Envoy) accepts: each is packed with
// the real Envoy protos (a misspelt field fails), decoded with the proxy's decoder and support table (an
// unsupported field fails), and compiled by the proxy's own code: listeners and clusters through
// `--mode validate`'s validateBootstrap, route configurations by the RDS registry, assignments by EDS's checks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { BOOTSTRAP_TYPE, decodeMessage } from '../../api/envoy/index.js';
import { messageName, packAny, TYPE_URL, unpackAny } from '../../api/xds/index.js';
import { StatsStore } from '../../proxy/observability/stats.js';
import { validateBootstrap } from '../../proxy/server/validate.js';
import { ClusterManager } from '../../proxy/upstream/cluster-manager.js';
import { assignmentSpecs, EndpointRegistry } from '../../proxy/xds/endpoints.js';
import { RouteConfigRegistry } from '../../proxy/xds/route-configs.js';
import { SecretRegistry } from '../../proxy/xds/secrets.js';
import { makePki, type Pki } from '../../../test/helpers/certs.js';
import { ROOT } from '../../../test/helpers/proxy.js';
import { adsBootstrap } from '../../../test/helpers/xds-proxy.js';
import { buildSnapshot } from '../model/snapshot.js';
import { translate, type Json, type ProxyResources } from './index.js';
import { parseCase } from './test-support.js';

const TESTDATA = path.join(ROOT, 'src/control-plane/translate/testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const KINDS: { key: keyof ProxyResources; typeUrl: string }[] = [
  { key: 'clusters', typeUrl: TYPE_URL.CLUSTER },
  { key: 'endpoints', typeUrl: TYPE_URL.ENDPOINT },
  { key: 'listeners', typeUrl: TYPE_URL.LISTENER },
  { key: 'routes', typeUrl: TYPE_URL.ROUTE },
];

export function translateCase(name: string): ProxyResources {
  const c = parseCase(fs.readFileSync(path.join(TESTDATA, name, 'input.yaml'), 'utf8'));
  return translate(buildSnapshot(c.resources, c.registered), c.proxy);
}

let pki: Pki | undefined;
/** Certificate paths of the test data (/etc/meshwork/certs/...) → real files, so TLS contexts load. */
function realFiles(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(realFiles);
  if (!v || typeof v !== 'object') return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'filename' && typeof x === 'string' && x.startsWith('/etc/meshwork/certs/')) {
      pki ??= makePki();
      const leaf = pki.leaf('leaf', { cn: 'test', dns: ['*.example.com'] });
      out[k] = x.endsWith('ca.crt') ? pki.ca.cert : x.endsWith('.key') ? leaf.key : leaf.cert;
    } else out[k] = realFiles(x);
  }
  return out;
}

/** Through the wire and the proxy's decoder, as a resource delivered by xDS is. */
function delivered(typeUrl: string, json: Json): any {
  const { '@type': _t, ...fields } = unpackAny(packAny(realFiles(json) as Json, typeUrl));
  return decodeMessage<any>(messageName(typeUrl), fields, { path: `${messageName(typeUrl)} "${json.name ?? json.cluster_name}"` });
}

async function assertAccepted(res: ProxyResources): Promise<void> {
  const decoded = Object.fromEntries(KINDS.map(({ key, typeUrl }) => [key, res[key].map((r) => delivered(typeUrl, r))])) as Record<keyof ProxyResources, any[]>;
  // listeners and clusters: everything a proxy start checks (listeners compile, RDS/EDS sources resolve, TLS
  // files load, cluster types and balancers exist)
  const bootstrap = decodeMessage<any>(BOOTSTRAP_TYPE, realFiles(adsBootstrap(15010, { static: { listeners: res.listeners, clusters: res.clusters } })));
  await validateBootstrap(bootstrap);
  const stats = new StatsStore();
  const cm = new ClusterManager(stats, { endpoints: new EndpointRegistry(stats), secrets: new SecretRegistry(stats) });
  const rds = new RouteConfigRegistry({ stats, clusterManager: cm });
  for (const rc of decoded.routes) rds.compile(rc, `RouteConfiguration "${rc.name}"`);
  for (const cla of decoded.endpoints) assignmentSpecs(cla, `ClusterLoadAssignment "${cla.cluster_name}"`);
}

const cases = fs.readdirSync(TESTDATA).filter((d) => fs.existsSync(path.join(TESTDATA, d, 'input.yaml')));

test('there are golden cases', () => {
  assert.ok(cases.length >= 7, cases.join(', '));
});

for (const name of cases) {
  test(`golden: ${name}`, async () => {
    const res = translateCase(name);
    for (const { key } of KINDS) {
      const file = path.join(TESTDATA, name, `${key}.golden.yaml`);
      const text = stringify(res[key], { lineWidth: 0, aliasDuplicateObjects: false });
      if (UPDATE) fs.writeFileSync(file, text);
      assert.ok(fs.existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1`);
      assert.equal(text, fs.readFileSync(file, 'utf8'), `${name}/${key}.golden.yaml differs (UPDATE_GOLDEN=1 regenerates it; review the diff)`);
    }
    await assertAccepted(res);
  });
}

test('translation is deterministic and pure: the same inputs give equal output', () => {
  for (const name of cases) assert.deepEqual(translateCase(name), translateCase(name));
});

test('the acceptance check fails on a misspelt or unsupported field (it can fail)', async () => {
  const res = translateCase('canary');
  const bad = structuredClone(res);
  bad.clusters[0]!.conect_timeout = '1s';
  await assert.rejects(assertAccepted(bad), /conect_timeout/);
  const unsupported = structuredClone(res);
  unsupported.routes[0]!.virtual_hosts[0].routes[0].route.retry_policy.retry_priority = { name: 'envoy.retry_priorities.previous_priorities' };
  await assert.rejects(assertAccepted(unsupported), /retry_priority/);
});
