// A fast path for the YAML that config dirs are made of: block maps and lists of one-line scalars, as
// generators and YAML.stringify write them. The `yaml` library reads about 2 MB/s (a 1.3 KB service file took
// 1.7 ms, a 440 KB route table 230 ms, and a config dir of 1,000 files 4 s at startup), most of it building
// nodes that the control plane throws away. This reads the same text in a few percent of that.
//
// It is an optimisation, never a second YAML dialect: anything outside the subset below makes it give up
// (undefined) and the caller uses the full parser (parseConfigText), as it also does to report any error with
// its location. Within the subset it gives what parseConfigText gives, scalars resolved by the same YAML 1.2 core
// schema rules, and the same positions for maps and list items (fast-yaml.test.ts compares the two on every
// YAML file of the repository and on each rule).
//
// The subset: block maps (`key: value`, `key:` with a nested block, a list at the key's own indentation), block
// lists (`- value`, `- key: value` starting a map), plain, single- and double-quoted scalars on one line, the
// empty flow collections `{}` and `[]`, comments on their own line or after a value, and a leading `---`.
// Given up on: tabs, CR, a BOM, anchors, aliases, tags, block scalars, multi-line scalars, non-empty flow
// collections, complex keys, merge keys, duplicate keys, directives, and anything that is an error in YAML.

interface Line {
  /** offset of the first non-space character */
  at: number;
  indent: number;
  /** the text from `at` to the end of the line */
  text: string;
}

/** Offsets where parsed maps and lists start, and where each list item starts (as parseConfigText keeps them). */
export interface FastPositions {
  of(node: object): number | undefined;
  item(list: unknown[], index: number): number | undefined;
}

class GiveUp extends Error {}
const giveUp = (): never => {
  throw new GiveUp();
};

/** The value of a YAML document in the subset, with positions; undefined when the text is outside it. */
export function parseSimpleYaml(text: string): { value: unknown; positions: FastPositions } | undefined {
  if (/[\t\r\uFEFF]/.test(text)) return undefined;
  const lines: Line[] = [];
  let start = 0;
  let first = true;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let i = start;
    while (i < end && text.charCodeAt(i) === 32) i++;
    if (i < end && text.charCodeAt(i) !== 35 /* # */) {
      const content = text.slice(i, end);
      if (first && i === start && content.startsWith('---')) {
        // The document marker parse.ts leaves at the start of every document but the first.
        if (!/^---\s*(#.*)?$/.test(content)) return undefined;
      } else lines.push({ at: i, indent: i - start, text: content });
      first = false;
    }
    if (end === text.length) break;
    start = end + 1;
  }
  const maps = new WeakMap<object, number>();
  const items = new WeakMap<unknown[], number[]>();
  const p = new Parser(lines, maps, items);
  try {
    const value = lines.length === 0 ? null : p.block(-1);
    if (p.i !== lines.length) return undefined;
    return { value, positions: { of: (node) => maps.get(node), item: (list, index) => items.get(list)?.[index] } };
  } catch (err) {
    if (err instanceof GiveUp) return undefined;
    throw err;
  }
}

class Parser {
  i = 0;

  constructor(
    private readonly lines: Line[],
    private readonly maps: WeakMap<object, number>,
    private readonly items: WeakMap<unknown[], number[]>,
  ) {}

  /** The block starting at the current line, which must be indented more than `parent`. */
  block(parent: number): unknown {
    const line = this.lines[this.i]!;
    if (line.indent <= parent) giveUp();
    return isDash(line.text) ? this.list(line.indent) : this.map(line.indent);
  }

  private list(indent: number): unknown[] {
    const out: unknown[] = [];
    const at: number[] = [];
    this.items.set(out, at);
    this.maps.set(out, this.lines[this.i]!.at);
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.indent < indent) break;
      if (line.indent > indent || !isDash(line.text)) giveUp();
      let j = 1;
      while (j < line.text.length && line.text.charCodeAt(j) === 32) j++;
      const rest = line.text.slice(j);
      if (rest === '' || rest[0] === '#') {
        // `-` alone: the item is the block below, or null.
        this.i++;
        const next = this.lines[this.i];
        at.push(next && next.indent > indent ? next.at : line.at);
        out.push(next && next.indent > indent ? this.block(indent) : null);
        continue;
      }
      if (isDash(rest)) giveUp(); // `- - x`
      const itemIndent = line.indent + j;
      at.push(line.at + j);
      if (keyEnd(rest) >= 0) {
        // `- key: value` starts a map indented like its first key.
        this.lines[this.i] = { at: line.at + j, indent: itemIndent, text: rest };
        out.push(this.map(itemIndent));
      } else {
        out.push(scalar(rest));
        this.i++;
        this.noDeeper(indent);
      }
    }
    return out;
  }

  private map(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.maps.set(out, this.lines[this.i]!.at);
    while (this.i < this.lines.length) {
      const line = this.lines[this.i]!;
      if (line.indent < indent) break;
      if (line.indent > indent || isDash(line.text)) giveUp();
      const colon = keyEnd(line.text);
      if (colon < 0) giveUp();
      const key = keyOf(line.text.slice(0, colon));
      if (Object.prototype.hasOwnProperty.call(out, key) || key === '<<') giveUp();
      let j = colon + 1;
      while (j < line.text.length && line.text.charCodeAt(j) === 32) j++;
      const rest = line.text.slice(j);
      this.i++;
      let value: unknown;
      if (rest === '' || rest[0] === '#') {
        const next = this.lines[this.i];
        if (next && next.indent > indent) value = this.block(indent);
        else if (next && next.indent === indent && isDash(next.text)) value = this.list(indent);
        else value = null;
      } else {
        value = scalar(rest);
        this.noDeeper(indent);
      }
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  }

  /** After a one-line value: a deeper line would continue it (a multi-line scalar), which we leave alone. */
  private noDeeper(indent: number): void {
    const next = this.lines[this.i];
    if (next && next.indent > indent) giveUp();
  }
}

