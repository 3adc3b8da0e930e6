import type { Config, FileStoreConfig, PostgresStoreConfig } from './schema.js';
import { isPlainObject } from '../lib/is-plain-object.js';

/**
 * One source's contribution to the configuration (a file, the environment,
 * the command line). Layers are merged in order, later ones winning, then
 * defaults are filled in and the result is validated against ConfigSchema.
 */
type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type StoreLayer =
  | ({ type: 'file' } & Partial<Omit<FileStoreConfig, 'type'>>)
  | ({ type: 'postgres' } & Partial<Omit<PostgresStoreConfig, 'type'>>)
  // A layer may tune the file store without saying `type` (defaults to file).
  | ({ type?: undefined } & Partial<Omit<FileStoreConfig, 'type'>>);

export type ConfigLayer = DeepPartial<Omit<Config, 'store' | 'email' | 'data'>> & {
  store?: StoreLayer;
  email?: Config['email'];
  // Records (routes, rules) are replaced whole, not merged key by key.
  data?: Partial<Config['data']>;
};

/** Keys whose object value is a unit: a later layer replaces it instead of merging into it. */
export const REPLACED_WHOLE: ReadonlySet<string> = new Set([
  'email',
  'data.routes',
  'data.rules',
  'dialects.postgrestAuth.payload',
]);

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>, path: string): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const keyPath = path === '' ? key : `${path}.${key}`;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current) && !REPLACED_WHOLE.has(keyPath)) {
      // Switching store type (DATABASE_URL over a file store) drops the other type's settings; a layer
      // without `type` (RESTAUTH_DATA_FILE) tunes whatever store there is.
      const switchesType =
        keyPath === 'store' && value['type'] !== undefined && value['type'] !== (current['type'] ?? 'file');
      const base: Record<string, unknown> = switchesType ? {} : { ...current };
      mergeInto(base, value, keyPath);
      // eslint-disable-next-line no-restricted-syntax -- keys of the operator's config files and environment, never a client's; the merged result is schema-checked
      target[key] = base;
    } else {
      // eslint-disable-next-line no-restricted-syntax -- keys of the operator's config files and environment, never a client's; the merged result is schema-checked
      target[key] = isPlainObject(value) ? structuredClone(value) : value;
    }
  }
}

export function mergeLayers(...layers: ConfigLayer[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const layer of layers) mergeInto(result, layer as Record<string, unknown>, '');
  return result;
}
