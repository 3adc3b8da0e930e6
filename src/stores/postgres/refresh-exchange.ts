import type { quotedNames } from './migrations.js';
import {
  ENDED_SESSION_AMR,
  ENDED_SESSION_COLUMNS,
  LIVE_SESSION_COLUMNS,
  liveSessionAmr,
  noVerifiedFactor,
  SERVER_KEY_CHAIN,
  type SessionTables,
} from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 23 (undone by migration 25, dropRefreshInOneStatement): a refresh in one statement. A successor token is HMAC-SHA256(session secret, presented
 * token) (core/sessions.ts), which the statement that rotates must compute to store the successor's
 * hash. PostgreSQL has sha256() but no HMAC without pgcrypto (an extension restauth does not require),
 * and HMAC's key-block XORs are slow in SQL, so each secret keeps its two key blocks beside it, as
 * generated columns: PostgreSQL computes them whenever a secret is written (a new session, a GoTrue
 * session converted) and for every existing one here, and HMAC is then two sha256() calls
 * (RFC 2104: H(K ^ opad || H(K ^ ipad || m))). The blocks say no more than the secret they sit beside.
 */
export function refreshInOneStatement(q: Names, t: SessionTables): string {
  const block = `${q.restauth}.hmac_sha256_key_block`;
  return `
    -- HMAC-SHA256's key block for a text key (its UTF-8 bytes, as Node's createHmac takes a string; a
    -- key longer than SHA-256's 64-byte block is hashed first), XORed with the pad byte given in hex.
    CREATE FUNCTION ${block}(key text, pad text) RETURNS bytea
      LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    DECLARE
      raw bytea := convert_to(key, 'UTF8');
      bits bit(512);
      block bytea := '';
    BEGIN
      IF length(raw) > 64 THEN
        raw := sha256(raw);
      END IF;
      -- XOR exists for bit strings, not bytea: through bit(512) and back, 64 bits at a time.
      bits := ('x' || rpad(encode(raw, 'hex'), 128, '0'))::bit(512) # ('x' || repeat(pad, 64))::bit(512);
      FOR word IN 0..7 LOOP
        block := block || int8send(substring(bits FROM word * 64 + 1 FOR 64)::bit(64)::bigint);
      END LOOP;
      RETURN block;
    END
    $fn$;
    COMMENT ON FUNCTION ${block}(text, text) IS
      'restauth: HMAC-SHA256''s key block of a session secret XOR a pad (36: inner, 5c: outer), for session_secrets';
    ALTER TABLE ${t.secrets}
      ADD COLUMN hmac_inner bytea GENERATED ALWAYS AS (${block}(refresh_secret, '36')) STORED,
      ADD COLUMN hmac_outer bytea GENERATED ALWAYS AS (${block}(refresh_secret, '5c')) STORED;
    COMMENT ON COLUMN ${t.secrets}.hmac_inner IS 'restauth: HMAC-SHA256 key block of refresh_secret XOR ipad';
    COMMENT ON COLUMN ${t.secrets}.hmac_outer IS 'restauth: HMAC-SHA256 key block of refresh_secret XOR opad';
  `;
}

/**
 * The column `user_row`: the user `userId` names (NULL: none) as JSON, looked up by a scalar
 * subquery, which PostgreSQL runs for the found row by the users' primary key. A LEFT JOIN LATERAL
 * there was flattened into a join the planner was free to make a hash join: the generic plan of a
 * prepared statement (the one a pool reuses) then read every user and account at every refresh, a cost
 * growing with the users (test/postgres/refresh-plans.test.ts).
 */
export function userRowOf(userId: string, userColumns: string, userFrom: string): string {
  return `(SELECT to_jsonb(u) FROM (SELECT ${userColumns} FROM ${userFrom} WHERE u.id = ${userId}) u) AS user_row`;
}

/**
 * The rotation's condition that the found row `f` has a user (user_row, read with it) whose ban does
 * not last at `now` (an expression): a token of a user no refresh signs in (gone, soft-deleted, of
 * another GoTrue instance, banned) is not rotated, and core refuses it unchanged, so that a banned
 * user's client keeps its token for when the ban ends, as GoTrue asks the ban before it rotates. Read
 * once, in the row the rotation reads anyway: no second read of the user, no round trip more.
 */
export function signsIn(now: string): string {
  return `f.user_row IS NOT NULL AND NOT coalesce((f.user_row->>'banned_until')::timestamptz > ${now}, false)`;
}

/**
 * The column `mfa_guarded`: whether the found token's user has a verified MFA factor, whose sessions
 * restauth never refreshes (noVerifiedFactor), so the refresh is answered why it was refused.
 */
export function mfaGuardedOf(t: SessionTables, user: string): string {
  return `NOT ${noVerifiedFactor(t, user)} AS mfa_guarded`;
}

/**
 * A refresh token with its session and user, as Store.findRefreshToken answers: a live token needs its
 * session's secret (restauth's chain; a session GoTrue made has none until it is converted); an ended
 * session's token is found among its kept hashes. `$1` is the token's hash.
 */
