import type { quotedNames } from './migrations.js';
import { perClaimSettingsThenTables, preRequestRoleVouchQuery, sessionChecksDerived } from './pre-request.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 63: the pre-request's fast path reads the five claims it compares from the JSON text
 * (`json_populate_record`: one pass of the lexer, no tree) and compares them with the session's row
 * in one record equality, instead of parsing the whole claims into `jsonb` and comparing them in a
 * containment, a text equality and a range test. Measured in the bench's in-server loop
 * (bench/postgres-pre-request.ts, the same run): the `jsonb` parse of a GoTrue-shaped token's claims
 * costs more than the record read, and the record equality replaces the `->>`s and the containment.
 *
 * Each session's row holds `expected`: the claims (sub, session_id, role, token_version, aud) a token
 * must carry for the row to vouch for it, derived by the trigger that derives `vouches`. It is NULL
 * when the account has no token count (no token is vouched for), and its aud is NULL when the user
 * has none: a record equality takes two NULLs as equal, so a token without aud is then vouched for,
 * and one with an aud takes the check on the tables, which lets it through as before. The text is
 * read only when it is a JSON object (`{` first, as PostgREST writes it): anything else, and every
 * token the row does not vouch for, takes the way it took (the anonymous exit, the per-claim settings
 * of PostgREST before 12, the check on the tables), with the claims parsed as `jsonb` only then.
 * Claims naming no session (anonymous ones, postgrest-auth's, none in JSON) skip the lookup, which
 * cost an anonymous request 7 µs of its 12 with no key to find (the bench's anonymous row).
 * Pinned as migration 29's: every name pg_catalog's or schema-qualified, no SET clause.
 */
export function preRequestClaimsRecord(q: Names): string {
  const checks = `${q.restauth}.session_checks`;
  const claimsType = `${q.restauth}.pre_request_claims`;
  const text = 'pg_catalog.text COLLATE pg_catalog."C"';
  const field = (name: string) => `(token_claims OPERATOR(pg_catalog.->>) '${name}')`;
  const setting = (name: string) => `pg_catalog.current_setting('request.jwt.claim${name}', true)`;
  const legacy = ['sub', 'session_id', 'role', 'token_version', 'aud']
    .map((name) => `'${name}', ${setting(`.${name}`)}`)
    .join(', ');
  return `
    LOCK TABLE ${checks} IN SHARE ROW EXCLUSIVE MODE;
    CREATE TYPE ${claimsType} AS (sub ${text}, session_id ${text}, role ${text}, token_version ${text}, aud ${text});
    COMMENT ON TYPE ${claimsType} IS
      'restauth: the claims the pre-request''s fast path reads from request.jwt.claims and compares with a session''s row';
    ALTER TABLE ${checks} ADD COLUMN expected ${claimsType};
    COMMENT ON COLUMN ${checks}.expected IS
      'restauth: the claims a token must carry for the pre-request''s fast path (sub, session_id, role, token_version, aud), derived from the row by a trigger; NULL: no token vouched for';
    ${sessionChecksDerived(q, true, claimsType)}
    UPDATE ${checks} SET user_id = user_id;

    -- No SET clause (see preRequestPinned): every name below is pg_catalog's or schema-qualified.
    CREATE OR REPLACE FUNCTION ${q.schema}.check_token_count() RETURNS void
      LANGUAGE plpgsql STABLE SECURITY DEFINER AS $fn$
    DECLARE
      claims_text pg_catalog.text := ${setting('s')};
      claimed ${claimsType} := ${claimedRecord(q, 'claims_text')};
      token_claims pg_catalog.jsonb;
    BEGIN
      -- No session claimed (anonymous, postgrest-auth's, per-claim settings): no row to look up.
      IF claimed.session_id IS NOT NULL THEN
        PERFORM${claimsRecordVouchQuery(q, 'claimed').slice('SELECT'.length)};
        IF FOUND THEN
          RETURN;
        END IF;
      END IF;
      token_claims := CASE WHEN claims_text OPERATOR(pg_catalog.<>) '' THEN claims_text::pg_catalog.jsonb END;
      -- Migration 34: what check_token_general lets through as anonymous, decided here.
      IF token_claims IS NOT NULL AND ${field('sub')} IS NULL AND ${field('token_version')} IS NULL
          AND ${field('count')} IS NULL THEN
        RETURN;
      END IF;${perClaimSettingsThenTables(q, legacy, `PERFORM${preRequestRoleVouchQuery(q, 'token_claims').slice('SELECT'.length)}`)}
  `;
}

/**
 * The claims migration 63's fast path compares, read from `claimsText` (a text expression): only when
 * it is a JSON object (`{` first), NULL otherwise.
 */
export function claimedRecord(q: Names, claimsText: string): string {
  const claimsType = `${q.restauth}.pre_request_claims`;
  return `CASE WHEN ${claimsText} OPERATOR(pg_catalog.~~) '{%'
        THEN pg_catalog.json_populate_record(NULL::${claimsType}, ${claimsText}::pg_catalog.json) END`;
}

/**
 * Migration 63's fast path: a row when the session's row vouches for `claimed` (an expression of its
 * claims record): the session's row found by its id, the claims the row expects, now within `during`.
 */
export function claimsRecordVouchQuery(q: Names, claimed: string): string {
  return `SELECT FROM ${q.restauth}.session_checks k
        WHERE k.session_id OPERATOR(pg_catalog.=) (${claimed}).session_id
          AND k.expected OPERATOR(pg_catalog.=) ${claimed} AND k.during OPERATOR(pg_catalog.@>) pg_catalog.now()`;
}
