import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { useAdoptedRowsApp } from '../support/adopted-rows-app.js';

/**
 * Every user has an account (restauth.accounts: the user name, login key,
 * token count, integer id restauth keeps beside GoTrue's row), whoever wrote
 * the user: restauth in the same statement, anything else (GoTrue serving the
 * same database, SQL) through the trigger of migration 19.
 */
describe('an account for every user of auth.users', () => {
  const app = useAdoptedRowsApp();
  const { db, signUp } = app;

  const accounts = async (uid: string) =>
    (
      await db.pool.query<{ username: string | null; token_count: number }>(
        'SELECT username, token_count FROM restauth.accounts WHERE uid = $1',
        [uid],
      )
    ).rows;

  it("restauth's own sign-up writes one account with its user (the trigger finds it there)", async () => {
    const { id } = (await signUp('ada@example.com', 'a long passphrase')).user;
    assert.deepEqual(await accounts(id), [{ username: null, token_count: 0 }]);
  });

  it('a user GoTrue (or SQL) inserts gets an account at once, and signs in with its bcrypt hash', async () => {
    const id = randomUUID();
    const hash = '$2a$' + (await bcrypt.hash('inserted elsewhere', 10)).slice(4);
    // As GoTrue's sign-up writes it: the user row and its email identity.
    await db.pool.query(
      `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
         raw_app_meta_data, raw_user_meta_data, created_at, updated_at, confirmation_token, recovery_token,
         email_change_token_new, email_change)
       VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', 'gus@example.com',
         $2, now(), '{"provider": "email", "providers": ["email"]}', '{"full_name": "Gus"}', now(), now(),
         '', '', '', '')`,
      [id, hash],
    );
    await db.pool.query(
      `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
       VALUES ($1::text, $1::uuid, jsonb_build_object('sub', $1::text, 'email', 'gus@example.com',
         'email_verified', true, 'phone_verified', false), 'email', now(), now())`,
      [id],
    );
    assert.deepEqual(await accounts(id), [{ username: null, token_count: 0 }]);

    const res = await app.t.app.inject({
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
