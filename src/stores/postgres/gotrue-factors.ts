import type pg from 'pg';

/**
 * How many of a GoTrue-made schema's users have a verified MFA factor (`mfa_factors`: TOTP, phone or
 * WebAuthn). GoTrue made those users step up to aal2 with it; restauth has no MFA, so served as they
 * are they would sign in with their first factor alone, and supabase-js would not even ask for the
 * second (its getAuthenticatorAssuranceLevel() reads `user.factors`, which restauth never fills).
 * An unverified factor never raised a session's level, so it is not counted.
 */
export async function usersWithVerifiedFactors(client: pg.ClientBase, quotedSchema: string): Promise<number> {
  const table = `${quotedSchema}.mfa_factors`;
  const { rows: found } = await client.query<{ present: boolean }>(
    'SELECT to_regclass($1::text) IS NOT NULL AS present',
    [table],
  );
  if (!found[0]?.present) return 0;
  const { rows } = await client.query<{ users: number }>(
    `SELECT count(DISTINCT user_id)::int AS users FROM ${table} WHERE status::text = 'verified'`,
  );
  return rows[0]?.users ?? 0;
}
