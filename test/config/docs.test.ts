import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ENV_VARS, type EnvVar } from '../../src/config/env.js';
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

/** The rows of the first table after `heading` in docs/configuration.md, as trimmed cells. */
async function tableRows(heading: string): Promise<string[][]> {
  const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const start = doc.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `docs/configuration.md has ${heading}`);
  const lines = doc.slice(start + heading.length + 2).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const end = lines.findIndex((line, index) => index > first && !line.startsWith('|'));
  return lines.slice(first + 2, end).map((line) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim()),
  );
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/gu)].map((match) => match[1]!);

test("each variable's row in docs/configuration.md names the key it sets, and each row is a variable", async () => {
  // GoTrue-named variables env.ts reads itself (the anonymous sign-ins') are in GoTrue's table.
  const rows = [
    ...(await tableRows('## Environment variables')),
    ...(await tableRows("### GoTrue's environment variables")),
  ];
  const documented = new Map(rows.map(([variable, sets]) => [codeSpans(variable!)[0], sets!]));
  const variables = [...ENV_VARS, ...GOTRUE_ENV_VARS];
  // A variable has its own row, or is named in the row of the key it sets (GOTRUE_SMTP_PORT in GOTRUE_SMTP_HOST's).
  const rowSetting = (variable: EnvVar) =>
    rows.find(
      (row) =>
        codeSpans(row[1]!).includes(variable.key) &&
        (codeSpans(row[0]!)[0] === variable.name || codeSpans(row.join(' ')).includes(variable.name)),
    );
  assert.deepEqual(
    variables
      .filter((variable) => rowSetting(variable) === undefined)
      .map((variable) => `${variable.name} sets ${variable.key}: ${documented.get(variable.name)}`),
    [],
  );
  const names = new Set(variables.map((variable) => variable.name));
  assert.deepEqual(
    [...documented.keys()].filter((name) => name === undefined || !names.has(name)),
    [],
    'rows that are no variable',
  );
});

/** A row's keys: `a.b.c`, then `d` or `.d` for a.b.d. */
function rowKeys(cell: string): string[] {
  const [first, ...rest] = codeSpans(cell);
  if (first === undefined) return [];
  const parent = first.slice(0, first.lastIndexOf('.') + 1);
  return [
    first,
    ...rest.map((key) =>
      key.includes('.') && !key.startsWith('.') ? key : parent + key.replace(/^\./u, ''),
    ),
  ];
}

test("docs/configuration.md's restauth-format table has each key with its schema default", async () => {
  const rows = await tableRows('## restauth format (`restauth.json`)');
  const fileDefaults = Value.Default(ConfigSchema, {});
  const postgresDefaults = Value.Default(ConfigSchema, { store: { type: 'postgres', url: 'postgres://x' } });
  const defaultOf = (key: string) =>
    [fileDefaults, postgresDefaults]
      .map((defaults) =>
        key
          .split('.')
          .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], defaults),
      )
      .find((value) => value !== undefined);
  const documentedKeys = new Set<string>();
  const wrong: string[] = [];
  for (const [keyCell, , defaultCell] of rows) {
    const keys = rowKeys(keyCell!);
    keys.forEach((key) => documentedKeys.add(key));
    // A default written as a JSON value (`3000`, `"info"`, `null`, `[]`); prose defaults are not compared.
    const written = /^`([^`]*)`/u.exec(defaultCell!)?.[1];
    if (keys.length !== 1 || written === undefined || keys[0]!.includes('<')) continue;
    let documented: unknown;
    try {
      documented = JSON.parse(written);
    } catch {
      continue;
    }
    const actual = defaultOf(keys[0]!);
    if (!isDeepStrictEqual(documented, actual)) {
      wrong.push(`${keys[0]}: documented ${written}, schema ${JSON.stringify(actual)}`);
    }
  }
  assert.ok(documentedKeys.size > 100, 'the table was read');
  assert.deepEqual(wrong, []);
  const computed = ['source', 'configFile', 'jwt.publicDefaultSecret', 'jwt.generatedSecret'];
  const schemaKeys = leafKeys(ConfigSchema).filter((key) => !computed.includes(key));
  assert.deepEqual(
    schemaKeys.filter((key) => !documentedKeys.has(key) && !key.startsWith('external.')),
    [],
    'schema keys without a row',
  );
});
