import type pg from 'pg';
import { goTrueHmacKey, parseGoTrueRefreshToken, signedBy } from './gotrue-refresh-token.js';
import { noVerifiedFactor, type SessionTables } from './session-sql.js';
import { rowDate, type RowTimestamp } from './row-values.js';
import { ofOwnUser } from './user-scope.js';
import { AuthError } from '../../core/errors.js';

/**
 * The refresh tokens GoTrue issued, in a database it made (docs/postgres-schema.md, "A database GoTrue
 * made"): they work once, and their session moves into restauth's form (a secret in
 * restauth.session_secrets, restauth's hashed tokens in auth.refresh_tokens).
 *
 * - v1: the raw token in `auth.refresh_tokens.token`. GoTrue's are 12 lower-case base32 characters
 *   (since April 2025) or 22 base64url ones (before); restauth's rows hold 43-character hashes, so a
 *   hash read from the database is never taken for a token.
 * - v2: signed with its session's `refresh_token_hmac_key` (unencrypted: an encrypted key needs
 *   GoTrue's keys, and such a session signs in again), current while its counter is the session's.
 *   Redeeming one clears the session's counter and keeps its key, so the token presented again is
 *   still proven to be the session's own: a replay, not an unknown token.
 */
export interface GoTrueTokenState {
  sessionId: string;
  /** Null while live; else when it was spent, or the session's last activity (Store.findImportedRefreshToken). */
  spentAt: Date | null;
}

const V1_TOKEN = /^(?:[a-z2-7]{12}|[A-Za-z0-9_-]{22})$/;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** The session's activity, as restauth's rotation records it ($4: now); refreshed_at is UTC without zone. */
const ACTIVITY = `refreshed_at = $4::timestamptz AT TIME ZONE 'UTC', updated_at = $4`;
/** A spent token of a session restauth never took over: no grace, a replay at once. */
const LONG_AGO = new Date(0);

type Db = pg.Pool | pg.ClientBase;

export async function findGoTrueRefreshToken(
  db: Db,
  t: SessionTables,
  token: string,
): Promise<GoTrueTokenState | null> {
  if (V1_TOKEN.test(token)) {
    const { rows } = await db.query<{
      session_id: string;
      revoked: boolean | null;
      updated_at: RowTimestamp;
      converted: boolean;
      session_updated_at: RowTimestamp;
    }>(
      `SELECT s.id::text AS session_id, r.revoked, r.updated_at, s.updated_at AS session_updated_at,
         EXISTS (SELECT FROM ${t.secrets} k WHERE k.session_id = s.id) AS converted
       FROM ${t.refreshTokens} r JOIN ${t.sessions} s ON s.id = r.session_id WHERE r.token = $1`,
      [token],
    );
    const row = rows[0];
    if (!row) return null;
    if (row.revoked !== true && !row.converted) return { sessionId: row.session_id, spentAt: null };
    // Spent by restauth (it took the session over then): judged by when; by GoTrue: a replay.
    return {
      sessionId: row.session_id,
      spentAt: row.converted ? (rowDate(row.updated_at) ?? LONG_AGO) : LONG_AGO,
    };
  }
  const parsed = parseGoTrueRefreshToken(token);
  if (parsed === null) return null;
  const { rows } = await db.query<{
    key: string | null;
    counter: string | null;
    updated_at: RowTimestamp;
    converted: boolean;
  }>(
    `SELECT s.refresh_token_hmac_key AS key, s.refresh_token_counter::text AS counter, s.updated_at,
       EXISTS (SELECT FROM ${t.secrets} k WHERE k.session_id = s.id) AS converted
     FROM ${t.sessions} s WHERE s.id = $1`,
    [parsed.sessionId],
  );
  const row = rows[0];
  const key = row?.key ? goTrueHmacKey(row.key) : null;
  if (!row || key === null || !signedBy(parsed, key)) return null;
  if (!row.converted && row.counter === parsed.counter.toString())
    return { sessionId: parsed.sessionId, spentAt: null };
  return {
    sessionId: parsed.sessionId,
    spentAt: row.converted ? (rowDate(row.updated_at) ?? LONG_AGO) : LONG_AGO,
  };
}

/**
 * Spends the live GoTrue token `token` in one statement, whose conditional UPDATE is the lock (a racing
 * caller waits, re-checks and matches nothing), never for a user with a verified MFA factor: the session gets restauth's secret and its successor
 * token (a hash, as restauth stores its own), and the presented token is spent (v1: revoked, naming
 * it as parent as GoTrue does; v2: the session's counter cleared). False when it was no longer live.
 */
