// Fallback upstream for machines without nginx: answers every request with the 64-byte body
// given in BODY. Slower than nginx, so on core 1 it may cap what the proxies can show.
// Usage: PORT=<listen> BODY=<text> node upstream-node.mjs
import http from 'node:http';

const body = Buffer.from(process.env.BODY ?? '');
const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) };
http
  .createServer((req, res) => {
    req.resume();
    res.writeHead(200, headers).end(body);
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
