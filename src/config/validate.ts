import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { ConfigError } from './errors.js';
import { isPlainObject } from '../lib/is-plain-object.js';
import { SECRET_NAMES, holdsSecrets } from './secret-names.js';
import { REDACTED, withoutUrlPassword } from './url-password.js';

/**
 * Checking a value against a TypeBox schema, with messages that speak the
 * user's keys: `config.json: auth.passwordSalt must be an integer (got "ten")`.
 */

/** A JSON pointer ("/auth/passwordSalt") as the user would write the key ("auth.passwordSalt"). */
function keyOf(pointer: string, prefix = ''): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  let key = prefix;
  for (const part of parts) {
    if (/^\d+$/.test(part)) key += `[${part}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(part)) key += key === '' ? part : `.${part}`;
    else key += `[${JSON.stringify(part)}]`;
  }
  return key;
}

/** A short, printable rendering of the offending value. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  // A refused URL setting (store.url, email.url) is shown without its password.
  const text = JSON.stringify(typeof value === 'string' ? withoutUrlPassword(value) : value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** What a schema expects, as a phrase: "an integer", "one of \"a\", \"b\"", "a string or null". */
function expectation(schema: TSchema): string {
  if (typeof schema['expected'] === 'string') return schema['expected'];
  if ('const' in schema) return JSON.stringify(schema['const']);
  if (Array.isArray(schema['anyOf'])) {
    const options = schema['anyOf'] as TSchema[];
    if (options.every((option) => 'const' in option)) {
      return `one of ${options.map((option) => JSON.stringify(option['const'])).join(', ')}`;
    }
    return options.map(expectation).join(' or ');
  }
  switch (schema['type']) {
    case 'null':
      return 'null';
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    default:
      return typeof schema['type'] === 'string' ? article(schema['type']) : 'a valid value';
  }
}

function describe(error: ValueError): string {
  const { schema } = error;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(schema['minimum'])}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(schema['maximum'])}`;
    case ValueErrorType.StringMinLength:
      return schema['minLength'] === 1
        ? 'must not be empty'
        : `must be at least ${String(schema['minLength'])} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(schema['maxLength'])} characters`;
    case ValueErrorType.StringPattern:
      return `must match /${String(schema['pattern'])}/`;
    default:
      return `must be ${expectation(schema)}`;
  }
}

/**
 * Whether the refused value is, or may hold, a credential: a secret's name on its path
 * (`jwt.secret` given as a number or a list) or below its schema (`jwt` given as a string, which
 * is most likely the secret itself). Its message goes to the terminal and the container's log.
 */
function secretAt(error: ValueError): boolean {
  return error.path.split('/').some((part) => SECRET_NAMES.test(part)) || holdsSecrets(error.schema);
}

/** The problems of `value` against `schema`, one line each, first problem per key. */
function problems(schema: TSchema, value: unknown, prefix = ''): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const error of Value.Errors(schema, value)) {
    // TypeBox reports a missing property twice (required, then type): keep the first per key.
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    const key = keyOf(error.path, prefix);
    const got =
      error.type === ValueErrorType.ObjectRequiredProperty
        ? ''
        : ` (got ${secretAt(error) ? REDACTED : shown(error.value)})`;
    lines.push(`${key === '' ? 'the configuration' : key} ${describe(error)}${got}`);
  }
  return lines;
}

/** Throws a ConfigError listing every problem, each line prefixed with where the value came from. */
export function assertValid(schema: TSchema, value: unknown, where: string, prefix = ''): void {
  const lines = problems(schema, value, prefix);
  if (lines.length > 0) throw new ConfigError(lines.map((line) => `${where}: ${line}`).join('\n'));
}

/**
 * Keys of `value` the schema does not know, as dotted keys. Records
 * (patternProperties) accept any key; a union of objects is followed into the
 * branch whose `type` literal matches (the store).
 */
function unknownKeys(schema: TSchema, value: unknown, prefix = ''): string[] {
  if (!isPlainObject(value)) return [];
  if (Array.isArray(schema['anyOf'])) {
    const branch = (schema['anyOf'] as TSchema[]).find((option) => {
      const typeSchema = (option['properties'] as Record<string, TSchema> | undefined)?.['type'];
      return typeSchema !== undefined && 'const' in typeSchema && typeSchema['const'] === value['type'];
    });
    return branch ? unknownKeys(branch, value, prefix) : [];
  }
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (schema['type'] !== 'object' || properties === undefined || schema['patternProperties']) return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childKey = keyOf(`/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, prefix);
    const childSchema = properties[key];
    if (childSchema === undefined) found.push(childKey);
    else found.push(...unknownKeys(childSchema, child, childKey));
  }
  return found;
}

export function warnUnknownKeys(
  schema: TSchema,
  value: unknown,
  where: string,
  warn: (message: string) => void,
): void {
  const keys = unknownKeys(schema, value);
  if (keys.length > 0) warn(`${where}: unknown keys ignored: ${keys.join(', ')}`);
}
