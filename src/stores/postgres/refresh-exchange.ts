import type { quotedNames } from './migrations.js';
import {
  ENDED_SESSION_AMR,
  ENDED_SESSION_COLUMNS,
  LIVE_SESSION_COLUMNS,
  liveSessionAmr,
  NO_TIME_BOX,
  REFRESHED_AT,
  type SessionTables,
} from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 23: a refresh in one statement. A successor token is HMAC-SHA256(session secret, presented
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

/** SQL for bytes as unpadded base64url, as Node's digest('base64url') writes them (32 bytes: no line break). */
function base64url(bytes: string): string {
  return `rtrim(translate(encode(${bytes}, 'base64'), '+/', '-_'), '=')`;
}

/** SQL for hashSecret(text) of core/secrets.ts: SHA-256 of the UTF-8 bytes, base64url. */
function hashSecretSql(text: string): string {
  return base64url(`sha256(convert_to(${text}, 'UTF8'))`);
}

/**
 * A refresh token with its session and user, as Store.findRefreshToken answers: a live token needs its
 * session's secret (restauth's chain; a session GoTrue made has none until it is converted); an ended
 * session's token is found among its kept hashes. `$1` is the token's hash.
 */
export function refreshTokenLookupSql(t: SessionTables, userColumns: string, userFrom: string): string {
  return `SELECT f.*, to_jsonb(u) AS user_row FROM (
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
    ) f
    LEFT JOIN LATERAL (SELECT ${userColumns} FROM ${userFrom} WHERE u.id = f.user_uid) u ON true`;
}

/**
 * Store.exchangeRefreshToken as one statement, one round trip, one transaction: $1 the presented
 * token's hash, $2 the token itself, $3 now, $4 the inactivity timeout in seconds. It rotates only
 * what core/sessions.ts would: a token not rotated yet, of a session that still exists (an ended one
 * is deleted), before its not_after, active within the timeout. The session's row is locked first,
 * then the token's, the order in which ending a session takes them (its DELETE, then the cascade):
 * taken the other way round, a refresh and a sign-out of one session at once deadlock. The conditional
 * UPDATE is the token's lock: a racing refresh waits for it, re-checks revoked and matches nothing.
 * As GoTrue rotates, the presented row is revoked and its successor names it as parent. Whatever was
 * or was not rotated, the answer is the lookup of refreshTokenLookupSql in the statement's snapshot
 * (the token as it was found), with `successor` set only when this statement rotated it.
 */
export function exchangeRefreshTokenSql(t: SessionTables, userColumns: string, userFrom: string): string {
  const successor = base64url(`sha256(l.hmac_outer || sha256(l.hmac_inner || convert_to($2::text, 'UTF8')))`);
  return `WITH live AS (
      SELECT t.id, k.hmac_inner, k.hmac_outer
      FROM ${t.refreshTokens} t JOIN ${t.sessions} s ON s.id = t.session_id
      JOIN ${t.secrets} k ON k.session_id = s.id
      WHERE t.token = $1 AND t.revoked IS NOT TRUE
        AND coalesce(s.not_after, ${NO_TIME_BOX}) > $3::timestamptz
        AND ${REFRESHED_AT} + $4::integer * interval '1 second' > $3::timestamptz
      FOR NO KEY UPDATE OF s
    ), rotated AS (
      UPDATE ${t.refreshTokens} t SET revoked = true, updated_at = $3::timestamptz
      FROM live l WHERE t.id = l.id AND t.revoked IS NOT TRUE
      RETURNING t.session_id, t.user_id, t.instance_id, ${successor} AS successor
    ), touched AS (
      UPDATE ${t.sessions} SET refreshed_at = $3::timestamptz AT TIME ZONE 'UTC', updated_at = $3::timestamptz
      WHERE id IN (SELECT session_id FROM rotated)
    ), inserted AS (
      INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at)
      SELECT instance_id, ${hashSecretSql('successor')}, user_id, false, $1, session_id, $3::timestamptz, $3::timestamptz
      FROM rotated
      RETURNING session_id
    )
    SELECT found.*, (SELECT r.successor FROM rotated r JOIN inserted i USING (session_id)) AS successor
    FROM (${refreshTokenLookupSql(t, userColumns, userFrom)}) found`;
}
