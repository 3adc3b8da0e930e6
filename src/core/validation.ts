import { AuthError } from './errors.js';
import { comparableFieldName, isIdentityField, isSecretField } from '../lib/identity-fields.js';

/**
 * Keys of a registration's extra fields (json-data-server's, json-server-auth's) that name ids, in
 * any case and with or without `_` or `-`; identity facts and password-like names have their own
 * tests (lib/identity-fields.ts). Ids and identity facts live in the account, never in the user's
 * data, and a registration that tries to set them is refused (see registrationProfile).
 */
const REGISTRATION_REFUSED: ReadonlySet<string> = new Set(['id', 'uid', 'sub'].map(comparableFieldName));

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

/**
 * The public record a registration's extra fields make. None may name identity or security facts,
 * under any spelling the data API would refuse on the record they become: `Role` or `EMAIL` set there
 * stayed on the public record for good (a later write of the record keeps identity fields), as if the
 * auth routes had set them. A password-like field (a sign-up form's `passwordConfirm`) is left out:
 * json-server-auth stored it in clear on the record, and refusing it broke its clients' forms.
 */
export function registrationProfile(fields: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(fields)) {
    if (isIdentityField(key) || REGISTRATION_REFUSED.has(comparableFieldName(key)))
      throw new AuthError('validation_failed', `${key} cannot be set by a registration`);
  }
  // Own properties only (fromEntries defines them): a `__proto__` field is data, never a prototype.
  return Object.fromEntries(Object.entries(fields).filter(([key]) => !isSecretField(key)));
}
