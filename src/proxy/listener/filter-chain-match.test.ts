import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../common/errors.js';
import { compileFilterChains, type FilterChainConfig, type FilterChainMatchConfig, type FilterChainMatchContext } from './filter-chain-match.js';

/** A listener whose chains are named after their index; select() returns that name. */
function matcher(matches: FilterChainMatchConfig[], withDefault = false) {
  const chains: FilterChainConfig[] = matches.map((m, i) => ({ name: `fc${i}`, filter_chain_match: m }));
  return compileFilterChains({ filter_chains: chains, ...(withDefault ? { default_filter_chain: { name: 'default' } } : {}) }, (fc) => fc.name!);
}

function conn(over: Partial<FilterChainMatchContext> = {}): FilterChainMatchContext {
  return { destinationPort: 443, destinationIp: '10.0.0.1', transportProtocol: 'tls', applicationProtocols: [], sourceIp: '192.168.1.7', sourcePort: 40000, ...over };
}

function rejects(matches: FilterChainMatchConfig[], pattern: RegExp): void {
  assert.throws(
    () => matcher(matches),
    (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_INVALID' && pattern.test(e.message),
  );
}

test('destination port is decided first, and a specific port never falls back to chains without one', () => {
  const m = matcher([{ destination_port: 8443, transport_protocol: 'tls' }, { server_names: ['a.example.com'] }], true);
  assert.equal(m.select(conn({ destinationPort: 8443, serverName: 'a.example.com' })), 'fc0', 'port beats SNI');
  assert.equal(m.select(conn({ destinationPort: 443, serverName: 'a.example.com' })), 'fc1');
  // the 8443 branch exists but its chain wants TLS: Envoy uses the default chain, not fc1's port-less branch
  assert.equal(m.select(conn({ destinationPort: 8443, serverName: 'a.example.com', transportProtocol: 'raw_buffer' })), 'default');
});

test('server names: exact, then the longest wildcard suffix, then chains without server_names', () => {
  const m = matcher([{ server_names: ['*.example.com'] }, { server_names: ['*.b.example.com'] }, { server_names: ['api.b.example.com', 'www.test'] }, {}]);
  assert.equal(m.select(conn({ serverName: 'api.b.example.com' })), 'fc2');
  assert.equal(m.select(conn({ serverName: 'WWW.Test' })), 'fc2', 'case-insensitive');
  assert.equal(m.select(conn({ serverName: 'x.b.example.com' })), 'fc1');
  assert.equal(m.select(conn({ serverName: 'deep.x.b.example.com' })), 'fc1', 'a wildcard covers several labels');
  assert.equal(m.select(conn({ serverName: 'x.example.com' })), 'fc0');
  assert.equal(m.select(conn({ serverName: 'example.com' })), 'fc3', '*.example.com does not cover example.com');
  assert.equal(m.select(conn({ serverName: undefined })), 'fc3');
  assert.equal(m.select(conn({ serverName: 'other.org' })), 'fc3');
});

test('a server name match is final: later criteria that fail do not fall back to a wildcard', () => {
  const m = matcher([{ server_names: ['a.example.com'], transport_protocol: 'tls' }, { server_names: ['*.example.com'] }]);
  assert.equal(m.select(conn({ serverName: 'a.example.com' })), 'fc0');
  assert.equal(m.select(conn({ serverName: 'a.example.com', transportProtocol: 'raw_buffer' })), null);
  assert.equal(m.select(conn({ serverName: 'b.example.com', transportProtocol: 'raw_buffer' })), 'fc1');
});

test('transport protocol before application protocols; ALPN follows the client preference', () => {
  const m = matcher([{ transport_protocol: 'tls', application_protocols: ['h2'] }, { transport_protocol: 'tls' }, { application_protocols: ['h2'] }, { transport_protocol: 'tls', application_protocols: ['http/1.1'] }]);
  assert.equal(m.select(conn({ applicationProtocols: ['h2', 'http/1.1'] })), 'fc0');
  assert.equal(m.select(conn({ applicationProtocols: ['http/1.1', 'h2'] })), 'fc3', "the client's first protocol some chain names");
  assert.equal(m.select(conn({ applicationProtocols: ['spdy/3'] })), 'fc1');
  assert.equal(m.select(conn({ transportProtocol: 'raw_buffer', applicationProtocols: ['h2'] })), 'fc2');
  assert.equal(m.select(conn({ transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] })), null);
});

test('destination and source IPs match the longest prefix; IPv4-mapped addresses count as IPv4', () => {
  const m = matcher([
    { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] },
    { prefix_ranges: [{ address_prefix: '10.1.0.0', prefix_len: 16 }, { address_prefix: 'fd00::', prefix_len: 8 }] },
    { prefix_ranges: [{ address_prefix: '10.1.2.3', prefix_len: 32 }], source_prefix_ranges: [{ address_prefix: '192.168.0.0', prefix_len: 16 }] },
    {},
  ]);
  assert.equal(m.select(conn({ destinationIp: '10.9.9.9' })), 'fc0');
  assert.equal(m.select(conn({ destinationIp: '10.1.9.9' })), 'fc1');
  assert.equal(m.select(conn({ destinationIp: '::ffff:10.1.9.9' })), 'fc1');
  assert.equal(m.select(conn({ destinationIp: 'fd12:3456::1' })), 'fc1');
  assert.equal(m.select(conn({ destinationIp: '10.1.2.3' })), 'fc2');
  assert.equal(m.select(conn({ destinationIp: '10.1.2.3', sourceIp: '172.16.0.1' })), null, 'the /32 branch is final');
  assert.equal(m.select(conn({ destinationIp: '11.0.0.1' })), 'fc3');
  assert.equal(m.select(conn({ destinationIp: '::1' })), 'fc3');
  assert.equal(m.select(conn({ destinationIp: undefined })), 'fc3');
});

