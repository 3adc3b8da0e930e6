import type pg from 'pg';
import type { quotedNames } from './migrations.js';
import { endSessionsClauses, type SessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Users with a verified MFA factor (GoTrue's `mfa_factors`: TOTP, phone or WebAuthn) get no session
 * from restauth, which has no MFA: GoTrue made them step up to aal2, and served by restauth a password
 * alone (or a mailed link, a provider) would open their account. Every statement that opens or
 * refreshes a session refuses them (noVerifiedFactor in session-sql.ts); this file ends the sessions a
 * factor verified meanwhile leaves behind, and tells the operator at start how many users that is.
 */

/** session_ends.reason of the sessions a verified factor ended. */
export const FACTOR_VERIFIED_REASON = 'mfa_factor_verified';

/**
 * A session `s` below aal2, as GoTrue's InvalidateSessionsWithAALLessThan picks them when a factor is
 * first verified (every session restauth opens is aal1; a NULL aal is GoTrue's aal1).
 */
const BELOW_AAL2 = `coalesce(s.aal::text, 'aal1') = 'aal1'`;

/**
 * Migration 47: a factor verified while restauth serves (by a GoTrue still writing the database, or
 * an administrator's SQL) ends its user's aal1 sessions, as GoTrue's own verify does, so their access
 * tokens fail the pre-request's session check and their refresh tokens lead nowhere: the per-request
 * check costs nothing more. A constraint trigger, deferred to the commit: GoTrue's verify marks the
 * factor verified, then raises its current session to aal2 in the same transaction, which an
 * immediate trigger would have deleted first. SECURITY DEFINER with a pinned search_path: whoever
 * verifies (GoTrue's role) need not write restauth's tables. The sessions that already exist for
 * users with a verified factor end now, for the same reason.
 */
export function factorVerifiedEndsSessionsSql(q: Names, t: SessionTables): string {
  const fn = `${q.restauth}.end_sessions_below_aal2`;
  return `
    ${endSessionsBelowAal2Function(q, t, 47)}
    REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;
    COMMENT ON FUNCTION ${fn}() IS
      'restauth: a verified MFA factor ends its user''s aal1 sessions, as GoTrue''s verify does';
    CREATE CONSTRAINT TRIGGER restauth_factor_verified_ends_sessions
      AFTER INSERT OR UPDATE OF status ON ${t.factors}
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW WHEN (NEW.status::text = 'verified')
      EXECUTE FUNCTION ${fn}();
    ${endSessionsOfFactorUsersSql(t)};
  `;
}

/**
 * Ends the aal1 sessions of every user with a verified factor (GoTrue's verify would have): run by
 * migration 47 on a database restauth serves, and after a GoTrue database is taken over
 * (gotrue-adopt.ts), whose sessions come in only then.
 */
export function endSessionsOfFactorUsersSql(t: SessionTables): string {
  const users = `SELECT user_id FROM ${t.factors} WHERE status::text = 'verified'`;
  return `WITH ${endSessionsClauses(
    t,
    `s.user_id IN (${users}) AND ${BELOW_AAL2}`,
    'now()',
    `'${FACTOR_VERIFIED_REASON}'`,
  )}
    SELECT FROM ended`;
}

/**
 * Migration 52: the trigger's function locks the user's row before its DELETE, as every statement that
 * opens a session does (open-sign-in.ts, session-sql.ts). A sign-in holding the row is waited for, and
 * the DELETE's snapshot, taken after, sees its session; a sign-in waiting for the row takes its
 * snapshot after this commit and sees the factor. Before, a session opened by a statement that began
 * before the factor's commit was invisible to both checks and kept its access token until expiry.
 * It also bumps the token_count of a user owning a role postgrest-auth handed out, which ends that
 * era's tokens (named by role, with no session to end), as a password change does.
 */
export function factorVerifiedLocksUserSql(q: Names, t: SessionTables): string {
  // The users with a verified factor already: migration 47 ended their sessions, not these tokens.
  const adopted = adoptedRole(q);
  return `${endSessionsBelowAal2Function(q, t, 52)}
    UPDATE ${q.restauth}.accounts a SET token_count = token_count + 1
      WHERE a.uid IN (SELECT user_id FROM ${t.factors} WHERE status::text = 'verified') AND ${adopted};`;
}

/**
 * Migration 60: the trigger function as migration 52 made it, alone (without 52's one-time token_count
 * bump), for databases where 52 named the users table by `store.table` (see migration 60).
 */
export function endSessionsBelowAal2Sql(q: Names, t: SessionTables): string {
  return endSessionsBelowAal2Function(q, t, 52);
}

/**
 * The account `a` owns a role postgrest-auth handed out (adopted): only those have tokens named by
 * role. Other users' tokens all name a session, which the trigger ends: their count stays, so the
 * pre-request's refusal still says the session ended.
 */
export const adoptedRole = (q: Names) =>
  `EXISTS (SELECT FROM ${q.restauth}.user_roles r WHERE r.user_id = a.id AND r.adopted)`;

/** restauth.end_sessions_below_aal2, the trigger's function, as migration `version` makes it. */
function endSessionsBelowAal2Function(q: Names, t: SessionTables, version: 47 | 52): string {
  // Migration 52 also bumps the account's token_count: postgrest-auth's tokens (no sub, no session)
  // pass the pre-request on their count alone, and no session's end reaches them.
  const adopted = adoptedRole(q);
  const lockUser =
    version === 52
      ? `PERFORM FROM ${q.schema}.users WHERE id = NEW.user_id FOR NO KEY UPDATE;
      UPDATE ${q.restauth}.accounts a SET token_count = token_count + 1 WHERE a.uid = NEW.user_id AND ${adopted};\n      `
      : '';
  return `CREATE OR REPLACE FUNCTION ${q.restauth}.end_sessions_below_aal2() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $fn$
    DECLARE
      ended_count integer;
    BEGIN
      ${lockUser}WITH ${endSessionsClauses(t, `s.user_id = NEW.user_id AND ${BELOW_AAL2}`, 'now()', `'${FACTOR_VERIFIED_REASON}'`)}
      SELECT count(*) INTO ended_count FROM ended;
      RETURN NULL;
    END
    $fn$;`;
}

/** How many of the schema's users have a verified factor (0 without GoTrue's table). */
async function usersWithVerifiedFactors(client: pg.Pool, t: SessionTables): Promise<number> {
  const { rows: found } = await client.query<{ present: boolean }>(
    'SELECT to_regclass($1::text) IS NOT NULL AS present',
    [t.factors],
  );
  if (!found[0]?.present) return 0;
  const { rows } = await client.query<{ users: number }>(
    `SELECT count(DISTINCT user_id)::int AS users FROM ${t.factors} WHERE status::text = 'verified'`,
  );
  return rows[0]?.users ?? 0;
}

/**
 * Tells the operator at start how many users restauth will refuse for their factors. Until migration
 * 47 such a database was refused whole: one user with a factor kept everyone out, and a factor
 * verified after the start went unnoticed until the next. The refusal is per user now, checked where
 * sessions open; the count stays in the log so the loss of service for those users is not silent.
 */
export async function warnOfVerifiedFactors(
  client: pg.Pool,
  t: SessionTables,
  schemaName: string,
  logger: { warn(message: string): void },
): Promise<void> {
  const guarded = await usersWithVerifiedFactors(client, t);
  if (guarded === 0) return;
  logger.warn(
    `schema ${schemaName}: ${guarded} users have a verified MFA factor (${schemaName}.mfa_factors), which ` +
      'restauth does not check: it opens and refreshes no session for them (403 insufficient_aal) until the ' +
      "factor is deleted (docs/postgres-schema.md, 'MFA factors')",
  );
}
