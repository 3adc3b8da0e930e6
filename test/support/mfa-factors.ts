import { randomUUID } from 'node:crypto';
import pg from 'pg';

/**
 * One statement on a suite's database, on a connection of its own closed after: none is left open
 * for the database's drop (which terminates connections) to cut under a test that has ended.
 */
export async function queryOnce(storeConfig: Record<string, unknown>, text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: (storeConfig['store'] as { url: string }).url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * A verified TOTP factor of the user, written as GoTrue's enroll and first verify leave it (an
 * adopted GoTrue database's): restauth then opens no session for the user. Returns its id.
 */
export async function verifiedTotpFactor(
  storeConfig: Record<string, unknown>,
  userId: string,
  dated: { createdAt: string; updatedAt: string } = { createdAt: 'now', updatedAt: 'now' },
): Promise<string> {
  const id = randomUUID();
  await queryOnce(
    storeConfig,
    `INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret)
     VALUES ($1, $2, 'phone app', 'totp', 'verified', $3::timestamptz, $4::timestamptz, 'JBSWY3DPEHPK3PXP')`,
    [id, userId, dated.createdAt, dated.updatedAt],
  );
  return id;
}
