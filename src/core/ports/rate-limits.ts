/** Fixed-window counters: one instance's memory, or a table shared by every instance. */
export interface RateLimitCounter {
  /** Counts one hit on `key` and returns the count in its current window and when that window ends. */
  hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }>;
}
