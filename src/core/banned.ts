import { AuthError } from './errors.js';
import type { User } from './ports/store.js';

/** Whether the user's ban (GoTrue's banned_until) lasts at `now`. */
export function isBanned(user: Pick<User, 'bannedUntil'>, now: Date): boolean {
  return user.bannedUntil !== null && user.bannedUntil.getTime() > now.getTime();
}

/**
 * Throws user_banned while the user's ban lasts (GoTrue's banned_until). Every flow that acts for an
 * account asks before it writes anything: a sign-in, and every side door to one (a mailed link or code,
 * a password changed with the current one, an identity linked after the ban), so a ban leaves the
 * account as it was until it is lifted. 403 unless the flow answers as a sign-in does (400).
 */
export function assertNotBanned(user: Pick<User, 'bannedUntil'>, now: Date, status?: number): void {
  if (isBanned(user, now)) {
    throw new AuthError('user_banned', undefined, status === undefined ? undefined : { status });
  }
}
