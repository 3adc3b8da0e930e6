import { parseBanDuration } from '../core/ban-duration.js';
import { PRESETS } from '../core/oauth/providers/index.js';
import { ConfigError } from './errors.js';
import { ENV_VARS, type EnvVar } from './env.js';
import type { ConfigLayer } from './layer.js';

/**
 * GoTrue's (Supabase Auth's) environment variables, as its
 * internal/conf/configuration.go reads them, mapped onto restauth's
 * configuration: a GoTrue deployment's environment starts restauth with the
 * same behaviour. They sit below restauth's own variables (RESTAUTH_JWT_SECRET
 * wins over GOTRUE_JWT_SECRET). A GOTRUE_ variable restauth cannot honour is
 * named in a warning, never silently ignored; one set to what restauth does
 * anyway (a feature left off) is accepted quietly.
 */

export const GOTRUE_ENV_VARS: readonly EnvVar[] = [
  { name: 'GOTRUE_JWT_SECRET', key: 'jwt.secret', description: 'HS256 secret of the access tokens.' },
  { name: 'GOTRUE_JWT_EXP', key: 'jwt.accessTokenTtl', description: 'Access token lifetime in seconds.' },
  {
    name: 'GOTRUE_JWT_AUD',
    key: 'jwt.audience',
    description: 'The `aud` of access tokens, checked on verification.',
  },
  {
    name: 'GOTRUE_JWT_ISSUER',
    key: 'jwt.issuer',
    description: 'The `iss` of access tokens, checked on verification.',
  },
  { name: 'GOTRUE_JWT_KEY_ID', key: 'jwt.secretKeyId', description: 'The `kid` of HS256 tokens.' },
  {
    name: 'GOTRUE_JWT_DEFAULT_GROUP_NAME',
    key: 'roles.authenticated',
    description: 'The role of signed-in users.',
  },
  {
    name: 'GOTRUE_JWT_ADMIN_ROLES',
    key: 'roles.service',
    description: 'The role of admin tokens: restauth takes one (the first of a comma-separated list).',
  },
  { name: 'GOTRUE_SITE_URL', key: 'siteUrl', description: "The app's address: where links lead by default." },
  {
    name: 'API_EXTERNAL_URL',
    key: 'publicUrl',
    description: "restauth's public address: the base of links in mails.",
  },
  { name: 'GOTRUE_API_HOST', key: 'host', description: 'Address to listen on.' },
  { name: 'GOTRUE_API_PORT', key: 'port', description: 'Port to listen on (PORT also works).' },
  {
    name: 'GOTRUE_URI_ALLOW_LIST',
    key: 'redirectAllowList',
    description:
      'Allowed `redirect_to` targets, comma-separated: exact URLs, or GoTrue globs (`*`, `**`, `?`, `[a-z]`, `{a,b}`) as GoTrue matches them (redirectAllowGlobs).',
  },
  {
    name: 'GOTRUE_DB_DATABASE_URL',
    key: 'store.url',
    description: 'postgres:// URL: the PostgreSQL store (DATABASE_URL wins when both are set).',
  },
  { name: 'GOTRUE_DB_MAX_POOL_SIZE', key: 'store.poolMax', description: 'Most PostgreSQL connections.' },
  { name: 'GOTRUE_DISABLE_SIGNUP', key: 'signup.enabled', description: 'true: only admins create users.' },
  {
    name: 'GOTRUE_MAILER_AUTOCONFIRM',
    key: 'signup.confirmEmail',
    description: 'true: new addresses need no confirmation.',
  },
  {
    name: 'GOTRUE_MAILER_OTP_EXP',
    key: 'oneTimeTokens.ttl',
    description: 'Seconds a mailed link or code stays valid.',
  },
  {
    name: 'GOTRUE_SMTP_HOST',
    key: 'email',
    description: 'SMTP server (with the other GOTRUE_SMTP_ variables).',
  },
  { name: 'GOTRUE_SMTP_PORT', key: 'email', description: 'SMTP port; 465 connects with TLS.' },
  { name: 'GOTRUE_SMTP_USER', key: 'email', description: 'SMTP user name.' },
  { name: 'GOTRUE_SMTP_PASS', key: 'email', description: 'SMTP password.' },
  { name: 'GOTRUE_SMTP_ADMIN_EMAIL', key: 'email', description: 'Sender address of every mail.' },
  { name: 'GOTRUE_SMTP_SENDER_NAME', key: 'email', description: 'Sender name of every mail.' },
  {
    name: 'GOTRUE_SMTP_MAX_FREQUENCY',
    key: 'oneTimeTokens.resendInterval',
    description: 'Least time between two mails of one kind to one address (a Go duration, e.g. "1m0s").',
  },
  {
    name: 'GOTRUE_PASSWORD_MIN_LENGTH',
    key: 'passwords.minLength',
    description: 'Shortest password accepted.',
  },
  {
    name: 'GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL',
    key: 'sessions.reuseGrace',
    description: 'Seconds a rotated refresh token may be presented again without revoking its session.',
  },
  {
    name: 'GOTRUE_SESSIONS_TIMEBOX',
    key: 'sessions.absoluteLifetime',
    description: 'Longest life of a session (a Go duration, e.g. "720h").',
  },
  {
    name: 'GOTRUE_SESSIONS_INACTIVITY_TIMEOUT',
    key: 'sessions.inactivityTimeout',
    description: 'A session unused this long ends (a Go duration, e.g. "168h").',
  },
  {
    name: 'GOTRUE_SESSIONS_SINGLE_PER_USER',
    key: 'sessions.maxPerUser',
    description: 'true: a new sign-in ends the user’s other sessions.',
  },
  {
    name: 'GOTRUE_RATE_LIMIT_TOKEN_REFRESH',
    key: 'rateLimits.refresh',
    description:
      'Sign-ins and refreshes per client and 5 minutes (GoTrue counts them together; restauth apart).',
  },
  {
    name: 'GOTRUE_RATE_LIMIT_VERIFY',
    key: 'rateLimits.verify',
    description: 'Verifications per client and 5 minutes.',
  },
  {
    name: 'GOTRUE_RATE_LIMIT_OTP',
    key: 'rateLimits.recovery',
    description: 'Sign-ups and mail requests (recover, otp, resend) per client and 5 minutes.',
  },
  {
    name: 'GOTRUE_SECURITY_MANUAL_LINKING_ENABLED',
    key: 'identities.manualLinking',
    description: 'true: signed-in users link and unlink identities (auth-js linkIdentity, unlinkIdentity).',
  },
  { name: 'GOTRUE_LOG_LEVEL', key: 'logLevel', description: 'fatal, error, warn, info, debug or trace.' },
];

