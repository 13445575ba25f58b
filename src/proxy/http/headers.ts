// HeaderMap: the request/response header list every filter sees, as in Envoy's HeaderMap. Pseudo-headers
// (:method, :path, :authority, :scheme, :status) live in the same map, so HTTP/1 and HTTP/2 streams look alike
// to filters and the router.
//
// Why a flat array: a request carries ~10 headers; a linear scan over a packed string array beats a Map
// (no hashing, no per-entry object) and keeps insertion order, which HTTP/1 forwarding must preserve.
// Names are stored lowercase; values are stored as given.

export class HeaderMap {
  /** [name0, value0, name1, value1, ...]; names lowercase */
  readonly raw: string[];

  constructor(raw?: string[]) {
    this.raw = raw ?? [];
  }

  static from(obj: Record<string, string | string[] | undefined>): HeaderMap {
    const h = new HeaderMap();
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) h.add(k, x);
      else h.add(k, v);
    }
    return h;
  }

  get size(): number {
    return this.raw.length >> 1;
  }

  /** First value of `name` (lowercase), or undefined. */
  get(name: string): string | undefined {
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) if (a[i] === name) return a[i + 1];
    return undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) if (a[i] === name) out.push(a[i + 1]!);
    return out;
  }

  /** All values joined the way Envoy exposes multi-value headers to matchers (comma-separated). */
  getJoined(name: string): string | undefined {
    const all = this.getAll(name);
    return all.length === 0 ? undefined : all.length === 1 ? all[0] : all.join(',');
  }

  has(name: string): boolean {
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) if (a[i] === name) return true;
    return false;
  }

  /** Whether any header name starts with `prefix` (non-empty). Lets per-request code skip several get() scans
   * for a family of headers (x-envoy-*) that requests rarely carry. */
  hasPrefix(prefix: string): boolean {
    const a = this.raw;
    const c0 = prefix.charCodeAt(0);
    for (let i = 0; i < a.length; i += 2) {
      const n = a[i]!;
      if (n.charCodeAt(0) === c0 && n.startsWith(prefix)) return true;
    }
    return false;
  }

  add(name: string, value: string): void {
    this.raw.push(name, value);
  }

  /** Replace every value of `name` with one value (appended at the first position it held, else at the end). */
  set(name: string, value: string): void {
    const a = this.raw;
    let found = -1;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === name) {
        if (found < 0) {
          found = i;
          a[i + 1] = value;
        } else {
          a.splice(i, 2);
          i -= 2;
        }
      }
    }
    if (found < 0) a.push(name, value);
  }

  /** Remove every value of `name`; returns whether any was present. */
  remove(name: string): boolean {
    const a = this.raw;
    let removed = false;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === name) {
        a.splice(i, 2);
        i -= 2;
        removed = true;
      }
    }
    return removed;
  }

  /** Remove headers whose name starts with `prefix`. */
  removePrefix(prefix: string): void {
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) {
      if (a[i]!.startsWith(prefix)) {
        a.splice(i, 2);
        i -= 2;
      }
    }
  }

  forEach(fn: (name: string, value: string) => void): void {
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) fn(a[i]!, a[i + 1]!);
  }

  clone(): HeaderMap {
    return new HeaderMap(this.raw.slice());
  }

  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const a = this.raw;
    for (let i = 0; i < a.length; i += 2) {
      const k = a[i]!;
      const prev = out[k];
      if (prev === undefined) out[k] = a[i + 1]!;
      else if (Array.isArray(prev)) prev.push(a[i + 1]!);
      else out[k] = [prev, a[i + 1]!];
    }
    return out;
  }
}
