// The fast path must give what the full parser gives, or give up: compared on every YAML file of the
// repository, on YAML written by the `yaml` library (as generators and the xDS benchmark write it), and rule by
// rule on scalars and layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { parseConfigText, rawLocation } from '../../../api/envoy/source.js';
import { parseSimpleYaml } from './fast-yaml.js';
import { parseResourceFile } from './parse.js';

const repo = fileURLToPath(new URL('../../../../../', import.meta.url));

function yamlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.') ? [] : yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

/** Documents as parse.ts splits them. */
const docs = (text: string) => text.split(/^(?=---(?:[ \t\r\n]|$))/m);

/** Same value as parseConfigText, and every map and list item at the same line:column; or undefined. */
function check(doc: string, where: string): boolean {
  const fast = parseSimpleYaml(doc);
  if (!fast) return false;
  const slow = parseConfigText(doc, 'f');
  assert.deepStrictEqual(fast.value, slow, where);
  const lineCol = (offset: number | undefined) => {
    if (offset === undefined) return undefined;
    const before = doc.slice(0, offset);
    return `f:${before.split('\n').length}:${offset - before.lastIndexOf('\n')}`;
  };
  const walk = (f: unknown, s: unknown, at: string) => {
    if (!f || typeof f !== 'object') return;
    if (Object.keys(f).length > 0 && !Array.isArray(f)) assert.equal(lineCol(fast.positions.of(f)), rawLocation(s), `${where}: ${at}`);
    if (Array.isArray(f)) {
      f.forEach((x, i) => {
        if (x && typeof x === 'object' && Object.keys(x).length > 0) assert.equal(lineCol(fast.positions.item(f, i)), rawLocation(s, i), `${where}: ${at}[${i}]`);
        walk(x, (s as unknown[])[i], `${at}[${i}]`);
      });
    } else for (const [k, v] of Object.entries(f)) walk(v, (s as Record<string, unknown>)[k], `${at}.${k}`);
  };
  walk(fast.value, slow, '');
  return true;
}

test('on every YAML file of the repository the fast path agrees with the full parser, or gives up', () => {
  let fast = 0;
  let all = 0;
  for (const file of yamlFiles(repo)) {
    for (const doc of docs(fs.readFileSync(file, 'utf8'))) {
      all++;
      if (check(doc, path.relative(repo, file))) fast++;
    }
  }
  assert.ok(all > 10 && fast > 0, `${fast} of ${all} documents read by the fast path`);
});

test('YAML as the yaml library writes it (generators, the xDS benchmark) is read by the fast path, the same', () => {
  const cluster = {
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name: 'outbound|8080||svc-0001.bench.svc.cluster.local',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: '10s',
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_retries: 3 }] },
    metadata: { filter_metadata: { istio: { services: [{ host: 'svc.bench', name: 'svc-1', ratio: 0.5, on: true, none: null }] } } },
    health_checks: [],
  };
  const routes = {
    '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
    name: '8080',
    virtual_hosts: [1, 2].map((i) => ({
      name: `svc-${i}:8080`,
      domains: [`svc-${i}`, `svc-${i}:8080`, '*', 'a b', "it's", 'say "hi"', '#not-a-comment', 'x #y', '- dash', 'true', '1.5', '0x1f', '', ' lead', 'trail '],
      routes: [{ match: { prefix: '/' }, route: { cluster: `c${i}`, timeout: '15s', retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: 2 } } }],
    })),
  };
  const text = [cluster, routes, { resources: [{ ...structuredClone(cluster), name: 'listed' }, { ...structuredClone(cluster), name: 'other' }] }].map((d) => YAML.stringify(d)).join('---\n');
  for (const doc of docs(text)) assert.ok(check(doc, doc.slice(0, 60)), `fast path gave up on:\n${doc}`);
  // The resources parse the same either way, locations included.
  assert.deepStrictEqual(parseResourceFile(text, 'f.yaml'), parseResourceFile(text, 'f.yaml', { fast: false }));
});

