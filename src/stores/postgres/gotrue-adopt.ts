import pg from 'pg';
import { accountsForUsersWithoutOne } from './gotrue-accounts.js';
import { signOutDeletedUsersSql } from './gotrue-deleted-users.js';
import { oneTimeTokenTables } from './gotrue-one-time-tokens.js';
import { endSessionsOfFactorUsersSql } from './gotrue-factors.js';
import { SchemaRefusedError } from './gotrue-schema.js';
import { quotedNames, type SchemaNames } from './migrations.js';
import { sessionTables } from './session-sql.js';

/** Columns a refusal names, at most: the start's error stays one readable line. */
const SHOWN = 8;
/** Where GoTrue's schema waits while restauth's migrations build theirs; never a name of either. */
const ASIDE = 'restauth_adopting_gotrue';

type Client = pg.ClientBase;

async function column<T>(client: Client, sql: string, params: unknown[] = []): Promise<T[]> {
  const { rows } = await client.query<{ value: T }>(sql, params);
  return rows.map((row) => row.value);
}

async function run(client: Client, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await client.query(statement);
}

/** The grantee of an aclexplode() row `a`, as a GRANT names it. */
const grantee = `CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END`;

/**
 * Serves a schema GoTrue made (docs/postgres-schema.md, "A database GoTrue made") without rewriting a
 * row of it: restauth's migrations run as on a new database while GoTrue's schema waits under another
 * name, then GoTrue's tables, types and SQL helpers take the place of the copies restauth built of
 * them, and everything else restauth built (its functions, its `restauth` schema's tables) stays.
 * Run inside one transaction by migrate(): any failure leaves the database as GoTrue left it.
 *
 * What restauth built on its copies of GoTrue's tables follows to GoTrue's: foreign keys that
 * restauth's tables hold on them, triggers, indexes GoTrue has not, grants. The SQL helpers
 * (`auth.uid()`, `jwt()`, ...) keep GoTrue's functions, whose identity the applications' policies
 * hold, with restauth's bodies (the same claims, read from both settings). Every column restauth
 * writes must be in GoTrue's table with the same type, or nothing is done, naming the column.
 */
