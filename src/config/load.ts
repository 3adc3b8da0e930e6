import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { databaseWarnings } from './database-policy.js';
import { ignoredWithPostgres, processEnvironment, readEnv } from './env.js';
import { withDotenv } from './dotenv.js';
import { warnOfReadableSecrets } from './readable-secrets.js';
import { ConfigError } from './errors.js';
import { GOTRUE_ENV_VARS, GOTRUE_EXTERNAL_VARS, readGotrueEnv } from './gotrue-env.js';
import { deepFreeze } from './freeze.js';
import type { FormatContext } from './formats/context.js';
import { JSON_SERVER_KEYS, mapJsonDataServer } from './formats/json-data-server.js';
import {
  mapPostgrestAuth,
  mapPostgrestAuthFlags,
  POSTGREST_AUTH_KEYS,
  type PostgrestAuthFlags,
} from './formats/postgrest-auth.js';
import { mapRestauth } from './formats/restauth.js';
import { mapJsonServer, mapJsonServerOptions, type JsonServerOptions } from './formats/json-server.js';
import { readJsoncFile } from './jsonc.js';
import { mergeLayers, type ConfigLayer, type StoreLayer } from './layer.js';
import { ConfigSchema, type Config } from './schema.js';
import { checkFormatPattern } from './format-pattern.js';
import { checkSecret, PUBLISHED_SECRETS, secretWeakness } from './secret-policy.js';
import {
  checkUrls,
  enforceSetupPolicy,
  formatProblem,
  setupProblems,
  tlsEnvironmentProblems,
  type SetupProblem,
} from './setup-policy.js';
import { weakenedDefaults } from './weakened-defaults.js';
import { checkTrustProxy, mapTrustedProxyHeader } from './trust-proxy.js';
import { normaliseCorsOrigins } from './cors.js';
import {
  environmentSource,
  flagSource,
  valueSources,
  type LabelledLayer,
  type ValueSources,
} from './sources.js';
import { assertValid } from './validate.js';
import { isPlainObject } from '../lib/is-plain-object.js';

export type ConfigFormat = Config['source'];

export interface LoadOptions {
  /** A config file in any of the three formats (detected from its content). Relative to cwd. */
  configFile?: string;
  /** The file store's data file (the CLI's DATA_FILE). Relative to cwd. */
  dataFile?: string;
  port?: number;
  host?: string;
  /** postgrest-auth's command-line flags; they override the file and the environment. */
  postgrestAuth?: PostgrestAuthFlags;
  /** json-server's command-line flags (paths relative to cwd); they override the file and the environment. */
  jsonServer?: JsonServerOptions;
  /** The CLI's --dev: development mode (see ConfigSchema's `development`). */
  development?: boolean;
  /** The CLI's --log-level and --log-format. */
  logLevel?: Config['logLevel'];
  logFormat?: Config['logFormat'];
  /** Defaults to the process environment. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to process.cwd(). */
  cwd?: string;
  /** Applied last, over everything (tests, embedding). Relative paths resolve as described in load.ts. */
  overrides?: ConfigLayer;
  /**
   * enforce (the default): a weak setup (setup-policy.ts) or jwt secret (secret-policy.ts) stops
   * the load outside development mode. report: they are returned as `problems` instead
   * (`restauth config`, `restauth doctor` show them).
   */
  setupPolicy?: 'enforce' | 'report';
  /** Where warnings go (unknown keys, ignored options); defaults to stderr. */
  warn?: (message: string) => void;
}

/** Looked for in the working directory, in this order, when no config file is given. */
const DEFAULT_CONFIG_FILES: ReadonlyArray<{ name: string; format: ConfigFormat }> = [
  { name: 'restauth.json', format: 'restauth' },
  { name: 'config.json', format: 'json-data-server' },
  { name: 'postgrest-auth.json', format: 'postgrest-auth' },
  // json-server reads it by default; its options only, so restauth's own files come first.
  { name: 'json-server.json', format: 'json-server' },
];