export async function redeemGoTrueRefreshToken(
  db: Db,
  t: SessionTables,
  /** GoTrue's users: only a session of this instance's users is redeemed (ofOwnUser), as it is found. */
  users: string,
  token: string,
  refreshSecret: string,
  successorHash: string,
  now: Date,
): Promise<boolean> {
  // A user banned at $4, read in the write: nothing redeemed, and the caller told (user_banned), not
  // answered as a repeat. `session`: the SQL naming the presented token's session id.
  const notBanned = (session: string) => `NOT EXISTS (SELECT FROM ${users} u WHERE u.id =
    (SELECT user_id FROM ${t.sessions} WHERE id = ${session}) AND u.banned_until > $4)`;
  // v1 touches the session here; v2's UPDATE of it does (a row is updated once per statement).
  const then = (touch: boolean, session: string) => `
    secret AS (
      INSERT INTO ${t.secrets} (session_id, refresh_secret) SELECT session_id, $2 FROM spent
      ON CONFLICT (session_id) DO NOTHING
    ), ${
      touch
        ? `touched AS (
      UPDATE ${t.sessions} SET ${ACTIVITY} WHERE id IN (SELECT session_id FROM spent)
    ),`
        : ''
    } successor AS (
      INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at)
      SELECT coalesce(instance_id, '${NIL_UUID}'), $3, user_id, false, parent, session_id, $4, $4 FROM spent
      RETURNING 1
    )
    SELECT count(*)::int AS redeemed, NOT ${notBanned(session)} AS banned FROM successor`;
  if (V1_TOKEN.test(token)) {
    const { rows } = await db.query<{ redeemed: number; banned: boolean }>(
      `WITH spent AS (
         UPDATE ${t.refreshTokens} r SET revoked = true, updated_at = $4
         FROM ${t.sessions} s
         WHERE r.token = $1 AND r.revoked IS NOT TRUE AND s.id = r.session_id
           AND NOT EXISTS (SELECT FROM ${t.secrets} k WHERE k.session_id = s.id)
           AND ${noVerifiedFactor(t, 's.user_id')} AND ${ofOwnUser(users, 's.user_id')}
         AND ${notBanned('s.id')}
         RETURNING r.session_id, r.user_id, r.instance_id, r.token AS parent
       ), ${then(true, `(SELECT session_id FROM ${t.refreshTokens} WHERE token = $1)`)}`,
      [token, refreshSecret, successorHash, now],
    );
    return redeemed(rows[0]!);
  }
  // Proven again here, against the key the UPDATE then requires: redeeming is never weaker than finding.
  const parsed = parseGoTrueRefreshToken(token);
  if (parsed === null) return false;
  const { rows: sessions } = await db.query<{ key: string | null }>(
    `SELECT refresh_token_hmac_key AS key FROM ${t.sessions} WHERE id = $1`,
    [parsed.sessionId],
  );
  const storedKey = sessions[0]?.key ?? null;
  const key = storedKey === null ? null : goTrueHmacKey(storedKey);
  if (key === null || !signedBy(parsed, key)) return false;
  const { rows } = await db.query<{ redeemed: number; banned: boolean }>(
    `WITH spent AS (
       UPDATE ${t.sessions} s SET refresh_token_counter = NULL, ${ACTIVITY}
       WHERE s.id = $1::uuid AND s.refresh_token_hmac_key = $6 AND s.refresh_token_counter = $5::bigint
         AND NOT EXISTS (SELECT FROM ${t.secrets} k WHERE k.session_id = s.id)
         AND ${noVerifiedFactor(t, 's.user_id')} AND ${ofOwnUser(users, 's.user_id')}
       AND ${notBanned('s.id')}
       RETURNING s.id AS session_id, s.user_id::text AS user_id, NULL::uuid AS instance_id, NULL::text AS parent
     ), ${then(false, '$1::uuid')}`,
    [parsed.sessionId, refreshSecret, successorHash, now, parsed.counter.toString(), storedKey],
  );
  return redeemed(rows[0]!);
}

/** A redeeming statement's answer: refused for a ban (nothing redeemed), or whether it redeemed. */
function redeemed(row: { redeemed: number; banned: boolean }): boolean {
  if (row.banned) throw new AuthError('user_banned');
  return row.redeemed === 1;
}
