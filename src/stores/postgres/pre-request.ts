import { UUID_PATTERN, type quotedNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 24: the pre-request's fast path (`check_token_count`, run by PostgREST in every request's
 * transaction) as one query and one test. The checks are those of migration 17, in the same order with
 * the same messages: the user exists, the token's role is its user's, the user is not banned, the token
 * version is the account's, the session exists, is the user's and is before its not_after. What costs
 * in a PL/pgSQL function called once per transaction is its statements, not its index scans: each
 * expression is set up again in every new transaction and each query is an executor run, so the claims
 * are read, the three rows looked up and the verdict reached in one query (the claims parsed once, in a
 * subquery kept apart by OFFSET 0), and one IF acts on it: NULL lets the request through, '' hands
 * another token shape (anonymous, postgrest-auth's, legacy claim settings) to check_token_general.
 */
export function preRequestInOneQuery(q: Names): string {
  return `
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      refusal text;
    BEGIN
      ${preRequestQuery(q, 'INTO refusal')};
      IF refusal = '' THEN
        PERFORM ${q.schema}.check_token_general();
      ELSIF refusal IS NOT NULL THEN
        RAISE invalid_password USING MESSAGE = refusal;
      END IF;
    END
    $fn$;
  `;
}

/**
 * The query of the fast path: its verdict on the claims of the transaction, `into` the variable named
 * (empty: as a plain query, to EXPLAIN it).
 */
export function preRequestQuery(q: Names, into = ''): string {
  const t = sessionTables(q);
  const role = q.authenticatedLiteral;
  return `SELECT CASE
          WHEN c.user_id IS NULL OR c.session_id IS NULL THEN ''
          WHEN u.id IS NULL THEN 'token refused: the user no longer exists'
          WHEN (c.role IN (coalesce(nullif(u.role, ${role}), ${role}), ${role})) IS NOT TRUE
            THEN 'token refused: its role is not its user''s'
          WHEN u.banned_until > now() THEN 'token refused: the user is banned'
          WHEN c.version IS DISTINCT FROM a.token_count::text
            THEN 'token refused: issued before a password change, sign in again'
          -- No row: signed out, revoked or pruned (ended sessions leave auth.sessions); NULL not_after: no time box.
          WHEN s.user_id IS DISTINCT FROM u.id OR s.not_after <= now()
            THEN 'token refused: the session has ended (signed out or revoked)'
        END ${into}
      FROM (
        -- A sub or session_id that is no uuid is NULL here (cast only after the pattern matched).
        SELECT CASE WHEN claims ->> 'sub' ~ ${UUID_PATTERN} THEN (claims ->> 'sub')::uuid END AS user_id,
          CASE WHEN claims ->> 'session_id' ~ ${UUID_PATTERN} THEN (claims ->> 'session_id')::uuid END AS session_id,
          claims ->> 'role' AS role, coalesce(claims ->> 'token_version', claims ->> 'count') AS version
        FROM (SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb AS claims OFFSET 0) parsed
        OFFSET 0
      ) c
      LEFT JOIN ${q.schema}.users u ON u.id = c.user_id
      LEFT JOIN ${q.restauth}.accounts a ON a.uid = u.id
      LEFT JOIN ${t.sessions} s ON s.id = c.session_id`;
}
