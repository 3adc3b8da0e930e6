import { AuthError } from './errors.js';

/**
 * Keys of a user's own data (json-data-server's extra register fields, GoTrue
 * user_metadata) that name identity or security facts. Those facts live in
 * the account, never in the user's data: a registration that tries to set
 * them through its extra fields is refused (see refuseIdentityFields), and
 * metadata holding them is kept as data only, never read as identity.
 */
const IDENTITY_FIELDS: ReadonlySet<string> = new Set([
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

/**
 * NUL and unpaired UTF-16 surrogates (JSON's `"\ud800"`) are no text a user
 * means: PostgreSQL's text and jsonb refuse both (NUL as 22021, a lone
 * surrogate in jsonb as invalid JSON), and a surrogate turns into U+FFFD on
 * its way to UTF-8, so two different strings would store as one.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /[\u0000\p{Cs}]/u;

export function assertStorableText(value: string, field: string): void {
  if (UNSTORABLE.test(value))
    throw new AuthError(
      'validation_failed',
      `${field} must not contain NUL characters or unpaired surrogates`,
    );
}

/**
 * Checks user-supplied JSON data (metadata): only storable text in every key and string, and only finite
 * numbers, however deep.
 */
export function checkUserData(value: unknown, field: string): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') assertStorableText(item, field);
    // `1e400` parses as Infinity, which JSON (and jsonb) stores as null: the data would change on its way.
    else if (typeof item === 'number' && !Number.isFinite(item))
      throw new AuthError('validation_failed', `${field} must not hold a number out of range`);
    else if (Array.isArray(item)) pending.push(...item);
    else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        assertStorableText(key, field);
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
