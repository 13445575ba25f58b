// Config text → plain JS values, remembering where in the file every object, key and list item came from, so
// that an error found later (by the decoder or by a semantic check) can name `file:line:column`.
// JSON goes through the same YAML 1.2 parser (JSON is YAML), so both get the same positions and errors.
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import { ConfigError, ConfigErrors } from '../../common/errors.js';

interface SourceFile {
  readonly name: string;
  readonly lines: LineCounter;
}

/** Where one parsed object or array came from. Offsets are turned into line:column only when asked, so a
 *  large config costs a few numbers per node. */
interface RawNode {
  readonly file: SourceFile;
  readonly at: number;
  /** For maps: key → [key offset, value offset]. */
  readonly keys?: Map<string, [number, number]>;
  /** For lists: item offsets. */
  readonly items?: number[];
}

const rawNodes = new WeakMap<object, RawNode>();

/**
 * Parses YAML or JSON text into plain JS values (YAML 1.2 core schema; anchors, aliases and `<<` merge keys as
 * Envoy's yaml-cpp reads them). Throws ConfigErrors (MW_CONFIG_PARSE) listing every syntax error.
 */
export function parseConfigText(text: string, sourceName: string): unknown {
  const file: SourceFile = { name: sourceName, lines: new LineCounter() };
  const doc = parseDocument(text, { lineCounter: file.lines, merge: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigErrors(
      doc.errors.map((e) => new ConfigError('MW_CONFIG_PARSE', '', e.message.replace(/ at line \d+, column \d+.*$/s, ''), format(file, e.pos[0]))),
    );
  }
  return toPlain(doc.contents, doc, file, new Map());
}

function toPlain(node: Node | null, doc: Document, file: SourceFile, aliases: Map<Node, unknown>): unknown {
  if (node === null) return null;
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (!target) return null;
    // Aliases share the converted value: a config that reuses one anchor a thousand times stays linear.
    if (!aliases.has(target)) aliases.set(target, toPlain(target, doc, file, aliases));
    return aliases.get(target);
  }
  if (isScalar(node)) return node.value;
  if (isSeq(node)) {
    const out: unknown[] = [];
    const items: number[] = [];
    for (const item of node.items) {
      out.push(toPlain(item as Node, doc, file, aliases));
      items.push((item as Node | null)?.range?.[0] ?? node.range?.[0] ?? 0);
    }
    rawNodes.set(out, { file, at: node.range?.[0] ?? 0, items });
    return out;
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    const keys = new Map<string, [number, number]>();
    const merged: unknown[] = [];
    for (const pair of node.items) {
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      const keyAt = keyNode?.range?.[0] ?? node.range?.[0] ?? 0;
      const valueAt = valueNode?.range?.[0] ?? keyAt;
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
        // `<<: *base` (or a list of them): keys written in this map win over merged ones, whatever the order.
        const source = toPlain(valueNode, doc, file, aliases);
        merged.push(...(Array.isArray(source) ? source : [source]));
        continue;
      }
      const key = isScalar(keyNode) ? String(keyNode.value) : JSON.stringify(toPlain(keyNode, doc, file, aliases));
      setOwn(out, key, toPlain(valueNode, doc, file, aliases));
      keys.set(key, [keyAt, valueAt]);
    }
    for (const source of merged) {
      if (!source || typeof source !== 'object' || Array.isArray(source)) continue;
      const from = rawNodes.get(source);
      for (const [k, v] of Object.entries(source)) {
        if (keys.has(k)) continue;
        setOwn(out, k, v);
        const pos = from?.keys?.get(k);
        if (pos) keys.set(k, pos);
      }
    }
    rawNodes.set(out, { file, at: node.range?.[0] ?? 0, keys });
    return out;
  }
  return null;
}

// A key named "__proto__" must become a field (to be reported as unknown), not the object's prototype.
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function format(file: SourceFile, offset: number): string {
  const { line, col } = file.lines.linePos(offset);
  return `${file.name}:${line}:${col}`;
}

/** Whether an object or array came from parseConfigText (and so has a location). */
export function hasSource(raw: object): boolean {
  return rawNodes.has(raw);
}

/**
 * `file:line:column` of a parsed object or array (no key), of one of its keys (`part` 'key', the default) or
 * of the value under that key or index (`part` 'value'). Undefined for values that did not come from
 * parseConfigText.
 */
export function rawLocation(raw: unknown, key?: string | number, part: 'key' | 'value' = 'key'): string | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const node = rawNodes.get(raw);
  if (!node) return undefined;
  if (key === undefined) return format(node.file, node.at);
  if (typeof key === 'number') {
    const at = node.items?.[key];
    return format(node.file, at ?? node.at);
  }
  const pos = node.keys?.get(key);
  return format(node.file, pos ? pos[part === 'key' ? 0 : 1] : node.at);
}

/**
 * Where the documents of a YAML stream start and end, with the line each starts on. A line starting with `---`
 * followed by a space or its end is a document marker wherever it appears (YAML forbids it inside scalars; JSON
 * has no line breaks inside strings). Used to read a file of many documents one document at a time, so that
 * one bad document fails alone and parsing stays linear.
 */
export function yamlDocuments(text: string): { start: number; end: number; line: number }[] {
  const out: { start: number; end: number; line: number }[] = [];
  let start = 0;
  let line = 1;
  let counted = 0;
  const lineAt = (offset: number) => {
    for (let i = text.indexOf('\n', counted); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
    counted = offset;
    return line;
  };
  for (const m of text.matchAll(/^---(?=[ \t\r\n]|$)/gm)) {
    if (m.index! > start) out.push({ start, end: m.index!, line: lineAt(start) });
    start = m.index!;
  }
  out.push({ start, end: text.length, line: lineAt(start) });
  return out;
}
