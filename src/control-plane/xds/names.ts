// Subscribed names, interned. On a large fleet every sidecar of a kind subscribes to the same names (1,000
// sidecars × the same 1,000 EDS clusters), and a Set per stream, holding its own copy of every string as decoded
// from that stream's requests, was most of the control plane's memory. Streams with the same subscription share
// one NameSet instead, and a request that repeats a subscription (every SotW ACK repeats it in full) is
// recognised by comparing its list with the shared one in order, without building a set.

/** A sorted, duplicate-free set of names that streams share: never changed once built (add/delete throw). */
export class NameSet extends Set<string> {
  /** the names, sorted */
  readonly list: readonly string[];
  private readonly sealed: boolean;

  /** `sorted` must be sorted and free of duplicates (internNames() makes sure). */
  constructor(sorted: readonly string[]) {
    super();
    for (const n of sorted) super.add(n);
    this.list = Object.freeze(sorted.slice());
    this.sealed = true;
  }

  override add(name: string): this {
    if (this.sealed) throw new TypeError('a NameSet is shared by streams: intern a new one instead of changing it');
    return super.add(name);
  }

  override delete(name: string): boolean {
    if (this.sealed) throw new TypeError('a NameSet is shared by streams: intern a new one instead of changing it');
    return super.delete(name);
  }

  override clear(): void {
    if (this.sealed) throw new TypeError('a NameSet is shared by streams: intern a new one instead of changing it');
    super.clear();
  }

  /** Whether `names` (duplicates allowed, any order) are exactly these names. The common case, a client that
   *  repeats the list it sent before in the same (sorted) order, costs one string compare per name. */
  equals(names: readonly string[]): boolean {
    // The codec hands out one frozen array for a list it decoded before (a SotW ACK repeats the subscription).
    const frozen = Object.isFrozen(names);
    if (frozen && this.sameAs.has(names)) return true;
    const same = this.compare(names);
    if (same && frozen) this.sameAs.add(names);
    return same;
  }

  /** frozen lists known to hold exactly these names */
  private readonly sameAs = new WeakSet<readonly string[]>();
  /** changed(): recent results, by the change */
  private derived?: Map<string, NameSet>;

  /** These names with `add` added and `remove` taken away (a delta subscription change), remembered: a fleet
   *  of streams makes the same change one after another. */
  changed(add: readonly string[], remove: readonly string[]): NameSet {
    if (add.length === 0 && remove.length === 0) return this;
    const key = `${add.join('\n')}\0${remove.join('\n')}`;
    let out = this.derived?.get(key);
    if (!out) {
      const names = new Set(this);
      for (const n of add) names.add(n);
      for (const n of remove) names.delete(n);
      out = internNames(names);
      this.derived ??= new Map();
      if (this.derived.size >= 16) this.derived.clear();
      this.derived.set(key, out);
    }
    return out;
  }

  private compare(names: readonly string[]): boolean {
    const list = this.list;
    if (names.length === list.length) {
      let i = 0;
      while (i < list.length && names[i] === list[i]) i++;
      if (i === list.length) return true;
    }
    if (names.length < this.size) return false;
    for (const n of names) if (!this.has(n)) return false;
    return this.size === new Set(names).size;
  }
}

export const NO_NAMES = new NameSet([]);

// Sorted names joined by a newline → the NameSet for them, while some stream still holds it.
const pool = new Map<string, WeakRef<NameSet>>();
const reaper = new FinalizationRegistry<string>((key) => {
  if (pool.get(key)?.deref() === undefined) pool.delete(key);
});

/** The shared NameSet of these names (in any order, duplicates ignored). */
export function internNames(names: Iterable<string>): NameSet {
  // A frozen list cannot change: remember what it interned to (the codec hands out one frozen array per list).
  const frozen = Array.isArray(names) && Object.isFrozen(names) ? (names as readonly string[]) : undefined;
  const known = frozen && byFrozenList.get(frozen);
  if (known) return known;
  const set = intern(frozen ?? (Array.isArray(names) ? (names as readonly string[]) : [...names]));
  if (frozen) byFrozenList.set(frozen, set);
  return set;
}

const byFrozenList = new WeakMap<readonly string[], NameSet>();

function intern(names: readonly string[]): NameSet {
  let sorted = names;
  // Clients tend to send their names sorted: then a check is all it takes.
  if (!sortedUnique(sorted)) sorted = [...new Set(sorted)].sort();
  if (sorted.length === 0) return NO_NAMES;
  const key = sorted.join('\n');
  const hit = pool.get(key)?.deref();
  // A name may itself contain a newline, so the key alone does not prove the lists equal.
  if (hit && sameList(hit.list, sorted)) return hit;
  const set = new NameSet(sorted);
  pool.set(key, new WeakRef(set));
  reaper.register(set, key);
  return set;
}

function sortedUnique(list: readonly string[]): boolean {
  for (let i = 1; i < list.length; i++) if (!(list[i - 1]! < list[i]!)) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The named part of a generator's set: `all` restricted to `names`, one Map per (set, distinct names), handed
 * to every stream that asks alike (the Generator contract: equal sets are the same Map, so the server works
 * out a set's version and encoding once). Found by the names object first (the server passes the same NameSet
 * for the same subscription), then by content. Keyed by the set's identity, so a generator that replaces a set
 * drops its picks with it, and one that keeps an unchanged set keeps them.
 */
export class NamedPicks<E> {
  private readonly bySet = new WeakMap<ReadonlyMap<string, E>, { bySet: WeakMap<ReadonlySet<string>, Map<string, E>>; byKey: Map<string, Map<string, E>> }>();

  pick(all: ReadonlyMap<string, E>, names: ReadonlySet<string>): Map<string, E> {
    let cache = this.bySet.get(all);
    if (!cache) this.bySet.set(all, (cache = { bySet: new WeakMap(), byKey: new Map() }));
    let out = cache.bySet.get(names);
    if (out) return out;
    const key = nameKey(names);
    out = cache.byKey.get(key);
    if (!out) {
      out = new Map<string, E>();
      for (const n of names) {
        const e = all.get(n);
        if (e !== undefined) out.set(n, e);
      }
      // Distinct name sets are few (proxies of one service ask alike), but bound them for fleets that are not.
      if (cache.byKey.size >= 10_000) cache.byKey.clear();
      cache.byKey.set(key, out);
    }
    cache.bySet.set(names, out);
    return out;
  }
}

const nameKeys = new WeakMap<ReadonlySet<string>, string>();
function nameKey(names: ReadonlySet<string>): string {
  let k = nameKeys.get(names);
  if (k === undefined) nameKeys.set(names, (k = [...names].sort().join('\0')));
  return k;
}
