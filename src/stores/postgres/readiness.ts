import type pg from 'pg';
import { readinessOf, type Readiness } from '../../core/ports/readiness.js';
import { bookkeepingTable } from './bookkeeping.js';
import { isStoreUnavailable } from './faults.js';
import { migrations, quotedNames, type SchemaNames } from './migrations.js';

/**
 * Ready when the database answers and every migration this version knows is
 * applied (another instance may have applied newer ones: that is fine).
 */
export async function postgresReadiness(pool: pg.Pool, names: SchemaNames): Promise<Readiness> {
  const known = migrations(names).map((migration) => migration.version);
  let applied = new Set<number>();
  try {
    // Null: the bookkeeping table is missing, nothing was migrated (`restauth migrate` not run).
    const table = await bookkeepingTable(pool, quotedNames(names));
    if (table !== null) {
      const { rows } = await pool.query<{ version: number }>(`SELECT version FROM ${table}`);
      applied = new Set(rows.map((row) => row.version));
    }
  } catch (error) {
    if (isStoreUnavailable(error)) return readinessOf({ database: 'unreachable', migrations: 'unknown' });
    // 42P01: migration 16 moved the table between the two queries; the next check finds it.
    if ((error as { code?: string }).code !== '42P01') throw error;
  }
  const pending = known.filter((version) => !applied.has(version));
  return readinessOf({
    database: 'ok',
    migrations: pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`,
  });
}
