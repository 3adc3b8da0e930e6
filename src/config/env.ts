import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from './duration.js';
import { ConfigError } from './errors.js';
import type { ConfigLayer, StoreLayer } from './layer.js';
import { parsePortNumber, PORT_NUMBER } from '../lib/port-number.js';
import { withoutUrlPassword } from './url-password.js';

/**
 * The one module that reads environment variables. Precedence: the config
 * file < these variables < command-line flags.
 */

export interface EnvVar {
  name: string;
  /** The config key it sets. */
  key: string;
  description: string;
}

export const ENV_VARS: readonly EnvVar[] = [
  { name: 'RESTAUTH_PORT', key: 'port', description: 'Port to listen on (0 picks a free port).' },
  {
    name: 'PORT',
    key: 'port',
    description:
      'Port to listen on, as postgrest-auth and hosting platforms (Heroku, Render, Cloud Run) set it. RESTAUTH_PORT wins when both are set.',
  },
  {
    name: 'RESTAUTH_HOST',
    key: 'host',
    description: 'Address to listen on, e.g. 0.0.0.0 for every interface.',
  },
  {
    name: 'RESTAUTH_JWT_SECRET',
    key: 'jwt.secret',
    description: 'HS256 signing secret of the access tokens (at least 32 random characters recommended).',
  },
  {
    name: 'RESTAUTH_TRUST_PROXY',
    key: 'trustProxy',
    description:
      'The reverse proxies in front of restauth: a number of hops (1: one nginx or Caddy), or their addresses and CIDR ranges separated by commas; "false": none.',
  },
  {
    name: 'RESTAUTH_CORS_ORIGINS',
    key: 'cors',
    description:
      'Browser origins allowed to call restauth: "*" (any, the default), "false" (no CORS headers), or origins such as https://app.example.com separated by commas.',
  },
  {
    name: 'RESTAUTH_DEV',
    key: 'development',
    description:
      '1 or true: development mode, where a published or short jwt secret is accepted with a warning. Never in production.',
  },
  {
    name: 'RESTAUTH_DATA_FILE',
    key: 'store.dataFile',
    description:
      'JSON document of the file store (the users and the data API). Relative to the working directory.',
  },
  {
    name: 'RESTAUTH_CREDENTIALS_FILE',
    key: 'store.credentialsFile',
    description: 'Password hashes file of the file store. Relative to the working directory.',
  },
  {
    name: 'DATABASE_URL',
    key: 'store.url',
    description:
      'postgres:// URL: switches to the PostgreSQL store (overrides a file store in the config file).',
  },
  {
    name: 'RESTAUTH_DB_STARTUP_TIMEOUT',
    key: 'store.startupTimeout',
    description:
      'How long to wait at start-up for a PostgreSQL that cannot be reached yet, retrying: "2m" or seconds; 0 fails at once.',
  },
  {
    name: 'RESTAUTH_DB_CONNECT_TIMEOUT',
    key: 'store.connectTimeout',
    description:
      'How long a new PostgreSQL connection, or a wait for a free one, may take before the request answers 503: "10s" or seconds.',
  },
  {
    name: 'RESTAUTH_DB_QUERY_TIMEOUT',
    key: 'store.queryTimeout',
    description:
      'How long one of restauth\'s statements may run (statement_timeout; the client gives up 2 s later) before the request answers 503: "15s" or seconds; 0: no bound.',
  },
  {
    name: 'RESTAUTH_DB_KEEPALIVE',
    key: 'store.keepAlive',
    description: 'Idle seconds before TCP keep-alive probes of a PostgreSQL connection; 0: off.',
  },
  {
    name: 'RESTAUTH_ACCESS_TOKEN_TTL',
    key: 'jwt.accessTokenTtl',
    description: 'Access token lifetime: "15m", "1h", "1d" or seconds.',
  },
  {
    name: 'RESTAUTH_PASSWORD_ALGORITHM',
    key: 'passwords.algorithm',
    description: 'Hash for new passwords: "argon2id" or "bcrypt" (both are always verified).',
  },
  {
    name: 'RESTAUTH_LOG_LEVEL',
    key: 'logLevel',
    description: 'fatal, error, warn, info, debug, trace or silent.',
  },
  {
    name: 'RESTAUTH_METRICS',
    key: 'metrics.enabled',
    description:
      '1 or true: serve Prometheus metrics at /metrics (off by default: they reveal traffic volumes).',
  },
  {
    name: 'RESTAUTH_METRICS_PORT',
    key: 'metrics.port',
    description: 'Serve /metrics on this port of its own instead of the main one (keep it off the internet).',
  },
  {
    name: 'RESTAUTH_LOG_FORMAT',
    key: 'logFormat',
    description:
      'pretty (short lines for a terminal), json (one JSON object a line) or auto (pretty on a terminal, else JSON).',
  },
  {
    name: 'RESTAUTH_RATE_LIMITS',
    key: 'rateLimits',
    description:
      '"off" turns every rate limit off (load tests, trusted networks); unset: the configured limits.',
  },
  {
    name: 'GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED',
    key: 'signup.anonymousUsers',
    description: 'true: anonymous sign-ins (POST /auth/v1/signup without an address), as GoTrue reads it.',
  },
  {
    name: 'GOTRUE_RATE_LIMIT_ANONYMOUS_USERS',
    key: 'rateLimits.anonymous',
    description: "Anonymous sign-ins allowed per client and hour, as GoTrue's (0: no limit).",
  },
  {
    name: 'RESTAUTH_SMTP_URL',
    key: 'email',
    description:
      'smtp:// or smtps:// URL of the mail server (nodemailer `url`); unset: the development outbox.',
  },
];

