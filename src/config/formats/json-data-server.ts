import { dirname, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Duration, seconds } from '../duration.js';
import { checkFormatPattern } from '../format-pattern.js';
import type { ConfigLayer } from '../layer.js';
import {
  JsonDataServerRequestFields,
  JsonDataServerResponseFields,
  JsonDataServerRoutes,
} from '../schema.js';
import type { FormatContext } from './context.js';
import { JSON_SERVER_OPTION_KEYS, JsonServerOptions, mapJsonServerOptions } from './json-server.js';
import { assertValid, warnUnknownKeys } from '../validate.js';

/**
 * json-data-server's config.json: json-server's own options at the top level,
 * and an `auth` object with every key its README lists, same names, same
 * defaults. A config.json written for json-data-server loads unchanged.
 */

/** The secret json-data-server shipped as its default: public, so anyone can forge tokens with it. */
const JSON_DATA_SERVER_DEFAULT_SECRET = 'DefaultJWTSecretString-LOL';

export const JsonDataServerAuthSchema = Type.Object(
  {
    ...JsonDataServerRoutes,
    credentialsFile: Type.String({ default: 'credentials.json', minLength: 1 }),
    usersProp: Type.String({ default: 'users', minLength: 1 }),
    userId: Type.String({ default: 'id', minLength: 1 }),
    ...JsonDataServerRequestFields,
    userIdRE: Type.String({ default: '.*' }),
    userPwdRE: Type.String({ default: '.*' }),
    // bcrypt's cost factor; bcrypt accepts 4..31.
    passwordSalt: Type.Integer({ default: 10, minimum: 4, maximum: 31 }),
    jwtSecret: Type.String({ default: JSON_DATA_SERVER_DEFAULT_SECRET, minLength: 1 }),
    ...JsonDataServerResponseFields,
    jwtExpiresIn: Duration({ default: '1m' }),
    jwtRefreshExpiresIn: Duration({ default: '1d' }),
    jwtClockTolerance: Type.Integer({ default: 2, minimum: 0 }),
  },
  { default: {} },
);

const Rule = Type.Integer({ minimum: 0, maximum: 777 });

export const JsonDataServerFileSchema = Type.Object({
  // json-server's options (its CLI flags, which its config file mirrors).
  ...JsonServerOptions,
  port: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  // restauth's addition: per-collection permissions, as json-server-auth wrote them.
  rules: Type.Optional(Type.Record(Type.String(), Rule)),
  auth: JsonDataServerAuthSchema,
});

type JsonDataServerFile = Static<typeof JsonDataServerFileSchema>;

/** Keys that mark a file as json-data-server's (json-server options restauth's own format does not have). */
export const JSON_SERVER_KEYS = [...JSON_SERVER_OPTION_KEYS, 'rules'];

export async function mapJsonDataServer(raw: unknown, context: FormatContext): Promise<ConfigLayer> {
  const { where, warn } = context;
  const baseDir = dirname(context.path);
  // Default first so that a missing `auth` section gets json-data-server's defaults, then check.
  const file = Value.Default(JsonDataServerFileSchema, structuredClone(raw)) as JsonDataServerFile;
  assertValid(JsonDataServerFileSchema, file, where);
  warnUnknownKeys(JsonDataServerFileSchema, file, where, warn);

  const { auth } = file;
  checkFormatPattern(auth.userIdRE, 'auth.userIdRE', where);
  checkFormatPattern(auth.userPwdRE, 'auth.userPwdRE', where);
  const accessTokenTtl = seconds(auth.jwtExpiresIn, 'auth.jwtExpiresIn', where);
  const inactivityTimeout = seconds(auth.jwtRefreshExpiresIn, 'auth.jwtRefreshExpiresIn', where);
  // Paths written in config.json resolve against its folder.
  const jsonServer = await mapJsonServerOptions(file, baseDir, where);

  return {
    ...jsonServer,
    source: 'json-data-server',
    jwt: {
      // The public default is kept so tokens and clients keep working; load.ts flags it and start-up warns.
      secret: auth.jwtSecret,
      accessTokenTtl,
      clockTolerance: auth.jwtClockTolerance,
    },
    sessions: {
      inactivityTimeout,
      // json-data-server had no absolute limit (each refresh issued a fresh pair): never cut a session
      // shorter than its own refresh lifetime.
      absoluteLifetime: Math.max(30 * 86400, inactivityTimeout),
    },
    passwords: {
      // Existing credentials.json hashes are bcrypt at this cost; new ones match them.
      algorithm: 'bcrypt',
      bcryptRounds: auth.passwordSalt,
      // json-data-server had no minimum (only userPwdRE, default ".*"): clients that register short
      // passwords keep working. Only the empty password is refused. Tighten with userPwdRE.
      minLength: 1,
      usernamePattern: auth.userIdRE,
      passwordPattern: auth.userPwdRE,
    },
    store: {
      type: 'file',
      credentialsFile: resolve(baseDir, auth.credentialsFile),
      usersProp: auth.usersProp,
      userIdProp: auth.userId,
    },
    // Only what json-data-server served: its routes and the data API. GoTrue (and its admin API) and
    // postgrest-auth (and its bearer refresh) are not reachable under a config.json.
    dialects: {
      gotrue: { enabled: false },
      postgrestAuth: { enabled: false },
      jsonServerAuth: { enabled: false },
      jsonDataServer: {
        enabled: true,
        registerRoute: auth.registerRoute,
        loginRoute: auth.loginRoute,
        logoutRoute: auth.logoutRoute,
        checkRoute: auth.checkRoute,
        refreshRoute: auth.refreshRoute,
        passwordRoute: auth.passwordRoute,
        reqUserId: auth.reqUserId,
        reqUserPassword: auth.reqUserPassword,
        reqNewPassword: auth.reqNewPassword,
        jwtAccessToken: auth.jwtAccessToken,
        jwtRefreshToken: auth.jwtRefreshToken,
      },
    },
    data: { ...jsonServer.data, enabled: true, rules: file.rules },
  };
}