export function refreshTokenLookupSql(t: SessionTables, userColumns: string, userFrom: string): string {
  return `SELECT f.*, ${userRowOf('f.user_uid', userColumns, userFrom)}, ${mfaGuardedOf(t, 'f.user_uid')} FROM (
      SELECT t.token AS hash, t.created_at AS token_created_at,
        CASE WHEN t.revoked THEN t.updated_at END AS rotated_at, s.user_id AS user_uid, ${LIVE_SESSION_COLUMNS},
        ${liveSessionAmr(t)}
      FROM ${t.refreshTokens} t JOIN ${t.sessions} s ON s.id = t.session_id
      JOIN ${t.secrets} k ON k.session_id = s.id
      WHERE t.token = $1
      UNION ALL
      SELECT t.token, t.created_at, t.rotated_at, e.user_id, ${ENDED_SESSION_COLUMNS}, ${ENDED_SESSION_AMR}
      FROM ${t.endTokens} t JOIN ${t.ends} e ON e.id = t.session_id
      WHERE t.token = $1
    ) f`;
}

/**
 * Migration 25: migration 23's key blocks and their function go. The one statement they served took
 * the presented refresh token itself as a parameter (SQL derived its successor from it), so a
 * statement log (log_statement, auto_explain, an error's DETAIL) held every token presented, and
 * with the session's secret (a parameter too, when the session was made) every successor: whoever
 * read the log could take sessions over. A refresh is found, then rotated, by hashes again
 * (core/sessions.ts), which measured half the server CPU per refresh; the generated columns only
 * cost every session's insert.
 */
export function dropRefreshInOneStatement(q: Names, t: SessionTables): string {
  return `
    ALTER TABLE ${t.secrets} DROP COLUMN hmac_inner, DROP COLUMN hmac_outer;
    DROP FUNCTION ${q.restauth}.hmac_sha256_key_block(text, text);
  `;
}

/**
 * Store.refreshInOneStatement: a refresh in one statement, from hashes only. `$1` the presented
 * token's hash, `$2` its successor's (Node derived the successor under a server key the database
 * never holds: core/sessions.ts), `$3` now, `$4` the inactivity cutoff. The token is found in a live
 * session as refreshTokenLookupSql finds it, its session's row locked first (the order ending a
 * session takes: see rotateRefreshToken); it is rotated, as rotateRefreshToken rotates, only when its
 * session is a server-key chain, it is not rotated yet, the session is neither past not_after nor
 * idle since before `$4`, and its user has no verified MFA factor. The found row comes back as refreshTokenLookupSql's, with `rotated`; no row:
 * no live session holds the hash. A racing refresh waits for the session's row; its UPDATE then
 * re-reads the token, finds it revoked and rotates nothing (rotated 0), and the caller judges the
 * token as a repeat.
 */
export function refreshInOneStatementSql(t: SessionTables, userColumns: string, userFrom: string): string {
  return `WITH found AS (
      SELECT t.id AS token_id, t.token AS hash, t.created_at AS token_created_at,
        CASE WHEN t.revoked THEN t.updated_at END AS rotated_at, s.id AS session_uuid, s.user_id AS user_uid,
        ${LIVE_SESSION_COLUMNS}, ${mfaGuardedOf(t, 's.user_id')}, ${userRowOf('s.user_id', userColumns, userFrom)}
      FROM ${t.refreshTokens} t JOIN ${t.sessions} s ON s.id = t.session_id
      JOIN ${t.secrets} k ON k.session_id = s.id
      WHERE t.token = $1
      FOR NO KEY UPDATE OF s
    ), rotated AS (
      UPDATE ${t.refreshTokens} t SET revoked = true, updated_at = $3
      FROM found f
      WHERE t.id = f.token_id AND t.revoked IS NOT TRUE AND f.chain = ${SERVER_KEY_CHAIN}
        AND f.not_after > $3 AND f.refreshed_at > $4 AND NOT f.mfa_guarded AND ${signsIn('$3::timestamptz')}
      RETURNING t.session_id, t.user_id, t.instance_id
    ), touched AS (
      UPDATE ${t.sessions} SET refreshed_at = $3::timestamptz AT TIME ZONE 'UTC', updated_at = $3
      WHERE id IN (SELECT session_id FROM rotated)
    ), successor AS (
      INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at)
      SELECT instance_id, $2, user_id, false, $1, session_id, $3, $3 FROM rotated
      RETURNING 1
    )
    SELECT f.*, (SELECT count(*)::int FROM successor) AS rotated,
      ${refreshedAmrOf(t, 'f')}, ${refreshedIdentitiesOf(t, 'f')}
    FROM found f`;
}

/**
 * The column `identities` of a refresh statement's found row `found`: its user's identities (GoTrue's
 * auth.identities, by their user_id index), oldest first as Store.listIdentities lists them, as JSON
 * (toRefreshedIdentity reads them). GoTrue answers a refresh with them: read here, the answer needs no
 * second round trip.
 */
export function refreshedIdentitiesOf(t: SessionTables, found: string): string {
  return `coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'provider', i.provider,
        'provider_id', i.provider_id, 'identity_data', i.identity_data, 'email', i.email,
        'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at, 'updated_at', i.updated_at)
        ORDER BY i.created_at, i.id) FROM ${t.identities} i WHERE i.user_id = ${found}.user_uid), '[]'::jsonb) AS identities`;
}

/**
 * The column `amr` of a refresh statement's found row `found` (its session's uuid `session_uuid`), as
 * liveSessionAmr gives it to a lookup.
 */
export function refreshedAmrOf(t: SessionTables, found: string): string {
  return `coalesce((SELECT jsonb_agg(jsonb_build_object('method', c.authentication_method, 'at', c.updated_at)
        ORDER BY c.updated_at, c.authentication_method) FROM ${t.amrClaims} c WHERE c.session_id = ${found}.session_uuid),
        '[]'::jsonb) AS amr`;
}
