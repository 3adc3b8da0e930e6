import type { NewUser } from '../../src/core/ports/store.js';

/** A new user of the store port with a user name only: no address, role, profile or metadata. */
export function namedUser(username: string): NewUser {
  return { username, email: null, emailConfirmedAt: null, role: null, profile: {}, appMetadata: {} };
}
