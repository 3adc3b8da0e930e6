import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/errors.js';
import { MIN_SECRET_BYTES, PUBLISHED_SECRETS } from '../../src/config/secret-policy.js';
import { load, tempDir, writeJson } from '../support/config.js';

/**
 * No publicly known or short secret outside development mode: each way a
 * secret can be set is refused at load, naming the key as the user wrote it.
 */

const refused = (key: string, reason: RegExp) => (error: unknown) => {
  assert.ok(error instanceof ConfigError, String(error));
  assert.ok(error.message.startsWith(`${key} `), error.message);
  assert.match(error.message, reason);
  assert.match(error.message, /RESTAUTH_DEV=1/);
  return true;
};

test("a config.json without jwtSecret (json-data-server's published default) is refused", async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', {});
  await assert.rejects(load(dir), refused('config.json: auth.jwtSecret', /published default/));
});

test("postgrest-auth's example secret, a short one, and one from restauth's docs are refused", async () => {
  const dir = await tempDir();
  await writeJson(dir, 'pa.json', { secret: 'secret', db: { connection_string: 'postgres://u@h/d' } });
  await assert.rejects(load(dir, { configFile: 'pa.json' }), refused('pa.json: secret', /example/));
  await writeJson(dir, 'restauth.json', { jwt: { secret: 'x'.repeat(MIN_SECRET_BYTES - 1) } });
  await assert.rejects(load(dir), refused('restauth.json: jwt.secret', /31 bytes long; at least 32/));
  await writeJson(dir, 'restauth.json', { jwt: { secret: 'a long random secret shared with PostgREST' } });
  await assert.rejects(load(dir), refused('restauth.json: jwt.secret', /documentation example/));
});

test('the environment and the command line are named when they bring the secret', async () => {
  const dir = await tempDir();
  await assert.rejects(
    load(dir, { env: { RESTAUTH_JWT_SECRET: 'DefaultJWTSecretString-LOL' } }),
    refused('RESTAUTH_JWT_SECRET', /published default/),
  );
  await writeJson(dir, 'pa.json', { db: { connection_string: 'postgres://u@h/d' } });
  await assert.rejects(
    load(dir, { configFile: 'pa.json', postgrestAuth: { secret: 'short' } }),
    refused('--secret', /5 bytes long/),
  );
});

test('length is counted in bytes, and every published secret is refused whatever its length', async () => {
  const dir = await tempDir();
  // 16 characters, 32 bytes in UTF-8: long enough.
  const { config } = await load(dir, { env: { RESTAUTH_JWT_SECRET: 'é'.repeat(16) } });
  assert.equal(config.jwt.secret, 'é'.repeat(16));
  for (const secret of PUBLISHED_SECRETS.keys()) {
    await assert.rejects(load(dir, { env: { RESTAUTH_JWT_SECRET: secret } }), ConfigError, secret);
  }
});

test('development mode (RESTAUTH_DEV=1 or --dev) accepts them with a warning', async () => {
  const dir = await tempDir();
  await writeJson(dir, 'config.json', {});
  const fromEnv = await load(dir, { env: { RESTAUTH_DEV: '1' } });
  assert.equal(fromEnv.config.jwt.secret, 'DefaultJWTSecretString-LOL');
  assert.equal(fromEnv.config.jwt.publicDefaultSecret, true);
  assert.equal(fromEnv.config.development, true);
  assert.deepEqual(fromEnv.warnings.length, 1);
  assert.match(fromEnv.warnings[0] ?? '', /^config\.json: auth\.jwtSecret .*development mode is on/);
  const fromFlag = await load(dir, { development: true });
  assert.equal(fromFlag.config.jwt.secret, 'DefaultJWTSecretString-LOL');
  await assert.rejects(load(dir, { env: { RESTAUTH_DEV: '0' } }), ConfigError);
  await assert.rejects(load(dir, { env: { RESTAUTH_DEV: 'yes please' } }), /RESTAUTH_DEV must be one of/);
});

test('no secret at all is not refused: a development secret is generated at start (secret.test.ts)', async () => {
  const dir = await tempDir();
  const { config } = await load(dir);
  assert.equal(config.jwt.secret, null);
});
