import { loadBootstrapText, locationOf } from '../dist/src/api/envoy/index.js';
import fs from 'node:fs';
const t0 = performance.now();
try { const b = loadBootstrapText(fs.readFileSync(process.argv[2], 'utf8'), 'front-envoy.yaml'); console.log(JSON.stringify(b, null, 1).slice(0, 3000)); console.log(locationOf(b.static_resources.clusters[0], 'connect_timeout')); }
catch (e) { console.log(e.name, e.code); console.log(e.message); }
console.log('ms', performance.now() - t0);
