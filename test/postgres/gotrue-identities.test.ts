import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useAdoptedRowsApp } from '../support/adopted-rows-app.js';

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
  const app = useAdoptedRowsApp();
  const { db, signUp } = app;

  const identities = async (userId: string) =>
    (
      await db.pool.query<IdentityRow>(
        `SELECT provider_id, user_id::text AS user_id, provider, identity_data, email
         FROM auth.identities WHERE user_id = $1`,
        [userId],
      )
    ).rows;

  it('a sign-up writes the email identity, an address change moves it, deleting the user removes it', async () => {
    const { id } = (await signUp('Ada@Example.com', 'a long passphrase')).user;
    assert.deepEqual(await identities(id), [
      {
        provider_id: id,
        user_id: id,
        provider: 'email',
        identity_data: { sub: id, email: 'ada@example.com', email_verified: true, phone_verified: false },
        email: 'ada@example.com',
      },
    ]);

    await app.t.services.store.updateUser(id, { email: 'lovelace@example.com', emailConfirmedAt: null });
    const [moved] = await identities(id);
    assert.equal(moved!.email, 'lovelace@example.com');
    assert.deepEqual(moved!.identity_data, {
      sub: id,
      email: 'lovelace@example.com',
      email_verified: false,
      phone_verified: false,
    });

    // A user without an address has no email identity; one given later gets it.
    const named = await app.t.services.store.createUser(
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
    await app.t.services.store.updateUser(named.id, { email: 'later@example.com' });
    assert.equal((await identities(named.id))[0]?.email, 'later@example.com');
    await app.t.services.store.updateUser(named.id, { email: null });
    assert.deepEqual(await identities(named.id), []);

    assert.equal(await app.t.services.store.deleteUser(id), true);
    assert.deepEqual(await identities(id), []);
  });
});
