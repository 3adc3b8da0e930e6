import type { RateLimitCounter } from '../../core/ports/rate-limits.js';

/**
 * Per-instance counters in memory, for a store served by one process (the
 * file store, under its instance lock); expired windows are swept as keys are hit.
 */
export class MemoryRateLimitCounter implements RateLimitCounter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  async hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }> {
    const at = now.getTime();
    // Either way: a clock set back must not stop the sweeps until it catches up.
    if (Math.abs(at - this.lastSweep) > 60_000) {
      for (const [k, w] of this.windows) if (w.resetAt <= at) this.windows.delete(k);
      this.lastSweep = at;
    }
    let window = this.current(key, windowMs, at);
    if (!window) {
      window = { count: 0, resetAt: at + windowMs };
      this.windows.set(key, window);
    }
    window.count++;
    return { count: window.count, resetAt: new Date(window.resetAt) };
  }

  async peek(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date } | null> {
    const window = this.current(key, windowMs, now.getTime());
    return window && { count: window.count, resetAt: new Date(window.resetAt) };
  }

  async renew(key: string, resetAt: Date): Promise<void> {
    this.windows.set(key, { count: 1, resetAt: resetAt.getTime() });
  }

  /**
   * `key`'s open window. One ending more than two of its lengths from now was opened by a clock
   * since set back: none, or its client would wait out the whole jump (the same bound as PostgreSQL's).
   */
  private current(key: string, windowMs: number, at: number): { count: number; resetAt: number } | null {
    const window = this.windows.get(key);
    if (!window || window.resetAt <= at || window.resetAt > at + 2 * windowMs) return null;
    return window;
  }
}
