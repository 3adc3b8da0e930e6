import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { signInWithKeycloak, startKeycloakApp, type OAuthApp } from '../support/oauth-app.js';
import type { TestIdp } from '../support/oidc-provider.js';
import { testStoreConfig } from '../support/postgres.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * A provider's identity names its user by id (auth.identities.user_id), and GoTrue's FindUserByID finds
 * only users of its own instance (`instance_id = uuid.Nil`): once the user who holds the identity is
 * another instance's, a sign-in through that provider signs nobody in, neither that user nor a second
 * account at its address.
 */
describe("a provider's sign-in does not reach a user of another GoTrue instance (PostgreSQL)", () => {
  let app: OAuthApp<TestIdp>;
  const db = useTestDatabase({ max: 2, migrateThrough: 0, beforeDrop: () => app?.close() });

  before(async () => {
    app = await startKeycloakApp({ store: testStoreConfig(db.url), siteUrl: 'https://app.test' });
  });

  it('the identity of a user moved to another instance signs nobody in', async () => {
    app.provider.accounts.set('kc-moved', { email: 'moved@acme.test', email_verified: true });
    const first = await signInWithKeycloak(app, 'kc-moved');
    assert.ok(first.accessToken, first.landed);
    const userId = decodeJwt(first.accessToken).sub!;
    await db.pool.query('UPDATE auth.users SET instance_id = gen_random_uuid() WHERE id = $1', [userId]);

    const again = await signInWithKeycloak(app, 'kc-moved');
    assert.equal(again.accessToken, null, again.landed);
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM auth.users WHERE email = 'moved@acme.test'`,
    );
    assert.deepEqual(rows, [{ n: 1 }]);
  });
});
