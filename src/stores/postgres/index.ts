import type pg from 'pg';
import type { Config, PostgresStoreConfig } from '../../config/schema.js';
import { describeDatabase, type OutageLogger } from './faults.js';
import { warnOfVerifiedFactors } from './gotrue-factors.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';
import { waitForDatabase } from './startup.js';
import { quotedNames, type SchemaNames } from './migrations.js';
import { settleNameSkeletons } from './name-skeletons.js';
import { sessionTables } from './session-sql.js';
import { PostgresStore } from './postgres-store.js';
import { warnOfMissingReplicaTriggers } from './replica-triggers.js';

export { PostgresStore } from './postgres-store.js';

export function schemaNames(store: PostgresStoreConfig, roles: Config['roles']): SchemaNames {
  return {
    schema: store.schema,
    table: store.table,
    anonymousRole: roles.anonymous,
    authenticatedRole: roles.authenticated,
    authenticatorRole: roles.authenticator,
  };
}

/**
 * Applies pending migrations on a connection of their own, without the query
 * timeout of the serving pool: an index build on a big table may take long,
 * and waiting for another instance's migration (the advisory lock) too.
 */
export async function migrateUnbounded(
  store: PostgresStoreConfig,
  names: SchemaNames,
  onLockWait?: (message: string) => void,
): Promise<number[]> {
  const pool = createPool({ ...store, poolMin: 0, poolMax: 1, queryTimeout: 0 }, { info() {}, warn() {} });
  try {
    return await migrate(pool, names, { ...(onLockWait && { onLockWait }) });
  } finally {
    await pool.end();
  }
}

/** Connects and applies pending migrations (see openPostgresPool), and returns the store on that pool. */
export async function openPostgresStore(
  store: PostgresStoreConfig,
  roles: Config['roles'],
  options: { migrate?: boolean; logger?: OutageLogger } = {},
): Promise<PostgresStore> {
  const pool = await openPostgresPool(store, roles, options);
  return new PostgresStore(pool, schemaNames(store, roles), { preparedStatements: store.preparedStatements });
}

/**
 * Connects, applies pending migrations (safe with several instances), and
 * returns the guarded pool (see pool.ts) every port of the backend shares. A
 * database that cannot be reached yet (starting with it, as in a compose
 * file) is waited for, up to `store.startupTimeout` seconds, with one log line
 * naming it; then the start fails, saying so.
 */
export async function openPostgresPool(
  store: PostgresStoreConfig,
  roles: Config['roles'],
  options: { migrate?: boolean; logger?: OutageLogger } = {},
): Promise<pg.Pool> {
  const logger = options.logger ?? console;
  // The outage log starts with the server: a database still down at start-up is told by waitForDatabase.
  let started = false;
  const pool = createPool(store, {
    info: (line) => started && logger.info(line),
    warn: (line, error) => started && logger.warn(line, error),
  });
  const names = schemaNames(store, roles);
  try {
    await waitForDatabase(
      async () => {
        if (options.migrate !== false) await migrateUnbounded(store, names, (line) => logger.warn(line));
        else await pool.query('SELECT 1');
        if (options.migrate !== false) {
          await settleNameSkeletons(pool, `${quotedNames(names).restauth}.accounts`, logger);
          await warnOfVerifiedFactors(pool, sessionTables(quotedNames(names)), names.schema, logger);
          await warnOfMissingReplicaTriggers(pool, names, logger);
        }
      },
      { database: describeDatabase(store.url), timeoutSeconds: store.startupTimeout, logger },
    );
    started = true;
    return pool;
  } catch (error) {
    await pool.end();
    throw error;
  }
}
