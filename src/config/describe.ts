import { ConfigSchema, type Config } from './schema.js';
import { sourceOfKey, type ValueSources } from './sources.js';
import { isPlainObject } from '../lib/is-plain-object.js';
import { REDACTED, withoutUrlPassword } from './url-password.js';
import { SECRET_NAMES } from './secret-names.js';

export { REDACTED };

/** One printed setting: its dotted key, its value (secrets redacted) and where it came from. */
export interface DescribedSetting {
  key: string;
  value: unknown;
  source: string;
}

/** Set by the loader from other values, not settings anyone writes: not printed. */
const DERIVED = new Set(['jwt.publicDefaultSecret', 'jwt.generatedSecret']);

function redact(name: string, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (SECRET_NAMES.test(name)) return REDACTED;
  // A list of URLs (redirectAllowList, cors) is printed as one value: each entry hides its password.
  if (Array.isArray(value)) return value.map((item) => redact(name, item));
  return typeof value === 'string' ? withoutUrlPassword(value) : value;
}

/**
 * Every leaf of the configuration, in schema order, with secrets redacted and
 * the source of each. Objects are walked into, as are arrays of objects
 * (jwt.keys[0].kid); other arrays are one value.
 */
export function describeConfig(config: Config, sources: ValueSources): DescribedSetting[] {
  const settings: DescribedSetting[] = [];
  const walk = (value: unknown, key: string, name: string) => {
    if (DERIVED.has(key)) return;
    if (isPlainObject(value) && Object.keys(value).length > 0 && !SECRET_NAMES.test(name)) {
      for (const [child, childValue] of Object.entries(value)) {
        walk(childValue, key === '' ? child : `${key}.${child}`, child);
      }
    } else if (Array.isArray(value) && value.length > 0 && value.every(isPlainObject)) {
      value.forEach((item, index) => walk(item, `${key}[${index}]`, name));
    } else {
      settings.push({ key, value: redact(name, value), source: sourceOfKey(sources, key) });
    }
  };
  // In the schema's order (the documented one), not the order the layers happened to set them.
  for (const key of Object.keys(ConfigSchema.properties)) walk(config[key as keyof Config], key, key);
  return settings;
}

/** The settings as aligned text, one per line: key, value, source. */
export function formatSettings(settings: readonly DescribedSetting[]): string {
  const rows = settings.map(
    ({ key, value, source }) => [key, JSON.stringify(value) ?? 'null', source] as const,
  );
  const keyWidth = Math.max(...rows.map(([key]) => key.length));
  const valueWidth = Math.min(60, Math.max(...rows.map(([, value]) => value.length)));
  return rows
    .map(([key, value, source]) => `${key.padEnd(keyWidth)}  ${value.padEnd(valueWidth)}  ${source}`)
    .join('\n');
}
