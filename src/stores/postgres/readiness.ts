import { USERS_TABLE } from './user-scope.js';
import type pg from 'pg';
import { readinessOf, type Readiness } from '../../core/ports/readiness.js';
import { isDescriptorExhaustion, noDescriptorLeft } from '../../lib/storage-failure.js';
import { bookkeepingTable } from './bookkeeping.js';
import { isPoolExhausted, isPrivilegeRefused, isStoreUnavailable, SCHEMA_FAULT_SHOWN_MS } from './faults.js';
import { afterEndedSessions, poolExhaustedNow, schemaFaultOf } from './pool.js';
import { schemaWatchOf } from './schema-watch.js';
import { migrations, quotedNames, restauthSchemaName, type SchemaNames } from './migrations.js';

/**
 * Ready when the database answers, takes writes, and every migration this
 * version knows is applied (another instance may have applied newer ones:
 * that is fine). A server that refuses writes (a standby after a failover,
 * default_transaction_read_only) is `database: read-only`: every sign-in and
 * refresh writes, so a load balancer should send them elsewhere.
 */
export async function postgresReadiness(pool: pg.Pool, names: SchemaNames): Promise<Readiness> {
  const known = migrations(names).map((migration) => migration.version);
  // Every connection in use and requests timing out for one: the probe would only join the queue.
  if (poolExhaustedNow(pool)) return readinessOf({ database: POOL_EXHAUSTED, migrations: 'unknown' });
  let applied = new Set<number>();
  let database = 'ok';
  try {
    if (await refusesWrites(pool)) database = 'read-only';
    else {
      const missing = await missingPrivileges(pool, names);
      if (missing.length > 0) database = `missing privilege: ${missing.join(', ')}`;
    }
    // A table, column or function of restauth's dropped or altered: the catalogue tells, looked at
    // every 30 s, or at once after a statement met it, and on every probe until it is restored.
    const met = schemaFaultOf(pool);
    const watch = schemaWatchOf(pool, names);
    const finding = await watch.finding(met?.at ?? null);
    if (database === 'ok' && finding !== null) {
      // The statement's own words ('relation "auth.users" does not exist') while they are recent and
      // of this fault, not of one restored since.
      const recent =
        met !== null && Math.abs(Date.now() - met.at) < SCHEMA_FAULT_SHOWN_MS && watch.metSinceWhole(met.at);
      database = `schema changed: ${recent ? met.message : finding}`;
    }
    // Null: the bookkeeping table is missing, nothing was migrated (`restauth migrate` not run).
    const table = await bookkeepingTable(pool, quotedNames(names));
    if (table !== null) {
      const { rows } = await pool.query<{ version: number }>(`SELECT version FROM ${table}`);
      applied = new Set(rows.map((row) => row.version));
    }
  } catch (error) {
    // USAGE on the schema revoked: the bookkeeping table cannot be read; missingPrivileges named it.
    // The pool answers the refusal as the 503 (faults.ts), keeping the driver's error as its cause.
    if (isPrivilegeRefused((error as { cause?: unknown }).cause ?? error))
      return readinessOf({
        database: database === 'ok' ? 'missing privilege' : database,
        migrations: 'unknown',
      });
    // 42P01: migration 16 moved the table between the two queries; the next check finds it. The pool
    // answers it as the 503 (faults.ts, isSchemaChanged), keeping the driver's error as its cause.
    const cause = (error as { cause?: unknown }).cause ?? error;
    if ((cause as { code?: string }).code !== '42P01') {
      if (isPoolExhausted(cause)) return readinessOf({ database: POOL_EXHAUSTED, migrations: 'unknown' });
      if (isStoreUnavailable(error)) return readinessOf({ database: 'unreachable', migrations: 'unknown' });
      // No socket for a new connection (EMFILE: many connections, `ulimit -n` low): not the database's
      // fault, and not a reply of the error registry's shape, which no probe reads.
      if (isDescriptorExhaustion(cause)) {
        return readinessOf({
          database: 'unknown',
          migrations: 'unknown',
          openFiles: noDescriptorLeft(cause),
        });
      }
      throw error;
    }
  }
  const pending = known.filter((version) => !applied.has(version));
  return readinessOf({
    database,
    migrations: pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`,
  });
}

/** /ready's word for a pool whose every connection stayed in use past store.connectTimeout. */
const POOL_EXHAUSTED = 'pool exhausted';

/**
 * Whether the connection the pool hands out is to a server that refuses
 * writes. Such a connection is discarded, as a refused write discards its
 * own (faults.ts, isWriteRefused): after a failover the next one may reach
 * the new primary, and readiness says so once it does.
 */
async function refusesWrites(pool: pg.Pool): Promise<boolean> {
  // A connection the server had ended as idle (57P05) answers nothing about the server: /ready said
  // "unreachable" for it. Looked at again on another, as a statement is sent again (pool.ts).
  const look = () => connectionRefusesWrites(pool);
  return afterEndedSessions(pool, look(), look);
}

async function connectionRefusesWrites(pool: pg.Pool): Promise<boolean> {
  const client = await pool.connect();
  let discard: Error | undefined;
  try {
    const { rows } = await client.query<{ read_only: boolean }>(
      `SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' AS read_only`,
    );
    const readOnly = rows[0]?.read_only === true;
    if (readOnly) discard = new Error('PostgreSQL refuses writes on this connection');
    return readOnly;
  } catch (error) {
    discard = error as Error;
    throw error;
  } finally {
    client.release(discard);
  }
}

/** Missing privileges named at most this many at once: /ready's answer stays one short line. */
const MISSING_SHOWN = 3;

/**
 * The rights restauth's role lacks on its schemas (USAGE) and on their tables (SELECT, INSERT,
 * UPDATE, DELETE: it reads and writes each, and owns them when it made them). Asked of the
 * catalogue, so the check writes nothing; has_table_privilege with one privilege each, since with a
 * list it answers whether ANY is held. In the users' schema only the tables of the users table's
 * owner count (restauth's, or GoTrue's in a schema GoTrue made): a table someone else keeps there,
 * which restauth never touches, must not take every instance out of service.
 */
async function missingPrivileges(pool: pg.Pool, names: SchemaNames): Promise<string[]> {
  const schemas = [names.schema, restauthSchemaName(names.schema)];
  const { rows } = await pool.query<{ missing: string }>(
    `SELECT format('USAGE on schema %I', n.nspname) AS missing
       FROM pg_catalog.pg_namespace n
      WHERE n.nspname = ANY($1::text[]) AND NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
     UNION ALL
     SELECT format('%s on %I.%I', p.privilege, n.nspname, c.relname)
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p(privilege)
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')
        AND (n.nspname <> $2 OR c.relowner = (
              SELECT u.relowner FROM pg_catalog.pg_class u
                JOIN pg_catalog.pg_namespace un ON un.oid = u.relnamespace
               WHERE un.nspname = $2 AND u.relname = $3))
        AND NOT pg_catalog.has_table_privilege(c.oid, p.privilege)
      ORDER BY 1`,
    [schemas, names.schema, USERS_TABLE],
  );
  const missing = rows.map((row) => row.missing);
  return missing.length > MISSING_SHOWN
    ? [...missing.slice(0, MISSING_SHOWN), `${missing.length - MISSING_SHOWN} more`]
    : missing;
}
