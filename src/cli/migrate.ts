import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { describeDatabase } from '../stores/postgres/faults.js';
import { migrateUnbounded, schemaNames } from '../stores/postgres/index.js';
import { DatabaseUnreachableError, waitForDatabase } from '../stores/postgres/startup.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './errors.js';

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
      const store = config.store;
      const names = schemaNames(config.store, config.roles);
      try {
        // A migration job started with its database (a compose file) waits for it, as the server does.
        const applied = await waitForDatabase(() => migrateUnbounded(store, names), {
          database: describeDatabase(config.store.url),
          timeoutSeconds: config.store.startupTimeout,
          logger: console,
        });
        console.log(
          applied.length === 0 ? 'the schema is up to date' : `applied migrations ${applied.join(', ')}`,
        );
      } catch (error) {
        if (error instanceof DatabaseUnreachableError) throw new CliError(error.message, EXIT_FAILURE);
        throw error;
      }
    });
}
