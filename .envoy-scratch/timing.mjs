const m=()=>{global.gc();global.gc();const u=process.memoryUsage();return `rss ${(u.rss/1e6).toFixed(1)} heapUsed ${(u.heapUsed/1e6).toFixed(1)}`};
const { protoRoot } = await import('../dist/src/api/envoy/protos.js');
const { loadBootstrapText } = await import('../dist/src/api/envoy/index.js');
const fs = await import('node:fs');
console.log('after import', m());
let t0 = performance.now(); protoRoot(); console.log('protoRoot ms', (performance.now()-t0).toFixed(0), m());
const text = fs.readFileSync('/tmp/envoy-fixtures/front-envoy.yaml','utf8');
t0 = performance.now(); loadBootstrapText(text, 'x'); console.log('first decode ms', (performance.now()-t0).toFixed(0));
t0 = performance.now(); loadBootstrapText(text, 'x'); console.log('second decode ms', (performance.now()-t0).toFixed(1));
// 1000 routes
const routes = Array.from({length: 1000}, (_, i) => `              - match: { prefix: "/svc/${i}", headers: [{ name: x-v, string_match: { exact: "v${i}" } }] }\n                route: { cluster: service1, timeout: ${i % 5 + 1}s, prefix_rewrite: "/" }\n                request_headers_to_add: [{ header: { key: x-r, value: "${i}" }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }]\n`).join('');
const big = text.replace(/              - match: \{ prefix: "\/service\/1" \}\n/, routes + '              - match: { prefix: "/service/1" }\n');
fs.writeFileSync('/tmp/envoy-fixtures/big.yaml', big);
for (let i = 0; i < 3; i++) { t0 = performance.now(); const b = loadBootstrapText(big, 'big'); console.log('1000-route decode ms', (performance.now()-t0).toFixed(0), b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes.length); }
const { parseConfigText } = await import('../dist/src/api/envoy/source.js');
t0 = performance.now(); parseConfigText(big, 'big'); console.log('  of which parse ms', (performance.now()-t0).toFixed(0));
console.log('end', m());
await new Promise(r=>setTimeout(r,12000));
console.log('after idle 12s', m());
