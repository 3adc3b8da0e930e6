import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { seconds } from '../duration.js';
import { ConfigError } from '../errors.js';
import type { ConfigLayer } from '../layer.js';
import { assertValid, warnUnknownKeys } from '../validate.js';
import type { FormatContext } from './context.js';

/**
 * postgrest-auth.json, keys exactly as postgrest-auth v0.0.3 read them (see
 * /work/shared/seeds/postgrest-auth-contract.md § Configuration). Defaults are
 * postgrest-auth's own: port 3001, pool 2..10, schema "auth", table "users",
 * roles web_anon / normal_user.
 */

const Identifier = (fallback: string) =>
  Type.String({ default: fallback, pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' });

export const PostgrestAuthFileSchema = Type.Object({
  app_name: Type.Optional(Type.String()),
  db: Type.Object(
    {
      connection: Type.Optional(
        Type.Object({
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.String()])),
          database: Type.Optional(Type.String({ minLength: 1 })),
          user: Type.Optional(Type.String({ minLength: 1 })),
          password: Type.Optional(Type.String()),
        }),
      ),
      connection_string: Type.Optional(Type.String({ minLength: 1 })),
      // knex's defaults, which postgrest-auth passed on.
      pool: Type.Object(
        {
          min: Type.Integer({ default: 2, minimum: 0 }),
          max: Type.Integer({ default: 10, minimum: 1 }),
        },
        { default: {} },
      ),
      schema: Identifier('auth'),
      table: Identifier('users'),
    },
    { default: {} },
  ),
  /** nodemailer SMTP options, passed through as they are. */
  email: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  payload: Type.Optional(
    Type.Object({
      exp: Type.Optional(
        Type.Union([Type.Integer({ minimum: 1 }), Type.String()], { expected: 'a number of seconds' }),
      ),
      iss: Type.Optional(Type.String()),
      // PostgREST's jwt-aud: every token's audience, as restauth's jwt.audience (see below).
      aud: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
  port: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.String({ pattern: '^\\d+$' })], {
    default: 3001,
    expected: 'a port number',
  }),
  roles: Type.Object(
    {
      anonymous: Type.String({ default: 'web_anon', minLength: 1 }),
      user: Type.String({ default: 'normal_user', minLength: 1 }),
    },
    { default: {} },
  ),
  secret: Type.Optional(Type.String({ minLength: 1 })),
});

type PostgrestAuthFile = Static<typeof PostgrestAuthFileSchema>;

/** Keys that mark a file as postgrest-auth's. */
export const POSTGREST_AUTH_KEYS = ['db', 'secret', 'payload', 'app_name'];

/** postgrest-auth's command-line flags (--app, --connection, ...), already parsed by the CLI. */
export interface PostgrestAuthFlags {
  app?: string;
  connection?: string;
  schema?: string;
  table?: string;
  /** Access token lifetime: seconds, or a duration like "7d". */
  expire?: string | number;
  issuer?: string;
  secret?: string;
}

/** A postgres:// URL from knex-style connection fields. */
function connectionUrl(connection: NonNullable<PostgrestAuthFile['db']['connection']>): string {
  const url = new URL('postgres://');
  url.hostname = connection.host ?? 'localhost';
  if (connection.port !== undefined) url.port = String(connection.port);
  if (connection.user !== undefined) url.username = encodeURIComponent(connection.user);
  if (connection.password !== undefined) url.password = encodeURIComponent(connection.password);
  if (connection.database !== undefined) url.pathname = `/${encodeURIComponent(connection.database)}`;
  return url.toString();
}

export function mapPostgrestAuth(raw: unknown, context: FormatContext): ConfigLayer {
  const { where, warn } = context;
  const file = Value.Default(PostgrestAuthFileSchema, structuredClone(raw)) as PostgrestAuthFile;
  assertValid(PostgrestAuthFileSchema, file, where);
  warnUnknownKeys(PostgrestAuthFileSchema, file, where, warn);

  const { db, payload } = file;
  // aud is the audience, not a claim copied as it is: tokens carry their user's audience (auth.users.aud),
  // which restauth gives new users from jwt.audience, and a token saying another is refused; copied, it
  // would be overridden by the user's and PostgREST's jwt-aud would refuse every token.
  const { exp, iss, aud, ...claims } = (payload ?? {}) as Record<string, unknown>;
  if (db.pool.min > db.pool.max) {
    throw new ConfigError(
      `${where}: db.pool.min must not exceed db.pool.max (${db.pool.min} > ${db.pool.max})`,
    );
  }
  // postgrest-auth preferred connection_string over connection (`connection_string || connection`).
  const url = db.connection_string ?? (db.connection ? connectionUrl(db.connection) : undefined);

  return {
    source: 'postgrest-auth',
    appName: file.app_name,
    port: Number(file.port),
    jwt: {
      secret: file.secret,
      accessTokenTtl: exp === undefined ? undefined : seconds(exp, 'payload.exp', where),
      issuer: iss as string | undefined,
      audience: aud as string | undefined,
    },
    roles: {
      anonymous: file.roles.anonymous,
      authenticated: file.roles.user,
      perUser: true,
    },
    // url may still come from DATABASE_URL or --connection; load.ts says so if it never does.
    store: {
      type: 'postgres',
      url,
      schema: db.schema,
      table: db.table,
      poolMin: db.pool.min,
      poolMax: db.pool.max,
    },
    // Only what postgrest-auth served: its six endpoints (PostgREST serves the data).
    dialects: {
      postgrestAuth: { enabled: true, payload: claims },
      gotrue: { enabled: false },
      jsonDataServer: { enabled: false },
      jsonServerAuth: { enabled: false },
    },
    data: { enabled: false },
    email: file.email ?? undefined,
  };
}

/** The flags as a layer over the file: they win over the file and the environment. */
export function mapPostgrestAuthFlags(flags: PostgrestAuthFlags): ConfigLayer {
  const layer: ConfigLayer = {};
  if (flags.app !== undefined) layer.appName = flags.app;
  if (flags.secret !== undefined || flags.issuer !== undefined || flags.expire !== undefined) {
    layer.jwt = {
      secret: flags.secret,
      issuer: flags.issuer,
      accessTokenTtl: flags.expire === undefined ? undefined : seconds(flags.expire, 'value', '--expire'),
    };
  }
  if (flags.connection !== undefined || flags.schema !== undefined || flags.table !== undefined) {
    layer.store = { type: 'postgres', url: flags.connection, schema: flags.schema, table: flags.table };
  }
  return layer;
}
