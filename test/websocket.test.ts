// End to end: WebSocket upgrades through a real `meshwork proxy` process. A `ws` server upstream and a `ws`
// client downstream exchange text, binary and close frames through an HCM with upgrade_configs; an HCM
// without it refuses the upgrade with 403 as Envoy does; and raw sockets check that bytes sent right after
// the upgrade head (in the same TCP segment, either direction) are not lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { bootstrap, hcmFilter, listener, readAll, staticCluster } from './helpers/protocols.js';
import { listenerPort, startProxy, stat, waitFor, type RunningProxy } from './helpers/proxy.js';

let wss: WebSocketServer;
let raw: net.Server;
let proxy: RunningProxy;
const ports: Record<string, number> = {};
const serverCloses: { code: number; reason: string }[] = [];
let lastUpgradeHeaders: Record<string, unknown> = {};
let accepted = 0;

function startWs(): Promise<number> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws, req) => {
    accepted++;
    lastUpgradeHeaders = req.headers;
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      const m = /^close:(\d+):(.*)$/.exec(text);
      if (m) return ws.close(Number(m[1]), m[2]);
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => serverCloses.push({ code, reason: reason.toString() }));
  });
  return new Promise((resolve) => wss.once('listening', () => resolve((wss.address() as net.AddressInfo).port)));
}

// A hand-written upgrade server: answers 101 and, in the same write, the first tunnel bytes; then echoes
// everything that follows the request head (including bytes that arrived together with it).
function startRaw(): Promise<number> {
  raw = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      if (upgraded) return void sock.write(d);
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      const key = /sec-websocket-key: *(\S+)/i.exec(buf.subarray(0, end).toString())?.[1] ?? '';
      const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      const rest = buf.subarray(end + 4);
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\nHELLO-FROM-UPSTREAM|`);
      if (rest.length) sock.write(rest);
    });
    sock.on('end', () => sock.end());
  });
  return new Promise((resolve) => raw.listen(0, '127.0.0.1', () => resolve((raw.address() as net.AddressInfo).port)));
}

before(async () => {
  const wsPort = await startWs();
  const rawPort = await startRaw();
  const upgrade = { upgrade_configs: [{ upgrade_type: 'websocket' }] };
  proxy = await startProxy(
    bootstrap(
      [
        listener('ws', [{ filters: [hcmFilter({ statPrefix: 'ws', cluster: 'ws', extra: upgrade })] }]),
        listener('raw', [{ filters: [hcmFilter({ statPrefix: 'raw', cluster: 'raw', extra: upgrade })] }]),
        listener('nows', [{ filters: [hcmFilter({ statPrefix: 'nows', cluster: 'ws' })] }]),
      ],
      [staticCluster('ws', wsPort), staticCluster('raw', rawPort)],
    ),
  );
  for (const n of ['ws', 'raw', 'nows']) ports[n] = await listenerPort(proxy, n);
});

after(async () => {
  await proxy?.stop();
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  raw?.close();
});

function open(port: number, path = '/chat'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { handshakeTimeout: 5000 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
    ws.once('message', (data, isBinary) => {
      clearTimeout(t);
      resolve({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary });
    });
  });
}

test('text and binary messages echo through the proxy', async () => {
  const ws = await open(ports.ws!);
  try {
    assert.equal(lastUpgradeHeaders.upgrade, 'websocket');
    assert.match(String(lastUpgradeHeaders.connection), /upgrade/i);
    ws.send('hello websocket');
    const t = await nextMessage(ws);
    assert.equal(t.isBinary, false);
    assert.equal(t.data.toString(), 'hello websocket');
    const bin = crypto.randomBytes(1024 * 1024 + 13);
    ws.send(bin);
    const b = await nextMessage(ws);
    assert.equal(b.isBinary, true);
    assert.ok(b.data.equals(bin), 'a 1 MiB binary message comes back byte for byte');
    // many small messages keep their order
    const got: string[] = [];
    const all = new Promise<void>((resolve) => ws.on('message', (d) => got.push(d.toString()) === 200 && resolve()));
    for (let i = 0; i < 200; i++) ws.send(`m${i}`);
    await all;
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `m${i}`));
  } finally {
    ws.terminate();
  }
  assert.ok(((await stat(proxy, 'http.ws.downstream_cx_upgrades_total')) ?? 0) >= 1, 'the upgrade is counted');
});

test('close codes and reasons travel both ways', async () => {
  // client-initiated
  const a = await open(ports.ws!);
  const aClosed = new Promise<{ code: number; reason: string }>((resolve) => a.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const before = serverCloses.length;
  a.close(4000, 'client says bye');
  assert.deepEqual(await aClosed, { code: 4000, reason: 'client says bye' });
  await waitFor(() => serverCloses.length > before || undefined, 'server saw the close');
  assert.deepEqual(serverCloses[serverCloses.length - 1], { code: 4000, reason: 'client says bye' });
  // server-initiated
  const b = await open(ports.ws!);
  const bClosed = new Promise<{ code: number; reason: string }>((resolve) => b.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  b.send('close:4001:server says bye');
  assert.deepEqual(await bClosed, { code: 4001, reason: 'server says bye' });
});

test('without upgrade_configs the upgrade is refused with 403', async () => {
  const before = accepted;
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.nows}/chat`, { handshakeTimeout: 5000 });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade must not succeed'));
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => {});
  });
  assert.equal(status, 403);
  assert.equal(accepted, before, 'the upstream never saw the upgrade');
  // a plain request on the same listener still works (the upstream answers 426 to non-WebSocket requests)
  const r = await fetch(`http://127.0.0.1:${ports.nows}/chat`);
  await r.arrayBuffer();
  assert.equal(r.status, 426);
});

test('bytes right after the upgrade head arrive, in both directions', async () => {
  const sock = net.connect(ports.raw!, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const all = readAll(sock, 8000);
  const key = crypto.randomBytes(16).toString('base64');
  // head and the first tunnel bytes in one write
  sock.write(
    `GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\nEARLY-BYTES|`,
  );
  let text = '';
  sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
  await waitFor(() => text.includes('EARLY-BYTES|') || undefined, 'the early bytes echoed back', 5000);
  sock.write('LATER-BYTES');
  await waitFor(() => text.includes('LATER-BYTES') || undefined, 'later bytes echoed', 5000);
  sock.end();
  const out = (await all).toString('latin1');
  assert.match(out, /^HTTP\/1\.1 101 /);
  const body = out.slice(out.indexOf('\r\n\r\n') + 4);
  assert.equal(body, 'HELLO-FROM-UPSTREAM|EARLY-BYTES|LATER-BYTES');
});
