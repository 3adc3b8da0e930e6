import type pg from 'pg';
import { isStoreUnavailable } from './faults.js';
import { migrations, quotedNames, type SchemaNames } from './migrations.js';
import { transaction, withClient } from './pool.js';

/**
 * Applies the migrations not applied yet, each in its own transaction, under
 * an advisory lock: several restauth instances starting at once apply each
 * migration exactly once. Returns the versions this call applied.
 */
export async function migrate(pool: pg.Pool, names: SchemaNames): Promise<number[]> {
  const q = quotedNames(names);
  const lock = `restauth:migrate:${names.schema}`;
  return withClient(pool, async (client) => {
    const applied: number[] = [];
    // A session lock: it is released with the connection too, if the connection dies first.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
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
        await transaction(client, async () => {
          if (migration.sql !== '') await client.query(migration.sql);
          await migration.run?.(client);
          await client.query(`INSERT INTO ${q.schema}.restauth_migrations (version, name) VALUES ($1, $2)`, [
            migration.version,
            migration.name,
          ]);
        }).catch((error: unknown) => {
          // A lost connection is an outage to wait out, not a broken migration.
          if (isStoreUnavailable(error)) throw error;
          throw new Error(
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
            { cause: error },
          );
        });
        applied.push(migration.version);
      }
    } finally {
      // Best effort: on a dead connection the lock went with the session, and the first error matters.
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => {});
    }
    return applied;
  });
}
