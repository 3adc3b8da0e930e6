import type pg from 'pg';
import { inTransaction } from './pool.js';

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
  tables: { sessions: string; refreshTokens: string },
  endedBefore: Date,
): Promise<{ sessions: number; refreshTokens: number }> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock($1) AS locked',
      [LOCK_KEY],
    );
    // Another instance is pruning: nothing was written, the COMMIT ends an empty transaction.
    if (!rows[0]!.locked) return { sessions: 0, refreshTokens: 0 };
    const ended = await client.query(
      `DELETE FROM ${tables.sessions} WHERE not_after < $1 OR revoked_at < $1`,
      [endedBefore],
    );
    const rotated = await client.query(
      `DELETE FROM ${tables.refreshTokens} t USING (
         SELECT hash, row_number() OVER (PARTITION BY session_id ORDER BY created_at DESC) AS newest
         FROM ${tables.refreshTokens} WHERE rotated_at IS NOT NULL
       ) ranked
       WHERE t.hash = ranked.hash AND ranked.newest > $1`,
      [ROTATED_TOKENS_KEPT],
    );
    return { sessions: ended.rowCount ?? 0, refreshTokens: rotated.rowCount ?? 0 };
  });
}
