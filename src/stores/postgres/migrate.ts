import type pg from 'pg';
import { bookkeepingTable, createBookkeepingTable } from './bookkeeping.js';
import { isStoreUnavailable } from './faults.js';
import { gotrueVersions, refuseGoTrueSchema, unknownNewerVersions } from './gotrue-schema.js';
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
      // Before anything is created: a schema GoTrue made is not this code's to alter.
      await refuseGoTrueSchema(client, q, names.schema);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${q.schema}`);
      const table = (await bookkeepingTable(client, q)) ?? (await createBookkeepingTable(client, q));
      const done = new Set(
        (await client.query<{ version: number }>(`SELECT version FROM ${table}`)).rows.map(
          (row) => row.version,
        ),
      );
      for (const migration of migrations(names)) {
        if (done.has(migration.version)) continue;
        await transaction(client, async () => {
          if (migration.sql !== '') await client.query(migration.sql);
          await migration.run?.(client);
          if (migration.gotrue !== undefined && migration.gotrue.length > 0) {
            // As pop records them; a database GoTrue made may have them already.
            await client.query(
              `INSERT INTO ${q.schema}.schema_migrations (version) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`,
              [migration.gotrue],
            );
          }
          // Looked up again: migration 16 moves the table of a database migrated before it to restauth's schema.
          await client.query(
            `INSERT INTO ${(await bookkeepingTable(client, q))!} (version, name) VALUES ($1, $2)`,
            [migration.version, migration.name],
          );
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

export interface MigrationStatus {
  /** Where restauth records its migrations (bookkeeping.ts), or will when it never migrated it; unquoted. */
  table: string;
  /** restauth's migrations recorded there, oldest first. */
  applied: { version: number; name: string; appliedAt: Date }[];
  /** restauth's migrations this version knows and the database has not applied. */
  pending: { version: number; name: string }[];
  /** GoTrue's versions recorded in `<schema>.schema_migrations`, newest first. */
  gotrue: string[];
  /** Of those, the ones newer than any this version knows (docs/postgres-schema.md). */
  gotrueUnknown: string[];
}

/** What `restauth migrate --status` lists: read only, no lock, nothing created. */
export async function migrationStatus(pool: pg.Pool, names: SchemaNames): Promise<MigrationStatus> {
  const q = quotedNames(names);
  return withClient(pool, async (client) => {
    const table = await bookkeepingTable(client, q);
    const applied =
      table === null
        ? []
        : (
            await client.query<{ version: number; name: string; applied_at: Date }>(
              `SELECT version, name, applied_at FROM ${table} ORDER BY version`,
            )
          ).rows.map((row) => ({ version: row.version, name: row.name, appliedAt: row.applied_at }));
    const done = new Set(applied.map((migration) => migration.version));
    const gotrue = await gotrueVersions(client, q.schema);
    return {
      // Quoted names passed identifier()'s pattern: the quotes are all there is to take off.
      table: (table ?? `${q.restauth}.restauth_migrations`).replaceAll('"', ''),
      applied,
      pending: migrations(names)
        .filter((migration) => !done.has(migration.version))
        .map(({ version, name }) => ({ version, name })),
      gotrue,
      gotrueUnknown: unknownNewerVersions(gotrue),
    };
  });
}
