import { assertNotBanned, isBanned } from '../../core/banned.js';
import type { JsonDocument } from './file-database.js';
import { normalizeCredentials } from './records.js';

/**
 * Refuses (user_banned) a write for a user banned at `at`, read inside the write's serialized
 * transaction, before anything changes (a throwing transaction is not undone): a ban committed after
 * the caller read the user stops the write all the same.
 */
export function refuseBanned(credentials: JsonDocument, userId: string, at: Date): void {
  assertNotBanned(storedBan(credentials, userId), at);
}

/** Whether the user is banned at `at` in `credentials` as committed (read inside a write's transaction). */
export function isBannedIn(credentials: JsonDocument, userId: string, at: Date): boolean {
  return isBanned(storedBan(credentials, userId), at);
}

function storedBan(credentials: JsonDocument, userId: string): { bannedUntil: Date | null } {
  const bannedUntil = normalizeCredentials(credentials).accounts[userId]?.bannedUntil;
  return { bannedUntil: bannedUntil == null ? null : new Date(bannedUntil) };
}
