import type { Command } from 'commander';
import { Option } from 'commander';
import type { LoadOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseDelay, parsePort } from './options.js';

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
  // json-server's flags.
  watch?: boolean;
  routes?: string;
  middlewares?: string[];
  static?: string;
  readOnly?: boolean;
  ro?: boolean;
  /** false when --no-cors was given (commander's negated option), else true. */
  cors?: boolean;
  nc?: boolean;
  /** false when --no-gzip was given, else true. */
  gzip?: boolean;
  ng?: boolean;
  snapshots?: string;
  delay?: number;
  id?: string;
  foreignKeySuffix?: string;
  fks?: string;
  quiet?: boolean;
  // -s, -S and -i: json-server's or postgrest-auth's, see shortFlagsMeaning.
  s?: string;
  S?: string;
  i?: string;
}

/**
 * -s, -S and -i are json-server's --static, --snapshots and --id, and postgrest-auth's --schema,
 * --secret and --issuer: both tools' users type them. json-server's command line always names its
 * data file and postgrest-auth's never does (its data is in PostgreSQL), so a DATA_FILE argument
 * gives them json-server's meaning and its absence postgrest-auth's. The long forms are never ambiguous.
 */
const AMBIGUOUS_SHORT_FLAGS =
  "-s, -S and -i mean json-server's --static, --snapshots and --id when a DATA_FILE is given\n" +
  "(json-server's command line always names its file), else postgrest-auth's --schema, --secret and --issuer.";

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
      .option('--schema <name>', 'PostgreSQL schema of the users table (postgrest-auth db.schema; -s)')
      .option('-t, --table <name>', 'users table (postgrest-auth db.table)')
      .option(
        '-e, --expire <duration>',
        'access token lifetime, "7d" or seconds (postgrest-auth payload.exp)',
      )
      .addOption(new Option('--exp <duration>', 'alias of --expire').hideHelp())
      .option('--issuer <iss>', 'iss claim of the tokens (postgrest-auth payload.iss; -i)')
      .addOption(new Option('--iss <iss>', 'alias of --issuer').hideHelp())
      .option('--secret <secret>', 'JWT signing secret (postgrest-auth secret; -S)')
      .addOption(new Option('-s <value>', '--static, or --schema without DATA_FILE').hideHelp())
      .addOption(new Option('-S <value>', '--snapshots, or --secret without DATA_FILE').hideHelp())
      .addOption(new Option('-i <value>', '--id, or --issuer without DATA_FILE').hideHelp())
      // json-server 0.17.4's flags, same names and short forms.
      .option(
        '-w, --watch',
        'apply changes of DATA_FILE and the routes file made while running (json-server)',
      )
      .option('-r, --routes <file>', 'routes file of rewrites, e.g. {"/api/*": "/$1"} (json-server)')
      .option('-m, --middlewares <files...>', 'Express-style (req, res, next) middleware files (json-server)')
      .option('--static <dir>', 'static files folder (json-server; default: ./public when it exists; -s)')
      .option('--read-only', 'refuse every write of the data API (json-server)')
      .addOption(new Option('--ro', 'alias of --read-only').hideHelp())
      .option('--no-cors', 'no CORS headers (json-server)')
      .addOption(new Option('--nc', 'alias of --no-cors').hideHelp())
      .option('--no-gzip', 'no compressed answers (json-server)')
      .addOption(new Option('--ng', 'alias of --no-gzip').hideHelp())
      .option('--snapshots <dir>', 'folder of the snapshots "s" + Enter writes (json-server; default: .; -S)')
      .option('-d, --delay <ms>', 'milliseconds added before every data API answer (json-server)', parseDelay)
      .option('--id <prop>', 'id property of every collection, e.g. _id (json-server; -i)')
      .option('--foreignKeySuffix <suffix>', 'foreign key suffix, e.g. _id as in post_id (json-server)')
      .addOption(new Option('--fks <suffix>', 'alias of --foreignKeySuffix').hideHelp())
      .option('-q, --quiet', 'log only warnings and errors (json-server)')
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
          "pretty: short lines for a terminal; json: one JSON object a line; json-server: json-server's request lines (default: on a terminal pretty, or json-server's for a config.json; else json)",
        ).choices(['pretty', 'json', 'json-server', 'auto']),
      )
      .addHelpText(
        'after',
        `\n${AMBIGUOUS_SHORT_FLAGS}\n` +
          '\nConfiguration: the config file, then environment variables (RESTAUTH_PORT, RESTAUTH_JWT_SECRET, DATABASE_URL, ...),\nthen these flags; see docs/configuration.md.',
      )
  );
}

export function loadOptionsOf(dataFile: string | undefined, options: ConfigFlags): LoadOptions {
  const jsonServerStyle = dataFile !== undefined;
  const short = (value: string | undefined, meansJsonServer: boolean) =>
    meansJsonServer === jsonServerStyle ? value : undefined;
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
      schema: options.schema ?? short(options.s, false),
      table: options.table,
      expire: options.expire ?? options.exp,
      issuer: options.issuer ?? options.iss ?? short(options.i, false),
      secret: options.secret ?? short(options.S, false),
    },
    jsonServer: {
      watch: options.watch,
      routes: options.routes,
      middlewares: options.middlewares,
      static: options.static ?? short(options.s, true),
      readOnly: options.readOnly ?? options.ro,
      noCors: options.cors === false || options.nc === true ? true : undefined,
      noGzip: options.gzip === false || options.ng === true ? true : undefined,
      snapshots: options.snapshots ?? short(options.S, true),
      delay: options.delay,
      id: options.id ?? short(options.i, true),
      foreignKeySuffix: options.foreignKeySuffix ?? options.fks,
      quiet: options.quiet,
    },
  };
}
