// Earliest Deadline First scheduling, Envoy's weighted round robin (source/common/upstream/edf_scheduler.h).
// Every entry has a deadline; a pick takes the entry with the earliest one (ties: first inserted), advances the
// scheduler's clock to it and re-inserts the entry at clock + 1/weight. An entry of weight w is therefore picked
// every 1/w time units, which interleaves hosts smoothly (2:1 gives A B A A B A ..., never A A A A B B) and
// costs O(log n) per pick. The weight is re-read at each re-insertion, which is how LEAST_REQUEST's
// active-request-scaled weights take effect.

interface Entry<T> {
  deadline: number;
  /** insertion order, the tie breaker that makes equal deadlines FIFO */
  order: number;
  item: T;
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}

/** Envoy bounds the emulated initial picks to this (UINT32_MAX / 10). */
const MAX_INITIAL_PICKS = 429_496_729;

export class EdfScheduler<T> {
  private readonly heap: Entry<T>[] = [];
  private now = 0;
  private order = 0;

  /**
   * A scheduler over `items` in the state it would reach after `picks` picks from a fresh one (Envoy's
   * createWithPicks). Balancers pass a random number here so that proxies started together do not all begin
   * with the same host. Rather than running the picks, each entry is credited floor(picks * w_i / W) picks at
   * once, which puts its next deadline at (credited + 1) / w_i; the few picks that rounding leaves over (fewer
   * than the number of entries) are then run one by one.
   */
  static create<T>(items: readonly T[], weightOf: (item: T) => number, picks = 0): EdfScheduler<T> {
    const s = new EdfScheduler<T>();
    picks %= MAX_INITIAL_PICKS;
    const weights = items.map(weightOf);
    const total = weights.reduce((a, b) => a + b, 0);
    let done = 0;
    let lastPickTime = 0;
    for (let i = 0; i < items.length; i++) {
      const w = weights[i]!;
      let credited = Math.floor((w * picks) / total);
      // Floating point can put floor(picks * w / W) / w at or past picks / W, the clock after all the picks; one
      // pick fewer keeps every deadline at or after the clock.
      if (credited > 0 && credited / w >= picks / total) credited--;
      s.heap.push({ deadline: (credited + 1) / w, order: i, item: items[i]! });
      lastPickTime = Math.max(lastPickTime, credited / w);
      done += credited;
    }
    s.order = items.length;
    s.now = lastPickTime;
    for (let i = (s.heap.length >> 1) - 1; i >= 0; i--) s.down(i);
    for (; done < picks; done++) s.pickAndAdd(weightOf);
    return s;
  }

  /** Take the entry with the earliest deadline and re-insert it with its weight as `weightOf` says now. */
  pickAndAdd(weightOf: (item: T) => number): T | undefined {
    const top = this.heap[0];
    if (!top) return undefined;
    this.now = top.deadline;
    // Re-use the root entry: move its deadline on and sift it down, rather than pop + push.
    top.deadline = this.now + 1 / weightOf(top.item);
    top.order = this.order++;
    this.down(0);
    return top.item;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(h[child + 1]!, h[child]!)) child++;
      if (!before(h[child]!, e)) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = e;
  }
}
