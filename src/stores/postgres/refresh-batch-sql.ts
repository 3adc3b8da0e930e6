import { LIVE_SESSION_COLUMNS, SERVER_KEY_CHAIN, type SessionTables } from './session-sql.js';
import {
  mfaGuardedOf,
  refreshedAmrOf,
  refreshedIdentitiesOf,
  signsIn,
  userRowOf,
} from './refresh-exchange.js';

/**
 * What the batch answers of a found row: its position and what toFoundToken reads. Not the entry's
 * own inputs (successor, times) nor the ids the statement joins by: each column of each row is
 * described and parsed by the pg driver, a timestamp into a Date, on every batch.
 */
const ANSWERED_COLUMNS = `f.n, f.hash, f.token_created_at, f.rotated_at, f.id, f.user_id, f.created_at,
      f.refreshed_at, f.not_after, f.revoked_at, f.revoked_reason, f.refresh_secret, f.chain, f.mfa_guarded,
      f.user_row`;

/**
 * refreshInOneStatementSql for several refreshes at once, one row of input each: `$1` the presented
 * tokens' hashes, `$2` their successors', `$3` their nows, `$4` their inactivity cutoffs, both in
 * milliseconds since the epoch (arrays of one length, at most one entry per presented hash: the same
 * token twice would insert its successor twice). Each entry is judged and rotated exactly as the
 * one-refresh statement judges and rotates it; the row of an entry found carries its position in the
 * arrays (`n`, from 1) and `rotated`.
 *
 * Its sessions' rows are locked SKIP LOCKED: a session another transaction holds (a sign-out, a ban,
 * another refresh of it) is not waited for but left out, and its entry, with no row here, is
 * refreshed on its own by the one-refresh statement, which waits as before. So the batch never waits
 * for a session while holding others: a sign-out ending a user's sessions in its own order cannot
 * deadlock against it, and no entry waits behind another's lock.
 */
export function refreshBatchSql(t: SessionTables, userColumns: string, userFrom: string): string {
  return `WITH input AS (
      SELECT presented, successor, timestamptz 'epoch' + at_ms * interval '1 millisecond' AS at,
        timestamptz 'epoch' + inactive_before_ms * interval '1 millisecond' AS inactive_before, n
      FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
        WITH ORDINALITY AS i(presented, successor, at_ms, inactive_before_ms, n)
    ), found AS (
      -- Each entry looked up on its own (LATERAL, kept apart by its row lock), by the token's index as
      -- the one-refresh statement looks it up: joined with the entries as a set, the generic plan a
      -- pool keeps may hash-join them with every token.
      SELECT i.n, i.successor, i.at, i.inactive_before, f.* FROM input i CROSS JOIN LATERAL (
        SELECT t.id AS token_id, t.token AS hash, t.created_at AS token_created_at,
          CASE WHEN t.revoked THEN t.updated_at END AS rotated_at, s.id AS session_uuid, s.user_id AS user_uid,
          ${LIVE_SESSION_COLUMNS}, ${mfaGuardedOf(t, 's.user_id')}, ${userRowOf('s.user_id', userColumns, userFrom)}
        FROM ${t.refreshTokens} t JOIN ${t.sessions} s ON s.id = t.session_id
        JOIN ${t.secrets} k ON k.session_id = s.id
        WHERE t.token = i.presented
        FOR NO KEY UPDATE OF s SKIP LOCKED
      ) f
    ), rotated AS (
      UPDATE ${t.refreshTokens} t SET revoked = true, updated_at = f.at
      FROM found f
      WHERE t.id = f.token_id AND t.revoked IS NOT TRUE AND f.chain = ${SERVER_KEY_CHAIN}
        AND f.not_after > f.at AND f.refreshed_at > f.inactive_before AND NOT f.mfa_guarded AND ${signsIn('f.at')}
      RETURNING t.id, t.session_id, t.user_id, t.instance_id
    ), touched AS (
      UPDATE ${t.sessions} s SET refreshed_at = f.at AT TIME ZONE 'UTC', updated_at = f.at
      FROM rotated r JOIN found f ON f.token_id = r.id
      WHERE s.id = r.session_id
    ), successor AS (
      INSERT INTO ${t.refreshTokens} (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at)
      SELECT r.instance_id, f.successor, r.user_id, false, f.hash, r.session_id, f.at, f.at
      FROM rotated r JOIN found f ON f.token_id = r.id
      RETURNING parent
    )
    SELECT ${ANSWERED_COLUMNS}, (SELECT count(*)::int FROM successor x WHERE x.parent = f.hash) AS rotated,
      ${refreshedAmrOf(t, 'f')}, ${refreshedIdentitiesOf(t, 'f')}
    FROM found f`;
}
