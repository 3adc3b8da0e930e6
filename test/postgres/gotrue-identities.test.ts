import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type pg from 'pg';
import { createTestApp, type TestApp } from '../support/app.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

interface IdentityRow {
  provider_id: string;
  user_id: string;
  provider: string;
  identity_data: Record<string, unknown>;
  email: string | null;
}

/**
 * GoTrue's auth.identities (migration 15): every user with an address has
 * the `email` identity GoTrue keeps for it (provider_id its id, identity_data
 * its sub, email and whether they are verified, email a generated column),
 * which follows an address change and goes with the user; an upgraded
 * database's users get one each.
 */
describe("GoTrue's email identities on PostgreSQL", () => {
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

  const identities = async (userId: string) =>
    (
      await sql.query<IdentityRow>(
        `SELECT provider_id, user_id::text AS user_id, provider, identity_data, email
         FROM auth.identities WHERE user_id = $1`,
        [userId],
      )
    ).rows;

  it('a sign-up writes the email identity, an address change moves it, deleting the user removes it', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/auth/v1/signup',
      payload: { email: 'Ada@Example.com', password: 'a long passphrase' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const id = (res.json() as { user: { id: string } }).user.id;
    assert.deepEqual(await identities(id), [
      {
        provider_id: id,
        user_id: id,
        provider: 'email',
        identity_data: { sub: id, email: 'ada@example.com', email_verified: true, phone_verified: false },
        email: 'ada@example.com',
      },
    ]);

    await t.services.store.updateUser(id, { email: 'lovelace@example.com', emailConfirmedAt: null });
    const [moved] = await identities(id);
    assert.equal(moved!.email, 'lovelace@example.com');
    assert.deepEqual(moved!.identity_data, {
      sub: id,
      email: 'lovelace@example.com',
      email_verified: false,
      phone_verified: false,
    });

    // A user without an address has no email identity; one given later gets it.
    const named = await t.services.store.createUser(
      {
        username: 'noaddress',
        email: null,
        emailConfirmedAt: null,
        role: null,
        profile: {},
        appMetadata: {},
      },
      null,
    );
    assert.deepEqual(await identities(named.id), []);
    await t.services.store.updateUser(named.id, { email: 'later@example.com' });
    assert.equal((await identities(named.id))[0]?.email, 'later@example.com');
    await t.services.store.updateUser(named.id, { email: null });
    assert.deepEqual(await identities(named.id), []);

    assert.equal(await t.services.store.deleteUser(id), true);
    assert.deepEqual(await identities(id), []);
  });
});
