import { decodeMessage, parseConfigText } from '../dist/src/api/envoy/index.js';
import { protoRoot } from '../dist/src/api/envoy/protos.js';
import fs from 'node:fs';
let t0 = performance.now(); protoRoot(); console.log('protoRoot ms', (performance.now()-t0).toFixed(0));
const big = fs.readFileSync('/tmp/envoy-fixtures/big.yaml','utf8');
t0 = performance.now(); const raw = parseConfigText(big, 'big'); console.log('parse ms', (performance.now()-t0).toFixed(0));
for (let i=0;i<4;i++){ t0 = performance.now(); decodeMessage('envoy.config.bootstrap.v3.Bootstrap', raw); console.log('decode ms', (performance.now()-t0).toFixed(0)); }
