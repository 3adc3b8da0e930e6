import type pg from 'pg';
import { SchemaRefusedError } from './gotrue-schema.js';

/**
 * How many of the schema's users have a verified MFA factor (`mfa_factors`: TOTP, phone or
 * WebAuthn). GoTrue made those users step up to aal2 with it; restauth has no MFA, so served as they
 * are they would sign in with their first factor alone, and supabase-js would not even ask for the
 * second (its getAuthenticatorAssuranceLevel() reads `user.factors`, which restauth never fills).
 * An unverified factor never raised a session's level, so it is not counted.
 */
async function usersWithVerifiedFactors(client: pg.ClientBase, quotedSchema: string): Promise<number> {
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

/**
 * Refuses to serve a schema where a user has a verified factor, before anything is written: at the
 * takeover of a database GoTrue made, and at every start after it (a database taken over before this
 * check, or a GoTrue still running beside restauth, enrolls factors restauth never writes).
 */
export async function refuseUncheckedFactors(
  client: pg.ClientBase,
  quotedSchema: string,
  schemaName: string,
): Promise<void> {
  const guarded = await usersWithVerifiedFactors(client, quotedSchema);
  if (guarded === 0) return;
  throw new SchemaRefusedError(
    `schema ${schemaName}: ${guarded} of its users have a verified MFA factor (${schemaName}.mfa_factors), ` +
      'which restauth does not check: they would sign in without it. To accept that, delete their factors ' +
      `(DELETE FROM ${schemaName}.mfa_factors WHERE status = 'verified'). restauth wrote nothing to the ` +
      'database (docs/postgres-schema.md)',
  );
}
