import { unobserved, type AuthEvents } from './ports/events.js';
import { AuthError } from './errors.js';
import type { RateLimitCounter } from './ports/rate-limits.js';

/** The route families limited separately, as GoTrue limits them. */
export type RateLimitFamily = 'signIn' | 'signUp' | 'recovery' | 'refresh' | 'verify' | 'anonymous';

export interface RateLimitRule {
  /** Requests allowed per window and client. */
  max: number;
  /** Window length in seconds. */
  window: number;
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
    /** Hears of each refusal (metrics). */
    private readonly events: Pick<AuthEvents, 'rateLimited'> = unobserved,
  ) {}

  /** Whether `family` has a limit (0, as RESTAUTH_RATE_LIMITS=off sets every family, disables it). */
  limits(family: RateLimitFamily): boolean {
    return this.rules[family].max > 0;
  }

  async check(family: RateLimitFamily, client: string): Promise<void> {
    const rule = this.rules[family];
    if (rule.max <= 0) return; // 0 disables the limit
    const now = this.clock();
    const { count, resetAt } = await this.counter.hit(`${family}:${client}`, rule.window * 1000, now);
    if (count > rule.max) {
      this.events.rateLimited(family);
      const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
      throw new AuthError('over_request_rate_limit', 'Too many requests, retry later', { retryAfter });
    }
  }
}
