import type { quotedNames } from './migrations.js';
import { adoptedRole } from './gotrue-factors.js';
import type { oneTimeTokenTables } from './gotrue-one-time-tokens.js';
import { endSessionsClauses, type SessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;
type TokenTables = ReturnType<typeof oneTimeTokenTables>;

/**
 * A soft-deleted user (GoTrue's auth.users.deleted_at) is signed out everywhere: GoTrue's soft delete
 * (admin DELETE with should_soft_delete) sets deleted_at, clears the user's one-time tokens and ends
 * every session of the user in the same transaction (models.SoftDeleteUser, ClearAllOneTimeTokensForUser,
 * Logout). restauth already finds no such user by address or login (findableUsers in
 * user-scope.ts); this file ends the sessions and spends the codes that a deleted_at written
 * otherwise (a DBA's UPDATE, a GoTrue database taken over with such rows) leaves behind, so that their
 * access tokens fail restauth's check and the pre-request's, their refresh tokens lead nowhere and a
 * link mailed before opens nothing, without a condition more in any per-request statement. A session
 * opened after by a way that names the user by id (a provider's identity, a flow begun before) is
 * refused where sessions open (session-sql.ts, 'unless banned, MFA or deleted').
 */

/** session_ends.reason of the sessions a soft delete ended. */
export const USER_DELETED_REASON = 'user_deleted';

/** The users' rows `u` that are soft-deleted. */
const SOFT_DELETED = 'u.deleted_at IS NOT NULL';

/**
 * Migration 56: a trigger ends the user's sessions and deletes its one-time tokens (restauth's codes
 * and GoTrue's rows showing them) when its deleted_at is first set, whoever sets it (GoTrue's role too:
 * SECURITY DEFINER with a pinned search_path), and bumps the token count of an account owning a role
 * postgrest-auth handed out, whose tokens name no session (as migration 52 does for a verified factor).
 * The users soft-deleted before it are signed out now.
 */
export function softDeleteEndsSessionsSql(q: Names, t: SessionTables, tokens: TokenTables): string {
  const fn = `${q.restauth}.end_sessions_of_deleted_user`;
  return `
    CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $fn$
    DECLARE
      ended_count integer;
    BEGIN
      UPDATE ${q.restauth}.accounts a SET token_count = token_count + 1 WHERE a.uid = NEW.id AND ${adoptedRole(q)};
      DELETE FROM ${tokens.codeTokens} WHERE user_id = NEW.id;
      DELETE FROM ${tokens.gotrue} WHERE user_id = NEW.id;
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
    ${signOutDeletedUsersSql(q, t, tokens)};
  `;
}

/**
 * Ends every session of a soft-deleted user and deletes its one-time tokens: run by migration 56, and
 * after a GoTrue database is taken over (gotrue-adopt.ts), whose sessions and tokens come in only then.
 */
export function signOutDeletedUsersSql(q: Names, t: SessionTables, tokens: TokenTables): string {
  const deleted = `SELECT u.id FROM ${q.schema}.users u WHERE ${SOFT_DELETED}`;
  return `WITH ${endSessionsClauses(t, `s.user_id IN (${deleted})`, 'now()', `'${USER_DELETED_REASON}'`)},
      codes AS (DELETE FROM ${tokens.codeTokens} WHERE user_id IN (${deleted})),
      shown AS (DELETE FROM ${tokens.gotrue} WHERE user_id IN (${deleted}))
    SELECT FROM ended`;
}
