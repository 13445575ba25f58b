// Paces a response body to a bandwidth, like Envoy's StreamRateLimiter: time is cut into 1/16 s slices and each
// slice may send bytesPerSecond/16 bytes; the rest waits in order. End of stream (and trailers) leave only
// after the last byte. Budget accrues while idle but never beyond one slice, so a pause does not buy a burst.
import { performance } from 'node:perf_hooks';
import type { HeaderMap } from '../../../http/headers.js';

const SLICES_PER_SECOND = 16;
const SLICE_MS = 1000 / SLICES_PER_SECOND;

export class ResponseRateLimiter {
  private readonly sliceBytes: number;
  private readonly queue: Buffer[] = [];
  private budget: number;
  private lastRefill: number;
  private ended = false;
  private trailers: HeaderMap | undefined;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly emitData: (data: Buffer, endStream: boolean) => void,
    private readonly emitTrailers: (trailers: HeaderMap) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.sliceBytes = Math.max(1, Math.floor(bytesPerSecond / SLICES_PER_SECOND));
    this.budget = this.sliceBytes;
    this.lastRefill = now();
  }

  writeData(data: Buffer, endStream: boolean): void {
    if (data.length > 0) this.queue.push(data);
    if (endStream) this.ended = true;
    this.pump();
  }

  writeTrailers(trailers: HeaderMap): void {
    this.trailers = trailers;
    this.ended = true;
    this.pump();
  }

  destroy(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }

  private refill(): void {
    const t = this.now();
    this.budget = Math.min(this.sliceBytes, this.budget + ((t - this.lastRefill) * this.bytesPerSecond) / 1000);
    this.lastRefill = t;
  }

  private pump(): void {
    if (this.done || this.timer) return;
    this.refill();
    while (this.queue.length > 0 && this.budget >= 1) {
      const head = this.queue[0]!;
      const n = Math.min(head.length, Math.floor(this.budget));
      const chunk = n === head.length ? this.queue.shift()! : head.subarray(0, n);
      if (n < head.length) this.queue[0] = head.subarray(n);
      this.budget -= n;
      const last = this.queue.length === 0 && this.ended && this.trailers === undefined;
      if (last) this.done = true;
      this.emitData(chunk, last);
      if (this.done) return;
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, SLICE_MS);
      return;
    }
    if (!this.ended) return;
    this.done = true;
    if (this.trailers) this.emitTrailers(this.trailers);
    else this.emitData(Buffer.alloc(0), true);
  }
}