test('direct source, source type, source IP and source port, in that order', () => {
  const m = matcher([
    { source_type: 'SAME_IP_OR_LOOPBACK' },
    { source_type: 'EXTERNAL', source_ports: [5000] },
    { source_type: 'EXTERNAL', source_prefix_ranges: [{ address_prefix: '192.168.1.0', prefix_len: 24 }] },
    { direct_source_prefix_ranges: [{ address_prefix: '172.16.0.0', prefix_len: 12 }] },
  ]);
  assert.equal(m.select(conn({ sourceIp: '127.0.0.1' })), 'fc0');
  assert.equal(m.select(conn({ sourceIp: '10.0.0.1', destinationIp: '10.0.0.1' })), 'fc0', 'same IP as the destination');
  assert.equal(m.select(conn({ sourceIp: '192.168.1.7', sourcePort: 5000 })), 'fc2', 'the longer source prefix wins before ports');
  assert.equal(m.select(conn({ sourceIp: '8.8.8.8', sourcePort: 5000 })), 'fc1');
  assert.equal(m.select(conn({ sourceIp: '8.8.8.8', sourcePort: 5001 })), null);
  // the direct peer is matched before the (possibly PROXY-protocol rewritten) source
  assert.equal(m.select(conn({ directSourceIp: '172.16.5.5', sourceIp: '127.0.0.1' })), 'fc3', 'not fc0: the direct source branch is chosen first');
  const any = matcher([{ direct_source_prefix_ranges: [{ address_prefix: '172.16.0.0', prefix_len: 12 }] }, { source_type: 'EXTERNAL' }]);
  assert.equal(any.select(conn({ directSourceIp: '172.16.5.5', sourceIp: '8.8.8.8' })), 'fc0');
  assert.equal(any.select(conn({ sourceIp: '8.8.8.8' })), 'fc1');
});

test('the default chain serves what nothing matches; without one there is no chain', () => {
  assert.equal(matcher([{ server_names: ['a.test'] }], true).select(conn({ serverName: 'b.test' })), 'default');
  assert.equal(matcher([{ server_names: ['a.test'] }]).select(conn({ serverName: 'b.test' })), null);
  const onlyDefault = compileFilterChains({ default_filter_chain: { name: 'd' } }, (fc) => fc.name);
  assert.equal(onlyDefault.select(conn()), 'd');
});

test('each chain is built once, at compile time', () => {
  const built: string[] = [];
  const m = compileFilterChains({ filter_chains: [{ name: 'a' }, { name: 'b', filter_chain_match: { server_names: ['b.test'] } }], default_filter_chain: { name: 'd' } }, (fc, path) => {
    built.push(`${fc.name}@${path}`);
    return fc.name;
  }, 'listeners[0]');
  for (let i = 0; i < 3; i++) m.select(conn({ serverName: 'b.test' }));
  assert.deepEqual(built, ['a@listeners[0].filter_chains[0]', 'b@listeners[0].filter_chains[1]', 'd@listeners[0].default_filter_chain']);
});

test('duplicate and overlapping matching rules are rejected', () => {
  rejects([{ server_names: ['a.test'] }, { server_names: ['a.test'] }], /filter_chains\[1\].*same matching rules defined as filter_chains\[0\]/);
  rejects([{}, {}], /same matching rules/);
  rejects([{ server_names: ['a.test', 'b.test'] }, { server_names: ['B.test'] }], /overlapping matching rules/);
  rejects([{ prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }, { prefix_ranges: [{ address_prefix: '10.1.2.3', prefix_len: 8 }] }], /overlapping|same/);
  rejects([{ application_protocols: ['h2', 'h2'] }], /same value twice/);
  // same values at every level but one are fine
  matcher([{ server_names: ['a.test'], transport_protocol: 'tls' }, { server_names: ['a.test'] }]);
});

test('invalid matches are rejected with the field path', () => {
  rejects([{ server_names: ['w*.example.com'] }], /server_names\[0\].*partial wildcards/);
  rejects([{ prefix_ranges: [{ address_prefix: 'not-an-ip', prefix_len: 8 }] }], /prefix_ranges\[0\]\.address_prefix/);
  rejects([{ source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 33 }] }], /source_prefix_ranges\[0\]\.prefix_len/);
  assert.throws(() => compileFilterChains({}, () => 1), /no filter chains specified/);
  assert.throws(() => matcher([{ address_suffix: 'x' }]), (e: unknown) => e instanceof ConfigError && e.code === 'MW_CONFIG_UNSUPPORTED');
});

test('reports which listener filters the chains need', () => {
  assert.deepEqual(flags(matcher([{}])), [false, false]);
  assert.deepEqual(flags(matcher([{ server_names: ['a.test'] }])), [true, false]);
  assert.deepEqual(flags(matcher([{ transport_protocol: 'tls', application_protocols: ['h2'] }])), [true, false]);
  assert.deepEqual(flags(matcher([{ transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }])), [false, true]);
});

function flags(m: { needsTlsInspection: boolean; needsHttpInspection: boolean }): [boolean, boolean] {
  return [m.needsTlsInspection, m.needsHttpInspection];
}
