import { isDeepStrictEqual } from 'node:util';
import { isIdentityField } from '../lib/identity-fields.js';
import { DataError } from './errors.js';
import type { Row } from './query.js';

/*
 * What a user may write to their own record through the data API: their profile, i.e. any field
 * except the identity and security fields (lib/identity-fields.ts), which only the auth routes set
 * (sign-up, email change with confirmation, the admin API). The record's id is guarded separately
 * (it never changes) and password-like fields have their own answer.
 */

/**
 * Refuses (400) a write to a user record that sets an identity field to
 * anything but its stored value (a client that sends back the record it read
 * is not refused for it).
 */
export function assertNoIdentityChange(input: Row, stored: Row): void {
  for (const [key, value] of Object.entries(input)) {
    if (!isIdentityField(key)) continue;
    if (Object.hasOwn(stored, key) && isDeepStrictEqual(stored[key], value)) continue;
    throw new DataError(
      'validation_failed',
      `${key} is an identity field: it changes through the auth routes, not the data API`,
    );
  }
}

/** A PUT replaces the profile, not the identity: stored identity fields the body leaves out are kept. */
export function keepIdentityFields(next: Row, stored: Row): void {
  for (const [key, value] of Object.entries(stored)) {
    // eslint-disable-next-line no-restricted-syntax -- `key` is one of the fixed identity field names (isIdentityField)
    if (isIdentityField(key) && !Object.hasOwn(next, key)) next[key] = value;
  }
}
