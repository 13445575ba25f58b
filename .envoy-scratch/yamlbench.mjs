import { parseDocument, LineCounter, parse } from 'yaml';
import fs from 'node:fs';
const big = fs.readFileSync('/tmp/envoy-fixtures/big.yaml','utf8');
for (let i=0;i<3;i++){ let t0=performance.now(); parseDocument(big, {lineCounter: new LineCounter(), merge: true, prettyErrors:false}); console.log('parseDocument', (performance.now()-t0).toFixed(0));
t0=performance.now(); parse(big); console.log('parse', (performance.now()-t0).toFixed(0));
t0=performance.now(); JSON.parse(JSON.stringify(parse(big))); }
