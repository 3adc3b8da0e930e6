import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { bookkeepingTable, createBookkeepingTable } from './bookkeeping.js';
import { isStoreUnavailable } from './faults.js';
import { adoptGoTrueSchema } from './gotrue-adopt.js';
import {
  goTrueSchemaToServe,
  gotrueVersions,
  SchemaRefusedError,
  unknownNewerVersions,
} from './gotrue-schema.js';
import { migrations, quotedNames, type Migration, type SchemaNames } from './migrations.js';
import { transaction, withClient } from './pool.js';
import { migrationObjectsClosedSql, PRIVILEGES_CLOSED_VERSION } from './restauth-privileges.js';

/**
 * Applies the migrations not applied yet, each in its own transaction, under
 * an advisory lock: several restauth instances starting at once apply each
 * migration exactly once. Returns the versions this call applied. `through`
 * stops after that version (tests of an upgrade make the database an older
 * restauth left).
 */
export async function migrate(
  pool: pg.Pool,
  names: SchemaNames,
  options: {
    through?: number;
    onLockWait?: (message: string) => void;
    /** How often a lock wait going on is told again (default a minute; tests shorten it). */
    lockWaitReportMs?: number;
  } = {},
): Promise<number[]> {
  const q = quotedNames(names);
  const lock = `restauth:migrate:${names.schema}`;
  return withClient(pool, async (client) => {
    const applied: number[] = [];
    // A session lock: it is released with the connection too, if the connection dies first.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
    try {
      // Before anything is created: a schema GoTrue made is served as it is, or refused with nothing written.
      if ((await goTrueSchemaToServe(client, q, names.schema)) !== null) {
        // One transaction: a failure anywhere leaves the database as GoTrue left it. Its locks are
        // taken within the migrations' lock_timeout, and the whole step tried again when refused one:
        // it alters GoTrue's tables (auth.users among them), which a long transaction may hold.
        await applyWhenLocksAllow(client, 'serving the schema GoTrue made', options, () =>
          transaction(client, async () => {
            applied.length = 0;
            await client.query(`SET LOCAL lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
            await adoptGoTrueSchema(client, names, async () => {
              const table = await createBookkeepingTable(client, q);
              for (const migration of migrations(names)) {
                await applyMigration(client, q, migration, table);
                applied.push(migration.version);
              }
            });
          }),
        ).catch(failed('serving the schema GoTrue made'));
        return applied;
      }
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${q.schema}`);
      const table = (await bookkeepingTable(client, q)) ?? (await createBookkeepingTable(client, q));
      const done = new Set(
        (await client.query<{ version: number }>(`SELECT version FROM ${table}`)).rows.map(
          (row) => row.version,
        ),
      );
      for (const migration of migrations(names)) {
        if (done.has(migration.version)) continue;
        if (options.through !== undefined && migration.version > options.through) break;
        await applyWhenLocksAllow(client, `migration ${migration.version} (${migration.name})`, options, () =>
          transaction(client, async () => {
            await client.query(`SET LOCAL lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`);
            await applyMigration(client, q, migration, table);
          }),
        ).catch(failed(`migration ${migration.version} (${migration.name})`));
        applied.push(migration.version);
      }
    } finally {
      // Best effort: on a dead connection the lock went with the session, and the first error matters.
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => {});
    }
    return applied;
  });
}

/**
 * How long a migration waits for a table's lock before it gives up and tries again. PostgreSQL queues
 * every later statement on a table behind a waiting lock request: a migration's ALTER TABLE waiting
 * for a long transaction (a psql session left open, a report) stalled every instance still serving
 * that table, for as long as that transaction lasted. Refused within this bound, it lets them through
 * between its attempts.
 */
const MIGRATION_LOCK_TIMEOUT_MS = 2000;
/** The pause between two attempts: the others' queued statements run meanwhile. */
const MIGRATION_LOCK_RETRY_MS = 1000;

/** While a migration waits for a lock, the log says so again this often, with who holds it. */
const LOCK_WAIT_REPORT_MS = 60_000;

/**
 * Runs `attempt` (one migration's transaction, or the one of serving a GoTrue-made schema) again
 * while it is refused a lock within its lock_timeout (55P03), without bound as its wait was before:
 * the lock is someone else's to release, and a start that gave up would only be restarted to queue
 * again (an orchestrator's restart loop), its instance no more served meanwhile. The refusal is
 * told through `onLockWait`, naming the step (`what`), how long it has waited and the sessions whose
 * transactions are older than the wait (likely holders: a psql session left open), at the first
 * refusal and then every `lockWaitReportMs` (a minute): one line an hour old says nothing of the wait going on.
 */
async function applyWhenLocksAllow(
  client: pg.ClientBase,
  what: string,
  wait: { onLockWait?: (message: string) => void; lockWaitReportMs?: number },
  attempt: () => Promise<void>,
): Promise<void> {
  const { onLockWait, lockWaitReportMs: reportEveryMs = LOCK_WAIT_REPORT_MS } = wait;
  // Monotonic: a wait's length is no wall-clock time, which an NTP step may set back a day.
  const started = performance.now();
  let reported: number | null = null;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw error;
      if (onLockWait && (reported === null || performance.now() - reported >= reportEveryMs)) {
        reported = performance.now();
        const waited = Math.round((reported - started) / 1000);
        onLockWait(
          `restauth: ${what} waits for a lock another session holds` +
            (waited > 0 ? ` (for ${waited} s now)` : '') +
            `; ${await longTransactions(client)}; trying again every ${MIGRATION_LOCK_RETRY_MS / 1000} s, ` +
            'letting other statements through meanwhile, for as long as it takes',
        );
      }
      await sleep(MIGRATION_LOCK_RETRY_MS);
    }
  }
}

/** The sessions of this database in a transaction older than the lock wait: who likely holds the lock. */
async function longTransactions(client: pg.ClientBase): Promise<string> {
  const { rows } = await client
    .query<{
      pid: number;
      usename: string | null;
      app: string | null;
      state: string | null;
      seconds: number;
    }>(
      `SELECT pid, usename, nullif(application_name, '') AS app, state,
              floor(extract(epoch FROM now() - xact_start))::int AS seconds
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND xact_start < now() - make_interval(secs => $1)
        ORDER BY xact_start LIMIT 3`,
      [MIGRATION_LOCK_TIMEOUT_MS / 1000],
    )
    .catch(() => ({ rows: [] }));
  if (rows.length === 0) return 'see pg_stat_activity for a long transaction on its tables';
  const sessions = rows.map(
    (row) =>
      `pid ${row.pid} (${[row.usename, row.app, row.state].filter((part) => part !== null).join(', ')}; ` +
      `in a transaction for ${row.seconds} s)`,
  );
  return `the oldest transactions: ${sessions.join(', ')}`;
}

/** SQLSTATE lock_not_available: a lock not granted within lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Runs one migration and records it (and the GoTrue versions it reproduces), in the caller's transaction. */
async function applyMigration(
  client: pg.ClientBase,
  q: ReturnType<typeof quotedNames>,
  migration: Migration,
  table: string,
): Promise<void> {
  if (migration.sql !== '') await client.query(migration.sql);
  await migration.run?.(client);
  // Whatever default privileges gave the API roles on what it created (restauth-privileges.ts).
  if (migration.version > PRIVILEGES_CLOSED_VERSION) await client.query(migrationObjectsClosedSql(q));
  if (migration.gotrue !== undefined && migration.gotrue.length > 0) {
    // As pop records them; a database GoTrue made may have them already.
    await client.query(
      `INSERT INTO ${q.schema}.schema_migrations (version) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`,
      [migration.gotrue],
    );
  }
  // Looked up again: migration 16 moves the table of a database migrated before it to restauth's schema.
  await client.query(
    `INSERT INTO ${(await bookkeepingTable(client, q)) ?? table} (version, name) VALUES ($1, $2)`,
    [migration.version, migration.name],
  );
}

/** A failed step, named; a lost connection stays what it is, an outage to wait out. */
function failed(what: string): (error: unknown) => never {
  return (error) => {
    if (isStoreUnavailable(error) || error instanceof SchemaRefusedError) throw error;
    throw new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
  };
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
