import type { Command } from 'commander';
import { Option } from 'commander';
import type { LoadOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parsePort } from './options.js';

/** The options of serve that shape the configuration, shared by the commands that must see what serve sees. */
export interface ConfigFlags {
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
  logLevel?: Config['logLevel'];
  logFormat?: Config['logFormat'];
}

export function addConfigOptions(command: Command): Command {
  return (
    command
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
      .addOption(
        new Option('--log-level <level>', 'least level logged (RESTAUTH_LOG_LEVEL)').choices([
          'fatal',
          'error',
          'warn',
          'info',
          'debug',
          'trace',
          'silent',
        ]),
      )
      .addOption(
        new Option(
          '--log-format <format>',
          "pretty: short lines for a terminal; json: one JSON object a line; json-server: json-server's request lines (default: pretty on a terminal, json-server's for a config.json, else json)",
        ).choices(['pretty', 'json', 'json-server', 'auto']),
      )
      .addHelpText(
        'after',
        '\nConfiguration: the config file, then environment variables (RESTAUTH_PORT, RESTAUTH_JWT_SECRET, DATABASE_URL, ...),\nthen these flags; see docs/configuration.md.',
      )
  );
}

export function loadOptionsOf(dataFile: string | undefined, options: ConfigFlags): LoadOptions {
  return {
    configFile: options.config,
    dataFile,
    port: options.port,
    host: options.host,
    development: options.dev,
    logLevel: options.logLevel,
    logFormat: options.logFormat,
    postgrestAuth: {
      app: options.app,
      connection: options.connection,
      schema: options.schema,
      table: options.table,
      expire: options.expire ?? options.exp,
      issuer: options.issuer ?? options.iss,
      secret: options.secret,
    },
  };
}
