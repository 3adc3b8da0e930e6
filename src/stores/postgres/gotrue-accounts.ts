import type { quotedNames } from './migrations.js';

type Names = ReturnType<typeof quotedNames>;

/**
 * The accounts (`restauth.accounts`: user name, login key, token count, the integer id) of users that
 * have none: users another program wrote to `auth.users`, GoTrue above all (a database it made, or a
 * GoTrue serving the same database), or SQL. The store reads a user joined with its account, so a user
 * without one would not exist for restauth. Idempotent.
 */
export function accountsForUsersWithoutOne(q: Names): string {
  return `
    INSERT INTO ${q.restauth}.accounts (uid)
      SELECT u.id FROM ${q.schema}.users u
      WHERE NOT EXISTS (SELECT FROM ${q.restauth}.accounts a WHERE a.uid = u.id)
      ORDER BY u.created_at, u.id;
  `;
}

/**
 * An account for every user, whoever writes it (docs/postgres-schema.md, "A database GoTrue made"):
 * the users that have none get one now, and a trigger gives one to each user inserted later by anything
 * but restauth. restauth writes a user and its account in one statement; the trigger, an AFTER trigger,
 * runs once that statement is done and finds the account there. SECURITY DEFINER: GoTrue's role may
 * insert users without any right on restauth's schema.
 */
export function accountForEveryUser(q: Names): string {
  return `
    CREATE FUNCTION ${q.restauth}.account_for_user() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $fn$
    BEGIN
      INSERT INTO ${q.restauth}.accounts (uid) VALUES (NEW.id) ON CONFLICT (uid) DO NOTHING;
      RETURN NULL;
    END
    $fn$;
    REVOKE EXECUTE ON FUNCTION ${q.restauth}.account_for_user() FROM PUBLIC;
    CREATE TRIGGER restauth_account_for_user AFTER INSERT ON ${q.schema}.users
      FOR EACH ROW EXECUTE FUNCTION ${q.restauth}.account_for_user();
    ${accountsForUsersWithoutOne(q)}
  `;
}
