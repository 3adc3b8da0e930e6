import type { Config, PostgresStoreConfig } from '../../config/schema.js';
import type { OutageLogger } from './faults.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';
import type { SchemaNames } from './migrations.js';
import { PostgresStore } from './postgres-store.js';

export { migrate } from './migrate.js';
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

/** Connects, applies pending migrations (safe with several instances), and returns the store. */
export async function openPostgresStore(
  store: PostgresStoreConfig,
  roles: Config['roles'],
  options: { migrate?: boolean; logger?: OutageLogger } = {},
): Promise<PostgresStore> {
  const pool = createPool(store, options.logger ?? console);
  const names = schemaNames(store, roles);
  try {
    if (options.migrate !== false) await migrate(pool, names);
    return new PostgresStore(pool, names, { preparedStatements: store.preparedStatements });
  } catch (error) {
    await pool.end();
    throw error;
  }
}
