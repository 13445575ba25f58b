// Debounces push requests: input changes tend to come in bursts (an editor writing several files, a rollout
// changing many endpoints), and every push regenerates config for every connected proxy. A push runs
// `debounceMs` after the last request of a burst, but never later than `maxDelayMs` after its first one, so
// that a steady trickle of changes cannot starve the proxies. Pushes never overlap: requests that arrive while
// one runs are collected and start the next one when it ends.
import { logger } from '../../common/log.js';

const log = logger('xds-push');

export class PushQueue {
  private readonly reasons = new Set<string>();
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;

  constructor(
    private readonly run: (reasons: string[]) => Promise<void>,
    private readonly debounceMs: number,
    private readonly maxDelayMs: number,
  ) {}

  request(reason: string): void {
    if (this.closed) return;
    if (this.reasons.size === 0) this.firstAt = Date.now();
    this.reasons.add(reason);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.running) return; // fire() reschedules when the running push ends
    clearTimeout(this.timer);
    const due = Math.min(Date.now() + this.debounceMs, this.firstAt + this.maxDelayMs);
    this.timer = setTimeout(() => void this.fire(), Math.max(0, due - Date.now()));
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    const reasons = [...this.reasons];
    this.reasons.clear();
    this.running = true;
    try {
      await this.run(reasons);
    } catch (err) {
      log.error({ err, reasons }, 'push failed');
    } finally {
      this.running = false;
    }
    if (this.reasons.size > 0 && !this.closed) this.schedule();
  }
}
