import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';

/** GoTrue's variables for anonymous sign-ins over a restauth.json, as a GoTrue deployment sets them. */
async function load(env: NodeJS.ProcessEnv, settings: Record<string, unknown> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'restauth-anonymous-env-'));
  try {
    await writeFile(
      join(dir, 'restauth.json'),
      JSON.stringify({ jwt: { secret: 'x'.repeat(40) }, ...settings }),
    );
    return await loadConfig({ cwd: dir, env, warn: () => {} });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('anonymous sign-ins: off by default, on by GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED over the file', async () => {
  const defaults = await load({});
  assert.equal(defaults.signup.anonymousUsers, false);
  assert.deepEqual(defaults.rateLimits.anonymous, { max: 30, window: 3600 });
  const on = await load(
    { GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED: 'true' },
    { signup: { confirmEmail: false } },
  );
  assert.equal(on.signup.anonymousUsers, true);
  assert.equal(on.signup.confirmEmail, false, 'the file’s other signup settings stay');
  const off = await load(
    { GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED: '0' },
    { signup: { anonymousUsers: true } },
  );
  assert.equal(off.signup.anonymousUsers, false);
  await assert.rejects(
    load({ GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED: 'sometimes' }),
    /GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED/u,
  );
});

test('GOTRUE_RATE_LIMIT_ANONYMOUS_USERS sets the hourly limit; RESTAUTH_RATE_LIMITS=off still turns it off', async () => {
  assert.deepEqual((await load({ GOTRUE_RATE_LIMIT_ANONYMOUS_USERS: '5' })).rateLimits.anonymous, {
    max: 5,
    window: 3600,
  });
  const off = await load({ GOTRUE_RATE_LIMIT_ANONYMOUS_USERS: '5', RESTAUTH_RATE_LIMITS: 'off' });
  assert.equal(off.rateLimits.anonymous.max, 0);
  assert.equal(off.rateLimits.signUp.max, 0);
  await assert.rejects(
    load({ GOTRUE_RATE_LIMIT_ANONYMOUS_USERS: 'lots' }),
    /GOTRUE_RATE_LIMIT_ANONYMOUS_USERS/u,
  );
});
