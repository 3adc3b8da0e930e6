import type pg from 'pg';
import type { quotedNames } from './migrations.js';

type Quoted = Pick<ReturnType<typeof quotedNames>, 'schema' | 'restauth'>;

/**
 * Where restauth records its own migrations, `restauth_migrations`: in
 * restauth's schema (`restauth` beside `auth`) since migration 16 and for
 * every new database; in the configured schema itself in a database migrated
 * before migration 16 moved it. Restauth's own wins if both exist (a stray
 * empty one an older restauth left in `auth`). Null: restauth never migrated
 * this database. The names come quoted, as quotedNames() makes them.
 */
export async function bookkeepingTable(client: pg.ClientBase | pg.Pool, q: Quoted): Promise<string | null> {
  const own = `${q.restauth}.restauth_migrations`;
  const legacy = `${q.schema}.restauth_migrations`;
  const { rows } = await client.query<{ own: boolean; legacy: boolean }>(
    'SELECT to_regclass($1) IS NOT NULL AS own, to_regclass($2) IS NOT NULL AS legacy',
    [own, legacy],
  );
  if (rows[0]!.own) return own;
  return rows[0]!.legacy ? legacy : null;
}

/** Creates the bookkeeping table of a database restauth never migrated, in restauth's schema; returns it. */
export async function createBookkeepingTable(client: pg.ClientBase, q: Quoted): Promise<string> {
  const table = `${q.restauth}.restauth_migrations`;
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${q.restauth}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${table} (
       version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  return table;
}
