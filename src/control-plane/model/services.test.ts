// Several ServiceEntries of one host in one namespace merge as Istio merges them, and `meshwork analyze` warns
// where they cannot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResources } from '../translate/test-support.js';
import { outboundPortFindings, serviceEntryMergeFindings } from '../validation/service-entries.js';
import { buildSnapshot } from './snapshot.js';

const SE = (name: string, spec: string, meta = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: default${meta} }
spec:
${spec}
---`;

const API = `${SE('b-admin', `  hosts: [api.example.com]
  resolution: STATIC
  ports: [{ number: 80, name: http-other, protocol: HTTP }, { number: 9090, name: tcp-admin }]
  endpoints: [{ address: 10.0.0.2 }]`)}
${SE('a-web', `  hosts: [api.example.com]
  resolution: STATIC
  ports: [{ number: 80, name: http }]
  endpoints: [{ address: 10.0.0.1, ports: { http: 8080 } }]`)}`;

test('ServiceEntries of one host merge: ports of all (the first by name wins a number), endpoints by entry', () => {
  const snap = buildSnapshot(parseResources(API).resources);
  const [s, ...more] = snap.services.declarations('api.example.com');
  assert.equal(more.length, 0);
  assert.equal(s!.source, 'ServiceEntry default/a-web', 'a-web comes first by name (Istio: the oldest)');
  assert.deepEqual(s!.ports.map((p) => [p.number, p.name]), [[80, 'http'], [9090, 'tcp-admin']]);
  // each entry's endpoints serve that entry's ports
  const eps = (port: number) => snap.endpoints.endpoints(s!, port).map((e) => `${e.address}:${e.port}`);
  assert.deepEqual(eps(80), ['10.0.0.1:8080', '10.0.0.2:80']);
  assert.deepEqual(eps(9090), ['10.0.0.2:9090']);
  // analyze: b-admin's port 80 loses to a-web's
  const f = serviceEntryMergeFindings(parseResources(API).resources);
  assert.deepEqual(f.map((d) => [d.resource, d.path, d.severity]), [['ServiceEntry default/b-admin', 'spec.ports[0]', 'warning']]);
  assert.match(f[0]!.reason, /port 80 of host "api.example.com" is also declared by ServiceEntry default\/a-web as "http" \(HTTP\)/);
});

test('entries that differ in resolution, labels, selector or exportTo do not merge: the first alone is the service', () => {
  const yaml = `${SE('a', `  hosts: [db.example.com]
  resolution: DNS
  ports: [{ number: 5432, name: tcp-pg }]`)}
${SE('b', `  hosts: [db.example.com]
  resolution: STATIC
  ports: [{ number: 6432, name: tcp-bouncer }]
  endpoints: [{ address: 10.0.0.9 }]`)}
${SE('c', `  hosts: [db.example.com]
  resolution: DNS
  ports: [{ number: 7432, name: tcp-replica }]`, ', labels: { team: x }')}`;
  const { resources } = parseResources(yaml);
  const [s] = buildSnapshot(resources).services.declarations('db.example.com');
  assert.deepEqual(s!.ports.map((p) => p.number), [5432]);
  const f = serviceEntryMergeFindings(resources);
  assert.deepEqual(f.map((d) => [d.resource, d.path]), [['ServiceEntry default/b', 'spec.hosts[0]'], ['ServiceEntry default/c', 'spec.hosts[0]']]);
  assert.match(f[0]!.reason, /resolution STATIC is not DNS: the two are not merged/);
  assert.match(f[1]!.reason, /metadata labels differ/);
});

test('analyze: a TCP port several services share reaches the first only; HTTP takes a port from TCP; TLS is told apart', () => {
  const svc = (name: string, port: string) => SE(name, `  hosts: [${name}.example.com]
  resolution: DNS
  ports: [${port}]`);
  const { resources } = parseResources(`${svc('pg-b', '{ number: 5432, name: tcp }')}
${svc('pg-a', '{ number: 5432, name: tcp }')}
${svc('web', '{ number: 8080, name: http }')}
${svc('raw', '{ number: 8080, name: tcp }')}
${svc('tls-a', '{ number: 443, name: tls, protocol: TLS }')}
${svc('tls-b', '{ number: 443, name: https, protocol: HTTPS }')}`);
  const f = outboundPortFindings(resources, buildSnapshot(resources).services.all);
  assert.deepEqual(f.map((d) => [d.resource, d.path]), [['ServiceEntry default/pg-b', 'spec.ports[0]'], ['ServiceEntry default/raw', 'spec.ports[0]']]);
  assert.match(f[0]!.reason, /pg-b.example.com is unreachable through sidecars on port 5432: .* to pg-a.example.com/);
  assert.match(f[1]!.reason, /web.example.com makes 8080 an HTTP port/);
});
