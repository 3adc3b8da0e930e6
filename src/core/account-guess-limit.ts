import { AuthError } from './errors.js';
import { unobserved, type AuthEvents } from './ports/events.js';
import type { RateLimitCounter } from './ports/rate-limits.js';
import type { RateLimitRule } from './rate-limit.js';

/**
 * Wrong passwords allowed per account, whatever client sends them: the per-client limits count a
 * client by its address, so an attacker holding many addresses (a botnet, IPv4 pools, an IPv6
 * /48 of 65,536 /64s) had an allowance per address for one victim's password, and the dialects'
 * login routes (GoTrue, json-server-auth, json-data-server, postgrest-auth) each its own. Past
 * the allowance every password check of that account answers 429 until its window ends, the
 * right password too (else a guess that hits would still tell itself apart), and no hashing runs.
 *
 * The key is the account's id, so every spelling of its name or address is one budget; a login no
 * account has is counted by its normalized key, so an unknown name is refused the same way and
 * the 429 tells nobody whether an account exists.
 */
export class AccountGuessLimit {
  constructor(
    private readonly counter: RateLimitCounter,
    private readonly rule: RateLimitRule,
    private readonly clock: () => Date = () => new Date(),
    /** Hears of each refusal (metrics: the `passwordGuesses` family). */
    private readonly events: Pick<AuthEvents, 'rateLimited'> = unobserved,
  ) {}

  /**
   * Takes one check from `key`'s allowance before its password is checked, and refuses (429,
   * Retry-After) past it. Taken before, not counted after a wrong answer: guesses sent all at once
   * would otherwise all find the allowance unspent while their hashes are computed.
   */
  async take(key: string): Promise<void> {
    if (this.rule.max <= 0) return; // 0 disables the limit
    const now = this.clock();
    const { count, resetAt } = await this.counter.hit(counterKey(key), this.rule.window * 1000, now);
    if (count > this.rule.max) {
      this.events.rateLimited('passwordGuesses');
      const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000));
      throw new AuthError('over_request_rate_limit', 'Too many requests, retry later', { retryAfter });
    }
  }

  /** Gives back the check of a right password: only wrong ones spend the allowance. */
  async giveBack(key: string): Promise<void> {
    if (this.rule.max <= 0) return;
    await this.counter.release(counterKey(key), this.rule.window * 1000, this.clock());
  }
}

/** Apart from the per-client families' keys (`signIn:<address>` ...). */
function counterKey(key: string): string {
  return `passwordGuesses:${key}`;
}
