import { unobserved, type AuthEvents } from './ports/events.js';
import { AuthError } from './errors.js';
import type { RateLimitCounter, SharedRateLimitCounter } from './ports/rate-limits.js';
import { RateLimitTally, TALLY_MAX_KEYS } from './rate-limit-tally.js';
import { DeferredHit } from './rate-limit-deferred.js';

/** The route families limited separately, as GoTrue limits them. */
export type RateLimitFamily = 'signIn' | 'signUp' | 'recovery' | 'refresh' | 'verify' | 'anonymous';

export interface RateLimitRule {
  /** Requests allowed per window and client. */
  max: number;
  /** Window length in seconds. */
  window: number;
}

/**
 * The families whose shared counts are written once per tick (RateLimitTally), not per request: the
 * refresh, the one asked often (every session, hourly) and cheap to answer, whose limit guards no guess
 * (a refresh token is 256 random bits). Sign-in, verification and the mail-sending families stay exact
 * across instances: a password or code guessed, or a mail sent, costs far more than the write.
 */
const TALLIED: ReadonlySet<RateLimitFamily> = new Set(['refresh']);

/**
 * Refuses a client past its family's allowance with over_request_rate_limit
 * (429) and the seconds until its window ends (Retry-After).
 */
export class RateLimiter {
  private readonly tally: RateLimitTally | null;

  constructor(
    private readonly counter: RateLimitCounter,
    private readonly rules: Record<RateLimitFamily, RateLimitRule>,
    private readonly clock: () => Date = () => new Date(),
    /** Hears of each refusal (metrics). */
    private readonly events: Pick<AuthEvents, 'rateLimited'> = unobserved,
    /** The most clients tallied in memory at once (a test sets a small one). */
    tallyKeys = TALLY_MAX_KEYS,
  ) {
    this.tally = isShared(counter) ? new RateLimitTally(counter, clock, undefined, tallyKeys) : null;
  }

  /** Whether `family` has a limit (0, as RESTAUTH_RATE_LIMITS=off sets every family, disables it). */
  limits(family: RateLimitFamily): boolean {
    return this.rules[family].max > 0;
  }

  async check(family: RateLimitFamily, client: string): Promise<void> {
    const rule = this.rules[family];
    if (rule.max <= 0) return; // 0 disables the limit
    const now = this.clock();
    const key = `${family}:${client}`;
    const tallied =
      this.tally && TALLIED.has(family) ? await this.tally.hit(key, rule.window * 1000, now) : null;
    const { count, resetAt } = tallied ?? (await this.counter.hit(key, rule.window * 1000, now));
    this.judge(family, count, resetAt, now);
  }

  /**
   * `check`, to be counted by a statement the request sends anyway (DeferredHit): null where the
   * family is unlimited or tallied, or its counts are not in the store's database (the file store's
   * memory: a hit there costs no round trip to save).
   */
  defer(family: RateLimitFamily, client: string): DeferredHit | null {
    const rule = this.rules[family];
    if (rule.max <= 0 || TALLIED.has(family) || !isShared(this.counter)) return null;
    const counter = this.counter;
    return new DeferredHit(
      `${family}:${client}`,
      rule.window * 1000,
      () => this.check(family, client),
      async (count, resetAt) => {
        const now = this.clock();
        await counter.counted?.(1, now); // the table's sweep goes by the hits counted
        this.judge(family, count, resetAt, now);
      },
    );
  }

  /** Refuses a count past `family`'s allowance: 429 with the seconds until its window ends. */
  private judge(family: RateLimitFamily, count: number, resetAt: Date, now: Date): void {
    if (count <= this.rules[family].max) return;
    this.events.rateLimited(family);
    const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
    throw new AuthError('over_request_rate_limit', 'Too many requests, retry later', { retryAfter });
  }

  /** Writes the hits counted since the last tick now (a test). */
  async flush(): Promise<void> {
    await this.tally?.flush();
  }

  /** Writes the hits counted since the last tick and stops ticking, before the pool closes. */
  async close(): Promise<void> {
    await this.tally?.close();
  }
}

/** Whether `counter` takes many keys' hits in one write (PostgreSQL's table). */
export function isShared(counter: RateLimitCounter): counter is SharedRateLimitCounter {
  return 'addHits' in counter;
}
