// Deadlines that share one Node timer per duration: for per-request timeouts that almost never fire (the
// router's route timeout, 15 s by default), started and stopped once per request.
//
// Why: setTimeout + clearTimeout per request allocate a Timeout (with its async-hooks id) and move it in and
// out of Node's timer lists, reading the loop clock each time. Deadlines of one duration expire in the order
// they were started, so they can wait in a plain FIFO list (intrusive links, O(1) start and stop) behind a
// single timer armed for the oldest one. When it fires, every deadline due (within 1 ms: libuv's clock has
// millisecond resolution) fires, and the timer is re-armed for the next one.
//
// The shared timers are unref'd: a deadline belongs to a request whose sockets keep the process alive anyway.
import { performance } from 'node:perf_hooks';

export class Deadline<T = unknown> {
  /** @internal list links and due time (performance.now() ms) */
  next: Deadline<T> | null = null;
  prev: Deadline<T> | null = null;
  at = 0;
  list: DeadlineList | null = null;

  constructor(
    readonly fire: (arg: T) => void,
    readonly arg: T,
  ) {}

  get armed(): boolean {
    return this.list !== null;
  }

  /** Fire after `ms` (> 0) unless stopped; restarts the deadline if it is armed. */
  start(ms: number): void {
    if (this.list !== null) this.list.remove(this as Deadline);
    let list = lists.get(ms);
    if (list === undefined) {
      list = new DeadlineList(ms);
      lists.set(ms, list);
    }
    list.add(this as Deadline, performance.now() + ms);
  }

  stop(): void {
    if (this.list !== null) this.list.remove(this as Deadline);
  }
}

// by duration; a list is dropped once it is empty when its timer fires, so arbitrary durations do not pile up
const lists = new Map<number, DeadlineList>();

class DeadlineList {
  private head: Deadline | null = null;
  private tail: Deadline | null = null;
  private timer: NodeJS.Timeout | undefined = undefined;
  private firing = false;

  constructor(private readonly ms: number) {}

  add(d: Deadline, at: number): void {
    d.at = at;
    d.list = this;
    d.prev = this.tail;
    d.next = null;
    if (this.tail !== null) this.tail.next = d;
    else this.head = d;
    this.tail = d;
    // an armed timer fires at or before this deadline (the list is in deadline order): it re-arms then
    if (this.timer === undefined && !this.firing) this.arm(this.ms);
  }

  remove(d: Deadline): void {
    const { prev, next } = d;
    if (prev !== null) prev.next = next;
    else this.head = next;
    if (next !== null) next.prev = prev;
    else this.tail = prev;
    d.prev = d.next = null;
    d.list = null;
    // the timer is left armed: when it fires with nothing due it re-arms or lets the list go
  }

  private arm(ms: number): void {
    this.timer = setTimeout(onListTimer, ms, this);
    this.timer.unref();
  }

  onTimer(): void {
    this.timer = undefined;
    const now = performance.now();
    let d = this.head;
    // (a callback may start deadlines; they join the list and the timer is armed below, for the oldest one)
    this.firing = true;
    try {
      while (d !== null && d.at <= now + 1) {
        this.remove(d);
        d.fire(d.arg);
        d = this.head;
      }
    } finally {
      this.firing = false;
      d = this.head;
      if (d !== null) this.arm(Math.max(1, d.at - performance.now()));
      else if (lists.get(this.ms) === this) lists.delete(this.ms);
    }
  }
}

function onListTimer(l: DeadlineList): void {
  l.onTimer();
}
