import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { ENV_VARS } from '../../src/config/env.js';
import { GOTRUE_ENV_VARS } from '../../src/config/gotrue-env.js';
import {
  JsonDataServerAuthSchema,
  JsonDataServerFileSchema,
} from '../../src/config/formats/json-data-server.js';
import { PostgrestAuthFileSchema } from '../../src/config/formats/postgrest-auth.js';
import { ConfigSchema } from '../../src/config/schema.js';

/** Dotted keys of an object schema's leaves (records and unions of objects count as leaves, except the store). */
function leafKeys(schema: TSchema, prefix = ''): string[] {
  const branches = (schema['anyOf'] as TSchema[] | undefined)?.filter(
    (option) => option['type'] === 'object',
  );
  if (prefix === 'store' && branches)
    return [...new Set(branches.flatMap((branch) => leafKeys(branch, prefix)))];
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (schema['type'] !== 'object' || properties === undefined) return [prefix];
  return Object.entries(properties).flatMap(([key, child]) =>
    leafKeys(child, prefix === '' ? key : `${prefix}.${key}`),
  );
}

test('docs/configuration.md documents every key of every format and every variable', async () => {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const mentioned = (key: string) => doc.includes(`\`${key}\``);
  const connectionFields = Object.keys(
    PostgrestAuthFileSchema.properties.db.properties.connection.properties,
  );
  const keys = [
    ...ENV_VARS.map((variable) => variable.name),
    ...GOTRUE_ENV_VARS.map((variable) => variable.name),
    ...leafKeys(ConfigSchema).filter((key) => key !== 'source' && key !== 'configFile'),
    ...Object.keys(JsonDataServerFileSchema.properties).filter((key) => key !== 'auth'),
    ...Object.keys(JsonDataServerAuthSchema.properties),
    ...leafKeys(PostgrestAuthFileSchema).filter((key) => !key.startsWith('db.connection.')),
  ];
  assert.ok(keys.length > 100, 'the key lists were read');
  assert.deepEqual(
    keys.filter((key) => !mentioned(key)),
    [],
  );
  // Written as "`db.connection.host`, `.port`, ...".
  assert.deepEqual(
    connectionFields.filter((key) => !mentioned(`db.connection.${key}`) && !mentioned(`.${key}`)),
    [],
  );
});