export async function adoptGoTrueSchema(
  client: Client,
  names: SchemaNames,
  applyMigrations: () => Promise<void>,
): Promise<void> {
  const q = quotedNames(names);
  const aside = pg.escapeIdentifier(ASIDE);
  await client.query(`ALTER SCHEMA ${q.schema} RENAME TO ${aside}`);
  await applyMigrations();
  // Every name below comes out schema-qualified (regclass, pg_get_*def), so it means what it meant.
  await client.query('SET LOCAL search_path = pg_catalog');
  const params = [names.schema, ASIDE];
  const ns = `(SELECT oid FROM pg_namespace WHERE nspname = $1::text)`;
  const gotrueNs = `(SELECT oid FROM pg_namespace WHERE nspname = $2::text)`;

  // restauth's copies of GoTrue's tables: the tables of the new schema GoTrue's also has.
  const copies = await column<string>(
    client,
    `SELECT c.oid::bigint AS value FROM pg_class c WHERE c.relnamespace = ${ns} AND c.relkind IN ('r', 'p')
       AND EXISTS (SELECT FROM pg_class g WHERE g.relnamespace = ${gotrueNs} AND g.relname = c.relname
                   AND g.relkind IN ('r', 'p'))`,
    params,
  );
  await refuseMissingColumns(client, names.schema, copies, params);
  const policies = await column<string>(
    client,
    `SELECT format('%s: %s', p.polrelid::regclass, p.polname) AS value FROM pg_policy p WHERE p.polrelid = ANY($1::oid[])`,
    [copies],
  );
  // None today; a migration that adds one must teach this step to carry it over.
  if (policies.length > 0)
    throw new Error(`cannot carry restauth's policies to GoTrue's tables: ${policies.join(', ')}`);

  const carried = await carryOver(client, copies, params);
  await run(client, carried.dropForeignKeys);
  const copyNames = await column<string>(
    client,
    'SELECT oid::regclass::text AS value FROM pg_class WHERE oid = ANY($1::oid[])',
    [copies],
  );
  // In one statement: the foreign keys between the copies go with them.
  if (copyNames.length > 0) await client.query(`DROP TABLE ${copyNames.join(', ')}`);

  // Functions: GoTrue's helpers keep their identity and take restauth's bodies; restauth's own move over.
  const functions = await client.query<{
    signature: string;
    definition: string;
    gotrue: boolean;
    grants: string[];
  }>(
    `SELECT format('%I.%I(%s)', $1::text, p.proname, pg_get_function_identity_arguments(p.oid)) AS signature,
       pg_get_functiondef(p.oid) AS definition,
       EXISTS (SELECT FROM pg_proc g WHERE g.pronamespace = ${gotrueNs} AND g.proname = p.proname
               AND pg_get_function_identity_arguments(g.oid) = pg_get_function_identity_arguments(p.oid)) AS gotrue,
       ARRAY(SELECT format('GRANT %s ON FUNCTION %I.%I(%s) TO %s', a.privilege_type, $1::text, p.proname,
               pg_get_function_identity_arguments(p.oid), ${grantee})
             FROM aclexplode(p.proacl) a WHERE a.grantee <> p.proowner) AS grants
     FROM pg_proc p WHERE p.pronamespace = ${ns}`,
    params,
  );
  for (const fn of functions.rows) {
    await client.query(
      fn.gotrue ? `DROP FUNCTION ${fn.signature}` : `ALTER FUNCTION ${fn.signature} SET SCHEMA ${aside}`,
    );
  }

  // Types (enums, domains): GoTrue's stay, restauth's others move over.
  const types = await client.query<{ name: string; gotrue: boolean }>(
    `SELECT format('%I.%I', $1::text, t.typname) AS name,
       EXISTS (SELECT FROM pg_type g WHERE g.typnamespace = ${gotrueNs} AND g.typname = t.typname) AS gotrue
     FROM pg_type t WHERE t.typnamespace = ${ns} AND t.typtype IN ('e', 'd', 'r', 'm')`,
    params,
  );
  for (const type of types.rows)
    await client.query(
      type.gotrue ? `DROP TYPE ${type.name}` : `ALTER TYPE ${type.name} SET SCHEMA ${aside}`,
    );

  // restauth's other relations in the schema (tables carry their indexes and owned sequences along).
  const relations = await client.query<{ statement: string }>(
    `SELECT format('ALTER %s %s SET SCHEMA %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
              WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, $2::text) AS statement
     FROM pg_class c WHERE c.relnamespace = ${ns} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND d.deptype IN ('a', 'i'))
     ORDER BY c.relkind <> 'r', c.oid`,
    params,
  );
  await run(
    client,
    relations.rows.map((row) => row.statement),
  );

  // The new schema is empty now (RESTRICT: anything left stops the whole step); GoTrue's takes its name.
  await client.query(`DROP SCHEMA ${q.schema}`);
  await client.query(`ALTER SCHEMA ${aside} RENAME TO ${q.schema}`);

  for (const fn of functions.rows.filter((row) => row.gotrue)) {
    await client.query(fn.definition);
    await run(client, fn.grants);
  }
  await run(client, carried.restore);
  await run(client, carried.schemaGrants);
  await client.query(accountsForUsersWithoutOne(q));
  // GoTrue's sessions are here only now: those its verify would have ended end as migration 47's did.
  await client.query(endSessionsOfFactorUsersSql(sessionTables(q)));
  // And those GoTrue's soft delete would have ended, with their codes (deleted_at written otherwise).
  await client.query(signOutDeletedUsersSql(q, sessionTables(q), oneTimeTokenTables(q)));
}

