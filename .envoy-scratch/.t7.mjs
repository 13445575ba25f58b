import { parseDocument, LineCounter, isMap, isSeq, isScalar, isAlias, isPair } from 'yaml';
const lc = new LineCounter();
const doc = parseDocument(`base: &b\n  x: 1\n  y: "2"\nderived:\n  <<: *b\n  y: 3\nlist: [1, 2]\nd: 1.5s\nn: null\nbig: 123456789012345678901\n`, { lineCounter: lc, merge: true });
console.log(doc.errors, doc.warnings);
const m = doc.contents;
for (const p of m.items) { console.log(p.key.value, p.key.range, lc.linePos(p.key.range[0]), p.value?.constructor.name, p.value?.range);
  if (isMap(p.value)) for (const q of p.value.items) console.log('   ', q.key, typeof q.key.value, isAlias(q.value), q.value?.constructor.name); }
console.log(doc.toJS());
const d2 = parseDocument('{"a": [1, {"b": "c"}], "a": 2}', { lineCounter: lc }); console.log(d2.errors.map(e=>[e.code,e.message,e.linePos]));
const d3 = parseDocument('a: [1\nb: 2', { lineCounter: new LineCounter() }); console.log(d3.errors.map(e=>[e.code,e.message,e.linePos]));
