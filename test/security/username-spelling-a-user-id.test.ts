import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';

/**
 * json-data-server's /auth/check {username, access_token} answers whether the token is that user's,
 * naming the user by id or by name (namesUser). A GoTrue user's id is a lower-case uuid; anyone could
 * register the json-data-server user name that is the same uuid in upper case: another id, but a
 * login key equal to the victim's id, so the attacker's token passed for the victim's id. A user name
 * shaped as a uuid, in any case, is refused now.
 */
for (const kind of ['file', 'postgres'] as const) {
  describe(`a user name spelling another user's id (${kind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    before(async () => {
      store = await suiteStore(kind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING, dialects: { gotrue: {}, jsonDataServer: {} } },
      });
    });
    after(async () => {
      await t?.close();
      await store?.drop();
    });

    it("is refused, and an attacker's token never passes for the victim's id", async () => {
      const signup = await t.app.inject({
        method: 'POST',
        url: '/auth/v1/signup',
        payload: { email: `victim-${kind}@example.com`, password: 'victim long passphrase' },
      });
      assert.equal(signup.statusCode, 200, signup.body);
      const victimId = signup.json<{ user: { id: string } }>().user.id;

      for (const spelling of [victimId.toUpperCase(), victimId, ` ${victimId.toUpperCase()} `]) {
        const registered = await t.app.inject({
          method: 'POST',
          url: '/auth/register',
          payload: { username: spelling, password: 'attacker long passphrase' },
        });
        assert.equal(registered.statusCode, 400, `${spelling}: ${registered.body}`);
        assert.match(registered.body, /must not be a user id/u);
      }

      const attacker = await t.app.inject({
        method: 'POST',
        url: '/auth/register',
        payload: { username: 'attacker', password: 'attacker long passphrase' },
      });
      assert.equal(attacker.statusCode, 200, attacker.body);
      const check = await t.app.inject({
        method: 'POST',
        url: '/auth/check',
        payload: { username: victimId, access_token: attacker.json<{ access_token: string }>().access_token },
      });
      assert.equal(check.json<{ valid: boolean }>().valid, false, check.body);
    });
  });
}
