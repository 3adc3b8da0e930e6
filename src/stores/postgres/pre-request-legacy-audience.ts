import { checkTokenGeneral } from './gotrue-sessions.js';
import type { quotedNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * The claims auth.jwt() reads from PostgREST's per-claim settings when there are no JSON claims:
 * migration 2's six, then `aud`, which the general check compares, and `aal` and `is_anonymous`,
 * which Supabase's row-level security examples read through auth.jwt() ->>.
 */
const LEGACY_CLAIMS = [
  'sub',
  'role',
  'email',
  'session_id',
  'token_version',
  'count',
  'aud',
  'aal',
  'is_anonymous',
];

/**
 * Migration 39: the audience rule of migration 35 under the claims PostgREST before 12 sets one
 * setting each (request.jwt.claim.aud, ...), and for every token the check on the tables hands to
 * the general check. Migration 35 compared the aud claim in its fast path and in the query on the
 * tables, but that query reads the JSON claims only: per-claim claims, and JSON ones naming the user
 * by its role (postgrest-auth's) or by its account's number, went to check_token_general, which
 * compared no audience, and auth.jwt() gave it none to compare (its per-claim fallback read no aud).
 * A token of another audience was let through there until it expired. Now auth.jwt() reads the aud
 * setting (and, as Supabase's policies read them, aal and is_anonymous) and the general check
 * refuses an aud that is not its user's with migration 35's message; no aud, or a user with none,
 * passes as before.
 */
export function preRequestLegacyAudience(q: Names): string {
  return `${jwtFunctionSql(q, '')}
    ${checkTokenGeneral(q, sessionTables(q).sessions, true)}
  `;
}

/**
 * auth.jwt() as migration 39 made it, its functions named with `prefix` ('' there; 'pg_catalog.' in
 * migration 55: an exact overload another role put in a schema on the caller's search path, as
 * `public` before PostgreSQL 15, won over pg_catalog's VARIADIC "any" jsonb_build_object).
 */
export function jwtFunctionSql(q: Names, prefix: '' | 'pg_catalog.'): string {
  const settings = LEGACY_CLAIMS.map(
    (name) => `'${name}', nullif(${prefix}current_setting('request.jwt.claim.${name}', true), '')`,
  ).join(',\n        ');
  return `
    -- An unset setting may read as '' rather than NULL (as migration 2's).
    CREATE OR REPLACE FUNCTION ${q.schema}.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $fn$
      SELECT coalesce(
        nullif(${prefix}current_setting('request.jwt.claims', true), '')::jsonb,
        nullif(${prefix}jsonb_strip_nulls(${prefix}jsonb_build_object(
        ${settings}
        )), '{}'::jsonb),
        '{}'::jsonb)
    $fn$;`;
}
