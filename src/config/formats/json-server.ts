import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { readJsoncFile } from '../jsonc.js';
import type { ConfigLayer } from '../layer.js';
import type { FormatContext } from './context.js';
import { assertValid, warnUnknownKeys } from '../validate.js';
import { ConfigError } from '../errors.js';
import { expandGuardShorthand } from '../../data/guards.js';

/**
 * json-server 0.17.4's options, as its command line and its json-server.json
 * spell them (yargs accepts a dashed key and its camelCase form alike), mapped
 * onto restauth's settings. One mapping for the flags, json-server.json and
 * the json-server options at the top of json-data-server's config.json.
 */
export const JsonServerOptions = {
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  host: Type.Optional(Type.String({ minLength: 1 })),
  watch: Type.Optional(Type.Boolean()),
  routes: Type.Optional(
    Type.Union([Type.String({ minLength: 1 }), Type.Record(Type.String(), Type.String())], {
      expected: 'a path to a routes.json file or an object of rewrites',
    }),
  ),
  middlewares: Type.Optional(
    Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }))], {
      expected: 'a path to a middleware file or a list of them',
    }),
  ),
  static: Type.Optional(Type.String({ minLength: 1 })),
  readOnly: Type.Optional(Type.Boolean()),
  'read-only': Type.Optional(Type.Boolean()),
  noCors: Type.Optional(Type.Boolean()),
  'no-cors': Type.Optional(Type.Boolean()),
  noGzip: Type.Optional(Type.Boolean()),
  'no-gzip': Type.Optional(Type.Boolean()),
  snapshots: Type.Optional(Type.String({ minLength: 1 })),
  delay: Type.Optional(Type.Integer({ minimum: 0 })),
  id: Type.Optional(Type.String({ minLength: 1 })),
  foreignKeySuffix: Type.Optional(Type.String({ minLength: 1 })),
  quiet: Type.Optional(Type.Boolean()),
};

const JsonServerOptionsSchema = Type.Object(JsonServerOptions);
export type JsonServerOptions = Static<typeof JsonServerOptionsSchema>;

/** Keys that mark a config file as json-server's (restauth's own format has none of them). */
export const JSON_SERVER_OPTION_KEYS = Object.keys(JsonServerOptions).filter(
  (key) => key !== 'port' && key !== 'host',
);

/**
 * A routes.json: an object of rewrites, `{"/api/*": "/$1"}`, and json-server-auth's guards in the
 * shorthand its CLI reads (`{"users": 600}`, data/guards.ts); a ConfigError naming `label` otherwise.
 */
export async function readRoutesFile(path: string, label: string): Promise<Record<string, string>> {
  const loaded = await readJsoncFile(path, label);
  assertValid(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Integer()]), {
      expected: 'an object of rewrites ("/api/*": "/$1") or guards ("posts": 664)',
    }),
    loaded,
    `routes file ${label}`,
  );
  try {
    return expandGuardShorthand(loaded as Record<string, string | number>, `routes file ${label}`);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

async function loadRoutes(routes: string, baseDir: string, where: string): Promise<Record<string, string>> {
  try {
    return await readRoutesFile(resolve(baseDir, routes), routes);
  } catch (error) {
    // Named as the setting that pointed at it.
    if (error instanceof Error) error.message = `${where}: ${error.message}`;
    throw error;
  }
}

/**
 * The settings json-server's options stand for. Paths (routes, middlewares,
 * static, snapshots) resolve against `baseDir`: the working directory for
 * flags and json-server.json (as json-server resolves them), a config file's
 * folder otherwise.
 */
export async function mapJsonServerOptions(
  options: JsonServerOptions,
  baseDir: string,
  where: string,
): Promise<ConfigLayer> {
  const readOnly = options.readOnly ?? options['read-only'];
  const noCors = options.noCors ?? options['no-cors'];
  const noGzip = options.noGzip ?? options['no-gzip'];
  const middlewares =
    options.middlewares === undefined
      ? undefined
      : (typeof options.middlewares === 'string' ? [options.middlewares] : options.middlewares).map((file) =>
          resolve(baseDir, file),
        );
  // json-server-auth named as a middleware (`-m ./node_modules/json-server-auth`, as its README says) is
  // served by restauth's own json-server-auth dialect: its Express code is not run.
  const jsonServerAuth = middlewares?.some(isJsonServerAuth) === true;
  const routesFile = typeof options.routes === 'string' ? resolve(baseDir, options.routes) : undefined;
  const routes =
    typeof options.routes === 'string' ? await loadRoutes(options.routes, baseDir, where) : options.routes;
  return {
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(noCors === true ? { cors: false } : {}),
    ...(noGzip === true ? { compression: false } : {}),
    // json-server's --quiet silences its own lines; errors and warnings still show.
    ...(options.quiet === true ? { logLevel: 'warn' as const } : {}),
    ...(middlewares === undefined
      ? {}
      : { middlewares: middlewares.filter((file) => !isJsonServerAuth(file)) }),
    ...(jsonServerAuth ? { dialects: { jsonServerAuth: { enabled: true } } } : {}),
    data: {
      readOnly,
      id: options.id,
      foreignKeySuffix: options.foreignKeySuffix,
      delay: options.delay,
      static: options.static === undefined ? undefined : resolve(baseDir, options.static),
      routes,
      ...(routes === undefined ? {} : { routesFile: routesFile ?? null }),
      watch: options.watch,
      snapshots: options.snapshots === undefined ? undefined : resolve(baseDir, options.snapshots),
    },
  };
}

/**
 * json-server.json: json-server's options, nothing else. It adds to restauth's
 * defaults (GoTrue's and json-data-server's routes, a generated development
 * secret) what the json-server command line would have set.
 */
export async function mapJsonServer(raw: unknown, context: FormatContext): Promise<ConfigLayer> {
  const options = Value.Clone(raw) as JsonServerOptions;
  assertValid(JsonServerOptionsSchema, options, context.where);
  warnUnknownKeys(JsonServerOptionsSchema, options, context.where, context.warn);
  // json-server resolves the paths in its config file against the working directory, not the file's folder.
  const layer = await mapJsonServerOptions(options, context.cwd, context.where);
  return { ...layer, source: 'json-server' };
}

/** json-server-auth's package as a middleware path: its folder, or its dist/index.js. */
function isJsonServerAuth(file: string): boolean {
  return /(^|[\\/])json-server-auth([\\/]dist([\\/]index(\.js)?)?)?[\\/]?$/u.test(file);
}