/**
 * GOTRUE_EXTERNAL_<PROVIDER>_<FIELD> (GoTrue's OAuthProviderConfiguration) for the providers restauth
 * has: its presets, and keycloak (a generic OpenID Connect provider at its `url`). Each sets
 * external.<provider>.<field>; docs/configuration.md lists the fields once.
 */
const EXTERNAL_PROVIDERS = [...PRESETS.keys(), 'keycloak'];
const EXTERNAL_FIELDS = [
  ['ENABLED', 'enabled', 'flag'],
  ['CLIENT_ID', 'client_id', 'text'],
  ['SECRET', 'secret', 'text'],
  ['REDIRECT_URI', 'redirect_uri', 'text'],
  ['URL', 'url', 'text'],
  ['API_URL', 'api_url', 'text'],
  ['SKIP_NONCE_CHECK', 'skip_nonce_check', 'flag'],
  ['EMAIL_OPTIONAL', 'email_optional', 'flag'],
] as const;

export const GOTRUE_EXTERNAL_VARS: readonly EnvVar[] = EXTERNAL_PROVIDERS.flatMap((provider) =>
  EXTERNAL_FIELDS.map(([suffix, field]) => ({
    name: `GOTRUE_EXTERNAL_${provider.toUpperCase()}_${suffix}`,
    key: `external.${provider}.${field}`,
    description: `external.${provider}.${field}`,
  })),
);