/** The given environment, or the process's own: the one place that touches process.env. */
export function processEnvironment(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env ?? process.env;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const LOG_FORMATS = ['auto', 'pretty', 'json', 'json-server'] as const;
const ALGORITHMS = ['argon2id', 'bcrypt'] as const;

function fail(name: string, value: string, expected: string): never {
  // A refused URL's password stays out of the message (printed at start, kept in logs).
  throw new ConfigError(
    `environment: ${name} must be ${expected} (got ${JSON.stringify(withoutUrlPassword(value))})`,
  );
}

function port(name: string, value: string): number {
  return parsePortNumber(value) ?? fail(name, value, PORT_NUMBER);
}

function oneOf<T extends string>(name: string, value: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(value)) {
    fail(name, value, `one of ${options.map((option) => JSON.stringify(option)).join(', ')}`);
  }
  return value as T;
}

function url(name: string, value: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    fail(name, value, `a URL (${protocols.join(' or ')})`);
  }
  if (!protocols.includes(parsed.protocol)) fail(name, value, `a URL (${protocols.join(' or ')})`);
  return value;
}

function corsOrigins(value: string): boolean | string[] {
  const trimmed = value.trim();
  if (trimmed === '*' || trimmed.toLowerCase() === 'true') return true;
  if (trimmed.toLowerCase() === 'false') return false;
  return trimmed
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
}

function proxies(value: string): false | number | string[] {
  if (value.toLowerCase() === 'false') return false;
  if (/^\d+$/.test(value)) {
    if (Number(value) < 1) fail('RESTAUTH_TRUST_PROXY', value, 'a number of proxies (1 or more)');
    return Number(value);
  }
  const list = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (list.length === 0) fail('RESTAUTH_TRUST_PROXY', value, 'false, a number of proxies or their addresses');
  return list;
}

/**
 * The variables that are set (an empty value counts as unset: `FOO= cmd` is
 * the usual way to clear one), as a layer. Paths resolve against `cwd`.
 */
