import type pg from 'pg';
import { readinessOf, type Readiness } from '../../core/ports/readiness.js';
import { isStoreUnavailable } from './faults.js';
import { migrations, quotedNames, type SchemaNames } from './migrations.js';

/**
 * Ready when the database answers and every migration this version knows is
 * applied (another instance may have applied newer ones: that is fine).
 */
export async function postgresReadiness(pool: pg.Pool, names: SchemaNames): Promise<Readiness> {
  const known = migrations(names).map((migration) => migration.version);
  let applied: Set<number>;
  try {
    const { rows } = await pool.query<{ version: number }>(
      `SELECT version FROM ${quotedNames(names).schema}.restauth_migrations`,
    );
    applied = new Set(rows.map((row) => row.version));
  } catch (error) {
    if (isStoreUnavailable(error)) return readinessOf({ database: 'unreachable', migrations: 'unknown' });
    // 42P01: the bookkeeping table is missing, nothing was migrated (`restauth migrate` not run).
    if ((error as { code?: string }).code !== '42P01') throw error;
    applied = new Set();
  }
  const pending = known.filter((version) => !applied.has(version));
  return readinessOf({
    database: 'ok',
    migrations: pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`,
  });
}