/** GoTrue variables set to what restauth does anyway: no warning (a feature restauth lacks, left off). */
const ACCEPTED: ReadonlyArray<[pattern: RegExp, accepts: (value: string) => boolean]> = [
  [/^GOTRUE_EXTERNAL_EMAIL_ENABLED$/u, (value) => bool(value) === true],
  [/^GOTRUE_EXTERNAL_[A-Z0-9_]+_ENABLED$/u, (value) => bool(value) === false],
  [/^GOTRUE_SECURITY_REFRESH_TOKEN_ROTATION_ENABLED$/u, (value) => bool(value) === true],
  [/^GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION$/u, (value) => bool(value) === false],
  [/^GOTRUE_(SAML|MFA_[A-Z_]+|WEB3_[A-Z_]+|PASSKEY)_ENABLED$/u, (value) => bool(value) === false],
  [/^GOTRUE_SMS_AUTOCONFIRM$/u, () => true],
  [/^GOTRUE_DB_DRIVER$/u, (value) => value === 'postgres'],
  // restauth migrates its own schema; GoTrue's migration settings have nothing to act on.
  [
    /^GOTRUE_DB_(MIGRATIONS_PATH|NAMESPACE)$/u,
    (value) => value === '' || value === 'auth' || value.startsWith('/'),
  ],
  [/^GOTRUE_LOG_FILE$/u, (value) => value === ''],
];

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
/** logrus's levels that pino names otherwise. */
const LOGRUS_LEVELS = new Map([
  ['panic', 'fatal'],
  ['warning', 'warn'],
]);

/** Go's strconv.ParseBool, which envconfig uses; undefined when the value is not a boolean. */
function bool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function fail(name: string, expected: string, value?: string): never {
  throw new ConfigError(
    `environment: ${name} must be ${expected}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`,
  );
}

/**
 * The GoTrue variables that are set, as a layer; `warn` names each one restauth does not honour.
 * Secrets (GOTRUE_JWT_SECRET, GOTRUE_SMTP_PASS) never appear in a message.
 */
