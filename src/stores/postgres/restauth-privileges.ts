import type { quotedNames } from './migrations.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * Migration 57, first part: restauth's own tables and sequences (`restauth`, or `<schema>_restauth`)
 * give nothing to PUBLIC or PostgREST's roles, whatever they were given on the way.
 *
 * Migrations 1-13 created restauth's tables in the configured schema and later ones moved them to
 * restauth's, and ALTER TABLE ... SET SCHEMA keeps a table's grants, including those the schema's
 * default privileges gave it when it was made. With `store.schema: "public"` in a database whose
 * public schema grants its tables to the API roles (Supabase's `ALTER DEFAULT PRIVILEGES IN SCHEMA
 * public GRANT ALL ON TABLES TO anon, authenticated`), the anonymous role could read the mail outbox
 * (sign-in and recovery links), rewrite rate-limit windows, user roles and token counts, and the
 * schema's USAGE (migration 14) let it reach them. No role but restauth's own needs them: postgrest-auth's
 * column grant on the accounts is given back, and a role an operator granted by name keeps its grants.
 */
function restauthTablesClosedSql(q: Names): string {
  const roles = `PUBLIC, ${q.anon}, ${q.authenticated}`;
  return `
    REVOKE ALL ON ALL TABLES IN SCHEMA ${q.restauth} FROM ${roles};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${q.restauth} FROM ${roles};
    GRANT SELECT (username_lowercase, token_count) ON ${q.restauth}.accounts TO ${q.anon};
  `;
}

/** The tables of GoTrue's schema restauth's migrations create (a GoTrue-made database has them already). */
const GOTRUE_TABLES = [
  'users',
  'identities',
  'sessions',
  'refresh_tokens',
  'mfa_factors',
  'mfa_challenges',
  'mfa_amr_claims',
  'flow_state',
  'one_time_tokens',
  'audit_log_entries',
  'instances',
  'schema_migrations',
];

/**
 * Migration 57, second part: GoTrue's tables give PUBLIC and PostgREST's roles no TRUNCATE, TRIGGER
 * or REFERENCES, and its refresh-token sequence nothing. Under the same default privileges they got
 * ALL: row-level security keeps their rows, but not a TRUNCATE (every refresh token gone), a trigger
 * (an anonymous-role login with CREATE in some schema, every one before PostgreSQL 15 has it in
 * public, puts its function on auth.users and restauth's next sign-up runs it as restauth's role),
 * or setval on refresh_tokens_id_seq (every new refresh token a unique violation). Grants of SELECT
 * and the like stay: applications grant them with policies of their own. A table this role may not
 * revoke on (a GoTrue-made database's, owned by GoTrue's role) is left as it is.
 */
function gotrueTablesClosedSql(q: Names): string {
  const roles = `PUBLIC, ${q.anon}, ${q.authenticated}`;
  const revokes = GOTRUE_TABLES.map(
    (table) => `
      BEGIN
        REVOKE TRUNCATE, TRIGGER, REFERENCES ON ${q.schema}.${table} FROM ${roles};
      EXCEPTION WHEN insufficient_privilege OR undefined_table THEN NULL;
      END;`,
  ).join('');
  return `
    DO $$ BEGIN ${revokes}
      BEGIN
        REVOKE ALL ON SEQUENCE ${q.schema}.refresh_tokens_id_seq FROM ${roles};
      EXCEPTION WHEN insufficient_privilege OR undefined_table THEN NULL;
      END;
    END $$;
  `;
}

/**
 * Migration 57, third part: the anonymous role (and every role in it: postgrest-auth's per-user roles) sees only
 * the account named after its own role in `restauth.accounts`, not the list of every user name.
 *
 * postgrest-auth granted the anonymous role SELECT (username_lowercase, token_count) on its table so
 * that its pre-request, a SECURITY INVOKER function run as the request's role, could read
 * `token_count WHERE username_lowercase = current_user` (docs/postgrest.md). restauth's pre-request
 * reads as its owner and needs no grant, but SQL written against postgrest-auth's rule may: the grant
 * stays, and a restrictive policy limits it to that one row. Any role that could read every row
 * through it (a login role in the anonymous role, PostgREST with restauth's schema exposed) read every
 * user name, the very list a sign-in form hides.
 *
 * Row-level security turned on must not take rows from anyone else: the permissive policy lets every
 * role see what its grants allow, so the restrictive one decides alone, and only for the anonymous
 * role's members. The owner (restauth's own statements, its SECURITY DEFINER functions and triggers)
 * is not subject to row-level security; a view is checked as its owner, as the grant was.
 */
function accountNamesHiddenSql(q: Names): string {
  const accounts = `${q.restauth}.accounts`;
  return `
    ALTER TABLE ${accounts} ENABLE ROW LEVEL SECURITY;
    CREATE POLICY restauth_grants_decide ON ${accounts} AS PERMISSIVE FOR ALL TO PUBLIC
      USING (true) WITH CHECK (true);
    CREATE POLICY restauth_anonymous_sees_own_name ON ${accounts} AS RESTRICTIVE FOR SELECT TO ${q.anon}
      USING (username_lowercase = current_user);
  `;
}

/** Migration 57: what PUBLIC and PostgREST's roles may do with restauth's tables. */
export function restauthPrivilegesSql(q: Names): string {
  return restauthTablesClosedSql(q) + gotrueTablesClosedSql(q) + accountNamesHiddenSql(q);
}

/** The migration whose closing of restauth's objects every later one repeats (migrate.ts). */
export const PRIVILEGES_CLOSED_VERSION = 57;

/**
 * Run in the transaction of every migration after 57, after its own SQL: what it created in
 * restauth's schema gives PUBLIC and PostgREST's roles no more than migration 57 left them. Migration
 * 57 revoked once, but default privileges (ALTER DEFAULT PRIVILEGES ... GRANT ... TO anon, globally or
 * on restauth's schema, set by an operator or by Supabase's set-up after it ran) grant every table,
 * sequence and function a later migration creates as it is created: a new table of restauth's
 * readable or writable by the anonymous role, a new SECURITY DEFINER function callable by it (REVOKE
 * ... FROM PUBLIC takes away no grant to the role by name). So each migration closes restauth's
 * schema as migration 57 did, and takes its functions' EXECUTE from the API roles (none is theirs to
 * call: restauth calls them as their owner). In GoTrue's schema, which also holds the application's
 * own tables when store.schema is public, the tables restauth creates there are closed by name as
 * migration 57 closed them (GOTRUE_TABLES): one a later migration creates, or one granted again since
 * (Supabase's set-up grants ALL ON ALL TABLES IN SCHEMA public to its API roles), gives them no
 * TRUNCATE, TRIGGER or REFERENCES; the application's tables keep what it gave them.
 */
export function migrationObjectsClosedSql(q: Names): string {
  return `${restauthTablesClosedSql(q)}
    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ${q.restauth} FROM ${q.anon}, ${q.authenticated};
    ${gotrueTablesClosedSql(q)}
  `;
}
