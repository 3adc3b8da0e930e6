import { AuthError } from './errors.js';
import type { Store } from './ports/store.js';

/**
 * The rule "this address belongs to another account", once: refuses with
 * email_exists when `email` (already checked, see identity.ts) is held by an
 * account other than `userId`'s; with null every holder is another.
 * `beforeRefusal` runs just before the refusal (a sign-up's answer waits as
 * long as an account's write would have taken, see AuthService).
 */
export async function assertAddressFree(
  store: Pick<Store, 'findUserByEmail'>,
  email: string,
  userId: string | null,
  beforeRefusal?: () => Promise<void>,
): Promise<void> {
  const owner = await store.findUserByEmail(email);
  if (owner === null || owner.id === userId) return;
  await beforeRefusal?.();
  throw new AuthError('email_exists');
}
