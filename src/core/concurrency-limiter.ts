import { AuthError } from './errors.js';

/**
 * Runs at most `concurrency` jobs at once and lets at most `maxQueue` wait;
 * past that it sheds load at once with AuthError('over_capacity'), so a flood
 * of logins turns into quick 503s instead of an ever-growing queue.
 */
export class ConcurrencyLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxQueue: number,
  ) {
    if (concurrency < 1) throw new RangeError('concurrency must be at least 1');
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueue) {
        throw new AuthError('over_capacity', undefined, { retryAfter: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await job();
    } finally {
      // Hand the slot straight to the next waiter; `running` stays counted for it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
