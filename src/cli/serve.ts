import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { DatabaseUnreachableError } from '../stores/postgres/startup.js';
import { CliError, EXIT_FAILURE } from './errors.js';
import { parsePort } from './options.js';

interface ServeOptions {
  config?: string;
  port?: number;
  host?: string;
  app?: string;
  connection?: string;
  schema?: string;
  table?: string;
  expire?: string;
  exp?: string;
  issuer?: string;
  iss?: string;
  secret?: string;
  dev?: boolean;
}

export function serveCommand(): Command {
  return (
    new Command('serve')
      .description('start the server (the default command)')
      .argument('[DATA_FILE]', 'JSON file of the file store: users and data API (default: ./db.json)')
      .option(
        '-c, --config <file>',
        'config file: restauth.json, json-data-server config.json or postgrest-auth.json',
      )
      .option('-p, --port <n>', 'port to listen on (0: any free port)', parsePort)
      .option('-H, --host <host>', 'address to listen on')
      // postgrest-auth's flags, same names and short forms; they override its config file.
      .option('-A, --app <name>', 'application name used in mails (postgrest-auth app_name)')
      .option('-C, --connection <url>', 'PostgreSQL connection string (postgrest-auth db.connection_string)')
      .option('-s, --schema <name>', 'PostgreSQL schema of the users table (postgrest-auth db.schema)')
      .option('-t, --table <name>', 'users table (postgrest-auth db.table)')
      .option(
        '-e, --expire <duration>',
        'access token lifetime, "7d" or seconds (postgrest-auth payload.exp)',
      )
      .addOption(new Option('--exp <duration>', 'alias of --expire').hideHelp())
      .option('-i, --issuer <iss>', 'iss claim of the tokens (postgrest-auth payload.iss)')
      .addOption(new Option('--iss <iss>', 'alias of --issuer').hideHelp())
      .option('-S, --secret <secret>', 'JWT signing secret (postgrest-auth secret)')
      .option(
        '--dev',
        'development mode: accept a published or short jwt secret with a warning (RESTAUTH_DEV=1); never in production',
      )
      .addHelpText(
        'after',
        '\nConfiguration: the config file, then environment variables (RESTAUTH_PORT, RESTAUTH_JWT_SECRET, DATABASE_URL, ...),\nthen these flags; see docs/configuration.md.',
      )
      .action(async (dataFile: string | undefined, options: ServeOptions) => serve(dataFile, options))
  );
}

async function serve(dataFile: string | undefined, options: ServeOptions): Promise<void> {
  const config = await loadConfig({
    configFile: options.config,
    dataFile,
    port: options.port,
    host: options.host,
    development: options.dev,
    postgrestAuth: {
      app: options.app,
      connection: options.connection,
      schema: options.schema,
      table: options.table,
      expire: options.expire ?? options.exp,
      issuer: options.issuer ?? options.iss,
      secret: options.secret,
    },
  });
  // Imported lazily: `restauth init` and `--help` should not load the whole server.
  const { startServer } = await import('../http/server.js');
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, { logger: { level: config.logLevel } });
  } catch (error) {
    throw explainStartFailure(error, config);
  }
  console.log(`restauth listening on ${server.url}`);
  closeOnSignals(server);
}

function explainStartFailure(error: unknown, config: Config): unknown {
  // Its message names the database, the cause and the setting to change: no stack needed.
  if (error instanceof DatabaseUnreachableError) return new CliError(error.message, EXIT_FAILURE);
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return new CliError(`port ${config.port} is already in use (set --port or RESTAUTH_PORT)`, EXIT_FAILURE);
  }
  if (code === 'EACCES' && config.port < 1024) {
    return new CliError(
      `port ${config.port} needs elevated privileges (set --port or RESTAUTH_PORT)`,
      EXIT_FAILURE,
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new CliError(
      `cannot listen on ${config.host}: no such local address (set --host or RESTAUTH_HOST)`,
    );
  }
  return error;
}

/** SIGINT/SIGTERM: stop accepting, finish in-flight requests and writes, exit. A second signal exits at once. */
function closeOnSignals(server: { close(): Promise<void> }): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) process.exit(130);
    closing = true;
    console.error(`restauth: ${signal} received, closing`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('restauth: error while closing:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
