import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createTestApp, type TestApp } from '../support/app.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * postgrest-auth's bearer refresh (an access token renews itself): it never
 * outlives the session's absolute lifetime, and an ended session gets none.
 */
const HOUR = 3600;

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`postgrest-auth bearer refresh (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: {
          ...store.config,
          passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
          dialects: { postgrestAuth: {} },
          signup: { confirmEmail: false },
          jwt: { accessTokenTtl: HOUR },
          sessions: { absoluteLifetime: 2 * HOUR, inactivityTimeout: 4 * HOUR },
        },
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    const renew = (token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/auth/refresh_token',
        headers: { authorization: `Bearer ${token}` },
      });

    async function signIn(username: string): Promise<string> {
      await t.app.inject({
        method: 'POST',
        url: '/auth/users',
        payload: { username, password: 'a real passphrase' },
      });
      const signedIn = await t.app.inject({
        method: 'POST',
        url: '/auth/refresh_token',
        payload: { username, password: 'a real passphrase' },
      });
      assert.equal(signedIn.statusCode, 200, signedIn.body);
      return signedIn.json().access_token as string;
    }

    it('renews up to the session’s absolute end, never past it, then refuses', async () => {
      const first = await signIn('renewer');
      const session = await t.services.store.findSession(decodeJwt(first)['session_id'] as string);
      const notAfter = Math.floor(session!.notAfter.getTime() / 1000);
      t.advance(50 * 60 * 1000);
      const early = await renew(first);
      assert.equal(early.statusCode, 200, early.body);
      const second = early.json().access_token as string;
      assert.equal(decodeJwt(second).exp! - decodeJwt(second).iat!, HOUR, 'a full hour fits');
      t.advance(50 * 60 * 1000);
      const late = await renew(second);
      assert.equal(late.statusCode, 200, late.body);
      const third = late.json().access_token as string;
      assert.equal(decodeJwt(third).exp, notAfter, 'cut at the session’s end');
      t.advance(21 * 60 * 1000);
      assert.equal((await renew(third)).statusCode, 400, 'the session is over');
    });

    it('refuses a signed-out session, and one an admin revoked', async () => {
      const signedOut = await signIn('leaver');
      const claims = decodeJwt(signedOut);
      await t.services.auth.signOut(LOCAL_CALL, claims['session_id'] as string, claims.sub!);
      const afterLogout = await renew(signedOut);
      assert.equal(afterLogout.statusCode, 400);
      assert.equal(afterLogout.json().error, 'session_not_found');

      const revoked = await signIn('revokee');
      const user = await t.services.store.findUserByUsername('revokee');
      await t.services.store.revokeUserSessions(user!.id, null, 'admin', new Date());
      assert.equal((await renew(revoked)).statusCode, 400);
    });
  });
}
