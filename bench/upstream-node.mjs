// Fallback upstream for machines without nginx: answers every request with the 64-byte body
// given in BODY. Slower than nginx, so on core 1 it may cap what the proxies can show.
// Usage: PORT=<listen> BODY=<text> node upstream-node.mjs
import http from 'node:http';

const body = Buffer.from(process.env.BODY ?? '');
const headers = { 'content-type': 'text/plain', 'content-length': String(body.length) };
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers).end(body);
});
// Node closes idle keep-alive connections after 5 s; a proxy reusing one just as it closes sees a reset. nginx
// (the usual upstream) keeps them 75 s; under valgrind a pause between warm-up and measurement is longer than 5 s.
server.keepAliveTimeout = 0;
server
  .listen(Number(process.env.PORT), '127.0.0.1');
