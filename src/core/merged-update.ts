import { AuthError } from './errors.js';
import {
  UserDataChangedError,
  type Store,
  type User,
  type UserPatch,
  type UserUpdateConditions,
} from './ports/store.js';

/** Merges computed again from the user as it is now before the update gives up (409): one per racing write. */
const MERGE_ATTEMPTS = 5;

/**
 * Writes a patch whose user data (profile, appMetadata) is merged into the user as read, as a
 * compare-and-set: the store writes it only while that data is still what was read. Merged into
 * a stale read and written whole, an update put back the key a racing one removed (an admin's
 * `app_metadata` revocation undone by another update) and dropped the one it added, answering 200
 * to both. When the data changed meanwhile, the user is read again and `patchOf` merges anew.
 */
export async function updateMerged(
  store: Store,
  read: User,
  patchOf: (user: User) => UserPatch,
  conditions: Pick<UserUpdateConditions, 'unlessBannedAt' | 'whileSessionLive'> = {},
): Promise<User> {
  let user = read;
  for (let attempt = 1; ; attempt++) {
    const patch = patchOf(user);
    try {
      return await store.updateUser(user.id, patch, {
        ...conditions,
        ...(patch.profile !== undefined ? { whileProfileIs: user.profile } : {}),
        ...(patch.appMetadata !== undefined ? { whileAppMetadataIs: user.appMetadata } : {}),
      });
    } catch (error) {
      if (!(error instanceof UserDataChangedError)) throw error;
      if (attempt >= MERGE_ATTEMPTS)
        throw new AuthError('conflict', "The user's data changed meanwhile: try again");
      const now = await store.findUserById(user.id);
      if (now === null) throw new AuthError('user_not_found');
      user = now;
    }
  }
}
