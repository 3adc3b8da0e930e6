import type pg from 'pg';
import { inTransaction } from './pool.js';
import type { SessionTables } from './session-sql.js';

/** Rotated refresh tokens a session keeps for reuse detection, as the file store does. */
export const ROTATED_TOKENS_KEPT = 20;
/** Any number both instances agree on, for the advisory lock that lets one prune at a time. */
const LOCK_KEY = 0x7265_7374; // "rest"

/**
 * Keeps the session tables bounded: each refresh adds a row, so a session
 * refreshed every minute would gain 40,000 rows a month. Beyond the newest
 * rotated tokens of each session (an older replay is then refused as unknown
 * rather than revoking the session) and sessions that ended before
 * `endedBefore` (core's retention: SessionManager.pruneEnded), rows are
 * deleted. Runs as one transaction; when several instances share the
 * database, one prunes and the others skip (an advisory lock).
 */
export async function pruneSessions(
  pool: pg.Pool,
  tables: Pick<SessionTables, 'sessions' | 'refreshTokens' | 'ends'>,
  endedBefore: Date,
): Promise<{ sessions: number; refreshTokens: number }> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock($1) AS locked',
      [LOCK_KEY],
    );
    // Another instance is pruning: nothing was written, the COMMIT ends an empty transaction.
    if (!rows[0]!.locked) return { sessions: 0, refreshTokens: 0 };
    // Sessions past their absolute end leave auth.sessions; sessions that ended otherwise (already
    // deleted from it) leave restauth's record of them; their tokens go with either (ON DELETE CASCADE).
    const expired = await client.query(`DELETE FROM ${tables.sessions} WHERE not_after < $1`, [endedBefore]);
    const ended = await client.query(`DELETE FROM ${tables.ends} WHERE ended_at < $1 OR not_after < $1`, [
      endedBefore,
    ]);
    const rotated = await client.query(
      `DELETE FROM ${tables.refreshTokens} t USING (
         SELECT id, row_number() OVER (PARTITION BY session_id ORDER BY created_at DESC, id DESC) AS newest
         FROM ${tables.refreshTokens} WHERE revoked
       ) ranked
       WHERE t.id = ranked.id AND ranked.newest > $1`,
      [ROTATED_TOKENS_KEPT],
    );
    return {
      sessions: (expired.rowCount ?? 0) + (ended.rowCount ?? 0),
      refreshTokens: rotated.rowCount ?? 0,
    };
  });
}
