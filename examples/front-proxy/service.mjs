// A demo microservice for the front-proxy example (seed 004): answers with its name and, for service A,
// the answers of B and C, which it calls through its own sidecar's outbound listeners. It forwards
// x-request-id so one request can be followed through every hop's access log.
//   node service.mjs --name a --port 8081 --call http://127.0.0.1:8788/ --call http://127.0.0.1:8791/
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string' }, call: { type: 'string', multiple: true, default: [] } } });
const name = `service_${values.name}`;

async function call(url, requestId) {
  try {
    const res = await fetch(url, { headers: requestId ? { 'x-request-id': requestId } : {} });
    return { url, status: res.status, body: await res.json().catch(() => null) };
  } catch (err) {
    return { url, error: String(err.cause?.code ?? err.message) };
  }
}

const server = http.createServer(async (req, res) => {
  const requestId = req.headers['x-request-id'];
  const calls = await Promise.all(values.call.map((u) => call(u, requestId)));
  const body = JSON.stringify({ service: name, path: req.url, request_id: requestId ?? null, forwarded_for: req.headers['x-forwarded-for'] ?? null, calls });
  res.writeHead(calls.some((c) => c.error || c.status >= 500) ? 502 : 200, { 'content-type': 'application/json' });
  res.end(body + '\n');
});
server.keepAliveTimeout = 65_000; // longer than the sidecar's idle reuse, so pooled connections are not cut
server.listen(Number(values.port), '127.0.0.1', () => process.stderr.write(`${name} listening on 127.0.0.1:${values.port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
