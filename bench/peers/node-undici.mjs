// Peer: a bare node:http server forwarding through an undici Pool. It does no routing, no
// logging and no stats, so it marks the floor: what any Node.js proxy pays just to move a
// request through the runtime. Usage: PORT=<listen> UPSTREAM=<host:port> node node-undici.mjs
import http from 'node:http';
import { Pool } from 'undici';

const port = Number(process.env.PORT);
const pool = new Pool(`http://${process.env.UPSTREAM}`, { connections: 32, pipelining: 1 });

// Hop-by-hop headers belong to one connection and must not be forwarded (RFC 9110 §7.6.1);
// undici also refuses some of them outright.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);
function endToEnd(headers) {
  const out = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
}

http
  .createServer((req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // stream() writes the upstream body straight into `res`, with no intermediate Readable.
    pool.stream(
      { path: req.url, method: req.method, headers: endToEnd(req.headers), body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, endToEnd(headers));
        return res;
      },
      (err) => {
        if (!err) return;
        if (res.headersSent) res.destroy(err);
        else res.writeHead(502).end();
      },
    );
  })
  .listen(port, '127.0.0.1');
