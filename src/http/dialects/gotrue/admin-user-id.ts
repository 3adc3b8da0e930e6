import { AuthError } from '../../../core/errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

/**
 * `work` on the user `id` of a route under /admin/users/:id, its user_not_found answered as GoTrue's
 * loadUser answers an id that is not a UUID: 404 validation_failed "user_id must be an UUID", so an
 * administrator's typo reads as one, not as a missing user. Only when no user has the id: the file
 * store's users may be named by ids that are not UUIDs (a chosen id, a json-server-auth user name),
 * and those stay reachable.
 */
export async function onAdminUserId<T>(id: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof AuthError && error.code === 'user_not_found' && !UUID.test(id)) {
      throw new AuthError('validation_failed', 'user_id must be an UUID', { status: 404, cause: error });
    }
    throw error;
  }
}
