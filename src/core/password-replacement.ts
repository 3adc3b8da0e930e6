import type { KnownClientRecord } from './ports/rate-limits.js';
import type { Store, User } from './ports/store.js';

/** A password to store in place of the account's (Store.changePassword's arguments, by name). */
export interface PasswordReplacement {
  userId: string;
  passwordHash: string;
  /** The caller's session, which goes on (null: every session ends). */
  keepSessionId: string | null;
  now: Date;
  /** The hash the current password was verified against (compare-and-set); absent: unconditional. */
  expectedHash?: string | null;
  options?: { evenIfBanned?: boolean; knownClient?: KnownClientRecord | null };
  /** A PKCE flow the same request started (an email change asked with the password), which goes on. */
  keptFlowId?: string | null;
}

/**
 * Every password replacement that shuts its former holder out (the owner's change, a reset, an
 * administrator's) goes through here. The store's change ends the account's sessions and its PKCE
 * flows in its own write (Store.changePassword). A flow started before the change (a magic link, a
 * recovery, an OAuth sign-in asked with a challenge) was a way in that the change did not see: its
 * code, issued or to come, exchanged for a session after the change, and whoever held its verifier
 * kept the account the change was meant to take back. Ended by a call after the change, a code
 * exchanged between the two still opened its session.
 */
export async function replacePassword(
  deps: { store: Pick<Store, 'changePassword'> },
  change: PasswordReplacement,
): Promise<User> {
  const { userId, passwordHash, keepSessionId, now, expectedHash, options } = change;
  return deps.store.changePassword(userId, passwordHash, keepSessionId, now, expectedHash, {
    ...options,
    keptFlowId: change.keptFlowId ?? null,
  });
}
