import { AuthError } from './errors.js';

/**
 * Keys of a user's own data (json-data-server's extra register fields, GoTrue
 * user_metadata) that name identity or security facts. Those facts live in
 * the account, never in the user's data: a registration that tries to set
 * them through its extra fields is refused (see refuseIdentityFields), and
 * metadata holding them is kept as data only, never read as identity.
 */
export const IDENTITY_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'uid',
  'sub',
  'username',
  'email',
  'phone',
  'role',
  'aud',
  'password',
  'password_hash',
  'passwordHash',
  'encrypted_password',
  'email_confirmed_at',
  'emailConfirmedAt',
  'confirmed_at',
  'phone_confirmed_at',
  'banned_until',
  'bannedUntil',
  'app_metadata',
  'appMetadata',
  'token_version',
  'tokenVersion',
]);

/** NUL is no character of any text a user means, and PostgreSQL's text and jsonb refuse it (a 500). */
export function assertNoNul(value: string, field: string): void {
  if (value.includes('\u0000'))
    throw new AuthError('validation_failed', `${field} must not contain NUL characters`);
}

/** Checks user-supplied JSON data (metadata): no NUL in any key or string, however deep. */
export function checkUserData(value: unknown, field: string): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') assertNoNul(item, field);
    else if (Array.isArray(item)) pending.push(...item);
    else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        assertNoNul(key, field);
        pending.push(child);
      }
    }
  }
}

/** A registration's extra fields must not name identity or security facts (IDENTITY_FIELDS). */
export function refuseIdentityFields(fields: Record<string, unknown>, extra: readonly string[] = []): void {
  for (const key of Object.keys(fields)) {
    if (IDENTITY_FIELDS.has(key) || extra.includes(key))
      throw new AuthError('validation_failed', `${key} cannot be set by a registration`);
  }
}
