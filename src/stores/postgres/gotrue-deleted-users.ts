import type { quotedNames } from './migrations.js';
import { adoptedRole } from './gotrue-factors.js';
import { endSessionsClauses, type SessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * A soft-deleted user (GoTrue's auth.users.deleted_at) is signed out everywhere: GoTrue's soft delete
 * (admin DELETE with should_soft_delete) sets deleted_at and ends every session of the user in the
 * same transaction (models.SoftDeleteUser → Logout). restauth already finds no such user for a sign-in
 * or a mailed link (FINDABLE_USERS in postgres-store.ts); this file ends the sessions that a deleted_at
 * written otherwise (a DBA's UPDATE, a GoTrue database taken over with such rows) leaves behind, so
 * that their access tokens fail restauth's check and the pre-request's, and their refresh tokens lead
 * nowhere, without a condition more in any per-request statement.
 */

/** session_ends.reason of the sessions a soft delete ended. */
export const USER_DELETED_REASON = 'user_deleted';

/** The users' rows `u` that are soft-deleted. */
const SOFT_DELETED = 'u.deleted_at IS NOT NULL';

/**
 * Migration 56: a trigger ends the user's sessions when its deleted_at is first set, whoever sets it
 * (GoTrue's role too: SECURITY DEFINER with a pinned search_path), and bumps the token count of an
 * account owning a role postgrest-auth handed out, whose tokens name no session (as migration 52 does
 * for a verified factor). The sessions of users soft-deleted before it end now.
 */
export function softDeleteEndsSessionsSql(q: Names, t: SessionTables): string {
  const fn = `${q.restauth}.end_sessions_of_deleted_user`;
  return `
    CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $fn$
    DECLARE
      ended_count integer;
    BEGIN
      UPDATE ${q.restauth}.accounts a SET token_count = token_count + 1 WHERE a.uid = NEW.id AND ${adoptedRole(q)};
      WITH ${endSessionsClauses(t, 's.user_id = NEW.id', 'now()', `'${USER_DELETED_REASON}'`)}
      SELECT count(*) INTO ended_count FROM ended;
      RETURN NULL;
    END
    $fn$;
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    COMMENT ON FUNCTION ${fn}() IS
      'restauth: a soft-deleted user (deleted_at set) is signed out everywhere, as GoTrue''s soft delete does';
    CREATE TRIGGER restauth_soft_delete_ends_sessions AFTER UPDATE OF deleted_at ON ${q.schema}.users
      FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
      EXECUTE FUNCTION ${fn}();
    UPDATE ${q.restauth}.accounts a SET token_count = token_count + 1
      WHERE a.uid IN (SELECT u.id FROM ${q.schema}.users u WHERE ${SOFT_DELETED}) AND ${adoptedRole(q)};
    ${endSessionsOfDeletedUsersSql(q, t)};
  `;
}

/**
 * Ends every session of a soft-deleted user: run by migration 56, and after a GoTrue database is
 * taken over (gotrue-adopt.ts), whose sessions come in only then.
 */
export function endSessionsOfDeletedUsersSql(q: Names, t: SessionTables): string {
  const deleted = `SELECT u.id FROM ${q.schema}.users u WHERE ${SOFT_DELETED}`;
  return `WITH ${endSessionsClauses(t, `s.user_id IN (${deleted})`, 'now()', `'${USER_DELETED_REASON}'`)}
    SELECT FROM ended`;
}
