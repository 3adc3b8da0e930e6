import type { AuthDeps } from './auth-types.js';
import { assertNotBanned } from './banned.js';
import type { User } from './ports/store.js';
import type { ClientGuesses } from './account-guess-limit.js';
import type { Client } from './audit.js';
import { type AuthEvents, unobserved } from './ports/events.js';

/**
 * What every part of the auth use cases (see AuthService) shares: its dependencies, the clock, who
 * hears of sign-ins, the work run after an answer, and the rules asked by several parts.
 */
export abstract class AuthUseCase {
  protected readonly now: () => Date;

  constructor(protected readonly deps: AuthDeps) {
    this.now = deps.clock ?? (() => new Date());
  }

  /** Whether this account must confirm its address before signing in. */
  mustConfirm(user: Pick<User, 'email' | 'emailConfirmedAt'>): boolean {
    return (
      this.deps.settings.requireEmailConfirmation === true &&
      user.email !== null &&
      user.emailConfirmedAt === null
    );
  }

  /** Throws user_banned while the user's ban lasts (GoTrue's banned_until). */
  assertNotBanned(user: Pick<User, 'bannedUntil'>, now: Date, status?: number): void {
    assertNotBanned(user, now, status);
  }

  protected get events(): AuthEvents {
    return this.deps.events ?? unobserved;
  }

  /** Runs `work` after the answer (see BackgroundWork). */
  protected background(work: () => Promise<void>): void {
    this.deps.background.run(work);
  }

  /** The per-account guess limit as `client` meets it. */
  protected guessesOf(client: Client | null): ClientGuesses {
    return this.deps.passwordGuesses.forClient(client, this.deps.store);
  }
}