const isDash = (s: string) => s.charCodeAt(0) === 45 /* - */ && (s.length === 1 || s.charCodeAt(1) === 32);

/** Where the `:` that ends a key is (followed by a space or the end), or -1 if `s` is not `key: ...`. */
function keyEnd(s: string): number {
  const q = s[0];
  if (q === '"' || q === "'") {
    const close = quoteEnd(s, 0);
    if (close < 0) return -1;
    let j = close + 1;
    while (j < s.length && s.charCodeAt(j) === 32) j++;
    return s[j] === ':' && (j + 1 === s.length || s.charCodeAt(j + 1) === 32) ? j : -1;
  }
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 58 /* : */ && (j + 1 === s.length || s.charCodeAt(j + 1) === 32)) return j;
    if (c === 35 /* # */ && j > 0 && s.charCodeAt(j - 1) === 32) return -1;
  }
  return -1;
}

function keyOf(raw: string): string {
  const k = raw.trimEnd();
  if (k[0] === '"' || k[0] === "'") {
    const close = quoteEnd(k, 0);
    if (close !== k.length - 1) giveUp();
    return quoted(k);
  }
  // A plain key resolves like any plain scalar: `1.0:` is the key "1", `~:` the key "null".
  return String(plain(k));
}

/** A value on the rest of its line: a scalar, or `{}` / `[]`, then maybe a comment. */
function scalar(rest: string): unknown {
  const q = rest[0];
  if (q === '"' || q === "'") {
    const close = quoteEnd(rest, 0);
    if (close < 0) giveUp();
    afterValue(rest, close + 1);
    return quoted(rest.slice(0, close + 1));
  }
  if (q === '{' || q === '[') {
    if (rest[1] !== (q === '{' ? '}' : ']')) giveUp();
    afterValue(rest, 2);
    return q === '{' ? {} : [];
  }
  // A plain scalar ends at ` #`; `: ` inside one is an error in YAML.
  let end = rest.length;
  for (let j = 1; j < rest.length; j++) {
    const c = rest.charCodeAt(j);
    if (c === 35 /* # */ && rest.charCodeAt(j - 1) === 32) {
      end = j;
      break;
    }
    if (c === 58 /* : */ && (j + 1 === rest.length || rest.charCodeAt(j + 1) === 32)) giveUp();
  }
  return plain(rest.slice(0, end).trimEnd());
}

function afterValue(s: string, from: number): void {
  let j = from;
  while (j < s.length && s.charCodeAt(j) === 32) j++;
  if (j < s.length && !(s[j] === '#' && j > from)) giveUp();
}

// Characters that cannot start a plain scalar here (or that start what the subset leaves out).
const INDICATORS = new Set([...'[]{},#&*!|>\'"%@`?:']);

/** A plain scalar by the YAML 1.2 core schema, as the `yaml` library resolves it. */
function plain(s: string): unknown {
  if (s === '') return null;
  if (INDICATORS.has(s[0]!) || (s[0] === '-' && (s.length === 1 || s[1] === ' '))) giveUp();
  if (/^(?:~|[Nn]ull|NULL)$/.test(s)) return null;
  if (/^(?:[Tt]rue|TRUE)$/.test(s)) return true;
  if (/^(?:[Ff]alse|FALSE)$/.test(s)) return false;
  const c = s.charCodeAt(0);
  // Numbers start with a digit, a sign or a dot; anything else is a string.
  if (!((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) return s;
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^[-+]?[0-9]+$/.test(s)) return parseInt(s, 10);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s)) return parseFloat(s);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s)) return parseFloat(s);
  return s;
}

/** Where the quote opened at `from` closes on this line, or -1. */
function quoteEnd(s: string, from: number): number {
  const q = s[from];
  for (let j = from + 1; j < s.length; j++) {
    if (q === '"' && s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === q) {
      if (q === "'" && s[j + 1] === "'") {
        j++;
        continue;
      }
      return j;
    }
  }
  return -1;
}

const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', '0': '\0', ' ': ' ' };

/** A quoted scalar, quotes included. */
function quoted(s: string): string {
  const body = s.slice(1, -1);
  if (s[0] === "'") return body.replaceAll("''", "'");
  if (!body.includes('\\')) return body;
  return body.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
    if (e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
    const r = ESCAPES[e];
    return r ?? giveUp();
  });
}
