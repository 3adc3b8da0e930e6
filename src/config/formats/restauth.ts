import { dirname, resolve } from 'node:path';
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import { Duration, seconds } from '../duration.js';
import type { ConfigLayer } from '../layer.js';
import { ConfigSchema, FileStoreSchema, PostgresStoreSchema } from '../schema.js';
import { ConfigError } from '../errors.js';
import { assertValid, shown, warnUnknownKeys } from '../validate.js';
import type { FormatContext } from './context.js';

/**
 * restauth's own format (restauth.json): the ConfigSchema shape, every key
 * optional, durations written as strings ("15m") or seconds.
 */

/** Keys holding durations, in seconds once loaded. */
const DURATION_KEYS = [
  'jwt.accessTokenTtl',
  'jwt.clockTolerance',
  'sessions.absoluteLifetime',
  'sessions.inactivityTimeout',
  'sessions.reuseGrace',
  'sessions.endedRetention',
  'oneTimeTokens.ttl',
  'oneTimeTokens.resendInterval',
  'audit.retention',
  'mailQueue.lease',
  'mailQueue.poll',
  'identities.providerTimeout',
] as const;

/** Keys the loader computes; a file cannot set them. */
const COMPUTED_KEYS = new Set(['source', 'configFile', 'jwt.publicDefaultSecret', 'jwt.generatedSecret']);

/** Paths, resolved against the config file's folder (stateDir and outboxDir: see load.ts). */
const PATH_KEYS = ['data.static', 'store.dataFile', 'store.credentialsFile'];

function sourceSchema(schema: TSchema, path: string): TSchema {
  if ((DURATION_KEYS as readonly string[]).includes(path)) return Duration();
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (schema['type'] !== 'object' || properties === undefined) return schema;
  const entries = Object.entries(properties)
    .map(([key, child]) => [key, path === '' ? key : `${path}.${key}`, child] as const)
    .filter(([, childPath]) => !COMPUTED_KEYS.has(childPath))
    .map(([key, childPath, child]) => [key, Type.Optional(sourceSchema(child, childPath))]);
  return Type.Object(Object.fromEntries(entries));
}

function partialStore(schema: TObject, typeRequired: boolean): TSchema {
  const entries = Object.entries(schema.properties).map(([key, child]) => [
    key,
    key === 'type' && typeRequired ? child : Type.Optional(child),
  ]);
  return Type.Object(Object.fromEntries(entries));
}

/** The file's schema; `store` is checked on its own against the branch its `type` names. */
const RestauthFileSchema = (() => {
  const schema = sourceSchema(ConfigSchema, '') as TObject;
  return Type.Object({ ...schema.properties, store: Type.Optional(Type.Object({})) });
})();

const FileStoreInput = partialStore(FileStoreSchema, false);
const PostgresStoreInput = partialStore(PostgresStoreSchema, true);

function getAt(
  object: Record<string, unknown>,
  path: string,
): { parent: Record<string, unknown>; key: string } | null {
  const parts = path.split('.');
  let parent: unknown = object;
  for (const part of parts.slice(0, -1)) {
    parent = (parent as Record<string, unknown> | undefined)?.[part];
    if (typeof parent !== 'object' || parent === null) return null;
  }
  const key = parts[parts.length - 1] as string;
  return { parent: parent as Record<string, unknown>, key };
}

export function mapRestauth(raw: unknown, context: FormatContext): ConfigLayer {
  const { where, warn } = context;
  assertValid(RestauthFileSchema, raw, where);
  const file = structuredClone(raw) as Record<string, unknown>;
  const store = file['store'] as Record<string, unknown> | undefined;
  const type = store?.['type'];
  if (type !== undefined && type !== 'file' && type !== 'postgres') {
    throw new ConfigError(`${where}: store.type must be one of "file", "postgres" (got ${shown(type)})`);
  }
  const storeSchema = type === 'postgres' ? PostgresStoreInput : FileStoreInput;
  if (store !== undefined) assertValid(storeSchema, store, where, 'store');

  const known = Type.Object({ ...(RestauthFileSchema as TObject).properties, store: storeSchema });
  warnUnknownKeys(known, file, where, warn);

  for (const key of DURATION_KEYS) {
    const at = getAt(file, key);
    // eslint-disable-next-line no-restricted-syntax -- the key comes from the fixed DURATION_KEYS list
    if (at && at.parent[at.key] !== undefined) at.parent[at.key] = seconds(at.parent[at.key], key, where);
  }
  const baseDir = dirname(context.path);
  for (const key of PATH_KEYS) {
    const at = getAt(file, key);
    const value = at?.parent[at.key];
    // eslint-disable-next-line no-restricted-syntax -- the key comes from the fixed PATH_KEYS list
    if (at && typeof value === 'string') at.parent[at.key] = resolve(baseDir, value);
  }
  mountListedDialects(file);
  return { ...file, source: 'restauth' } as ConfigLayer;
}

const DIALECTS = ['gotrue', 'jsonDataServer', 'jsonServerAuth', 'postgrestAuth'] as const;

/**
 * A `dialects` object names what is mounted: a dialect it names is on (unless it says
 * `enabled: false`), one it leaves out is off. Without `dialects`, the schema's defaults
 * apply: GoTrue and json-data-server, not postgrest-auth.
 */
function mountListedDialects(file: Record<string, unknown>): void {
  const dialects = file['dialects'] as Record<string, Record<string, unknown> | undefined> | undefined;
  if (dialects === undefined) return;
  for (const name of DIALECTS) {
    const listed = dialects[name];
    // eslint-disable-next-line no-restricted-syntax -- name comes from the fixed DIALECTS list
    dialects[name] = listed === undefined ? { enabled: false } : { enabled: true, ...listed };
  }
}
