import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestApp, type TestApp } from '../support/app.js';
import { registeredSession } from '../support/json-data-server.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { suiteStore } from '../support/postgres.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * An access token stops working on the very next request once its session is signed out, its user
 * banned or deleted, or its user's password changed: what each check reads (AuthService.check, and
 * authorize with the store's findTokenStanding) is the store's state at that request, never a copy
 * kept from an earlier one. Tried through /auth/check on both stores and, on the file store, the
 * data API (a logged-in-only collection), each time after the same token was accepted just before.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`access tokens are refused at once after revocation (${storeKind} store)`, () => {
    let t: TestApp;
    let store: Awaited<ReturnType<typeof suiteStore>>;
    let users = 0;

    before(async () => {
      store = await suiteStore(storeKind);
      t = await createTestApp({
        format: 'restauth',
        config: { ...store.config, passwords: FAST_HASHING, data: { rules: { posts: 660 } } },
        files: { 'db.json': JSON.stringify({ users: [], posts: [{ id: 1, title: 'members only' }] }) },
      });
    });
    after(async () => {
      await t.close();
      await store.drop();
    });

    const post = (url: string, body: unknown) =>
      t.app.inject({ method: 'POST', url, payload: body as Record<string, unknown> });

    /** A new user signed in twice: two sessions, two access tokens. */
    async function signedInTwice(): Promise<{ id: string; tokens: string[]; sessions: string[] }> {
      const username = `user${++users}`;
      const registered = await registeredSession(t, username, 'a long passphrase');
      const login = await post('/auth/login', { username, password: 'a long passphrase' });
      assert.equal(login.statusCode, 200, login.body);
      const tokens = [registered.access_token, login.json().access_token as string];
      const claims = await Promise.all(tokens.map((token) => t.services.tokens.verify(token, new Date())));
      return { id: claims[0]!.sub, tokens, sessions: claims.map((claim) => claim.session_id) };
    }

    /** Whether `token` is honoured now, by /auth/check and (file store) by a data-API read. */
    async function honoured(token: string): Promise<boolean> {
      const check = await post('/auth/check', { access_token: token });
      assert.equal(check.statusCode, 200, check.body);
      const valid = check.json().valid as boolean;
      if (storeKind === 'file') {
        const read = await t.app.inject({ url: '/posts/1', headers: { authorization: `Bearer ${token}` } });
        // A banned user's token is the data API's 403 user_banned, any other refusal its 401.
        const refusals = [401, 403];
        assert.ok(valid ? read.statusCode === 200 : refusals.includes(read.statusCode), read.body);
      }
      return valid;
    }

    it('a signed-out session: its token is refused, the other session’s is not', async () => {
      const { id, tokens, sessions } = await signedInTwice();
      assert.equal(await honoured(tokens[0]!), true);
      await t.services.auth.signOut(LOCAL_CALL, sessions[0]!, id, 'local');
      assert.equal(await honoured(tokens[0]!), false);
      assert.equal(await honoured(tokens[1]!), true);
    });

    it('a banned user: every token is refused, and accepted again once the ban is lifted', async () => {
      const { id, tokens } = await signedInTwice();
      assert.equal(await honoured(tokens[0]!), true);
      // Straight in the store: a ban made without ending the sessions is still refused by the check.
      await t.services.store.updateUser(id, { bannedUntil: new Date(Date.now() + 3600_000) });
      assert.equal(await honoured(tokens[0]!), false);
      assert.equal(await honoured(tokens[1]!), false);
      await t.services.store.updateUser(id, { bannedUntil: null });
      assert.equal(await honoured(tokens[0]!), true);
    });

    it('a password change: the other sessions’ tokens are refused; a reset (no session kept) refuses all', async () => {
      const { id, tokens, sessions } = await signedInTwice();
      assert.equal(await honoured(tokens[0]!), true);
      // PUT /user's change: the caller's session and token go on.
      await t.services.auth.changePassword(LOCAL_CALL, {
        userId: id,
        newPassword: 'another long passphrase',
        keepSessionId: sessions[1]!,
      });
      assert.equal(await honoured(tokens[0]!), false);
      assert.equal(await honoured(tokens[1]!), true);
      // A reset keeps no session: the token version moves on, so even a live session's token is old.
      const hash = await t.services.hasher.hash('a third long passphrase');
      await t.services.store.changePassword(id, hash, null, new Date());
      assert.equal(await honoured(tokens[1]!), false);
    });

    it('a deleted user: every token is refused', async () => {
      const { id, tokens } = await signedInTwice();
      assert.equal(await honoured(tokens[1]!), true);
      assert.equal(await t.services.store.deleteUser(id), true);
      assert.equal(await honoured(tokens[0]!), false);
      assert.equal(await honoured(tokens[1]!), false);
    });

    it('a token naming another user’s session is refused', async () => {
      const alice = await signedInTwice();
      const bob = await signedInTwice();
      // Signed with the server's own key: only the session/user pairing can refuse it.
      const claims = await t.services.tokens.verify(alice.tokens[0]!, new Date());
      const { token } = await t.services.tokens.sign({ ...claims, session_id: bob.sessions[0]! }, new Date());
      assert.equal(await honoured(alice.tokens[0]!), true);
      assert.equal(await honoured(token), false);
    });
  });
}
