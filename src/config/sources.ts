import { ENV_VARS, type EnvVar } from './env.js';
import { REPLACED_WHOLE, type ConfigLayer } from './layer.js';
import { isPlainObject } from '../lib/is-plain-object.js';

/**
 * Where each configuration value came from: "default", "file restauth.json",
 * "environment RESTAUTH_PORT", "flag --port". Worked out by replaying the
 * layers' merge (layer.ts) and remembering, for every key a layer sets, the
 * last layer that set it; a key no layer set is a default.
 */
export type ValueSources = ReadonlyMap<string, string>;

export interface LabelledLayer {
  layer: ConfigLayer;
  /** The source of the value this layer sets at `key` (a dotted key). */
  sourceOf: (key: string) => string;
}

function forgetUnder(sources: Map<string, string>, key: string): void {
  for (const known of [...sources.keys()]) {
    if (known.startsWith(`${key}.`) || known.startsWith(`${key}[`)) sources.delete(known);
  }
}

export function valueSources(layers: readonly LabelledLayer[]): Map<string, string> {
  const sources = new Map<string, string>();
  let storeType = 'file';
  const walk = (value: Record<string, unknown>, prefix: string, sourceOf: (key: string) => string) => {
    for (const [name, child] of Object.entries(value)) {
      if (child === undefined) continue;
      const key = prefix === '' ? name : `${prefix}.${name}`;
      if (isPlainObject(child) && !REPLACED_WHOLE.has(key)) {
        // As in mergeLayers: switching the store's type drops the other type's settings.
        if (key === 'store' && typeof child['type'] === 'string' && child['type'] !== storeType) {
          storeType = child['type'];
          forgetUnder(sources, key);
        }
        walk(child, key, sourceOf);
      } else {
        forgetUnder(sources, key);
        sources.set(key, sourceOf(key));
      }
    }
  };
  for (const { layer, sourceOf } of layers) walk(layer as Record<string, unknown>, '', sourceOf);
  return sources;
}

/** The source of `key` ("jwt.keys[0].kid"): its own, else its nearest parent's, else "default". */
export function sourceOfKey(sources: ValueSources, key: string): string {
  let end = key.length;
  while (end > 0) {
    const found = sources.get(key.slice(0, end));
    if (found !== undefined) return found;
    // The parent of "jwt.keys[0].kid" is "jwt.keys[0]", then "jwt.keys", then "jwt".
    end = Math.max(key.lastIndexOf('.', end - 1), key.lastIndexOf('[', end - 1));
  }
  return 'default';
}

/**
 * The environment variable that set `key`, as env.ts and gotrue-env.ts read them (RESTAUTH_PORT wins
 * over PORT): "environment NAME", or ".env NAME" for one the .env file set (`fromDotenv`).
 */
export function environmentSource(
  env: NodeJS.ProcessEnv,
  fromDotenv: ReadonlySet<string> = new Set(),
  variables: readonly EnvVar[] = ENV_VARS,
): (key: string) => string {
  const set = variables.filter(({ name }) => (env[name] ?? '').trim() !== '');
  return (key) => {
    const exact = set.find((variable) => variable.key === key || key.startsWith(`${variable.key}.`));
    // A database URL also sets store.type (and brings the PostgreSQL defaults).
    const variable =
      exact ?? (key.startsWith('store') ? set.find(({ key }) => key === 'store.url') : undefined);
    if (variable === undefined) return 'environment';
    return `${fromDotenv.has(variable.name) ? '.env' : 'environment'} ${variable.name}`;
  };
}

/** The command-line flag (or argument) of serve that sets `key`. */
const FLAGS: ReadonlyArray<[key: string, flag: string]> = [
  ['port', 'flag --port'],
  ['host', 'flag --host'],
  ['development', 'flag --dev'],
  ['logLevel', 'flag --log-level'],
  ['logFormat', 'flag --log-format'],
  ['appName', 'flag --app'],
  ['jwt.secret', 'flag --secret'],
  ['jwt.issuer', 'flag --issuer'],
  ['jwt.accessTokenTtl', 'flag --expire'],
  ['store.dataFile', 'argument DATA_FILE'],
  ['store.schema', 'flag --schema'],
  ['store.table', 'flag --table'],
  ['store', 'flag --connection'],
  ['cors', 'flag --no-cors'],
  ['compression', 'flag --no-gzip'],
  ['middlewares', 'flag --middlewares'],
  ['data.readOnly', 'flag --read-only'],
  ['data.id', 'flag --id'],
  ['data.foreignKeySuffix', 'flag --foreignKeySuffix'],
  ['data.delay', 'flag --delay'],
  ['data.static', 'flag --static'],
  ['data.routes', 'flag --routes'],
  ['data.routesFile', 'flag --routes'],
  ['data.watch', 'flag --watch'],
  ['data.snapshots', 'flag --snapshots'],
];

export function flagSource(key: string): string {
  return FLAGS.find(([flagKey]) => key === flagKey || key.startsWith(`${flagKey}.`))?.[1] ?? 'flag';
}
