// Several TLS services on one sidecar outbound port, told apart by SNI (tls_inspector, a filter chain per
// service with server_names): a.example.com and b.example.com (TLS ServiceEntries) behind real TLS servers,
// c.example.com sent to b by a VirtualService `tls` route with sniHosts, and a TCP service on the same port for
// connections without SNI. The sidecar passes TLS through: each client sees its server's own certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { makePki } from './helpers/certs.js';
import { TestMesh } from './helpers/mesh.js';
import { freePort, waitFor } from './helpers/proxy.js';

/**
 * A server that answers every connection with its name: after the TLS handshake when `cert` is given, else
 * when the client has spoken (on a port the sidecar inspects for TLS, the client must speak first, as with
 * Envoy's tls_inspector: a server-first protocol belongs on a port of its own).
 */
async function greeter(name: string, cert?: { certPem: string; keyPem: string }): Promise<{ port: number; close: () => void }> {
  const srv = cert ? tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.end(`${name}\n`)) : net.createServer((s) => s.once('data', () => s.end(`${name}\n`)));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

/** Connect through the sidecar: with TLS and an SNI, or plain TCP; the greeting, or "" on failure. */
function dial(host: string, port: number, servername?: string): Promise<{ greeting: string; peer?: string }> {
  return new Promise((resolve) => {
    let data = '';
    let peer = '';
    const sock = servername ? tls.connect({ host, port, servername, rejectUnauthorized: false }) : net.connect({ host, port }, () => sock.write('hello\n'));
    // the certificate is gone once the socket closes: read it at the handshake
    sock.once('secureConnect', () => (peer = String((sock as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '')));
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (d) => (data += d));
    sock.on('error', () => resolve({ greeting: '' }));
    sock.on('close', () => resolve({ greeting: data.trim(), ...(servername ? { peer } : {}) }));
  });
}

const entry = (name: string, host: string, port: number, protocol: string, target: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
spec:
  hosts:
  - ${host}
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - number: ${port}
    name: p-${name}
    protocol: ${protocol}
  endpoints:
  - address: 127.0.0.1
    ports:
      p-${name}: ${target}
---
`;

test('TLS services sharing an outbound port are told apart by SNI; tls routes by sniHosts; TCP takes the rest', async () => {
  const pki = makePki();
  const a = await greeter('a', pki.leaf('a', { cn: 'a.example.com', dns: ['a.example.com'], usage: 'server' }));
  const b = await greeter('b', pki.leaf('b', { cn: 'b.example.com', dns: ['b.example.com'], usage: 'server' }));
  const legacy = await greeter('legacy');
  const port = await freePort();
  const mesh = await TestMesh.start({
    'entries.yaml':
      entry('a', 'a.example.com', port, 'TLS', a.port) +
      entry('b', 'b.example.com', port, 'TLS', b.port) +
      entry('c', 'c.example.com', port, 'TLS', a.port) +
      entry('legacy', 'legacy.internal', port, 'TCP', legacy.port) +
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: c
spec:
  hosts:
  - c.example.com
  tls:
  - match:
    - sniHosts:
      - c.example.com
    route:
    - destination:
        host: b.example.com
`,
  });
  try {
    const client = await mesh.sidecar({ id: 'client', labels: 'app=client' });
    await waitFor(async () => (await dial(client.outboundBind, port, 'a.example.com')).greeting === 'a', 'a by SNI', 30_000).catch((e) => {
      throw new Error(`${e.message}\n${mesh.logs()}`);
    });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await dial(client.outboundBind, port, 'a.example.com'), { greeting: 'a', peer: 'a.example.com' });
      assert.deepEqual(await dial(client.outboundBind, port, 'b.example.com'), { greeting: 'b', peer: 'b.example.com' });
      // c's own endpoint is a's server, but its tls route sends it to b
      assert.deepEqual(await dial(client.outboundBind, port, 'c.example.com'), { greeting: 'b', peer: 'b.example.com' });
      // no TLS at all: the TCP service of the port
      assert.equal((await dial(client.outboundBind, port)).greeting, 'legacy');
    }
    // an SNI no chain names: the TCP chain takes it, and the TLS handshake with the plain server fails
    assert.equal((await dial(client.outboundBind, port, 'unknown.example.com')).greeting, '');
  } finally {
    await mesh.close();
    a.close();
    b.close();
    legacy.close();
  }
});
