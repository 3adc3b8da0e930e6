import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * postgrest-auth's `db.table` (restauth's `store.table`) names its users table; migration 14 moved that
 * table into restauth's schema as `accounts`, and GoTrue's `auth.users` holds the users since. The
 * functions that open sessions (migrations 36-59) named the users table by the setting: with any name
 * but `users` every password sign-in answered 503 (auth.people does not exist). Migration 60.
 */
describe('a postgrest-auth database whose users table had another name (store.table)', () => {
  const db = useTestDatabase({ max: 2, migrateThrough: 0 });

  it('signs up, signs in by password and refreshes', async () => {
    const t = await createTestApp({
      format: 'restauth',
      config: {
        store: { ...db.config, table: 'people' },
        passwords: FAST_HASHING,
        signup: { confirmEmail: false },
        dialects: { gotrue: {} },
      },
    });
    try {
      const post = (url: string, payload: object) =>
        t.app.inject({ method: 'POST', url: `/auth/v1${url}`, payload });
      const credentials = { email: 'ann@acme.test', password: 'a long passphrase' };
      const signedUp = await post('/signup', credentials);
      assert.equal(signedUp.statusCode, 200, signedUp.body);
      const signedIn = await post('/token?grant_type=password', credentials);
      assert.equal(signedIn.statusCode, 200, signedIn.body);
      const { refresh_token: refreshToken } = signedIn.json<{ refresh_token: string }>();
      const refreshed = await post('/token?grant_type=refresh_token', { refresh_token: refreshToken });
      assert.equal(refreshed.statusCode, 200, refreshed.body);
    } finally {
      await t.close();
    }
  });
});
