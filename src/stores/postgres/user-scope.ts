/* Which users a statement that names a user finds: GoTrue's instance and audience, and ids that name one. */

/**
 * Users an address or a login key finds, as GoTrue's FindUserByEmailAndAudience (`instance_id = nil
 * AND aud = ? AND is_sso_user = false`): an SSO user's address is its identity provider's
 * (users_email_partial_key lets a password user hold it too); a soft-deleted user (deleted_at set) no
 * longer exists for sign-in, recovery or links; a user of another GoTrue instance (instance_id not the
 * nil uuid) is another server's; and with jwt.audience set (`audience`), a user of another aud is
 * another application's, whose tokens would say its own audience, which restauth refuses: found, it
 * signed in (200) to tokens nothing took (403), where GoTrue answers 400 invalid_credentials. A row
 * written without instance_id or aud (NULL) is restauth's own. Without jwt.audience restauth serves
 * every audience, as GoTrue serves each its X-JWT-AUD header names.
 */
export function findableUsers(audience: string | undefined): string {
  return `NOT u.is_sso_user AND u.deleted_at IS NULL AND ${OWN_INSTANCE}${ofAudience(audience)}`;
}
/**
 * Users of restauth's own GoTrue instance, as GoTrue's FindUserByID asks (`instance_id = uuid.Nil`):
 * a user of another instance of an older multi-instance GoTrue is not found by id either, so its
 * sessions neither refresh nor pass GET /user, and the admin API neither lists nor shows it.
 */
export const OWN_INSTANCE = ownInstance('u');
/** OWN_INSTANCE on the user row `row` (an alias, or a table a statement names unaliased). */
export function ownInstance(row: string): string {
  return `(${row}.instance_id IS NULL OR ${row}.instance_id = '00000000-0000-0000-0000-000000000000')`;
}
/**
 * True when the user `userId` (a uuid expression) is of restauth's own instance (OWN_INSTANCE): a
 * statement on a user's rows by user id (sessions, identities, factors, one-time tokens) finds none
 * of another instance's user, as findUserById finds no such user. GoTrue asks the user first.
 */
export function ofOwnUser(users: string, userId: string): string {
  return `EXISTS (SELECT FROM ${users} u WHERE u.id = ${userId} AND ${OWN_INSTANCE})`;
}
/** With jwt.audience set, users of that aud (or none): GoTrue's admin list asks `aud = ?` as well. */
export function ofAudience(audience: string | undefined): string {
  return audience === undefined ? '' : ` AND (u.aud IS NULL OR u.aud = '${audience.replaceAll("'", "''")}')`;
}
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A user id as the uid column takes it, or null: anything but a UUID names nobody, and must not reach
 * the query, where casting it to uuid would be an SQL error (a 500) instead of "not found".
 */
export function userUid(id: string): string | null {
  return UUID.test(id) ? id : null;
}

/**
 * The users table's name in the users' schema since migration 14 (GoTrue's `users`), whatever
 * `store.table` says: that setting names postgrest-auth's table, which 14 moved to `restauth.accounts`.
 */
export const USERS_TABLE = 'users';
