import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { describeDatabase } from '../stores/postgres/faults.js';
import { SchemaRefusedError } from '../stores/postgres/gotrue-schema.js';
import type { MigrationStatus } from '../stores/postgres/migrate.js';
import type { SchemaNames } from '../stores/postgres/migrations.js';
import type { PoolConfig } from '../stores/postgres/pool.js';
import { DatabaseUnreachableError, waitForDatabase } from '../stores/postgres/startup.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors.js';

/**
 * `restauth migrate`: applies the PostgreSQL migrations (start-up does it too) and says which;
 * with --status, lists what is applied and pending instead, changing nothing.
 */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description(
      'apply the PostgreSQL schema migrations (also applied at start); safe with running instances',
    )
    .option('-c, --config <file>', 'config file (restauth.json or postgrest-auth.json)')
    .option('-C, --connection <url>', 'PostgreSQL connection string (else DATABASE_URL or the config)')
    .option('--status', "list applied and pending migrations (restauth's and GoTrue's); change nothing")
    .action(async (options: { config?: string; connection?: string; status?: boolean }) => {
      const config = await loadConfig({
        ...(options.config ? { configFile: options.config } : {}),
        ...(options.connection ? { postgrestAuth: { connection: options.connection } } : {}),
      });
      if (config.store.type !== 'postgres') {
        throw new CliError(
          'migrate needs a PostgreSQL store: set DATABASE_URL, --connection or a config naming one',
          EXIT_USAGE,
        );
      }
      const store = config.store;
      // Imported here: every other command (serve above all) starts without pg.
      const { migrateUnbounded, schemaNames } = await import('../stores/postgres/index.js');
      const names = schemaNames(config.store, config.roles);
      // A migration job started with its database (a compose file) waits for it, as the server does.
      const waiting = {
        database: describeDatabase(config.store.url),
        timeoutSeconds: config.store.startupTimeout,
        logger: console,
      };
      try {
        if (options.status) {
          const status = await waitForDatabase(() => readStatus(store, names), waiting);
          console.log(formatStatus(status, names.schema));
          return;
        }
        const applied = await waitForDatabase(
          () => migrateUnbounded(store, names, (line) => console.error(line)),
          waiting,
        );
        console.log(
          applied.length === 0 ? 'the schema is up to date' : `applied migrations ${applied.join(', ')}`,
        );
      } catch (error) {
        if (error instanceof DatabaseUnreachableError || error instanceof SchemaRefusedError)
          throw new CliError(error.message, EXIT_FAILURE);
        throw error;
      }
    });
}

async function readStatus(store: PoolConfig, names: SchemaNames): Promise<MigrationStatus> {
  const [{ migrationStatus }, { createPool }] = await Promise.all([
    import('../stores/postgres/migrate.js'),
    import('../stores/postgres/pool.js'),
  ]);
  const pool = createPool({ ...store, poolMin: 0, poolMax: 1 }, { info() {}, warn() {} });
  try {
    return await migrationStatus(pool, names);
  } finally {
    await pool.end();
  }
}

/** One line per restauth migration, then GoTrue's versions in one line (there may be 70). */
export function formatStatus(status: MigrationStatus, schema: string): string {
  const lines = [`restauth migrations (${status.table}):`];
  for (const migration of status.applied) {
    lines.push(`  applied  ${migration.version}  ${migration.name}  (${migration.appliedAt.toISOString()})`);
  }
  for (const migration of status.pending) lines.push(`  pending  ${migration.version}  ${migration.name}`);
  if (status.applied.length === 0 && status.pending.length === 0) lines.push('  none');
  if (status.gotrue.length === 0) {
    lines.push(`GoTrue migrations (${schema}.schema_migrations): none`);
  } else {
    lines.push(
      `GoTrue migrations (${schema}.schema_migrations): ${status.gotrue.length}, newest ${status.gotrue[0]}`,
    );
    if (status.gotrueUnknown.length > 0)
      lines.push(`  newer than restauth knows: ${status.gotrueUnknown.join(', ')}`);
  }
  return lines.join('\n');
}