/**
 * Refuses (before anything is committed) when a column restauth's copy of a GoTrue table has is not in
 * GoTrue's, or has another type: a GoTrue older than the migrations restauth reproduces, or a copy that
 * drifted from GoTrue's schema.
 */
async function refuseMissingColumns(
  client: Client,
  schema: string,
  copies: string[],
  params: string[],
): Promise<void> {
  const typeOf = `CASE t.typtype WHEN 'e' THEN t.typname ELSE format_type(a.atttypid, a.atttypmod) END`;
  const missing = await column<string>(
    client,
    `SELECT format('%I.%I.%I (%s)', $1::text, c.relname, a.attname, ${typeOf}) AS value
     FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
     WHERE c.oid = ANY($3::oid[]) AND NOT EXISTS (
       SELECT FROM pg_class gc JOIN pg_attribute ga ON ga.attrelid = gc.oid AND NOT ga.attisdropped
         JOIN pg_type gt ON gt.oid = ga.atttypid
       WHERE gc.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $2::text) AND gc.relname = c.relname
         AND ga.attname = a.attname
         AND CASE gt.typtype WHEN 'e' THEN gt.typname ELSE format_type(ga.atttypid, ga.atttypmod) END = ${typeOf})
     ORDER BY 1`,
    [...params, copies],
  );
  if (missing.length > 0)
    throw new SchemaRefusedError(
      `schema ${schema} was made by GoTrue (Supabase Auth), but lacks what restauth writes: ` +
        `${missing.slice(0, SHOWN).join(', ')}${missing.length > SHOWN ? ` and ${missing.length - SHOWN} more` : ''}. ` +
        'restauth wrote nothing to the database (docs/postgres-schema.md)',
    );
}

/** What restauth built on its copies of GoTrue's tables, to build again on GoTrue's once they are in place. */
async function carryOver(
  client: Client,
  copies: string[],
  params: string[],
): Promise<{ dropForeignKeys: string[]; restore: string[]; schemaGrants: string[] }> {
  // Foreign keys restauth's own tables hold on the copies (accounts.uid -> users.id, ...).
  const foreignKeys = await client.query<{ drop: string; add: string }>(
    `SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS add
     FROM pg_constraint c WHERE c.contype = 'f' AND c.confrelid = ANY($1::oid[]) AND NOT c.conrelid = ANY($1::oid[])`,
    [copies],
  );
  const triggers = await column<string>(
    client,
    `SELECT pg_get_triggerdef(t.oid) AS value FROM pg_trigger t WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal`,
    [copies],
  );
  // Indexes GoTrue's tables have not (by name): what restauth added for its own queries.
  const indexes = await column<string>(
    client,
    `SELECT pg_get_indexdef(i.indexrelid) AS value FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = ANY($1::oid[]) AND NOT EXISTS (
       SELECT FROM pg_class g WHERE g.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $2)
         AND g.relname = ic.relname)`,
    [copies, params[1]],
  );
  const tableGrants = await column<string>(
    client,
    `SELECT format('GRANT %s ON TABLE %s TO %s', a.privilege_type, c.oid::regclass, ${grantee}) AS value
     FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = ANY($1::oid[]) AND a.grantee <> c.relowner
     UNION ALL
     SELECT format('GRANT %s (%I) ON TABLE %s TO %s', a.privilege_type, att.attname, c.oid::regclass, ${grantee})
     FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a
     WHERE c.oid = ANY($1::oid[]) AND a.grantee <> c.relowner`,
    [copies],
  );
  const schemaGrants = await column<string>(
    client,
    `SELECT format('GRANT %s ON SCHEMA %I TO %s', a.privilege_type, n.nspname, ${grantee}) AS value
     FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = $1 AND a.grantee <> n.nspowner`,
    [params[0]],
  );
  return {
    dropForeignKeys: foreignKeys.rows.map((row) => row.drop),
    restore: [...foreignKeys.rows.map((row) => row.add), ...triggers, ...indexes, ...tableGrants],
    schemaGrants,
  };
}