export function readGotrueEnv(env: NodeJS.ProcessEnv, warn: (message: string) => void): ConfigLayer {
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const flag = (name: string): boolean | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    return bool(value) ?? fail(name, 'true or false', value);
  };
  const integer = (name: string, min: number): number | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    if (!/^\d+$/u.test(value) || Number(value) < min) fail(name, `a whole number of at least ${min}`, value);
    return Number(value);
  };
  const goSeconds = (name: string): number | undefined => {
    const value = get(name);
    if (value === undefined) return undefined;
    let ms: number | null;
    try {
      ms = /^\d+$/u.test(value) ? Number(value) * 1000 : parseBanDuration(value);
    } catch {
      ms = null;
    }
    if (ms === null || ms < 0)
      fail(name, 'a Go duration such as "1m0s", "24h" or a number of seconds', value);
    return Math.round(ms / 1000);
  };
  const layer: ConfigLayer = {};
  const jwt: NonNullable<ConfigLayer['jwt']> = {};

  // The secret is taken verbatim, as RESTAUTH_JWT_SECRET.
  const secret = env['GOTRUE_JWT_SECRET'];
  if (secret !== undefined && secret !== '') jwt.secret = secret;
  const exp = integer('GOTRUE_JWT_EXP', 1);
  if (exp !== undefined) jwt.accessTokenTtl = exp;
  const aud = get('GOTRUE_JWT_AUD');
  if (aud !== undefined) jwt.audience = aud;
  const issuer = get('GOTRUE_JWT_ISSUER');
  if (issuer !== undefined) jwt.issuer = issuer;
  const kid = get('GOTRUE_JWT_KEY_ID');
  if (kid !== undefined) jwt.secretKeyId = kid;
  if (Object.keys(jwt).length > 0) layer.jwt = jwt;

  const roles: NonNullable<ConfigLayer['roles']> = {};
  const group = get('GOTRUE_JWT_DEFAULT_GROUP_NAME');
  if (group !== undefined) roles.authenticated = group;
  const adminRoles = get('GOTRUE_JWT_ADMIN_ROLES')
    ?.split(',')
    .map((role) => role.trim())
    .filter((role) => role !== '');
  if (adminRoles !== undefined && adminRoles.length > 0) {
    roles.service = adminRoles[0]!;
    if (adminRoles.length > 1) {
      warn(
        `GOTRUE_JWT_ADMIN_ROLES: restauth accepts one admin role, ${adminRoles[0]!}; the others are ignored`,
      );
    }
  }
  if (Object.keys(roles).length > 0) layer.roles = roles;

  const siteUrl = get('GOTRUE_SITE_URL');
  if (siteUrl !== undefined) layer.siteUrl = siteUrl;
  const publicUrl = get('API_EXTERNAL_URL');
  if (publicUrl !== undefined) layer.publicUrl = publicUrl;
  const host = get('GOTRUE_API_HOST');
  if (host !== undefined) layer.host = host;
  const port = integer('GOTRUE_API_PORT', 0);
  if (port !== undefined) {
    if (port > 65535) fail('GOTRUE_API_PORT', 'a port number (0-65535)', String(port));
    layer.port = port;
  }
  const allowList = get('GOTRUE_URI_ALLOW_LIST');
  if (allowList !== undefined) Object.assign(layer, allowListEntries(allowList));

  const databaseUrl = get('GOTRUE_DB_DATABASE_URL');
  const poolMax = integer('GOTRUE_DB_MAX_POOL_SIZE', 1);
  if (databaseUrl !== undefined) {
    if (!/^postgres(ql)?:\/\//u.test(databaseUrl)) fail('GOTRUE_DB_DATABASE_URL', 'a postgres:// URL');
    layer.store = { type: 'postgres', url: databaseUrl, ...(poolMax !== undefined ? { poolMax } : {}) };
  } else if (poolMax !== undefined) {
    warn('GOTRUE_DB_MAX_POOL_SIZE: set without a PostgreSQL store (GOTRUE_DB_DATABASE_URL); ignored');
  }

  const disableSignup = flag('GOTRUE_DISABLE_SIGNUP');
  const autoconfirm = flag('GOTRUE_MAILER_AUTOCONFIRM');
  if (disableSignup !== undefined || autoconfirm !== undefined) {
    layer.signup = {
      ...(disableSignup !== undefined ? { enabled: !disableSignup } : {}),
      ...(autoconfirm !== undefined ? { confirmEmail: !autoconfirm } : {}),
    };
  }
  const otpExp = integer('GOTRUE_MAILER_OTP_EXP', 60);
  const maxFrequency = goSeconds('GOTRUE_SMTP_MAX_FREQUENCY');
  if (otpExp !== undefined || maxFrequency !== undefined) {
    layer.oneTimeTokens = {
      ...(otpExp !== undefined ? { ttl: otpExp } : {}),
      ...(maxFrequency !== undefined ? { resendInterval: maxFrequency } : {}),
    };
  }
  const email = smtpSettings(env, get, integer);
  if (email !== null) layer.email = email;

  const minLength = integer('GOTRUE_PASSWORD_MIN_LENGTH', 1);
  if (minLength !== undefined) layer.passwords = { minLength };

  const sessions: NonNullable<ConfigLayer['sessions']> = {};
  const reuse = integer('GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL', 0);
  if (reuse !== undefined) sessions.reuseGrace = reuse;
  const timebox = goSeconds('GOTRUE_SESSIONS_TIMEBOX');
  // GoTrue's 0 means no limit; restauth's sessions always end, so 0 keeps restauth's default.
  if (timebox !== undefined && timebox > 0) sessions.absoluteLifetime = timebox;
  const inactivity = goSeconds('GOTRUE_SESSIONS_INACTIVITY_TIMEOUT');
  if (inactivity !== undefined && inactivity > 0) sessions.inactivityTimeout = inactivity;
  if (flag('GOTRUE_SESSIONS_SINGLE_PER_USER') === true) sessions.maxPerUser = 1;
  if (Object.keys(sessions).length > 0) layer.sessions = sessions;

  const manualLinking = flag('GOTRUE_SECURITY_MANUAL_LINKING_ENABLED');
  if (manualLinking !== undefined) layer.identities = { manualLinking };

  const rateLimits: NonNullable<ConfigLayer['rateLimits']> = {};
  const fiveMinutes = (max: number) => ({ max, window: 300 });
  const tokens = integer('GOTRUE_RATE_LIMIT_TOKEN_REFRESH', 0);
  if (tokens !== undefined)
    Object.assign(rateLimits, { signIn: fiveMinutes(tokens), refresh: fiveMinutes(tokens) });
  const verify = integer('GOTRUE_RATE_LIMIT_VERIFY', 0);
  if (verify !== undefined) rateLimits.verify = fiveMinutes(verify);
  const otp = integer('GOTRUE_RATE_LIMIT_OTP', 0);
  if (otp !== undefined) Object.assign(rateLimits, { signUp: fiveMinutes(otp), recovery: fiveMinutes(otp) });
  if (Object.keys(rateLimits).length > 0) layer.rateLimits = rateLimits;

  const external: Record<string, Record<string, string | boolean>> = {};
  for (const provider of EXTERNAL_PROVIDERS) {
    const settings: Record<string, string | boolean> = {};
    for (const [suffix, field, kind] of EXTERNAL_FIELDS) {
      const name = `GOTRUE_EXTERNAL_${provider.toUpperCase()}_${suffix}`;
      const value = kind === 'flag' ? flag(name) : get(name);
      // eslint-disable-next-line no-restricted-syntax -- field is one of EXTERNAL_FIELDS' fixed names
      if (value !== undefined) settings[field] = value;
    }
    // eslint-disable-next-line no-restricted-syntax -- provider is one of restauth's preset names
    if (Object.keys(settings).length > 0) external[provider] = settings;
  }
  if (Object.keys(external).length > 0) layer.external = external;

  const level = get('GOTRUE_LOG_LEVEL')?.toLowerCase();
  if (level !== undefined) {
    const pinoLevel = LOGRUS_LEVELS.get(level) ?? level;
    if (!LOG_LEVELS.has(pinoLevel))
      fail('GOTRUE_LOG_LEVEL', 'a log level (error, warn, info, debug, ...)', level);
    layer.logLevel = pinoLevel as NonNullable<ConfigLayer['logLevel']>;
  }

  for (const name of unsupportedVariables(env)) {
    warn(`${name} is a GoTrue setting restauth does not support; ignored (see docs/configuration.md)`);
  }
  return layer;
}