/** The config files restauth reads by name, in their folder (one is read, the others may hold secrets too). */
export const CONFIG_FILE_NAMES: readonly string[] = DEFAULT_CONFIG_FILES.map(({ name }) => name);

/**
 * Which format a file is written in, from its content: an `auth` object or
 * json-server options → json-data-server; postgrest-auth's keys (or a `roles`
 * object naming `user`) → postgrest-auth; anything else is restauth's own.
 */
export function detectFormat(raw: unknown): ConfigFormat {
  if (!isPlainObject(raw)) return 'restauth';
  if (isPlainObject(raw['auth']) || JSON_SERVER_KEYS.some((key) => key in raw)) return 'json-data-server';
  if (POSTGREST_AUTH_KEYS.some((key) => key in raw)) return 'postgrest-auth';
  if (isPlainObject(raw['roles']) && 'user' in raw['roles']) return 'postgrest-auth';
  return 'restauth';
}

async function mapFile(format: ConfigFormat, raw: unknown, context: FormatContext): Promise<ConfigLayer> {
  switch (format) {
    case 'json-data-server':
      return mapJsonDataServer(raw, context);
    case 'postgrest-auth':
      return mapPostgrestAuth(raw, context);
    case 'restauth':
      return mapRestauth(raw, context);
    case 'json-server':
      return mapJsonServer(raw, context);
  }
}

async function readConfigFile(
  options: LoadOptions,
  cwd: string,
  warn: (message: string) => void,
): Promise<{ path: string; label: string; format: ConfigFormat; layer: ConfigLayer } | null> {
  let path: string;
  let label: string;
  let format: ConfigFormat | undefined;
  if (options.configFile !== undefined) {
    path = resolve(cwd, options.configFile);
    label = options.configFile;
    // json-server's own config file, named as json-server names it, holds json-server's options only.
    if (basename(path) === 'json-server.json') format = 'json-server';
  } else {
    const found = DEFAULT_CONFIG_FILES.find(({ name }) => existsSync(join(cwd, name)));
    if (found === undefined) return null;
    path = join(cwd, found.name);
    label = found.name;
    format = found.format;
  }
  const raw = await readJsoncFile(path, label);
  if (!isPlainObject(raw)) throw new ConfigError(`${label}: the file must hold a JSON object`);
  const detected = format ?? detectFormat(raw);
  const layer = await mapFile(detected, raw, { where: label, path, warn, cwd });
  return { path, label, format: detected, layer };
}

async function flagsLayer(options: LoadOptions, cwd: string): Promise<ConfigLayer> {
  const jsonServer = options.jsonServer
    ? await mapJsonServerOptions(options.jsonServer, cwd, 'the command line')
    : {};
  const postgrestAuth = options.postgrestAuth ? mapPostgrestAuthFlags(options.postgrestAuth) : {};
  const layer = mergeLayers(jsonServer, postgrestAuth) as ConfigLayer;
  if (options.development) layer.development = true;
  if (options.logLevel !== undefined) layer.logLevel = options.logLevel;
  if (options.logFormat !== undefined) layer.logFormat = options.logFormat;
  if (options.port !== undefined) layer.port = options.port;
  if (options.host !== undefined) layer.host = options.host;
  if (options.dataFile !== undefined) {
    layer.store = { ...layer.store, dataFile: resolve(cwd, options.dataFile) } as StoreLayer;
  }
  return layer;
}

/** Each format's name for the jwt secret, as its users write it. */
const SECRET_KEYS: Record<ConfigFormat, string> = {
  restauth: 'jwt.secret',
  'json-data-server': 'auth.jwtSecret',
  'postgrest-auth': 'secret',
  'json-server': 'jwt.secret',
};

