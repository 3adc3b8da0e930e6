import type pg from 'pg';
import type { BackendLogger } from '../backend.js';
import { quotedNames, type SchemaNames } from './migrations.js';

/**
 * Warns when users of another audience than `jwt.audience` exist. A sign-in finds no such user (as
 * GoTrue's FindUserByEmailAndAudience), and access tokens carry their user's own audience (auth.users.aud,
 * as GoTrue signs them), which restauth refuses, so setting `jwt.audience` on a database whose users were
 * made under another (`authenticated` by default) leaves those users signed out. Said at start,
 * with the update that moves them, so an operator who meant it sees why, and one who did not sees how.
 * Run beside the start, not before it: on a big table the scan must not hold the listening.
 */
export async function warnOfOtherAudiences(
  pool: pg.Pool,
  names: SchemaNames,
  audience: string,
  logger: BackendLogger,
): Promise<void> {
  const users = `${quotedNames(names).schema}.users`;
  try {
    // At every start with jwt.audience set, on a table that may hold millions: EXISTS stops at the
    // first user of another audience, and when there is none (the usual case) nothing is grouped or
    // counted. Only a database that has some pays for the count the warning shows.
    const { rows: found } = await pool.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${users} WHERE aud IS DISTINCT FROM $1) AS found`,
      [audience],
    );
    if (found[0]?.found !== true) return;
    const { rows } = await pool.query<{ aud: string | null; total: number }>(
      `SELECT aud, count(*)::int AS total FROM ${users} WHERE aud IS DISTINCT FROM $1 GROUP BY aud ORDER BY total DESC LIMIT 5`,
      [audience],
    );
    if (rows.length === 0) return;
    const counts = rows.map((row) => `${row.total} with ${JSON.stringify(row.aud)}`).join(', ');
    logger.warn(
      `restauth: users of another audience than jwt.audience ${JSON.stringify(audience)} (${counts}) are ` +
        `not found by a sign-in, as GoTrue finds none, and their sessions' access tokens say their own ` +
        `audience, which restauth and PostgREST's jwt-aud refuse; if they are ` +
        `this application's users: UPDATE ${users} SET aud = '${audience.replaceAll("'", "''")}' ` +
        `WHERE aud IS DISTINCT FROM '${audience.replaceAll("'", "''")}' (docs/supabase.md)`,
    );
  } catch {
    // Only advice: a database that cannot answer it now fails the requests that need it, which say so.
  }
}