export function readEnv(env: NodeJS.ProcessEnv, cwd: string): ConfigLayer {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const path = (value: string): string => (isAbsolute(value) ? value : resolve(cwd, value));
  const layer: ConfigLayer = {};
  const jwt: NonNullable<ConfigLayer['jwt']> = {};

  const portValue = get('RESTAUTH_PORT') ?? get('PORT');
  if (portValue !== undefined) layer.port = port(get('RESTAUTH_PORT') ? 'RESTAUTH_PORT' : 'PORT', portValue);
  const host = get('RESTAUTH_HOST');
  if (host !== undefined) layer.host = host;

  // The secret is taken verbatim: spaces may be part of it.
  const secret = env['RESTAUTH_JWT_SECRET'];
  if (secret !== undefined && secret !== '') jwt.secret = secret;
  const ttl = get('RESTAUTH_ACCESS_TOKEN_TTL');
  if (ttl !== undefined) {
    const parsed = parseDuration(ttl);
    if ('error' in parsed)
      throw new ConfigError(
        `environment: RESTAUTH_ACCESS_TOKEN_TTL ${parsed.error} (got ${JSON.stringify(ttl)})`,
      );
    jwt.accessTokenTtl = parsed.seconds;
  }
  if (Object.keys(jwt).length > 0) layer.jwt = jwt;

  const trustProxy = get('RESTAUTH_TRUST_PROXY');
  if (trustProxy !== undefined) layer.trustProxy = proxies(trustProxy);

  const cors = get('RESTAUTH_CORS_ORIGINS');
  if (cors !== undefined) layer.cors = corsOrigins(cors);

  const development = get('RESTAUTH_DEV');
  if (development !== undefined) {
    const value = oneOf('RESTAUTH_DEV', development.toLowerCase(), ['1', 'true', '0', 'false']);
    layer.development = value === '1' || value === 'true';
  }

  const algorithm = get('RESTAUTH_PASSWORD_ALGORITHM');
  if (algorithm !== undefined)
    layer.passwords = { algorithm: oneOf('RESTAUTH_PASSWORD_ALGORITHM', algorithm, ALGORITHMS) };
  const level = get('RESTAUTH_LOG_LEVEL');
  if (level !== undefined) layer.logLevel = oneOf('RESTAUTH_LOG_LEVEL', level.toLowerCase(), LOG_LEVELS);
  const metricsOn = get('RESTAUTH_METRICS');
  const metricsPort = get('RESTAUTH_METRICS_PORT');
  if (metricsOn !== undefined || metricsPort !== undefined) {
    layer.metrics = {};
    if (metricsOn !== undefined) {
      const value = oneOf('RESTAUTH_METRICS', metricsOn.toLowerCase(), ['1', 'true', '0', 'false']);
      layer.metrics.enabled = value === '1' || value === 'true';
    }
    if (metricsPort !== undefined) layer.metrics.port = port('RESTAUTH_METRICS_PORT', metricsPort);
  }
  const format = get('RESTAUTH_LOG_FORMAT');
  if (format !== undefined) layer.logFormat = oneOf('RESTAUTH_LOG_FORMAT', format.toLowerCase(), LOG_FORMATS);
  const smtp = get('RESTAUTH_SMTP_URL');
  if (smtp !== undefined) layer.email = { url: url('RESTAUTH_SMTP_URL', smtp, ['smtp:', 'smtps:']) };

  const rateLimits = get('RESTAUTH_RATE_LIMITS');
  if (rateLimits !== undefined) {
    oneOf('RESTAUTH_RATE_LIMITS', rateLimits.toLowerCase(), ['off']);
    const off = { max: 0 };
    layer.rateLimits = {
      signIn: off,
      signUp: off,
      recovery: off,
      refresh: off,
      verify: off,
      anonymous: off,
      passwordGuesses: off,
    };
  }

  // GoTrue's names for the anonymous sign-in settings (its boolean parsing: true/false, 1/0, t/f).
  const anonymousUsers = get('GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED');
  if (anonymousUsers !== undefined) {
    const value = oneOf('GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED', anonymousUsers.toLowerCase(), [
      'true',
      'false',
      '1',
      '0',
      't',
      'f',
    ]);
    layer.signup = { ...layer.signup, anonymousUsers: ['true', '1', 't'].includes(value) };
  }
  const anonymousLimit = get('GOTRUE_RATE_LIMIT_ANONYMOUS_USERS');
  if (anonymousLimit !== undefined && rateLimits === undefined) {
    if (!/^\d+$/u.test(anonymousLimit))
      fail('GOTRUE_RATE_LIMIT_ANONYMOUS_USERS', anonymousLimit, 'a whole number of sign-ins per hour');
    layer.rateLimits = { ...layer.rateLimits, anonymous: { max: Number(anonymousLimit), window: 3600 } };
  }

  // PostgreSQL durations: set over a store from DATABASE_URL or one configured in the file.
  const seconds = (name: string, value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseDuration(value);
    if ('error' in parsed)
      throw new ConfigError(`environment: ${name} ${parsed.error} (got ${JSON.stringify(value)})`);
    return parsed.seconds;
  };
  const durations = {
    startupTimeout: seconds('RESTAUTH_DB_STARTUP_TIMEOUT', get('RESTAUTH_DB_STARTUP_TIMEOUT')),
    connectTimeout: seconds('RESTAUTH_DB_CONNECT_TIMEOUT', get('RESTAUTH_DB_CONNECT_TIMEOUT')),
    queryTimeout: seconds('RESTAUTH_DB_QUERY_TIMEOUT', get('RESTAUTH_DB_QUERY_TIMEOUT')),
    keepAlive: seconds('RESTAUTH_DB_KEEPALIVE', get('RESTAUTH_DB_KEEPALIVE')),
  };
  // Only the ones set: an undefined key would hide the config file's value when the layers merge.
  const databaseDurations = Object.fromEntries(
    Object.entries(durations).filter(([, value]) => value !== undefined),
  ) as Partial<Record<keyof typeof durations, number>>;
  const anyDuration = Object.keys(databaseDurations).length > 0;

  const databaseUrl = get('DATABASE_URL');
  const dataFile = get('RESTAUTH_DATA_FILE');
  const credentialsFile = get('RESTAUTH_CREDENTIALS_FILE');
  if (databaseUrl !== undefined) {
    layer.store = {
      type: 'postgres',
      url: url('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:']),
      ...databaseDurations,
    };
  } else if (anyDuration) {
    // A PostgreSQL store configured in the file; with a file store the keys are reported as unknown.
    layer.store = { ...databaseDurations } as StoreLayer;
  } else if (dataFile !== undefined || credentialsFile !== undefined) {
    layer.store = {
      dataFile: dataFile === undefined ? undefined : path(dataFile),
      credentialsFile: credentialsFile === undefined ? undefined : path(credentialsFile),
    };
  }
  return layer;
}

/** Names of file-store variables that a PostgreSQL store makes pointless (load.ts warns about them). */
export function ignoredWithPostgres(env: NodeJS.ProcessEnv): string[] {
  return ['RESTAUTH_DATA_FILE', 'RESTAUTH_CREDENTIALS_FILE'].filter(
    (name) => (env[name] ?? '').trim() !== '',
  );
}