test('scalars resolve by the YAML 1.2 core schema, keys included, as the full parser resolves them', () => {
  const plain = [
    'a', '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'FALSE', 'yes', 'no', 'on', 'y',
    '0', '-0', '+12', '007', '0o17', '0o8', '0x1F', '0X1F', '0xg', '1_000', '12345678901234567890', '1.5', '-1.5', '.5', '+.5',
    '5.', '1e3', '1.5E-3', '-.inf', '.Inf', '+.INF', '.nan', '.NaN', '-.nan', '1.0', '2001-01-01', '10s', '0.0.0.0',
    'a:b', 'http://x/y', 'a,b', 'a|b', 'a  b', "it's", 'a"b', 'x-', '-x', '-1', '.', '..', '+', 'a #b', 'a#b',
  ];
  for (const v of plain) {
    assert.ok(check(`k: ${v}\n`, v), `value ${v}`);
    if (!v.includes(' #') && v !== '~') assert.ok(check(`${v}: x\n`, `key ${v}`), `key ${v}`);
  }
  for (const v of ['"a"', '"a\\"b"', '"\\u00e9\\n\\t\\\\"', "'a''b'", '""', "''", '"x" # c', '{}', '[]', '{} # c']) assert.ok(check(`k: ${v}\n`, v), v);
  assert.ok(check(`"quoted key": 1\n'single': 2\n"a:b": 3\n`, 'quoted keys'));
});

test('layouts in the subset read the same; anything else makes the fast path give up', () => {
  const handled = [
    '# comment\nk: v\n\n# another\nm:\n  n: 1 # trailing\n',
    'l:\n- a\n- b: 1\n  c: 2\n-\n  d: 3\n- \n',
    'l:\n  - a\n  -   b: 1\n      c: [] \n',
    'k:\n',
    'a:\n  b:\n    c:\n      d: 1\n  e: 2\nf: 3\n',
    '---\nk: v\n',
    '--- # marker\nk: v\n',
    '- a\n- b\n',
    '',
    '# only a comment\n',
    '__proto__: 1\nconstructor: 2\n',
  ];
  for (const doc of handled) assert.ok(check(doc, JSON.stringify(doc)), `expected the fast path to read ${JSON.stringify(doc)}`);
  const refused = [
    'k: &a 1\nj: *a\n', 'k: !!str 1\n', 'k: |\n  text\n', 'k: >\n  text\n', 'k: [a, b]\n', 'k: {a: 1}\n', 'k: a\n  continued\n',
    'k: "open\n  close"\n', '? k\n: v\n', '<<: {}\n', 'k: 1\nk: 2\n', 'k: 1\n1: 2\n1.0: 3\n', 'k:\tv\n', 'k: v\r\n', '\uFEFFk: v\n',
    '%YAML 1.2\n---\nk: v\n', '--- v\n', 'k: a: b\n', 'k: v:\n', 'just a scalar\n', 'k: @x\n', 'k: `x`\n', 'k: "\\x41"\n',
    'a:\n  b: 1\n c: 2\n', '- - a\n', 'k: - a\n', 'k: v\n  - a\n', 'l:\n- a\n  b: 1\n',
  ];
  for (const doc of refused) {
    assert.equal(parseSimpleYaml(doc), undefined, `expected the fast path to give up on ${JSON.stringify(doc)}`);
  }
});

test('a file with an error is read again by the full parser: the same errors and locations as before', () => {
  const text = '"@type": type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: c\nconnect_timeout: 1s\nbogus_field: 1\n---\nresources:\n- 3\n';
  const errorsOf = (fast: boolean) => {
    try {
      parseResourceFile(text, 'bad.yaml', { fast });
    } catch (err) {
      return (err as { errors: { code: string; location?: string; message: string }[] }).errors.map((e) => [e.code, e.location, e.message]);
    }
    return [];
  };
  const errors = errorsOf(true);
  assert.deepStrictEqual(errors, errorsOf(false));
  assert.deepStrictEqual(errors.map((e) => [e[0], e[1]]), [['MW_CONFIG_UNKNOWN_FIELD', 'bad.yaml:4:1'], ['MW_CONFIG_INVALID', 'bad.yaml:7:3']]);
});