/** Where the winning jwt secret was set, for messages: the last layer that set one. */
function secretOrigin(
  file: { label: string; format: ConfigFormat } | null,
  env: ConfigLayer,
  gotrueEnv: ConfigLayer,
  options: LoadOptions,
): string {
  if (options.overrides?.jwt?.secret !== undefined) return 'jwt.secret';
  if (options.postgrestAuth?.secret !== undefined) return '--secret';
  if (env.jwt?.secret !== undefined) return 'RESTAUTH_JWT_SECRET';
  if (gotrueEnv.jwt?.secret !== undefined) return 'GOTRUE_JWT_SECRET';
  return file === null ? 'jwt.secret' : `${file.label}: ${SECRET_KEYS[file.format]}`;
}

/**
 * Reads the configuration: the config file (restauth.json, json-data-server's
 * config.json or postgrest-auth.json), then the environment (env.ts), then the
 * command line, then `overrides`; fills defaults, validates, freezes.
 *
 * Paths come out absolute. The data file resolves against cwd (a path written
 * in a config file: against that file's folder); credentialsFile against the
 * data file's folder; stateDir and outboxDir against the data file's folder
 * (PostgreSQL store: the config file's folder, else cwd); data.static against cwd.
 */
export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  return (await loadConfigWithSources(options)).config;
}

/**
 * Messages this process already wrote to stderr. A process that loads the same setup again (a test
 * file building many apps, a CLI command over several folders) said it once: the same line again
 * and again buried the warnings that were new. A different value, source or file is a new line.
 */
const warnedOnStderr = new Set<string>();

function warnOnStderrOnce(message: string): void {
  if (warnedOnStderr.has(message)) return;
  warnedOnStderr.add(message);
  console.warn(`restauth: warning: ${message}`);
}

