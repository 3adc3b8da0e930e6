import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { migrate, schemaNames } from '../stores/postgres/index.js';
import { CliError, EXIT_USAGE } from './errors.js';
import pg from 'pg';

/** `restauth migrate`: applies the PostgreSQL migrations (start-up does it too) and says which. */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description(
      'apply the PostgreSQL schema migrations (also applied at start); safe with running instances',
    )
    .option('-c, --config <file>', 'config file (restauth.json or postgrest-auth.json)')
    .option('-C, --connection <url>', 'PostgreSQL connection string (else DATABASE_URL or the config)')
    .action(async (options: { config?: string; connection?: string }) => {
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
      const pool = new pg.Pool({ connectionString: config.store.url, max: 1 });
      try {
        const applied = await migrate(pool, schemaNames(config.store, config.roles));
        console.log(
          applied.length === 0 ? 'the schema is up to date' : `applied migrations ${applied.join(', ')}`,
        );
      } finally {
        await pool.end();
      }
    });
}
