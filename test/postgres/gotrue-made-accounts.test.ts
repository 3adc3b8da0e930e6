import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import type pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * Every user has an account (restauth.accounts: the user name, login key,
 * token count, integer id restauth keeps beside GoTrue's row), whoever wrote
 * the user: restauth in the same statement, anything else (GoTrue serving the
 * same database, SQL) through the trigger of migration 19.
 */
describe('an account for every user of auth.users', () => {
  let url: string;
  let t: TestApp;
  let sql: pg.Pool;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => t?.close() });

  before(async () => {
    ({ url, pool: sql } = db);
    t = await createTestApp({
      format: 'restauth',
      config: { store: testStoreConfig(url), passwords: { algorithm: 'bcrypt', bcryptRounds: 4 } },
    });
  });

  const accounts = async (uid: string) =>
    (
      await sql.query<{ username: string | null; token_count: number }>(
        'SELECT username, token_count FROM restauth.accounts WHERE uid = $1',
        [uid],
      )
    ).rows;

  it("restauth's own sign-up writes one account with its user (the trigger finds it there)", async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'ada@example.com', password: 'a long passphrase' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const id = (res.json() as { user: { id: string } }).user.id;
    assert.deepEqual(await accounts(id), [{ username: null, token_count: 0 }]);
  });

  it('a user GoTrue (or SQL) inserts gets an account at once, and signs in with its bcrypt hash', async () => {
    const id = randomUUID();
    const hash = '$2a$' + (await bcrypt.hash('inserted elsewhere', 10)).slice(4);
    // As GoTrue's sign-up writes it: the user row and its email identity.
    await sql.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
         raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
         email_change_token_new, email_change)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', 'gus@example.com',
         $2, now(), '{"provider": "email", "providers": ["email"]}', '{"full_name": "Gus"}', now(), now(),
         '', '', '', '')`,
      [id, hash],
    );
    await sql.query(
      `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
       VALUES ($1::text, $1::uuid, jsonb_build_object('sub', $1::text, 'email', 'gus@example.com',
         'email_verified', true, 'phone_verified', false), 'email', now(), now())`,
      [id],
    );
    assert.deepEqual(await accounts(id), [{ username: null, token_count: 0 }]);

    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/token?grant_type=password',
      payload: { email: 'gus@example.com', password: 'inserted elsewhere' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { user: { id: string; user_metadata: Record<string, unknown> } };
    assert.equal(body.user.id, id);
    assert.equal(body.user.user_metadata['full_name'], 'Gus');
  });
});