/** loadConfig, and where each value came from (for `restauth config`; see sources.ts). */
export async function loadConfigWithSources(
  options: LoadOptions = {},
): Promise<{ config: Config; sources: ValueSources; problems: SetupProblem[] }> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const { env, fromDotenv } = await withDotenv(processEnvironment(options.env), cwd);
  const warn = options.warn ?? warnOnStderrOnce;

  const file = await readConfigFile(options, cwd, warn);
  const gotrueLayer = readGotrueEnv(env, warn);
  const envLayer = readEnv(env, cwd);
  const labelled: LabelledLayer[] = [
    {
      layer: { source: 'restauth', configFile: file?.path ?? null },
      sourceOf: (key) =>
        key !== 'configFile' || file === null
          ? 'default'
          : options.configFile !== undefined
            ? 'flag --config'
            : 'found in the working directory',
    },
    { layer: file?.layer ?? {}, sourceOf: () => `file ${file?.path ?? ''}` },
    // GoTrue's variables below restauth's own: RESTAUTH_JWT_SECRET wins over GOTRUE_JWT_SECRET.
    {
      layer: gotrueLayer,
      sourceOf: environmentSource(env, fromDotenv, [...GOTRUE_ENV_VARS, ...GOTRUE_EXTERNAL_VARS]),
    },
    { layer: envLayer, sourceOf: environmentSource(env, fromDotenv) },
    { layer: await flagsLayer(options, cwd), sourceOf: flagSource },
    { layer: options.overrides ?? {}, sourceOf: () => 'overrides' },
  ];
  const merged = mergeLayers(...labelled.map(({ layer }) => layer));
  const sources = valueSources(labelled);
  const where = file === null ? 'configuration' : file.label;

  const store = (merged['store'] ?? {}) as Record<string, unknown>;
  if (store['type'] === 'postgres') {
    const fileKeys = ['dataFile', 'credentialsFile', 'usersProp', 'userIdProp'].filter((key) => key in store);
    // Name the variable or argument that brought a file setting in; other stray keys (overrides) by key.
    const named = [
      ...ignoredWithPostgres(env),
      ...(options.dataFile !== undefined ? [`DATA_FILE (${options.dataFile})`] : []),
    ];
    const ignored = named.length > 0 ? named : fileKeys.map((key) => `store.${key}`);
    if (ignored.length > 0)
      warn(`the PostgreSQL store is configured; file store settings ignored: ${ignored.join(', ')}`);
    for (const key of fileKeys) delete store[key];
    if (typeof store['url'] !== 'string') {
      throw new ConfigError(
        `${where}: no PostgreSQL connection: set db.connection_string or db.connection in postgrest-auth.json, store.url in restauth.json, DATABASE_URL, or --connection`,
      );
    }
  }

  if (merged['trustProxy'] === undefined && sources.has('rateLimits.trustedProxyHeader')) {
    sources.set('trustProxy', sources.get('rateLimits.trustedProxyHeader')!);
  }
  mapTrustedProxyHeader(merged, where, warn);
  const config = Value.Default(ConfigSchema, merged) as Config;
  assertValid(ConfigSchema, config, where);
  checkTrustProxy(config.trustProxy, where);
  checkFormatPattern(config.passwords.usernamePattern, 'passwords.usernamePattern', where);
  checkFormatPattern(config.passwords.passwordPattern, 'passwords.passwordPattern', where);
  config.cors = normaliseCorsOrigins(config.cors, where);

  if (config.store.type === 'file') {
    config.store.dataFile = resolve(cwd, config.store.dataFile);
    config.store.credentialsFile = resolve(dirname(config.store.dataFile), config.store.credentialsFile);
  }
  const home =
    config.store.type === 'file' ? dirname(config.store.dataFile) : file ? dirname(file.path) : cwd;
  config.stateDir = resolve(home, config.stateDir);
  if (config.store.type === 'file') {
    // After `home`: the state folder (a generated secret, the mail queue) stays beside the path as named.
    config.store.dataFile = throughLinks(config.store.dataFile);
    config.store.credentialsFile = throughLinks(config.store.credentialsFile);
  }
  config.outboxDir = resolve(home, config.outboxDir);
  if (config.mailTemplatesDir !== null) config.mailTemplatesDir = resolve(home, config.mailTemplatesDir);
  config.data.static = resolve(cwd, config.data.static);
  config.data.snapshots = resolve(cwd, config.data.snapshots);
  config.jwt.publicDefaultSecret = config.jwt.secret !== null && PUBLISHED_SECRETS.has(config.jwt.secret);
  config.jwt.generatedSecret = false;
  checkUrls(config, where);
  const secretKey = secretOrigin(file, envLayer, gotrueLayer, options);
  const problems = [
    ...setupProblems(config, sources),
    ...tlsEnvironmentProblems(processEnvironment(options.env)),
  ];
  if (options.setupPolicy === 'report') {
    const weakness = config.jwt.secret === null ? null : secretWeakness(config.jwt.secret);
    if (weakness !== null) problems.unshift({ key: secretKey, problem: weakness });
  } else {
    checkSecret({ secret: config.jwt.secret, key: secretKey, development: config.development, warn });
    enforceSetupPolicy(problems, config.development, warn);
  }
  for (const weakened of weakenedDefaults(config, sources)) warn(formatProblem(weakened));
  for (const weak of databaseWarnings(config, sources, processEnvironment(options.env)))
    warn(formatProblem(weak));
  await warnOfReadableSecrets(config, sources, cwd, warn);
  return { config: deepFreeze(config), sources, problems };
}

/**
 * The file a data file's path names through its symbolic links. Rewrites rename a temp file over the
 * path they write: over a link they replaced the link with a file of their own (the real file was never
 * written again), and the instance lock beside a link let two restauth share one file through two links.
 * A path that does not exist yet is kept; a link to a file not there yet names that file.
 */
function throughLinks(path: string, depth = 0): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      if (depth < 40 && lstatSync(path).isSymbolicLink())
        return throughLinks(resolve(dirname(path), readlinkSync(path)), depth + 1);
    } catch {
      // Not there at all: created where it is named.
    }
    return path;
  }
}
