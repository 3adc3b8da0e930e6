import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { appOnStore, type AppOnStore } from '../support/mailing-app-on-store.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * postgrest-auth's bearer refresh (an access token renews itself): it never
 * outlives the session's absolute lifetime, and an ended session gets none.
 * It follows a rotating refresh's inactivity rule: an idle session ends, and a
 * re-issue counts as activity.
 */
const HOUR = 3600;

/** A bearer refresh of `token` on the suite's app. */
const renewer = (app: AppOnStore) => (token: string) =>
  app.t.app.inject({
    method: 'POST',
    url: '/auth/refresh_token',
    headers: { authorization: `Bearer ${token}` },
  });

/** Registers `username` and signs in: its first access token. */
async function signUpAndIn(app: AppOnStore, username: string): Promise<string> {
  await app.t.app.inject({
    method: 'POST',
    url: '/auth/users',
    payload: { username, password: 'a real passphrase' },
  });
  const signedIn = await app.t.app.inject({
    method: 'POST',
    url: '/auth/refresh_token',
    payload: { username, password: 'a real passphrase' },
  });
  assert.equal(signedIn.statusCode, 200, signedIn.body);
  return signedIn.json().access_token as string;
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`postgrest-auth bearer refresh (${storeKind} store)`, () => {
    const app = appOnStore(storeKind, {
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      dialects: { postgrestAuth: {} },
      signup: { confirmEmail: false },
      jwt: { accessTokenTtl: HOUR },
      sessions: { absoluteLifetime: 2 * HOUR, inactivityTimeout: 4 * HOUR },
    });

    const renew = renewer(app);
    const signIn = (username: string) => signUpAndIn(app, username);

    it('renews up to the session’s absolute end, never past it, then refuses', async () => {
      const first = await signIn('renewer');
      const session = await app.t.services.store.findSession(decodeJwt(first)['session_id'] as string);
      const notAfter = Math.floor(session!.notAfter.getTime() / 1000);
      app.t.advance(50 * 60 * 1000);
      const early = await renew(first);
      assert.equal(early.statusCode, 200, early.body);
      const second = early.json().access_token as string;
      assert.equal(decodeJwt(second).exp! - decodeJwt(second).iat!, HOUR, 'a full hour fits');
      app.t.advance(50 * 60 * 1000);
      const late = await renew(second);
      assert.equal(late.statusCode, 200, late.body);
      const third = late.json().access_token as string;
      assert.equal(decodeJwt(third).exp, notAfter, 'cut at the session’s end');
      app.t.advance(21 * 60 * 1000);
      assert.equal((await renew(third)).statusCode, 400, 'the session is over');
    });

    it('refuses a signed-out session, and one an admin revoked', async () => {
      const signedOut = await signIn('leaver');
      const claims = decodeJwt(signedOut);
      await app.t.services.auth.signOut(LOCAL_CALL, claims['session_id'] as string, claims.sub!);
      const afterLogout = await renew(signedOut);
      assert.equal(afterLogout.statusCode, 400);
      assert.equal(afterLogout.json().error, 'session_not_found');

      const revoked = await signIn('revokee');
      const user = await app.t.services.store.findUserByUsername('revokee');
      await app.t.services.store.revokeUserSessions(user!.id, null, 'admin', new Date());
      assert.equal((await renew(revoked)).statusCode, 400);
    });
  });

  describe(`postgrest-auth bearer refresh, inactivity (${storeKind} store)`, () => {
    // The access token outlives the inactivity timeout: only the session's rule can refuse it.
    const app = appOnStore(storeKind, {
      passwords: { algorithm: 'bcrypt', bcryptRounds: 4 },
      dialects: { postgrestAuth: {} },
      signup: { confirmEmail: false },
      jwt: { accessTokenTtl: 3 * HOUR },
      sessions: { absoluteLifetime: 24 * HOUR, inactivityTimeout: HOUR },
    });
    const renew = renewer(app);

    it('ends a session idle past the inactivity timeout instead of re-issuing', async () => {
      const token = await signUpAndIn(app, 'idler');
      app.t.advance(61 * 60 * 1000);
      const idle = await renew(token);
      assert.equal(idle.statusCode, 400, idle.body);
      assert.equal(idle.json().error, 'session_expired');
      const session = await app.t.services.store.findSession(decodeJwt(token)['session_id'] as string);
      assert.notEqual(session?.revokedAt ?? null, null, 'the idle session is ended');
    });

    it('counts a re-issue as activity: a session in use lives on', async () => {
      let token = await signUpAndIn(app, 'worker');
      const sessionId = decodeJwt(token)['session_id'] as string;
      let active = (await app.t.services.store.findSession(sessionId))!.refreshedAt.getTime();
      for (let step = 0; step < 3; step++) {
        app.t.advance(50 * 60 * 1000);
        const renewed = await renew(token);
        assert.equal(renewed.statusCode, 200, renewed.body);
        token = renewed.json().access_token as string;
        const session = await app.t.services.store.findSession(sessionId);
        // The auth clock is the real one moved by advance: at least the 50 minutes have passed.
        assert.ok(session!.refreshedAt.getTime() >= active + 50 * 60 * 1000, 'the re-issue is recorded');
        active = session!.refreshedAt.getTime();
      }
    });
  });
}
