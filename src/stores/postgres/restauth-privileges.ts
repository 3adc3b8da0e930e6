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

/**
 * Migration 57, second part: the anonymous role (and every role in it: postgrest-auth's per-user roles) sees only
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
  return restauthTablesClosedSql(q) + accountNamesHiddenSql(q);
}
