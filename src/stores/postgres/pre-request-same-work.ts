import { UUID_PATTERN, type quotedNames } from './migrations.js';
import { PRE_REQUEST_REFUSAL, userStands } from './pre-request-standing.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/** A uuid no user or session has: the key of a lookup made only so that it is made. */
const NIL_UUID = `'00000000-0000-0000-0000-000000000000'::uuid`;

/**
 * Migration 62: the general check does the same work whatever the account a token names, so a SQL
 * login that sets request.jwt.claims and calls the check learns nothing from its cost either.
 *
 * Migration 58 gave every refusal one message, but the general check still stopped at the first
 * refusal: a number (or uuid) of no account cost one lookup, one of an account its checks and, with
 * the right token count, a second statement for the session. Counted in the statements and the rows
 * the check touched, that told which account numbers exist and then each one's count, guess by guess.
 * Now a subject's lookup is one statement, made whatever the account: for an account number, the
 * account nearest at or below it is read, so a row is fetched for an unknown number as for a known
 * one (a number below the lowest account's finds none: it tells only that it is below); for a uuid,
 * that account, found or not (uuids are not guessed; nearest by uuid would let the lowest user's be
 * bisected out). Then its user and the claimed session are looked up, found or not, and every claim
 * is compared after, in one expression. Plans are generic (force_generic_plan): a custom plan's
 * estimates, and the index probes the planner makes for them, would depend on the value claimed.
 * And they use the indexes (enable_seqscan off), also on the small tables where the planner prefers
 * a sequential scan: one that stops at its match (a unique key) reads as many rows as lie before it.
 */
export function preRequestSameWork(q: Names): string {
  const accounts = `${q.restauth}.accounts`;
  const users = `${q.schema}.users`;
  const sessions = sessionTables(q).sessions;
  const role = q.authenticatedLiteral;
  // The account claimed (`column` = `key`: its user's uuid), or the one nearest at or below it
  // (`<=`: its number), that user, and the claimed session: one row whatever exists. `found`: the
  // account is the one claimed and its user is there (a delete in replica mode fires no cascade).
  const subjectLookup = (column: 'id' | 'uid', key: string, compared: '=' | '<=') => `
        SELECT (a.${column} = ${key} AND u.id IS NOT NULL) AS found, u.id AS user_id, a.token_count, nullif(u.role, ${role}) AS role,
            u.banned_until, u.aud, ${userStands('u')} AS stands, s.user_id AS session_user_id,
            s.not_after AS session_not_after
          INTO checked
          FROM (SELECT) one
          LEFT JOIN LATERAL (
            SELECT a.id, a.uid, a.token_count FROM ${accounts} a
             WHERE a.${column} ${compared} ${key} ORDER BY a.${column} DESC LIMIT 1
          ) a ON true
          LEFT JOIN ${users} u ON u.id = coalesce(a.uid, ${NIL_UUID})
          LEFT JOIN ${sessions} s ON s.id = session_key`;
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_general() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
      AS $fn$
    DECLARE
      claims jsonb := ${q.schema}.jwt();
      claimed_version text := coalesce(claims ->> 'token_version', claims ->> 'count');
      claimed_number integer := CASE WHEN claimed_version ~ '^[0-9]{1,9}$' THEN claimed_version::integer END;
      claimed_role text := claims ->> 'role';
      session_text text := claims ->> 'session_id';
      session_key uuid := CASE WHEN session_text ~ ${UUID_PATTERN} THEN session_text::uuid ELSE ${NIL_UUID} END;
      user_sub text := claims ->> 'sub';
      checked record;
    BEGIN
      IF claims = '{}'::jsonb OR (user_sub IS NULL AND claimed_version IS NULL) THEN
        RETURN; -- anonymous request
      END IF;
      IF user_sub IS NULL THEN
        -- postgrest-auth's tokens name the user by its role, checked only under that role: its
        -- caller is its user, who knows what the check reads.
        SELECT true AS found, u.id AS user_id, a.token_count, nullif(u.role, ${role}) AS role, u.banned_until,
            u.aud, ${userStands('u')} AS stands, NULL::uuid AS session_user_id,
            NULL::timestamptz AS session_not_after
          INTO checked
          FROM ${q.restauth}.user_roles r JOIN ${accounts} a ON a.id = r.user_id JOIN ${users} u ON u.id = a.uid
          WHERE r.role = claimed_role AND r.adopted AND claimed_role = current_setting('role', true);
      ELSIF user_sub ~ ${UUID_PATTERN} THEN${subjectLookup('uid', 'user_sub::uuid', '=')};
      ELSIF user_sub ~ '^[0-9]{1,9}$' THEN${subjectLookup('id', 'user_sub::integer', '<=')};
      ELSE
        RAISE invalid_password USING MESSAGE = '${PRE_REQUEST_REFUSAL}';
      END IF;
      -- Every claim compared in one expression, whichever fails first (no row: every field NULL).
      IF NOT coalesce(checked.found AND checked.stands
          AND (claims ->> 'aud' <> checked.aud) IS NOT TRUE
          AND (claimed_role IN (coalesce(checked.role, ${role}), ${role})) IS TRUE
          AND (checked.banned_until > now()) IS NOT TRUE
          AND (claimed_number = checked.token_count) IS TRUE
          AND (user_sub IS NULL OR ((checked.session_user_id = checked.user_id) IS TRUE
            AND (checked.session_not_after <= now()) IS NOT TRUE)), false) THEN
        RAISE invalid_password USING MESSAGE = '${PRE_REQUEST_REFUSAL}';
      END IF;
    END
    $fn$;`;
}
