import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorCode } from '../../common/errors.js';
import { loadMeshText } from './load.js';
import { apiGroupOf, type MeshKind, type MeshResource } from './types.js';
import { analyzeMesh, hostsOverlap, parseDuration, toConfigError, validateMeshResource, type Diagnostic } from './validate.js';

const TESTDATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../src/api/mesh/testdata');

function loadFile(name: string): MeshResource[] {
  const { resources, errors } = loadMeshText(fs.readFileSync(path.join(TESTDATA, name), 'utf8'), `testdata/${name}`);
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  return resources;
}

/** One resource of `kind` whose spec is the YAML `spec` (indented under "spec:"), loaded from real YAML text. */
function resource(kind: MeshKind, spec: string, name = 'r'): MeshResource {
  const text = `apiVersion: ${apiGroupOf(kind).group}/v1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
  const { resources, errors } = loadMeshText(text, 'case.yaml');
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
    `the case does not load:\n${text}`,
  );
  return resources[0]!;
}

const show = (ds: Diagnostic[]) => ds.map((d) => `${d.code} ${d.path}: ${d.reason}`).join('\n') || '(none)';

interface Case {
  rule: string;
  kind: MeshKind;
  /** a spec the rule accepts: no errors at all */
  ok: string;
  /** a spec the rule rejects, with this error */
  bad: string;
  code?: ErrorCode;
  path: string;
  /** part of the reason */
  says?: RegExp;
  name?: string;
  /** the field(s) validated but "not yet" translated: their MW_MESH_UNSUPPORTED errors are expected */
  notYet?: string | string[];
}

const ROUTE = 'route: [{destination: {host: reviews}}]';

const CASES: Case[] = [
  // ------------------------------------------------------------ VirtualService
  { rule: 'hosts are required unless the VirtualService is a delegate (which names no gateways)', kind: 'VirtualService', ok: `http: [{${ROUTE}}]`, bad: `gateways: [gw]\nhttp: [{${ROUTE}}]`, path: 'spec.gateways', says: /delegate/ },
  { rule: 'a host is a valid DNS name or wildcard', kind: 'VirtualService', ok: `hosts: [reviews, "*.example.com", reviews.shop.svc.cluster.local, 10.0.0.1]\nhttp: [{${ROUTE}}]`, bad: `hosts: [re_views]\nhttp: [{${ROUTE}}]`, path: 'spec.hosts[0]' },
  { rule: 'host "*" only with gateways', kind: 'VirtualService', ok: `hosts: ["*"]\ngateways: [gw]\nhttp: [{${ROUTE}}]`, bad: `hosts: ["*"]\nhttp: [{${ROUTE}}]`, path: 'spec.hosts[0]', says: /only allowed .* bound to gateways/ },
  { rule: 'hosts do not overlap', kind: 'VirtualService', ok: `hosts: [a.example.com, b.example.com]\nhttp: [{${ROUTE}}]`, bad: `hosts: [a.example.com, "*.example.com"]\nhttp: [{${ROUTE}}]`, path: 'spec.hosts[1]', says: /duplicate hosts/ },
  { rule: 'gateway names are name, ns/name or mesh', kind: 'VirtualService', ok: `hosts: [a]\ngateways: [istio-system/gw, gw, mesh]\nhttp: [{${ROUTE}}]`, bad: `hosts: [a]\ngateways: [ns/g_w]\nhttp: [{${ROUTE}}]`, path: 'spec.gateways[0]' },
  { rule: 'a VirtualService has routes', kind: 'VirtualService', ok: `hosts: [a]\ntcp: [{${ROUTE}}]`, bad: 'hosts: [a]', path: 'spec', says: /needs http, tcp or tls/ },
  { rule: 'an http route has one action, not two', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {uri: /new}}, {directResponse: {status: 404}}]', bad: `hosts: [a]\nhttp: [{${ROUTE}, redirect: {uri: /new}}]`, path: 'spec.http[0].redirect', says: /only one of/ },
  { rule: 'an http route has an action', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {uri: /v2}}]', bad: 'hosts: [a]\nhttp: [{timeout: 1s}]', path: 'spec.http[0]', says: /needs one of route, redirect, directResponse or delegate/ },
  {
    rule: 'weights of several destinations total 100',
    kind: 'VirtualService',
    ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: v1}, weight: 90}, {destination: {host: a, subset: v2}, weight: 10}]}]',
    bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: v1}, weight: 90}, {destination: {host: a, subset: v2}, weight: 20}]}]',
    path: 'spec.http[0].route',
    says: /must total 100, not 110 \(90 \+ 20\)/,
  },
  { rule: 'an omitted weight among several counts as 0', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: v1}, weight: 100}, {destination: {host: a, subset: v2}}]}]', bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: v1}, weight: 50}, {destination: {host: a, subset: v2}}]}]', path: 'spec.http[0].route', says: /not 50 \(50 \+ 0\)/ },
  { rule: 'each weight is 0..100', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: a}, weight: 100}]}]', bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a}, weight: 101}, {destination: {host: b}, weight: -1}]}]', path: 'spec.http[0].route[0].weight' },
  { rule: 'a single destination has weight 100 or none', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{${ROUTE}}]`, bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a}, weight: 50}]}]', path: 'spec.http[0].route[0].weight', says: /100 or absent/ },
  { rule: 'a destination needs a host', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{${ROUTE}}]`, bad: 'hosts: [a]\nhttp: [{route: [{destination: {subset: v1}}]}]', path: 'spec.http[0].route[0].destination.host' },
  { rule: 'a destination host is not "*"', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: "*.example.com"}}]}]', bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: "*"}}]}]', path: 'spec.http[0].route[0].destination.host' },
  { rule: 'destination ports are 1..65535', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, port: {number: 9080}}}]}]', bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, port: {number: 70000}}}]}]', path: 'spec.http[0].route[0].destination.port.number', says: /1\.\.65535/ },
  { rule: 'a subset name is a DNS label', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: v1-canary}}]}]', bad: 'hosts: [a]\nhttp: [{route: [{destination: {host: a, subset: V1_0}}]}]', path: 'spec.http[0].route[0].destination.subset' },
  { rule: 'a StringMatch has exactly one of exact/prefix/regex', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{uri: {exact: /a}}, {uri: {prefix: /b}}, {uri: {regex: "/c/[0-9]+"}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{uri: {exact: /a, prefix: /}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].uri', says: /exactly one/ },
  { rule: 'a StringMatch for uri is not empty', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{headers: {x-canary: {}}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{uri: {}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].uri', says: /one of exact, prefix or regex is required/ },
  { rule: 'a prefix match is not empty', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{uri: {prefix: /}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{uri: {prefix: ""}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].uri.prefix' },
  { rule: 'regexes compile', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{headers: {user-agent: {regex: "(?i).*chrome.*"}}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{uri: {regex: "/api/(v1"}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].uri.regex', says: /RE2 syntax/ },
  { rule: 'regexes are RE2: no lookarounds', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{uri: {regex: "/[a-z]+/\\\\d+"}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{authority: {regex: "(?!admin).*"}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].authority.regex' },
  { rule: 'RE2 constructs the engine cannot run are unsupported', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{uri: {regex: "[[:alpha:]]+"}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{uri: {regex: "\\\\p{Greek}+"}}], ${ROUTE}}]`, code: 'MW_MESH_UNSUPPORTED', path: 'spec.http[0].match[0].uri.regex' },
  { rule: 'header names in matches are valid', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{headers: {x-user_id: {exact: "7"}}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{headers: {"user agent": {exact: x}}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].headers["user agent"]' },
  { rule: 'match ports are 1..65535', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{port: 8080}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{port: 0}], ${ROUTE}}]`, path: 'spec.http[0].match[0].port' },
  { rule: 'durations parse', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{timeout: 1m30s, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{timeout: 7 seconds, ${ROUTE}}]`, path: 'spec.http[0].timeout', says: /cannot parse duration/ },
  { rule: 'a timeout may be 0s (no timeout) but not negative', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{timeout: 0s, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{timeout: -1s, ${ROUTE}}]`, path: 'spec.http[0].timeout', says: /negative/ },
  { rule: 'durations are at least 1ms', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 2, perTryTimeout: 1ms}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: 2, perTryTimeout: 500us}, ${ROUTE}}]`, path: 'spec.http[0].retries.perTryTimeout', says: /at least 1ms/ },
  { rule: 'durations have millisecond precision', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 2, perTryTimeout: 1.5s}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: 2, perTryTimeout: 1.5ms}, ${ROUTE}}]`, path: 'spec.http[0].retries.perTryTimeout', says: /millisecond precision/ },
  { rule: 'retry attempts are not negative', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 0}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: -1}, ${ROUTE}}]`, path: 'spec.http[0].retries.attempts', says: /negative/ },
  { rule: 'a retry policy with 0 attempts is a mistake', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 1, retryOn: 5xx}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {retryOn: 5xx}, ${ROUTE}}]`, path: 'spec.http[0].retries.attempts', says: /attempts is 0/ },
  { rule: 'retryOn conditions are Envoy retry_on values or status codes', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: "gateway-error,connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes,503"}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: "5xx,on-bad-day"}, ${ROUTE}}]`, path: 'spec.http[0].retries.retryOn', says: /"on-bad-day" is not a retryOn condition/ },
  { rule: 'retryOn is comma-separated without spaces (as Istio reads it)', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: "5xx,reset"}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: "5xx, reset"}, ${ROUTE}}]`, path: 'spec.http[0].retries.retryOn', says: /without spaces/ },
  { rule: 'retryOn http3-post-connect-failure is not supported', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: reset-before-request}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{retries: {attempts: 3, retryOn: http3-post-connect-failure}, ${ROUTE}}]`, code: 'MW_MESH_UNSUPPORTED', path: 'spec.http[0].retries.retryOn' },
  { rule: 'a fault has a delay or an abort', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {abort: {httpStatus: 503, percentage: {value: 10}}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {}, ${ROUTE}}]`, path: 'spec.http[0].fault' },
  { rule: 'fault percentages are 0..100', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {delay: {fixedDelay: 7s, percentage: {value: 0.5}}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {delay: {fixedDelay: 7s, percentage: {value: 100.5}}}, ${ROUTE}}]`, path: 'spec.http[0].fault.delay.percentage.value' },
  { rule: 'a delay needs fixedDelay', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {delay: {fixedDelay: 100ms}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {delay: {percentage: {value: 10}}}, ${ROUTE}}]`, path: 'spec.http[0].fault.delay.fixedDelay' },
  { rule: 'an abort needs an error type', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {abort: {grpcStatus: UNAVAILABLE}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {abort: {percentage: {value: 10}}}, ${ROUTE}}]`, path: 'spec.http[0].fault.abort', says: /httpStatus/ },
  { rule: 'abort status codes are 200..599', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {abort: {httpStatus: 599}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {abort: {httpStatus: 700}}, ${ROUTE}}]`, path: 'spec.http[0].fault.abort.httpStatus' },
  { rule: 'gRPC abort statuses are gRPC status names', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {abort: {grpcStatus: NOT_FOUND}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {abort: {grpcStatus: GONE}}, ${ROUTE}}]`, path: 'spec.http[0].fault.abort.grpcStatus' },
  { rule: 'http2Error aborts are not supported', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{fault: {abort: {httpStatus: 500}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{fault: {abort: {http2Error: REFUSED_STREAM}}, ${ROUTE}}]`, code: 'MW_MESH_UNSUPPORTED', path: 'spec.http[0].fault.abort.http2Error' },
  { rule: 'rewrite uri and uriRegexRewrite are exclusive', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{rewrite: {uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/v2/\\\\1"}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{rewrite: {uri: /, uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/\\\\1"}}, ${ROUTE}}]`, path: 'spec.http[0].rewrite.uriRegexRewrite' },
  { rule: 'a regex rewrite names only groups its pattern has', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{rewrite: {uriRegexRewrite: {match: "^/(a)/(b)", rewrite: "/\\\\2/\\\\1"}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{rewrite: {uriRegexRewrite: {match: "^/(a)", rewrite: "/\\\\2"}}, ${ROUTE}}]`, path: 'spec.http[0].rewrite.uriRegexRewrite.rewrite', says: /\\2 refers to a group/ },
  { rule: 'the authority is rewritten in one place', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{rewrite: {authority: b.example.com}, headers: {request: {set: {x-a: "1"}}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{rewrite: {authority: b.example.com}, headers: {request: {set: {host: c}}}, ${ROUTE}}]`, path: 'spec.http[0].rewrite.authority' },
  { rule: 'redirect codes are 301, 302, 303, 307, 308', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {uri: /new, redirectCode: 308}}]', bad: 'hosts: [a]\nhttp: [{redirect: {uri: /new, redirectCode: 305}}]', path: 'spec.http[0].redirect.redirectCode' },
  { rule: 'a redirect changes something', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {scheme: https}}]', bad: 'hosts: [a]\nhttp: [{redirect: {redirectCode: 302}}]', path: 'spec.http[0].redirect' },
  { rule: 'a redirect scheme is http or https', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {scheme: http, port: 8080}}]', bad: 'hosts: [a]\nhttp: [{redirect: {scheme: ftp}}]', path: 'spec.http[0].redirect.scheme' },
  { rule: 'redirect and rewrite do not mix', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{redirect: {authority: b}}]', bad: 'hosts: [a]\nhttp: [{redirect: {authority: b}, rewrite: {uri: /}}]', path: 'spec.http[0].rewrite' },
  { rule: 'direct response statuses are 200..599', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{directResponse: {status: 503, body: {string: "unavailable"}}}]', bad: 'hosts: [a]\nhttp: [{directResponse: {status: 99}}]', path: 'spec.http[0].directResponse.status' },
  { rule: 'header operations do not set pseudo-headers', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{headers: {request: {set: {x-canary: "true"}, remove: [x-debug]}, response: {add: {x-served-by: meshwork}}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{headers: {request: {set: {":path": /x}}}, ${ROUTE}}]`, path: 'spec.http[0].headers.request.set[":path"]' },
  { rule: 'header operations do not remove Host', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{headers: {response: {remove: [server]}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{headers: {request: {remove: [Host]}}, ${ROUTE}}]`, path: 'spec.http[0].headers.request.remove[0]' },
  { rule: 'header values have no unmatched %', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{headers: {request: {set: {x-host: "%HOSTNAME%", x-p: "100%%"}}}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{headers: {request: {set: {x-p: "100%"}}}, ${ROUTE}}]`, path: 'spec.http[0].headers.request.set["x-p"]' },
  { rule: 'mirror percentage is 0..100', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{mirror: {host: b}, mirrorPercentage: {value: 50}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{mirror: {host: b}, mirrorPercentage: {value: 150}, ${ROUTE}}]`, path: 'spec.http[0].mirrorPercentage.value' },
  { rule: 'mirror and mirrors do not mix', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{mirrors: [{destination: {host: b}, percentage: {value: 5}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{mirror: {host: b}, mirrors: [{destination: {host: c}}], ${ROUTE}}]`, path: 'spec.http[0].mirrors' },
  { rule: 'CORS methods are HTTP methods', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{corsPolicy: {allowOrigins: [{exact: "https://example.com"}, {regex: "https://.*\\\\.example\\\\.com"}], allowMethods: [GET, POST], allowHeaders: ["*"], maxAge: 24h, allowCredentials: true}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{corsPolicy: {allowMethods: [FETCH]}, ${ROUTE}}]`, path: 'spec.http[0].corsPolicy.allowMethods[0]' , notYet: 'spec.http[0].corsPolicy' },
  { rule: 'CORS origins are not empty', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{corsPolicy: {allowOrigins: [{prefix: "https://"}]}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{corsPolicy: {allowOrigins: [{exact: ""}]}, ${ROUTE}}]`, path: 'spec.http[0].corsPolicy.allowOrigins[0]' , notYet: 'spec.http[0].corsPolicy' },
  { rule: 'CORS maxAge is whole seconds', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{corsPolicy: {maxAge: 90s}, ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{corsPolicy: {maxAge: 1500ms}, ${ROUTE}}]`, path: 'spec.http[0].corsPolicy.maxAge' , notYet: 'spec.http[0].corsPolicy' },
  { rule: 'tls routes need sniHosts', kind: 'VirtualService', ok: 'hosts: ["*.example.com"]\ntls: [{match: [{sniHosts: [a.example.com], port: 443}], route: [{destination: {host: a.example.com}}]}]', bad: 'hosts: ["*.example.com"]\ntls: [{match: [{port: 443}], route: [{destination: {host: a.example.com}}]}]', path: 'spec.tls[0].match[0].sniHosts' },
  { rule: 'SNI hosts are within the VirtualService hosts', kind: 'VirtualService', ok: 'hosts: [a.example.com]\ntls: [{match: [{sniHosts: [a.example.com]}], route: [{destination: {host: a}}]}]', bad: 'hosts: [a.example.com]\ntls: [{match: [{sniHosts: [b.example.com]}], route: [{destination: {host: a}}]}]', path: 'spec.tls[0].match[0].sniHosts[0]' },
  { rule: 'tcp route weights total 100', kind: 'VirtualService', ok: 'hosts: [db]\ntcp: [{match: [{port: 5432, destinationSubnets: [10.0.0.0/8]}], route: [{destination: {host: db, subset: a}, weight: 50}, {destination: {host: db, subset: b}, weight: 50}]}]', bad: 'hosts: [db]\ntcp: [{route: [{destination: {host: db, subset: a}, weight: 50}, {destination: {host: db, subset: b}, weight: 40}]}]', path: 'spec.tcp[0].route' },
  { rule: 'tcp routes have a destination', kind: 'VirtualService', ok: 'hosts: [db]\ntcp: [{route: [{destination: {host: db}}]}]', bad: 'hosts: [db]\ntcp: [{match: [{port: 5432}]}]', path: 'spec.tcp[0].route' },
  { rule: 'destination subnets are CIDRs', kind: 'VirtualService', ok: 'hosts: [db]\ntcp: [{match: [{destinationSubnets: ["fd00::/8", 10.1.2.3]}], route: [{destination: {host: db}}]}]', bad: 'hosts: [db]\ntcp: [{match: [{destinationSubnets: [10.0.0.0/33]}], route: [{destination: {host: db}}]}]', path: 'spec.tcp[0].match[0].destinationSubnets[0]' },
  { rule: 'a delegating route has no other action', kind: 'VirtualService', ok: 'hosts: [a]\nhttp: [{match: [{uri: {prefix: /a}}], delegate: {name: d, namespace: team}}]', bad: `hosts: [a]\nhttp: [{delegate: {name: d}, ${ROUTE}}]`, path: 'spec.http[0].delegate', says: /only one of route, redirect, directResponse or delegate/ },
  { rule: 'a delegate VirtualService does not delegate again', kind: 'VirtualService', ok: `http: [{${ROUTE}}]`, bad: 'http: [{delegate: {name: d}}]', path: 'spec.http[0].delegate', says: /cannot delegate again/ },
  { rule: 'a delegate VirtualService has no tcp routes', kind: 'VirtualService', ok: `http: [{${ROUTE}}]`, bad: `http: [{${ROUTE}}]\ntcp: [{route: [{destination: {host: db}}]}]`, path: 'spec.tcp', says: /delegate/ },
  { rule: 'delegates do not use regex matches', kind: 'VirtualService', ok: `http: [{match: [{uri: {prefix: /a}}], ${ROUTE}}]`, bad: `http: [{match: [{uri: {regex: "/a.*"}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].uri.regex', says: /delegat/ },
  { rule: 'exportTo other than "*" is not supported', kind: 'VirtualService', ok: `hosts: [a]\nexportTo: ["*"]\nhttp: [{${ROUTE}}]`, bad: `hosts: [a]\nexportTo: ["."]\nhttp: [{${ROUTE}}]`, code: 'MW_MESH_UNSUPPORTED', path: 'spec.exportTo[0]' },
  { rule: 'source labels are valid labels', kind: 'VirtualService', ok: `hosts: [a]\nhttp: [{match: [{sourceLabels: {app.kubernetes.io/name: web}}], ${ROUTE}}]`, bad: `hosts: [a]\nhttp: [{match: [{sourceLabels: {app: "we b"}}], ${ROUTE}}]`, path: 'spec.http[0].match[0].sourceLabels["app"]' },

  // ------------------------------------------------------------ DestinationRule
  { rule: 'a DestinationRule selector has no wildcards', kind: 'DestinationRule', ok: 'host: reviews\nworkloadSelector: {matchLabels: {app: frontend}}', bad: 'host: reviews\nworkloadSelector: {matchLabels: {app: "front*"}}', path: 'spec.workloadSelector.matchLabels["app"]', says: /wildcard/ },
  { rule: 'a DestinationRule with a selector is not exported', kind: 'DestinationRule', ok: 'host: reviews\nexportTo: ["."]\nworkloadSelector: {matchLabels: {app: frontend}}', bad: 'host: reviews\nexportTo: ["*"]\nworkloadSelector: {matchLabels: {app: frontend}}', path: 'spec.exportTo', says: /beyond its current namespace/ },
  { rule: 'a DestinationRule has a host', kind: 'DestinationRule', ok: 'host: reviews\nsubsets: [{name: v1, labels: {version: v1}}]', bad: 'subsets: [{name: v1, labels: {version: v1}}]', path: 'spec.host' },
  { rule: 'subset names are unique', kind: 'DestinationRule', ok: 'host: r\nsubsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]', bad: 'host: r\nsubsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]', path: 'spec.subsets[1].name', says: /duplicate subset/ },
  { rule: 'subset names are DNS labels', kind: 'DestinationRule', ok: 'host: r\nsubsets: [{name: v1-0, labels: {version: v1}}]', bad: 'host: r\nsubsets: [{name: V1.0, labels: {version: v1}}]', path: 'spec.subsets[0].name' },
  { rule: 'subsets have a name', kind: 'DestinationRule', ok: 'host: r\nsubsets: [{name: a, labels: {v: "1"}}]', bad: 'host: r\nsubsets: [{labels: {v: "1"}}]', path: 'spec.subsets[0].name' },
  { rule: 'subset labels are valid labels', kind: 'DestinationRule', ok: 'host: r\nsubsets: [{name: a, labels: {version: v1.0.0}}]', bad: 'host: r\nsubsets: [{name: a, labels: {version: "-v1"}}]', path: 'spec.subsets[0].labels["version"]' },
  { rule: 'a traffic policy sets something', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}', bad: 'host: r\ntrafficPolicy: {}', path: 'spec.trafficPolicy' },
  { rule: 'a load balancer is simple or consistentHash', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}}', path: 'spec.trafficPolicy.loadBalancer' },
  { rule: 'consistentHash has exactly one key', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 0s}, ringHash: {minimumRingSize: 1024}}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, useSourceIp: true}}}', path: 'spec.trafficPolicy.loadBalancer.consistentHash.useSourceIp' },
  { rule: 'consistentHash has a key', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {maglev: {tableSize: 65537}}}}', path: 'spec.trafficPolicy.loadBalancer.consistentHash' },
  { rule: 'a hash cookie has a name', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: s, ttl: 10s}}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {ttl: 10s}}}}', path: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name' },
  { rule: 'maglev table sizes are prime', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 65536}}}}', path: 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize' },
  { rule: 'locality distribute weights total 100', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west/zone1/*, to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}}]}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west/zone1/*, to: {"us-west/zone1/*": 80, "us-west/zone2/*": 10}}]}}}', path: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to' },
  { rule: 'distribute localities do not overlap', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west/zone1, to: {us-west: 100}}, {from: us-west/zone2, to: {us-west: 100}}]}}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west/*, to: {us-west: 100}}, {from: us-west/zone2, to: {us-west: 100}}]}}}', path: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].from', says: /overlaps/ },
  { rule: 'distribute and failover are exclusive', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {distribute: [{from: us-west, to: {us-west: 100}}]}}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {distribute: [{from: us-west, to: {us-west: 100}}], failover: [{from: us-west, to: us-east}]}}}', path: 'spec.trafficPolicy.loadBalancer.localityLbSetting' },
  { rule: 'failover and topology labels in failoverPriority are exclusive', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}], failoverPriority: [network]}}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}], failoverPriority: [topology.kubernetes.io/zone]}}}', path: 'spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[0]' },
  { rule: 'locality failover names two regions', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}]}}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: us-east}]}}}', path: 'spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]' },
  { rule: 'outlier durations parse and are at least 1ms', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {outlierDetection: {interval: 10s, baseEjectionTime: 3m}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {interval: "10"}}', path: 'spec.trafficPolicy.outlierDetection.interval' },
  { rule: 'outlier percentages are 0..100', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {outlierDetection: {maxEjectionPercent: 100, minHealthPercent: 0}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {maxEjectionPercent: 150}}', path: 'spec.trafficPolicy.outlierDetection.maxEjectionPercent' },
  { rule: 'local-origin failures need split errors', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {outlierDetection: {consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true}}', bad: 'host: r\ntrafficPolicy: {outlierDetection: {consecutiveLocalOriginFailures: 3}}', path: 'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures' },
  { rule: 'connection pool limits are not negative', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {connectionPool: {tcp: {maxConnections: 100, connectTimeout: 30ms}, http: {http1MaxPendingRequests: 10, maxRetries: 3, idleTimeout: 1h}}}', bad: 'host: r\ntrafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}', path: 'spec.trafficPolicy.connectionPool.tcp.maxConnections' },
  { rule: 'a connection pool sets tcp or http', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {connectionPool: {http: {http2MaxRequests: 1000}}}', bad: 'host: r\ntrafficPolicy: {connectionPool: {}}', path: 'spec.trafficPolicy.connectionPool' },
  { rule: 'h2 UPGRADE and useClientProtocol do not mix', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}', bad: 'host: r\ntrafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}', path: 'spec.trafficPolicy.connectionPool.http.useClientProtocol' },
  { rule: 'MUTUAL TLS needs a client certificate and key', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /etc/certs/client.pem, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem}}', bad: 'host: r\ntrafficPolicy: {tls: {mode: MUTUAL, privateKey: /etc/certs/key.pem}}', path: 'spec.trafficPolicy.tls.clientCertificate' },
  { rule: 'MUTUAL with a credentialName needs no certificate files', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cred}}', bad: 'host: r\ntrafficPolicy: {tls: {mode: MUTUAL}}', path: 'spec.trafficPolicy.tls.clientCertificate' },
  { rule: 'insecureSkipVerify does not mix with verification settings', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, sni: r.example.com}}', bad: 'host: r\ntrafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true, caCertificates: /ca.pem}}', path: 'spec.trafficPolicy.tls.insecureSkipVerify' },
  { rule: 'port-level settings need a port', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: ROUND_ROBIN}}]}', bad: 'host: r\ntrafficPolicy: {portLevelSettings: [{loadBalancer: {simple: ROUND_ROBIN}}]}', path: 'spec.trafficPolicy.portLevelSettings[0].port' },
  { rule: 'PASSTHROUGH load balancing is not supported', kind: 'DestinationRule', ok: 'host: r\ntrafficPolicy: {loadBalancer: {simple: LEAST_CONN}}', bad: 'host: r\ntrafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}', code: 'MW_MESH_UNSUPPORTED', path: 'spec.trafficPolicy.loadBalancer.simple' },

  // ------------------------------------------------------------ ServiceEntry
  { rule: 'a ServiceEntry has hosts', kind: 'ServiceEntry', ok: 'hosts: [api.example.com]\nports: [{number: 443, name: https, protocol: TLS}]\nresolution: DNS', bad: 'ports: [{number: 443, name: https, protocol: TLS}]\nresolution: DNS', path: 'spec.hosts' },
  { rule: 'a ServiceEntry host is not "*"', kind: 'ServiceEntry', ok: 'hosts: ["*.example.com"]\nports: [{number: 80, name: http, protocol: HTTP}]', bad: 'hosts: ["*"]\nports: [{number: 80, name: http, protocol: HTTP}]', path: 'spec.hosts[0]' },
  { rule: 'port numbers are unique', kind: 'ServiceEntry', ok: 'hosts: [a.example.com]\nports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: TLS}]', bad: 'hosts: [a.example.com]\nports: [{number: 80, name: http, protocol: HTTP}, {number: 80, name: http-alt, protocol: HTTP}]', path: 'spec.ports[1].number' },
  { rule: 'port names are unique', kind: 'ServiceEntry', ok: 'hosts: [a.example.com]\nports: [{number: 80, name: http}]', bad: 'hosts: [a.example.com]\nports: [{number: 80, name: http, protocol: HTTP}, {number: 8080, name: http, protocol: HTTP}]', path: 'spec.ports[1].name' },
  { rule: 'port protocols are known', kind: 'ServiceEntry', ok: 'hosts: [a.example.com]\nports: [{number: 80, name: web, protocol: http2}]', bad: 'hosts: [a.example.com]\nports: [{number: 80, name: web, protocol: FTP}]', path: 'spec.ports[0].protocol' },
  { rule: 'protocols Meshwork has no support for are unsupported', kind: 'ServiceEntry', ok: 'hosts: [a.example.com]\nports: [{number: 80, name: web, protocol: GRPC}]', bad: 'hosts: [a.example.com]\nports: [{number: 27017, name: mongo, protocol: MONGO}]', code: 'MW_MESH_UNSUPPORTED', path: 'spec.ports[0].protocol' },
  { rule: 'STATIC needs endpoints or a workloadSelector', kind: 'ServiceEntry', ok: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: STATIC\nworkloadSelector: {labels: {app: db}}', bad: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: STATIC', path: 'spec.resolution' },
  { rule: 'STATIC endpoints are IP addresses', kind: 'ServiceEntry', ok: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: STATIC\nendpoints: [{address: 10.0.0.5}, {address: "fd00::5"}]', bad: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: STATIC\nendpoints: [{address: db1.internal}]', path: 'spec.endpoints[0].address' },
  { rule: 'DNS endpoints may be names', kind: 'ServiceEntry', ok: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: DNS\nendpoints: [{address: db1.internal}, {address: 10.0.0.6}]', bad: 'hosts: [db.internal]\nports: [{number: 5432, name: tcp-pg}]\nresolution: DNS\nendpoints: [{address: "db 1"}]', path: 'spec.endpoints[0].address' },
  { rule: 'NONE has no endpoints', kind: 'ServiceEntry', ok: 'hosts: [a.example.com]\naddresses: [10.20.0.0/16]\nports: [{number: 80, name: http}]\nresolution: NONE', bad: 'hosts: [a.example.com]\nports: [{number: 80, name: http}]\nresolution: NONE\nendpoints: [{address: 10.0.0.1}]', path: 'spec.endpoints' },
  { rule: 'workloadSelector and endpoints are exclusive', kind: 'ServiceEntry', ok: 'hosts: [a.internal]\nports: [{number: 80, name: http}]\nresolution: STATIC\nendpoints: [{address: 10.0.0.1}]', bad: 'hosts: [a.internal]\nports: [{number: 80, name: http}]\nresolution: STATIC\nworkloadSelector: {labels: {app: a}}\nendpoints: [{address: 10.0.0.1}]', path: 'spec.endpoints' },
  { rule: 'endpoint port names name a service port', kind: 'ServiceEntry', ok: 'hosts: [a.internal]\nports: [{number: 80, name: http}]\nresolution: STATIC\nendpoints: [{address: 10.0.0.1, ports: {http: 8080}}]', bad: 'hosts: [a.internal]\nports: [{number: 80, name: http}]\nresolution: STATIC\nendpoints: [{address: 10.0.0.1, ports: {web: 8080}}]', path: 'spec.endpoints[0].ports["web"]' },
  { rule: 'DNS without endpoints resolves the hosts: no wildcards', kind: 'ServiceEntry', ok: 'hosts: [api.example.com]\nports: [{number: 443, name: tls, protocol: TLS}]\nresolution: DNS', bad: 'hosts: ["*.example.com"]\nports: [{number: 443, name: tls, protocol: TLS}]\nresolution: DNS', path: 'spec.hosts[0]' },
  { rule: 'CIDR addresses only with NONE or STATIC', kind: 'ServiceEntry', ok: 'hosts: [a.internal]\naddresses: [10.1.0.0/16]\nports: [{number: 80, name: http}]\nresolution: STATIC\nendpoints: [{address: 10.1.0.1}]', bad: 'hosts: [a.internal]\naddresses: [10.1.0.0/16]\nports: [{number: 80, name: http}]\nresolution: DNS', path: 'spec.addresses' },
  { rule: 'several hosts need HTTP or TLS ports', kind: 'ServiceEntry', ok: 'hosts: [a.example.com, b.example.com]\nports: [{number: 443, name: https, protocol: HTTPS}]\nresolution: DNS', bad: 'hosts: [a.example.com, b.example.com]\nports: [{number: 9000, name: tcp-x, protocol: TCP}]\nresolution: DNS', path: 'spec.ports[0]' },

  // ------------------------------------------------------------ WorkloadEntry
  { rule: 'a WorkloadEntry has an address', kind: 'WorkloadEntry', ok: 'address: 10.0.0.7\nlabels: {app: reviews, version: v2}', bad: 'labels: {app: reviews}', path: 'spec.address' },
  { rule: 'an address is an IP or a DNS name', kind: 'WorkloadEntry', ok: 'address: vm-7.example.com', bad: 'address: "vm 7"', path: 'spec.address' },
  { rule: 'workload ports are 1..65535', kind: 'WorkloadEntry', ok: 'address: 10.0.0.7\nports: {http: 8080}', bad: 'address: 10.0.0.7\nports: {http: 70000}', path: 'spec.ports["http"]' },
  { rule: 'weights are not negative', kind: 'WorkloadEntry', ok: 'address: 10.0.0.7\nweight: 0', bad: 'address: 10.0.0.7\nweight: -1', path: 'spec.weight' },
  { rule: 'a locality is region/zone/subzone', kind: 'WorkloadEntry', ok: 'address: 10.0.0.7\nlocality: us-east1/us-east1-b/rack-4', bad: 'address: 10.0.0.7\nlocality: us-east1//rack-4', path: 'spec.locality' },

  // ------------------------------------------------------------ Gateway
  { rule: 'a Gateway has servers', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]', bad: 'selector: {istio: ingressgateway}', path: 'spec.servers' },
  { rule: 'server ports are 1..65535', kind: 'Gateway', ok: 'servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 0, name: http, protocol: HTTP}, hosts: ["*"]}]', path: 'spec.servers[0].port.number' },
  { rule: 'server protocols are known', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: h2, protocol: http2}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 21, name: ftp, protocol: FTP}, hosts: ["*"]}]', path: 'spec.servers[0].port.protocol' },
  { rule: 'server ports are named', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 80, protocol: HTTP}, hosts: ["*"]}]', path: 'spec.servers[0].port.name' },
  { rule: 'server port names are unique', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}, {port: {number: 81, name: http-2, protocol: HTTP}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}, {port: {number: 81, name: http, protocol: HTTP}, hosts: ["*"]}]', path: 'spec.servers[1].port.name' },
  { rule: 'server hosts are [ns/]host', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["./a.example.com", "*/*.example.com", "shop/b.example.com", "*"]}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["Shop_NS/a.example.com"]}]', path: 'spec.servers[0].hosts[0]' },
  { rule: 'server hosts are not short names', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [reviews.example.com]}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [reviews]}]', path: 'spec.servers[0].hosts[0]', says: /short names/ },
  { rule: 'servers have hosts', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: []}]', path: 'spec.servers[0].hosts' },
  { rule: 'HTTPS servers need tls', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, serverCertificate: /certs/tls.crt, privateKey: /certs/tls.key}}]', bad: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"]}]', path: 'spec.servers[0].tls' },
  { rule: 'SIMPLE needs a certificate and key', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, minProtocolVersion: TLSV1_2}}]', bad: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, privateKey: /k}}]', path: 'spec.servers[0].tls.serverCertificate' },
  { rule: 'MUTUAL also needs CA certificates', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k, caCertificates: /ca}}]', bad: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}}]', path: 'spec.servers[0].tls.caCertificates' },
  { rule: 'a server with credentialName needs no certificate files', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: MUTUAL, credentialName: cert}}]', bad: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: MUTUAL}}]', path: 'spec.servers[0].tls.serverCertificate' },
  { rule: 'PASSTHROUGH only with protocol TLS', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*.example.com"], tls: {mode: PASSTHROUGH}}]', bad: 'servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*.example.com"], tls: {mode: PASSTHROUGH}}]', path: 'spec.servers[0].tls.mode' },
  { rule: 'plain HTTP servers carry only httpsRedirect', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], tls: {httpsRedirect: true}}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"], tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k}}]', path: 'spec.servers[0].tls' },
  { rule: 'a Gateway name has no dots', kind: 'Gateway', ok: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]', bad: 'servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]', path: 'metadata.name', name: 'my.gateway' },
  { rule: 'ISTIO_MUTUAL servers are not supported', kind: 'Gateway', ok: 'servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*"], tls: {mode: PASSTHROUGH}}]', bad: 'servers: [{port: {number: 443, name: tls, protocol: TLS}, hosts: ["*"], tls: {mode: ISTIO_MUTUAL}}]', code: 'MW_MESH_UNSUPPORTED', path: 'spec.servers[0].tls.mode' },

  // ------------------------------------------------------------ Sidecar
  { rule: 'egress hosts are namespace/host', kind: 'Sidecar', ok: 'egress: [{hosts: ["./*", "istio-system/*", "~/*", "*/reviews.shop.svc.cluster.local"]}]', bad: 'egress: [{hosts: [reviews.shop.svc.cluster.local]}]', path: 'spec.egress[0].hosts[0]', says: /namespace\/dnsName/ },
  { rule: 'egress host namespaces are DNS labels or * . ~', kind: 'Sidecar', ok: 'egress: [{hosts: ["shop/*"]}]', bad: 'egress: [{hosts: ["Shop/*"]}]', path: 'spec.egress[0].hosts[0]' },
  { rule: 'at most one egress listener without a port', kind: 'Sidecar', ok: 'egress: [{port: {number: 9080, protocol: HTTP, name: http}, hosts: ["./*"]}, {hosts: ["*/*"]}]', bad: 'egress: [{hosts: ["./*"]}, {hosts: ["*/*"]}]', path: 'spec.egress[1].port', says: /only one egress listener may omit/ },
  { rule: 'the egress listener without a port comes last', kind: 'Sidecar', ok: 'egress: [{port: {number: 9080}, hosts: ["./*"]}, {hosts: ["*/*"]}]', bad: 'egress: [{hosts: ["*/*"]}, {port: {number: 9080}, hosts: ["./*"]}]', path: 'spec.egress[0].port', says: /last/ },
  { rule: 'egress listeners have hosts', kind: 'Sidecar', ok: 'egress: [{hosts: ["./*"]}]', bad: 'egress: [{port: {number: 9080}, hosts: []}]', path: 'spec.egress[0].hosts' },
  { rule: 'ingress listeners need a port', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:8080"}]', bad: 'ingress: [{defaultEndpoint: "127.0.0.1:8080"}]', path: 'spec.ingress[0].port' , notYet: 'spec.ingress' },
  { rule: 'ingress listeners need a defaultEndpoint', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9080}, defaultEndpoint: ":8080"}]', bad: 'ingress: [{port: {number: 9080}}]', path: 'spec.ingress[0].defaultEndpoint' , notYet: 'spec.ingress' },
  { rule: 'a defaultEndpoint is a loopback or wildcard address', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9080}, defaultEndpoint: "0.0.0.0:8080"}]', bad: 'ingress: [{port: {number: 9080}, defaultEndpoint: "10.0.0.1:8080"}]', path: 'spec.ingress[0].defaultEndpoint' , notYet: 'spec.ingress' },
  { rule: 'ingress tls terminates TLS: SIMPLE or MUTUAL', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9443, protocol: HTTPS, name: https}, defaultEndpoint: "127.0.0.1:8080", tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}}]', bad: 'ingress: [{port: {number: 9443, protocol: HTTPS, name: https}, defaultEndpoint: "127.0.0.1:8080", tls: {serverCertificate: /c.pem, privateKey: /k.pem}}]', path: 'spec.ingress[0].tls.mode' },
  { rule: 'ingress bind is an IP address', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9080}, bind: 127.0.0.2, defaultEndpoint: ":8080"}]', bad: 'ingress: [{port: {number: 9080}, bind: localhost, defaultEndpoint: ":8080"}]', path: 'spec.ingress[0].bind' },
  { rule: 'egress ports are unique', kind: 'Sidecar', ok: 'egress: [{port: {number: 9080}, hosts: ["./a.shop.svc.cluster.local"]}, {hosts: ["./*"]}]', bad: 'egress: [{port: {number: 9080}, hosts: ["./a.shop.svc.cluster.local"]}, {port: {number: 9080}, hosts: ["./*"]}]', path: 'spec.egress[1].port.number' },
  { rule: 'the catch-all egress listener comes last', kind: 'Sidecar', ok: 'egress: [{port: {number: 9080}, hosts: ["./a.shop.svc.cluster.local"]}, {hosts: ["./*"]}]', bad: 'egress: [{hosts: ["./*"]}, {port: {number: 9080}, hosts: ["./a.shop.svc.cluster.local"]}]', path: 'spec.egress[0].port' },
  { rule: 'egress bind is an IP address, on the catch-all too', kind: 'Sidecar', ok: 'egress: [{bind: 127.0.0.3, hosts: ["./*"]}]', bad: 'egress: [{bind: "my-host", hosts: ["./*"]}]', path: 'spec.egress[0].bind' },
  { rule: 'ingress ports are unique', kind: 'Sidecar', ok: 'ingress: [{port: {number: 9080}, defaultEndpoint: ":8080"}, {port: {number: 9081}, defaultEndpoint: ":8081"}]', bad: 'ingress: [{port: {number: 9080}, defaultEndpoint: ":8080"}, {port: {number: 9080}, defaultEndpoint: ":8081"}]', path: 'spec.ingress[1].port.number' , notYet: 'spec.ingress' },
  { rule: 'a Sidecar configures something', kind: 'Sidecar', ok: 'outboundTrafficPolicy: {mode: REGISTRY_ONLY}', bad: 'workloadSelector: {labels: {app: reviews}}', path: 'spec' },
  { rule: 'an egress proxy goes with ALLOW_ANY', kind: 'Sidecar', ok: 'outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.example.com, port: {number: 443}}}', bad: 'outboundTrafficPolicy: {egressProxy: {host: egress.example.com, port: {number: 443}}}', path: 'spec.outboundTrafficPolicy.egressProxy', says: /ALLOW_ANY/ },
  { rule: 'an egress proxy has a port', kind: 'Sidecar', ok: 'outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress, port: {number: 80}}}', bad: 'outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress}}', path: 'spec.outboundTrafficPolicy.egressProxy.port' },
  { rule: 'an egress proxy host is a DNS name', kind: 'Sidecar', ok: 'outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: egress.example.com, port: {number: 80}}}', bad: 'outboundTrafficPolicy: {mode: ALLOW_ANY, egressProxy: {host: "*.example.com", port: {number: 80}}}', path: 'spec.outboundTrafficPolicy.egressProxy.host' },
  { rule: 'workload selectors have no wildcards', kind: 'Sidecar', ok: 'workloadSelector: {labels: {app: reviews}}\negress: [{hosts: ["./*"]}]', bad: 'workloadSelector: {labels: {app: "rev*"}}\negress: [{hosts: ["./*"]}]', path: 'spec.workloadSelector.labels["app"]' },

  // ------------------------------------------------------------ PeerAuthentication
  { rule: 'portLevelMtls needs a selector', kind: 'PeerAuthentication', ok: 'selector: {matchLabels: {app: finance}}\nportLevelMtls: {8080: {mode: DISABLE}}', bad: 'mtls: {mode: STRICT}\nportLevelMtls: {8080: {mode: DISABLE}}', path: 'spec.portLevelMtls', says: /cannot have port level mTLS/ },
  { rule: 'portLevelMtls, if written, is not empty', kind: 'PeerAuthentication', ok: 'selector: {matchLabels: {app: finance}}\nmtls: {mode: STRICT}', bad: 'selector: {matchLabels: {app: finance}}\nportLevelMtls: {}', path: 'spec.portLevelMtls', says: /at least one element/ },
  { rule: 'portLevelMtls keys are ports 1..65535', kind: 'PeerAuthentication', ok: 'selector: {matchLabels: {app: finance}}\nportLevelMtls: {65535: {mode: STRICT}}', bad: 'selector: {matchLabels: {app: finance}}\nportLevelMtls: {0: {mode: STRICT}, http: {mode: STRICT}}', path: 'spec.portLevelMtls["0"]' },
  { rule: 'selectors have no wildcards (PeerAuthentication)', kind: 'PeerAuthentication', ok: 'selector: {matchLabels: {app: finance}}', bad: 'selector: {matchLabels: {app: "fin*"}}', path: 'spec.selector.matchLabels["app"]', says: /wildcard/ },

  // ------------------------------------------------------------ AuthorizationPolicy
  { rule: 'DENY needs rules (add {} to deny everything)', kind: 'AuthorizationPolicy', ok: 'action: DENY\nrules: [{}]', bad: 'action: DENY', path: 'spec.rules', says: /DENY action without `rules`/ },
  { rule: 'CUSTOM needs rules', kind: 'AuthorizationPolicy', ok: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{}]', bad: 'action: CUSTOM\nprovider: {name: ext}', path: 'spec.rules', says: /CUSTOM action without `rules`/, notYet: ['spec.action', 'spec.provider'] },
  { rule: 'CUSTOM needs provider.name', kind: 'AuthorizationPolicy', ok: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{}]', bad: 'action: CUSTOM\nrules: [{}]', path: 'spec.provider.name', notYet: ['spec.action', 'spec.provider'] },
  { rule: 'provider only with CUSTOM', kind: 'AuthorizationPolicy', ok: 'action: ALLOW\nrules: [{}]', bad: 'action: ALLOW\nprovider: {name: ext}\nrules: [{}]', path: 'spec.provider', says: /non-CUSTOM action, found ALLOW/ },
  { rule: 'CUSTOM rules cannot match identities', kind: 'AuthorizationPolicy', ok: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]', bad: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{from: [{source: {principals: ["*"]}}]}]', path: 'spec.rules[0].from[0].source.principals', says: /not supported with the CUSTOM action/, notYet: ['spec.action', 'spec.provider'] },
  { rule: 'CUSTOM conditions cannot use request.auth.*', kind: 'AuthorizationPolicy', ok: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{when: [{key: source.ip, values: [10.0.0.0/8]}]}]', bad: 'action: CUSTOM\nprovider: {name: ext}\nrules: [{when: [{key: "request.auth.claims[iss]", values: [x]}]}]', path: 'spec.rules[0].when[0].key', notYet: ['spec.action', 'spec.provider'] },
  { rule: 'from, if written, is not empty', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {methods: [GET]}}]}]', bad: 'rules: [{from: []}]', path: 'spec.rules[0].from' },
  { rule: 'a source is not empty', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {namespaces: [test]}}]}]', bad: 'rules: [{from: [{source: {}}]}]', path: 'spec.rules[0].from[0].source', says: /must not be empty/ },
  { rule: 'a from has a source', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {namespaces: [test]}}]}]', bad: 'rules: [{from: [{}]}]', path: 'spec.rules[0].from[0].source' },
  { rule: 'serviceAccounts exclude principals and namespaces', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {serviceAccounts: [default/sleep]}}]}]', bad: 'rules: [{from: [{source: {serviceAccounts: [default/sleep], namespaces: [default]}}]}]', path: 'spec.rules[0].from[0].source', says: /cannot set serviceAccounts with namespaces or principals/ },
  { rule: 'serviceAccounts are namespace/name', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {notServiceAccounts: [default/sleep]}}]}]', bad: 'rules: [{from: [{source: {notServiceAccounts: [sleep]}}]}]', path: 'spec.rules[0].from[0].source.notServiceAccounts[0]' },
  { rule: 'ipBlocks are IPs or CIDRs', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {ipBlocks: [10.0.0.1, 10.0.0.0/8, "2001:db8::/32"], notRemoteIpBlocks: [1.2.3.4]}}]}]', bad: 'rules: [{from: [{source: {remoteIpBlocks: [10.0.0.0/33]}}]}]', path: 'spec.rules[0].from[0].source.remoteIpBlocks[0]', says: /bad CIDR range/ },
  { rule: 'source values are not empty', kind: 'AuthorizationPolicy', ok: 'rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]', bad: 'rules: [{from: [{source: {requestPrincipals: [""]}}]}]', path: 'spec.rules[0].from[0].source.requestPrincipals[0]', says: /empty value not allowed/ },
  { rule: 'to, if written, is not empty', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {ports: ["8080"]}}]}]', bad: 'rules: [{to: []}]', path: 'spec.rules[0].to' },
  { rule: 'an operation is not empty', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {hosts: [example.com]}}]}]', bad: 'rules: [{to: [{operation: {}}]}]', path: 'spec.rules[0].to[0].operation' },
  { rule: 'operation values are not empty (paths, hosts, methods)', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {paths: ["/a", "/b*", "*/c", "*"]}}]}]', bad: 'rules: [{to: [{operation: {paths: ["/a", ""]}}]}]', path: 'spec.rules[0].to[0].operation.paths[1]', says: /empty value not allowed/ },
  { rule: 'ports are numbers up to 65535', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {ports: ["80", "65535"]}}]}]', bad: 'rules: [{to: [{operation: {notPorts: ["http"]}}]}]', path: 'spec.rules[0].to[0].operation.notPorts[0]', says: /bad port/ },
  { rule: 'path templates are {*} and {**} only', kind: 'AuthorizationPolicy', ok: 'rules: [{to: [{operation: {paths: ["/foo/{*}/bar/{**}"]}}]}]', bad: 'rules: [{to: [{operation: {paths: ["/foo/{*}/{name}"]}}]}]', path: 'spec.rules[0].to[0].operation.paths[0]', says: /path template/ },
  { rule: 'when keys are known attributes', kind: 'AuthorizationPolicy', ok: 'rules: [{when: [{key: "request.headers[x-token]", values: [a]}, {key: source.ip, notValues: [10.0.0.1]}, {key: remote.ip, values: [1.2.3.0/24]}, {key: source.namespace, values: [a]}, {key: source.principal, values: [a]}, {key: request.auth.principal, values: [a]}, {key: request.auth.audiences, values: [a]}, {key: request.auth.presenter, values: [a]}, {key: "request.auth.claims[groups]", values: [a]}, {key: destination.ip, values: [10.0.0.1]}, {key: destination.port, values: ["80"]}, {key: connection.sni, values: [a.example.com]}, {key: "experimental.envoy.filters.a.b[c]", values: [d]}]}]', bad: 'rules: [{when: [{key: request.method, values: [GET]}]}]', path: 'spec.rules[0].when[0].key', says: /unknown attribute: request\.method/ },
  { rule: 'when map keys are a[b]', kind: 'AuthorizationPolicy', ok: 'rules: [{when: [{key: "request.headers[x-a]", values: [a]}]}]', bad: 'rules: [{when: [{key: "request.headers[]", values: [a]}]}]', path: 'spec.rules[0].when[0].key', says: /should have format a\[b\]/ },
  { rule: 'replaced attributes are named', kind: 'AuthorizationPolicy', ok: 'rules: [{when: [{key: destination.port, values: ["9080"]}]}]', bad: 'rules: [{when: [{key: "destination.labels[app]", values: [a]}]}]', path: 'spec.rules[0].when[0].key', says: /replaced by the workload selector/ },
  { rule: 'when needs values or notValues', kind: 'AuthorizationPolicy', ok: 'rules: [{when: [{key: source.namespace, notValues: [a]}]}]', bad: 'rules: [{when: [{key: source.namespace}]}]', path: 'spec.rules[0].when[0]', says: /at least one of `values` or `notValues`/ },
  { rule: 'when values fit their attribute (IPs, ports)', kind: 'AuthorizationPolicy', ok: 'rules: [{when: [{key: destination.port, values: ["443"]}]}]', bad: 'rules: [{when: [{key: source.ip, values: [10.0.0.1, not-an-ip]}]}]', path: 'spec.rules[0].when[0].values[1]', says: /bad IP address/ },
  { rule: 'targetRef is not supported (use selector)', kind: 'AuthorizationPolicy', ok: 'selector: {matchLabels: {app: a}}\nrules: [{}]', bad: 'targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}\nrules: [{}]', code: 'MW_MESH_UNSUPPORTED', path: 'spec.targetRef' },
  { rule: 'selector and targetRefs exclude each other', kind: 'AuthorizationPolicy', ok: 'selector: {matchLabels: {app: a}}\nrules: [{}]', bad: 'selector: {matchLabels: {app: a}}\ntargetRefs: [{kind: Service, name: a}]\nrules: [{}]', path: 'spec.targetRefs', says: /only one of/ },

  // ------------------------------------------------------------ RequestAuthentication
  { rule: 'issuer or jwksUri is required', kind: 'RequestAuthentication', ok: 'jwtRules: [{jwksUri: "https://example.com/jwks.json"}]', bad: 'jwtRules: [{audiences: [a]}]', path: 'spec.jwtRules[0].issuer', says: /issuer or jwksUri/ },
  { rule: 'jwksUri is an http(s) URL', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, jwksUri: "http://jwks.local:8080/keys"}]', bad: 'jwtRules: [{issuer: a, jwksUri: "ftp://example.com/jwks.json"}]', path: 'spec.jwtRules[0].jwksUri', says: /scheme "ftp" is not supported/ },
  { rule: 'jwks parses as a key set', kind: 'RequestAuthentication', ok: `jwtRules: [{issuer: a, jwks: '{"keys":[{"kty":"RSA","n":"abc","e":"AQAB"}]}'}]`, bad: `jwtRules: [{issuer: a, jwks: '{"keys":[{"kty":"RSA","n":"abc"}]}'}]`, path: 'spec.jwtRules[0].jwks', says: /lacks e/ },
  { rule: 'jwks is JSON', kind: 'RequestAuthentication', ok: `jwtRules: [{issuer: a, jwks: '{"kty":"EC","crv":"P-256","x":"a","y":"b"}'}]`, bad: 'jwtRules: [{issuer: a, jwks: "keys"}]', path: 'spec.jwtRules[0].jwks', says: /not JSON/ },
  { rule: 'audiences are not empty', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, audiences: [b]}]', bad: 'jwtRules: [{issuer: a, audiences: [b, ""]}]', path: 'spec.jwtRules[0].audiences[1]' },
  { rule: 'fromHeaders name is not empty', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, fromHeaders: [{name: x-jwt, prefix: "Bearer "}]}]', bad: 'jwtRules: [{issuer: a, fromHeaders: [{name: "", prefix: "Bearer "}]}]', path: 'spec.jwtRules[0].fromHeaders[0].name' },
  { rule: 'fromParams and fromCookies are not empty', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, fromParams: [token], fromCookies: [session]}]', bad: 'jwtRules: [{issuer: a, fromCookies: [""]}]', path: 'spec.jwtRules[0].fromCookies[0]' },
  { rule: 'outputClaimToHeaders names a valid header and a claim', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, outputClaimToHeaders: [{header: x-sub, claim: sub}]}]', bad: 'jwtRules: [{issuer: a, outputClaimToHeaders: [{header: "x sub", claim: sub}]}]', path: 'spec.jwtRules[0].outputClaimToHeaders[0].header' },
  { rule: 'timeout is a valid duration', kind: 'RequestAuthentication', ok: 'jwtRules: [{issuer: a, timeout: 5s}]', bad: 'jwtRules: [{issuer: a, timeout: "5"}]', path: 'spec.jwtRules[0].timeout' },
];

for (const c of CASES) {
  test(`${c.kind}: ${c.rule}`, () => {
    const good = validateMeshResource(resource(c.kind, c.ok, c.name === undefined ? 'r' : 'r'));
    // Some rules check fields that are validated but not translated yet (schema.ts marks them "not yet", an
    // error of its own): for those the passing input may only carry that error.
    const goodErrors = good.errors.filter((e) => !(c.notYet && e.code === 'MW_MESH_UNSUPPORTED' && [c.notYet].flat().includes(e.path)));
    assert.equal(goodErrors.length, 0, `the passing input has errors:\n${show(goodErrors)}`);
    const bad = validateMeshResource(resource(c.kind, c.bad, c.name ?? 'r'));
    const code = c.code ?? 'MW_MESH_INVALID';
    const hit = bad.errors.find((e) => e.code === code && e.path === c.path);
    assert.ok(hit, `expected ${code} at ${c.path}; got:\n${show(bad.errors)}`);
    if (c.says) assert.match(hit.reason, c.says);
    // the message names the file:line:column of the field and the resource
    assert.match(hit.message, /^case\.yaml:\d+:\d+: /);
    assert.ok(hit.message.includes(`${c.kind} default/`), hit.message);
    assert.ok(hit.message.includes(`: ${c.path}: `), hit.message);
  });
}

test('a message points at the offending line of the file', () => {
  const r = resource('VirtualService', 'hosts: [a]\nhttp:\n- route:\n  - destination: {host: a, subset: v1}\n    weight: 90\n  - destination: {host: a, subset: v2}\n    weight: 20\n');
  const [e] = validateMeshResource(r).errors;
  assert.equal(e!.path, 'spec.http[0].route');
  assert.equal(e!.location, 'case.yaml:8:5');
  assert.equal(e!.message, "case.yaml:8:5: VirtualService default/r: spec.http[0].route: weights of a route's destinations must total 100, not 110 (90 + 20)");
  const ce = toConfigError(e!);
  assert.equal(ce.code, 'MW_MESH_INVALID');
  assert.equal(ce.location, 'case.yaml:8:5');
  assert.equal(ce.path, 'spec.http[0].route');
});

test("seed 002's examples validate cleanly (the fault's deprecated `percent` is a warning)", () => {
  for (const file of ['seed-002-canary.yaml', 'seed-002-ab.yaml', 'seed-002-fault.yaml']) {
    for (const r of loadFile(file)) assert.deepEqual(validateMeshResource(r).errors, [], `${file}: ${r.kind}`);
  }
  const [fault] = loadFile('seed-002-fault.yaml');
  assert.deepEqual(
    validateMeshResource(fault!).warnings.map((w) => [w.code, w.path, w.location]),
    [['MW_MESH_WARNING', 'spec.http[0].fault.delay.percent', 'testdata/seed-002-fault.yaml:14:9']],
  );
});

test('a fixture with every kind, using most fields, validates without errors but the fields not translated yet', () => {
  const rs = loadFile('all-kinds.yaml');
  assert.deepEqual(
    [...new Set(rs.map((r) => r.kind))].sort(),
    ['DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'VirtualService', 'WorkloadEntry'],
  );
  // valid Istio, but marked "not yet" in schema.ts because the translation does not carry them to proxies yet
  // (none left in this fixture: its ISTIO_MUTUAL is served since the mesh CA)
  const notYet: string[] = [];
  const found: string[] = [];
  for (const r of rs) {
    for (const e of validateMeshResource(r).errors) {
      assert.equal(e.code, 'MW_MESH_UNSUPPORTED', e.message);
      found.push(`${r.kind} ${r.metadata.name} ${e.path}`);
    }
  }
  assert.deepEqual(found, notYet);
  assert.deepEqual(analyzeMesh(rs).map((d) => d.message), []);
});

test('warnings: Istio-style deprecations and no-ops are warnings, not errors', () => {
  const r = resource('DestinationRule', 'host: r\ntrafficPolicy: {outlierDetection: {consecutiveErrors: 5}}\nsubsets: [{name: all}]');
  const v = validateMeshResource(r);
  assert.deepEqual(v.errors, []);
  assert.deepEqual(v.warnings.map((w) => w.path).sort(), ['spec.subsets[0].labels', 'spec.trafficPolicy.outlierDetection.consecutiveErrors']);
  const s = validateMeshResource(resource('Sidecar', 'workloadSelector: {}\negress: [{hosts: ["./*", "./*"]}]'));
  assert.deepEqual(s.errors, []);
  assert.deepEqual(s.warnings.map((w) => w.path), ['spec.workloadSelector', 'spec.egress[0].hosts[1]']);
  const warm = validateMeshResource(resource('DestinationRule', 'host: r\ntrafficPolicy: {loadBalancer: {simple: RANDOM, warmupDurationSecs: 10s}}\nworkloadSelector: {}'));
  assert.deepEqual(warm.errors, []);
  assert.deepEqual(warm.warnings.map((w) => w.path).sort(), ['spec.trafficPolicy.loadBalancer.warmupDurationSecs', 'spec.workloadSelector']);
  const we = validateMeshResource(resource('WorkloadEntry', 'address: 10.0.0.1\nnetwork: n1'));
  assert.deepEqual(we.warnings.map((w) => [w.code, w.path]), [['MW_MESH_WARNING', 'spec.network']]);
});

test('parseDuration reads Go durations', () => {
  assert.equal(parseDuration('7s'), 7000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('250us'), 0.25);
  assert.equal(parseDuration('-2s'), -2000);
  for (const bad of ['', '7', 's', '1 s', '1d', '1s2', 'PT1S']) assert.equal(parseDuration(bad), undefined, bad);
});

test('hostsOverlap follows Istio: equal, or a wildcard covers the other', () => {
  assert.ok(hostsOverlap('a.example.com', 'A.example.com'));
  assert.ok(hostsOverlap('*.example.com', 'a.example.com'));
  assert.ok(hostsOverlap('*', 'anything'));
  assert.ok(hostsOverlap('*.b.example.com', '*.example.com'));
  assert.ok(!hostsOverlap('a.example.com', 'b.example.com'));
  assert.ok(!hostsOverlap('*.example.com', 'example.org'));
});

// ------------------------------------------------------------ analyze

test('analyze: seed 002 canary is consistent; the A/B file alone names a gateway and subsets nothing defines', () => {
  assert.deepEqual(analyzeMesh(loadFile('seed-002-canary.yaml')), []);
  const ab = loadFile('seed-002-ab.yaml');
  assert.deepEqual(
    analyzeMesh(ab).map((d) => [d.code, d.path]),
    [
      ['MW_CONFIG_REFERENCE', 'spec.gateways[0]'],
      ['MW_CONFIG_REFERENCE', 'spec.http[0].route[0].destination.subset'],
      ['MW_CONFIG_REFERENCE', 'spec.http[1].route[0].destination.subset'],
    ],
  );
  // with the canary's Gateway and DestinationRule (as applied to the running demo) everything resolves
  const [gw, , dr] = loadFile('seed-002-canary.yaml');
  assert.deepEqual(analyzeMesh([gw!, dr!, ...ab]), []);
});

test('analyze: the broken-examples file reports each problem at its line', () => {
  const rs = loadFile('analyze-broken.yaml');
  const found = analyzeMesh(rs).map((d) => [d.severity, d.code, d.path, d.location]);
  const f = 'testdata/analyze-broken.yaml';
  assert.deepEqual(found, [
    ['error', 'MW_CONFIG_DUPLICATE', '', `${f}:80:1`],
    ['error', 'MW_CONFIG_REFERENCE', 'spec.gateways[0]', `${f}:41:5`],
    ['error', 'MW_CONFIG_REFERENCE', 'spec.http[0].route[1].destination.subset', `${f}:53:9`],
    ['warning', 'MW_MESH_UNREACHABLE', 'spec.http[2]', `${f}:59:5`],
    ['warning', 'MW_MESH_UNREACHABLE', 'spec.http[3]', `${f}:65:5`],
    ['warning', 'MW_MESH_CONFLICT', 'spec.servers[0]', `${f}:26:5`],
  ]);
  const messages = analyzeMesh(rs).map((d) => d.message);
  assert.match(messages[1]!, /gateway "missing-gateway" is not defined: no Gateway default\/missing-gateway/);
  assert.match(messages[2]!, /subset "v3" of host "reviews" is not defined: the DestinationRules for it \(default\/reviews\) do not define it/);
  assert.match(messages[3]!, /unreachable route shadowed by an earlier match: "catch-all" \(http\[1\]\) takes every request it would match/);
  assert.match(messages[5]!, /conflicting gateways: Gateway default\/public \(testdata\/analyze-broken\.yaml:2:1\) also serves "\*\.example\.com" on port 80 for the same selector, which overlaps "shop\.example\.com"/);
});

test('analyze: short and full host names meet; a wildcard DestinationRule host covers a service', () => {
  const vs = resource('VirtualService', 'hosts: [reviews]\nhttp: [{route: [{destination: {host: reviews.default.svc.cluster.local, subset: v1}}]}]', 'vs');
  const dr = resource('DestinationRule', 'host: reviews\nsubsets: [{name: v1, labels: {version: v1}}]', 'dr');
  assert.deepEqual(analyzeMesh([vs, dr]), []);
  const wild = resource('DestinationRule', 'host: "*.default.svc.cluster.local"\nsubsets: [{name: v1, labels: {version: v1}}]', 'wild');
  assert.deepEqual(analyzeMesh([vs, wild]), []);
  const other = resource('DestinationRule', 'host: ratings\nsubsets: [{name: v1, labels: {version: v1}}]', 'other');
  assert.deepEqual(analyzeMesh([vs, other]).map((d) => d.path), ['spec.http[0].route[0].destination.subset']);
});

test('analyze: a route after a prefix match is shadowed only when the prefix covers it', () => {
  const vs = (http: string) => analyzeMesh([resource('VirtualService', `hosts: [a]\nhttp:\n${http}`)]).map((d) => d.path);
  const r = `route: [{destination: {host: a}}]`;
  assert.deepEqual(vs(`- {match: [{uri: {prefix: /api}}], ${r}}\n- {match: [{uri: {prefix: /api/v1}}], ${r}}`), ['spec.http[1]']);
  assert.deepEqual(vs(`- {match: [{uri: {prefix: /api/v1}}], ${r}}\n- {match: [{uri: {prefix: /api}}], ${r}}`), []);
  // the earlier match has a header condition: requests without it still reach the later route
  assert.deepEqual(vs(`- {match: [{uri: {prefix: /api}, headers: {x-v: {exact: "2"}}}], ${r}}\n- {match: [{uri: {prefix: /api/v1}}], ${r}}`), []);
  // a later route with several matches is reachable if one of them is
  assert.deepEqual(vs(`- {match: [{uri: {prefix: /api}}], ${r}}\n- {match: [{uri: {prefix: /api/x}}, {uri: {prefix: /web}}], ${r}}`), []);
  // ignoreUriCase widens the later match beyond the earlier prefix
  assert.deepEqual(vs(`- {match: [{uri: {prefix: /api}}], ${r}}\n- {match: [{uri: {prefix: /api/x}, ignoreUriCase: true}], ${r}}`), []);
});

test('locality failover without outlierDetection is a warning (Istio: traffic would never fail over)', () => {
  for (const [setting, path] of [['failover: [{from: us-east, to: eu-west}]', 'failover'], ['failoverPriority: [network]', 'failoverPriority']]) {
    const v = validateMeshResource(resource('DestinationRule', `host: r\ntrafficPolicy: {loadBalancer: {localityLbSetting: {${setting}}}}`));
    assert.deepEqual(v.errors, []);
    assert.deepEqual(v.warnings.map((w) => [w.code, w.path]), [['MW_MESH_WARNING', `spec.trafficPolicy.loadBalancer.localityLbSetting.${path}`]]);
    const withOd = validateMeshResource(resource('DestinationRule', `host: r\ntrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}, loadBalancer: {localityLbSetting: {${setting}}}}`));
    assert.deepEqual(withOd.warnings, []);
  }
});

test('security fixture: the Istio docs\' examples validate without errors', () => {
  for (const r of loadFile('security.yaml')) assert.deepEqual(validateMeshResource(r).errors, [], `${r.kind} ${r.metadata.name}`);
});

test('security warnings: HTTP-only DENY rules, literal wildcards, lower-case methods, jwks with jwksUri, empty selectors', () => {
  const warn = (kind: MeshKind, spec: string) => {
    const v = validateMeshResource(resource(kind, spec));
    assert.deepEqual(v.errors, [], show(v.errors));
    return v.warnings.map((w) => w.path);
  };
  // Istio: a DENY rule on HTTP attributes alone denies every TCP connection to the workload
  assert.deepEqual(warn('AuthorizationPolicy', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin"]}}]}, {to: [{operation: {paths: ["/admin"], ports: ["8080"]}}]}, {from: [{source: {requestPrincipals: ["*"]}}]}, {from: [{source: {namespaces: [a]}}]}]'), [
    'spec.rules[0]',
    'spec.rules[2]',
  ]);
  assert.deepEqual(warn('AuthorizationPolicy', 'rules: [{to: [{operation: {paths: ["/a/*/b", "*/c*", "/x*", "*"], methods: [get, POST]}}]}]'), [
    'spec.rules[0].to[0].operation.methods[0]',
    'spec.rules[0].to[0].operation.paths[0]',
    'spec.rules[0].to[0].operation.paths[1]',
  ]);
  assert.deepEqual(warn('RequestAuthentication', `jwtRules: [{issuer: a, jwksUri: "https://a/jwks", jwks: '{"keys":[]}'}]`), ['spec.jwtRules[0].jwksUri']);
  assert.deepEqual(warn('PeerAuthentication', 'selector: {}\nmtls: {mode: STRICT}'), ['spec.selector']);
  // an ALLOW policy without rules is Istio's "allow nothing": valid, no warning
  assert.deepEqual(warn('AuthorizationPolicy', '{}'), []);
});
