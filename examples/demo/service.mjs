// A demo microservice for `meshwork demo`: answers with its name and version and, for service A, the answers
// of the services it calls. It calls them through its own sidecar's outbound listener (`--via`, the address
// the sidecar's outbound listeners bind), naming the service in the Host header as an app in a mesh does when
// it calls http://service-b:9080/. It forwards x-request-id so one request can be followed through every hop.
//   node service.mjs --name a --version v1 --port 8081 --via 127.0.0.2:9080 --call service-b --call service-c
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    version: { type: 'string', default: 'v1' },
    port: { type: 'string' },
    via: { type: 'string' },
    call: { type: 'string', multiple: true, default: [] },
  },
});
const name = `service-${values.name}`;
const [viaHost, viaPort] = (values.via ?? '127.0.0.1:9080').split(':');
const agent = new http.Agent({ keepAlive: true });

function call(service, requestId) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: viaHost, port: Number(viaPort), path: '/', agent, headers: { host: `${service}:${viaPort}`, ...(requestId ? { 'x-request-id': requestId } : {}) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(body);
          } catch {
            /* not JSON: an error page of the proxy */
          }
          resolve({ service, status: res.statusCode, ...(json ? { body: json } : { text: body.slice(0, 200) }) });
        });
      },
    );
    req.on('error', (err) => resolve({ service, error: String(err.code ?? err.message) }));
    req.end();
  });
}

const server = http.createServer(async (req, res) => {
  const requestId = req.headers['x-request-id'];
  const calls = await Promise.all(values.call.map((s) => call(s, requestId)));
  const body = JSON.stringify({ service: name, version: values.version, path: req.url, request_id: requestId ?? null, calls });
  res.writeHead(calls.some((c) => c.error || c.status >= 500) ? 502 : 200, { 'content-type': 'application/json' });
  res.end(body + '\n');
});
server.keepAliveTimeout = 65_000; // longer than the sidecar's idle reuse, so pooled connections are not cut
server.listen(Number(values.port), '127.0.0.1', () => process.stderr.write(`${name} ${values.version} listening on 127.0.0.1:${values.port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
