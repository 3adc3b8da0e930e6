/** Fixed-window counters: one instance's memory, or a table shared by every instance. */
export interface RateLimitCounter {
  /** Counts one hit on `key` and returns the count in its current window and when that window ends. */
  hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }>;
  /**
   * Takes one hit back from `key`'s current window (never below 0); nothing when none is open (a
   * window ending more than two of its lengths from now was opened by a clock since set back: none, as `hit`).
   */
  release(key: string, windowMs: number, now: Date): Promise<void>;
}
