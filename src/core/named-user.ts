import { namesUser } from './identity.js';
import type { Store, User } from './ports/store.js';

/**
 * Whether a request naming `requested` (json-data-server's `id`, a login) names `user` and no one
 * else: namesUser compares an id as it is and a login by its login key, so a name that folds to
 * this user's can be another user's exact id. A json-server-auth db.json taken over keeps its ids
 * ("Admin"); anyone could then register `admin`, and their token passed /auth/check and
 * /auth/refresh as Admin's. The exact id wins: a request naming another user's id names that user.
 * A lookup only when the name is not this user's own id.
 */
export async function namesOnlyUser(
  store: Pick<Store, 'findUserById'>,
  user: Pick<User, 'id' | 'username' | 'email'>,
  requested: string,
): Promise<boolean> {
  if (user.id === requested) return true;
  if (!namesUser(user, requested)) return false;
  const exact = await store.findUserById(requested);
  return exact === null || exact.id === user.id;
}
