import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ENV_VARS } from '../../src/config/env.js';

test('ENV_VARS documents exactly the variables env.ts reads', async () => {
  const source = await readFile(new URL('../../src/config/env.ts', import.meta.url), 'utf8');
  // Every `get('NAME')` / `env['NAME']` in the module.
  const read = new Set([...source.matchAll(/(?:get\(|env\[)'([A-Z_]+)'/g)].map((match) => match[1]));
  assert.deepEqual([...read].sort(), ENV_VARS.map((variable) => variable.name).sort());
  for (const variable of ENV_VARS) assert.ok(variable.description.length > 10, variable.name);
});

test('no other config module reads process.env', async () => {
  for (const name of [
    'load.ts',
    'secret.ts',
    'gotrue-env.ts',
    'dotenv.ts',
    'formats/json-data-server.ts',
    'formats/postgrest-auth.ts',
    'formats/restauth.ts',
  ]) {
    const source = await readFile(new URL(`../../src/config/${name}`, import.meta.url), 'utf8');
    assert.doesNotMatch(source, /process\.env/, name);
  }
});
