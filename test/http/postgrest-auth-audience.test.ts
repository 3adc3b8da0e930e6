import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';

/**
 * postgrest-auth.json's `payload.aud` (PostgREST's jwt-aud) is the audience every token carries. Tokens
 * carry their user's audience, which new users take from it: copied as a plain claim, it was overridden
 * by the user's (`authenticated`), so PostgREST refused every token and restauth refused the ones
 * postgrest-auth had signed, both silently.
 */
describe('postgrest-auth.json payload.aud on PostgreSQL', () => {
  let t: TestApp;
  let store: Awaited<ReturnType<typeof suiteStore>>;
  before(async () => {
    store = await suiteStore('postgres');
    t = await createTestApp({
      format: 'postgrest-auth',
      config: {
        db: { connection_string: store.config.store!.url },
        payload: { exp: 3600, aud: 'postgrest' },
        secret: 'test-secret-0123456789abcdef-0123456789',
      },
      env: { RESTAUTH_JWT_SECRET: '' },
      overrides: { store: store.config.store, passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
    });
  });
  after(async () => {
    await t?.close();
    await store?.drop();
  });

  it('signs a new user up and in with tokens for that audience, which its checks accept', async () => {
    const signUp = await t.app.inject({
      method: 'POST',
      url: '/auth/users',
      payload: { username: 'Theorist1', password: 'a real passphrase' },
    });
    assert.equal(signUp.statusCode, 201, signUp.body);
    const first = signUp.json<{ access_token: string }>().access_token;
    assert.equal(decodeJwt(first).aud, 'postgrest');

    // postgrest-auth's bearer refresh checks the token it is handed and signs the next one.
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/auth/refresh_token',
      headers: { authorization: `Bearer ${first}` },
    });
    assert.equal(refresh.statusCode, 200, refresh.body);
    assert.equal(decodeJwt(refresh.json<{ access_token: string }>().access_token).aud, 'postgrest');
  });
});
