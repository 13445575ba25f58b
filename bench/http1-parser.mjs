#!/usr/bin/env node
// Micro-benchmark of Meshwork's HTTP/1.1 request parser (not a test): parses a typical ~300-byte browser-ish
// GET N times and prints requests/s. Run after `npm run build`:
//   node bench/http1-parser.mjs [N]            (default N = 1,000,000)
// Each iteration feeds one Buffer holding the whole request (the common case: a request arrives in one read),
// then resume()s the parser as the connection manager does after answering. A pipelined variant feeds 16
// requests per Buffer. The figures depend on the machine and on whatever else it is doing.
import { RequestParser } from '../dist/src/proxy/http/http1/index.js';

const N = Number(process.argv[2] ?? 1_000_000);
const REQ =
  'GET /api/v1/users/12345/profile?fields=name,email&expand=team HTTP/1.1\r\n' +
  'Host: service.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n' +
  'Accept: application/json\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Connection: keep-alive\r\n' +
  'x-request-id: 3f2b8a1e-9c4d-4e7a-b6f1-0a2d3c4e5f60\r\n' +
  '\r\n';
const one = Buffer.from(REQ, 'latin1');
const sixteen = Buffer.from(REQ.repeat(16), 'latin1');

let heads = 0;
let sink = 0;
const parser = new RequestParser({
  onRequestHead(head) {
    heads++;
    sink += head.headers.raw.length;
  },
  onBody() {},
  onMessageComplete() {},
  onError(status, reason) {
    throw new Error(`unexpected parse error ${status} ${reason}`);
  },
});

function runSingle(n) {
  for (let i = 0; i < n; i++) {
    parser.execute(one);
    parser.resume();
  }
}

function runPipelined(n) {
  for (let i = 0; i < n; i += 16) {
    parser.execute(sixteen);
    for (let k = 0; k < 16; k++) parser.resume();
  }
}

function measure(name, fn) {
  fn(Math.min(N, 200_000)); // warm-up: let the JIT settle
  heads = 0;
  const t0 = process.hrtime.bigint();
  fn(N);
  const ns = Number(process.hrtime.bigint() - t0);
  if (heads !== N) throw new Error(`${name}: parsed ${heads} heads, expected ${N}`);
  const rps = (N / ns) * 1e9;
  console.log(`${name.padEnd(28)} ${Math.round(rps).toLocaleString('en-US').padStart(12)} requests/s  (${(ns / N).toFixed(0)} ns/request)`);
}

console.log(`request: ${one.length} bytes, ${REQ.split('\r\n').length - 3} header fields, N = ${N.toLocaleString('en-US')}`);
measure('one request per execute()', runSingle);
measure('16 pipelined per execute()', runPipelined);
if (sink === 0) console.log('');
