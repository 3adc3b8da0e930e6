import { AuthError } from './errors.js';

/** The route families limited separately, as GoTrue limits them. */
export type RateLimitFamily = 'signIn' | 'signUp' | 'recovery' | 'refresh' | 'verify';

export interface RateLimitRule {
  /** Requests allowed per window and client. */
  max: number;
  /** Window length in seconds. */
  window: number;
}

/** Fixed-window counters: one instance's memory, or a table shared by every instance. */
export interface RateLimitCounter {
  /** Counts one hit on `key` and returns the count in its current window and when that window ends. */
  hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }>;
}

/**
 * Refuses a client past its family's allowance with over_request_rate_limit
 * (429) and the seconds until its window ends (Retry-After).
 */
export class RateLimiter {
  constructor(
    private readonly counter: RateLimitCounter,
    private readonly rules: Record<RateLimitFamily, RateLimitRule>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async check(family: RateLimitFamily, client: string): Promise<void> {
    const rule = this.rules[family];
    if (rule.max <= 0) return; // 0 disables the limit
    const now = this.clock();
    const { count, resetAt } = await this.counter.hit(`${family}:${client}`, rule.window * 1000, now);
    if (count > rule.max) {
      const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
      throw new AuthError('over_request_rate_limit', 'Too many requests, retry later', { retryAfter });
    }
  }
}

/** Per-instance counters in memory; expired windows are swept as keys are hit. */
export class MemoryRateLimitCounter implements RateLimitCounter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private lastSweep = 0;

  async hit(key: string, windowMs: number, now: Date): Promise<{ count: number; resetAt: Date }> {
    const at = now.getTime();
    if (at - this.lastSweep > 60_000) {
      for (const [k, w] of this.windows) if (w.resetAt <= at) this.windows.delete(k);
      this.lastSweep = at;
    }
    let window = this.windows.get(key);
    if (!window || window.resetAt <= at) {
      window = { count: 0, resetAt: at + windowMs };
      this.windows.set(key, window);
    }
    window.count++;
    return { count: window.count, resetAt: new Date(window.resetAt) };
  }
}
