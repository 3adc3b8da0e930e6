import type { quotedNames } from './migrations.js';
import {
  preRequestFewerExpressions,
  preRequestQuery,
  preRequestRoleVouchQuery,
  sessionChecksDerived,
  sessionChecksOfSessionAndUser,
} from './pre-request.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 35: the pre-request refuses a token whose `aud` is not its user's (auth.users.aud), the
 * rule restauth's own checks follow (AuthService: every dialect signs the user's audience, and a token
 * saying another is refused). PostgREST's jwt-aud compares the claim with one configured audience
 * only: a token signed for this audience for a user of another (by postgrest-auth and json-data-server
 * before they signed the user's own, or before an administrator moved the user to another audience)
 * was let through until it expired, seven days with postgrest-auth's default payload.exp.
 *
 * Each session's row keeps its user's audience, copied by the triggers as the role and ban are, and
 * `vouches` holds it, so the fast path's one containment compares it too: a token of the user's
 * audience is let through as before. Any other (another audience, none at all: signed before there was
 * one) takes the check on the tables, which refuses another audience and lets a token with none
 * through, as restauth's own check does; PostgREST before 12 gives the aud claim a setting of its
 * own, which the fast path now reads with the others.
 */
export function preRequestAudience(q: Names): string {
  const checks = `${q.restauth}.session_checks`;
  const definer = 'LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp';
  return `
    LOCK TABLE ${checks} IN SHARE ROW EXCLUSIVE MODE;
    ALTER TABLE ${checks} ADD COLUMN aud text;

    ${sessionChecksOfSessionAndUser(q, 'CREATE OR REPLACE', definer, true)}
    DROP TRIGGER restauth_session_checks_user ON ${q.schema}.users;
    CREATE TRIGGER restauth_session_checks_user AFTER UPDATE OF role, banned_until, aud ON ${q.schema}.users
      FOR EACH ROW WHEN ((OLD.role, OLD.banned_until, OLD.aud) IS DISTINCT FROM (NEW.role, NEW.banned_until, NEW.aud))
      EXECUTE FUNCTION ${q.restauth}.session_checks_of_user();

    ${sessionChecksDerived(q, true)}
    UPDATE ${checks} k SET aud = u.aud FROM ${q.schema}.users u WHERE u.id = k.user_id;
    COMMENT ON COLUMN ${checks}.vouches IS
      'restauth: what the claims must contain for the pre-request''s fast path (sub, session_id, role: the user''s own or the authenticated role, and aud: the user''s audience when it has one), derived from the row by a trigger';

    ${checkTokenOnTables(q)}

    ${preRequestAudienceCheck(q)}
  `;
}

/** Migration 35's check_token_count (kept apart for the bench to run it beside the current one). */
export function preRequestAudienceCheck(q: Names): string {
  return preRequestFewerExpressions(q, (claims) => preRequestRoleVouchQuery(q, claims), true, [
    'sub',
    'session_id',
    'role',
    'token_version',
    'aud',
  ]);
}

/**
 * check_token_on_tables as migration 35 made it (the audience compared, each refusal its reason), and
 * as migration 58 makes it with `standing` (pre-request-standing.ts): a user that no longer stands
 * refused, and every refusal one message.
 */
export function checkTokenOnTables(
  q: Names,
  standing?: { refusal: string; userStands: (row: string) => string },
): string {
  const message = standing ? `'${standing.refusal}'` : 'refusal';
  return `CREATE OR REPLACE FUNCTION ${q.restauth}.check_token_on_tables() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    DECLARE
      refusal text;
    BEGIN
      ${preRequestQuery(q, 'INTO refusal', true, standing?.userStands)};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = ${message};
      END IF;
    END
    $fn$;`;
}
