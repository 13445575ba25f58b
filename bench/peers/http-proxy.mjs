// Peer: node-http-proxy, the long-standing Node.js reverse proxy library. Without an agent it
// opens a new upstream connection per request, so it gets a keep-alive agent like the others.
// Usage: PORT=<listen> UPSTREAM=<host:port> node http-proxy.mjs
import http from 'node:http';
import httpProxy from 'http-proxy';

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const proxy = httpProxy.createProxyServer({ target: `http://${process.env.UPSTREAM}`, agent });
proxy.on('error', (_err, _req, res) => {
  // For plain HTTP requests `res` is a ServerResponse; answer like a gateway would.
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

http.createServer((req, res) => proxy.web(req, res)).listen(Number(process.env.PORT), '127.0.0.1');