/** GOTRUE_ variables that are set and neither read above nor accepted at the value restauth has anyway. */
export function unsupportedVariables(env: NodeJS.ProcessEnv): string[] {
  // env.ts reads a few of GoTrue's names itself (the anonymous sign-in settings).
  const supported = new Set(
    [...GOTRUE_ENV_VARS, ...GOTRUE_EXTERNAL_VARS, ...ENV_VARS].map(({ name }) => name),
  );
  return Object.keys(env)
    .filter((name) => name.startsWith('GOTRUE_') && !supported.has(name))
    .filter((name) => {
      const value = (env[name] ?? '').trim();
      return value !== '' && !ACCEPTED.some(([pattern, accepts]) => pattern.test(name) && accepts(value));
    })
    .sort();
}

/**
 * GoTrue's allow list holds globs (gobwas/glob, separators "." and "/"). An entry without a wildcard
 * is an exact URL, and one whose only wildcard is a trailing `**` ("anything below") a restauth
 * prefix, as before; any other is kept as the glob it is (redirectAllowGlobs), matched as GoTrue
 * matches it. Until then a single trailing `*` or a `*` in the host stopped the start: a GoTrue
 * deployment's "https://app.example.com/*" or "https://*-team.vercel.app/**" did not run here.
 * Like GoTrue's (envconfig), the list is split at every comma, `{a,b}` included.
 */
function allowListEntries(value: string): { redirectAllowList: string[]; redirectAllowGlobs: string[] } {
  const redirectAllowList: string[] = [];
  const redirectAllowGlobs: string[] = [];
  for (const entry of value.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    const prefix = entry.endsWith('**') ? entry.slice(0, -2) : entry;
    if (!GLOB_SYNTAX.test(prefix)) redirectAllowList.push(prefix === entry ? entry : `${prefix}*`);
    else redirectAllowGlobs.push(entry);
  }
  return { redirectAllowList, redirectAllowGlobs };
}

/** What gobwas/glob reads as syntax rather than text. */
const GLOB_SYNTAX = /[*?[{\\]/u;

/** nodemailer's options from GoTrue's SMTP variables; null without GOTRUE_SMTP_HOST. */
function smtpSettings(
  env: NodeJS.ProcessEnv,
  get: (name: string) => string | undefined,
  integer: (name: string, min: number) => number | undefined,
): Record<string, unknown> | null {
  const host = get('GOTRUE_SMTP_HOST');
  if (host === undefined) return null;
  const port = integer('GOTRUE_SMTP_PORT', 1) ?? 587;
  const user = get('GOTRUE_SMTP_USER');
  const address = get('GOTRUE_SMTP_ADMIN_EMAIL');
  const name = get('GOTRUE_SMTP_SENDER_NAME');
  return {
    host,
    port,
    // Implicit TLS on 465; elsewhere STARTTLS, required: an offer a network can strip would send the
    // password and every mail's links in clear (restauth's setup policy refuses that).
    secure: port === 465,
    ...(port === 465 ? {} : { requireTLS: true }),
    // The password is taken verbatim: spaces may be part of it.
    ...(user !== undefined ? { auth: { user, pass: env['GOTRUE_SMTP_PASS'] ?? '' } } : {}),
    ...(address !== undefined
      ? { from: name !== undefined ? `"${name.replaceAll('"', '')}" <${address}>` : address }
      : {}),
  };
}
