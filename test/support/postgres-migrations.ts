import type pg from 'pg';
import { migrations, quotedNames, type SchemaNames } from '../../src/stores/postgres/migrations.js';

/** The schema names of a Supabase-shaped database: GoTrue's auth.users, PostgREST's roles anon and authenticated. */
export const SUPABASE_NAMES: SchemaNames = {
  schema: 'auth',
  table: 'users',
  anonymousRole: 'anon',
  authenticatedRole: 'authenticated',
};

/** The migration that moved restauth's bookkeeping out of the configured schema into its own. */
const BOOKKEEPING_MOVED = 16;

/**
 * A database as the restauth of migration `version` left it: migrations 1..version applied, each in
 * its own transaction, and recorded where that restauth recorded them (the configured schema before
 * migration 16, restauth's own schema from then on). Upgrade tests start here and then run today's
 * migrate().
 */
export async function migrateUpTo(pool: pg.Pool, names: SchemaNames, version: number): Promise<void> {
  const q = quotedNames(names);
  const bookkeeping = version < BOOKKEEPING_MOVED ? q.schema : q.restauth;
  const client = await pool.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q.schema}`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${bookkeeping}`);
    await client.query(
      `CREATE TABLE ${bookkeeping}.restauth_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const migration of migrations(names).filter((m) => m.version <= version)) {
      await client.query('BEGIN');
      if (migration.sql !== '') await client.query(migration.sql);
      await migration.run?.(client);
      await client.query(`INSERT INTO ${bookkeeping}.restauth_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      await client.query('COMMIT');
    }
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
