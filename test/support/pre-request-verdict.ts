import type pg from 'pg';

/**
 * PostgREST's pre-request (auth.check_token_count) on an access token's claims, as PostgREST runs it:
 * the claims set for the transaction, then the call; its error message, or null when it lets the
 * request through. The transaction is rolled back.
 */
export async function preRequestVerdict(pool: pg.Pool, accessToken: string): Promise<string | null> {
  const claims = Buffer.from(accessToken.split('.')[1]!, 'base64url').toString();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [claims]);
    return await client
      .query('SELECT auth.check_token_count()')
      .then(() => null)
      .catch((error: Error) => error.message);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}
