import type pg from 'pg';
import { migrations, quotedNames, type SchemaNames } from './migrations.js';

/**
 * Applies the migrations not applied yet, each in its own transaction, under
 * an advisory lock: several restauth instances starting at once apply each
 * migration exactly once. Returns the versions this call applied.
 */
export async function migrate(pool: pg.Pool, names: SchemaNames): Promise<number[]> {
  const q = quotedNames(names);
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`restauth:migrate:${names.schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${q.schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${q.schema}.restauth_migrations (
           version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set(
        (
          await client.query<{ version: number }>(`SELECT version FROM ${q.schema}.restauth_migrations`)
        ).rows.map((row) => row.version),
      );
      for (const migration of migrations(names)) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(`INSERT INTO ${q.schema}.restauth_migrations (version, name) VALUES ($1, $2)`, [
            migration.version,
            migration.name,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        applied.push(migration.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`restauth:migrate:${names.schema}`]);
    }
  } finally {
    client.release();
  }
  return applied;
}
