import type pg from 'pg';
import { PRE_REQUEST_REFUSAL } from '../../src/stores/postgres/pre-request-standing.js';

/**
 * PostgREST's pre-request (auth.check_token_count) on an access token's claims, as PostgREST runs it:
 * the claims set for the transaction, then the call; its error message, or null when it lets the
 * request through. The transaction is rolled back.
 */
export async function preRequestVerdict(pool: pg.Pool, accessToken: string): Promise<string | null> {
  return preRequestVerdictOnClaims(pool, Buffer.from(accessToken.split('.')[1]!, 'base64url').toString());
}

/**
 * The pre-request's verdict on `claims` (their JSON text), called as `role` when given (SET LOCAL
 * ROLE, as PostgREST switches to the token's role first): its error message, or null.
 */
export async function preRequestVerdictOnClaims(
  pool: pg.Pool,
  claims: string,
  role?: string,
): Promise<string | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [claims]);
    if (role !== undefined) await client.query(`SELECT set_config('role', $1, true)`, [role]);
    return await client
      .query('SELECT auth.check_token_count()')
      .then(() => null)
      .catch((error: Error) => error.message);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

/** The pre-request's one refusal (migration 58), as a pattern for a message read with or without its code. */
export const PRE_REQUEST_REFUSED = new RegExp(PRE_REQUEST_REFUSAL);

/**
 * Keeps the pre-request of now as `auth.check_token_before()`, beside its general check as
 * `auth.check_token_general_before()`: a later migration's verdicts to be compared with, each refusal
 * naming its reason (migration 58 makes them one message, in the general check too).
 */
export async function keepPreRequestOfBefore(pool: pg.Pool): Promise<void> {
  const definition = async (fn: string) =>
    (
      await pool.query<{ definition: string }>(`SELECT pg_get_functiondef($1::regprocedure) AS definition`, [
        `auth.${fn}()`,
      ])
    ).rows[0]!.definition;
  // The migrations name the schema quoted ("auth"); pg_get_functiondef names the function itself unquoted.
  const generalCalled = /(?:"auth"|auth)\.check_token_general\(\)/g;
  const general = await definition('check_token_general');
  const fastPath = await definition('check_token_count');
  await pool.query(general.replace('auth.check_token_general()', 'auth.check_token_general_before()'));
  await pool.query(
    fastPath
      .replace('auth.check_token_count()', 'auth.check_token_before()')
      .replaceAll(generalCalled, 'auth.check_token_general_before()'),
  );
}

/** The answer of now a refusal of before (`before`: its `code: message`, or null) maps to. */
export const refusedAsBefore = (before: string | null) =>
  before === null ? null : `28P01: ${PRE_REQUEST_REFUSAL}`;

/**
 * Sets `claims` for the client's transaction as PostgREST sets them: one JSON text (12 and later),
 * or one setting each (before 12: request.jwt.claim.sub, ...).
 */
export async function setClaims(
  client: pg.ClientBase,
  claims: Record<string, string | number | boolean>,
  form: 'json' | 'per-claim',
): Promise<void> {
  if (form === 'json') {
    await client.query(`SELECT set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    return;
  }
  for (const [name, value] of Object.entries(claims))
    await client.query(`SELECT set_config($1, $2, true)`, [`request.jwt.claim.${name}`, String(value)]);
}
