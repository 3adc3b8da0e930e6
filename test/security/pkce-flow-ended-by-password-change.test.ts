import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { FAST_HASHING } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { challengeOf, exchangePkceCode, newVerifier, type Inject } from '../support/pkce.js';

/**
 * A PKCE flow (a magic link, a recovery, an OAuth sign-in asked with a code_challenge) is a way into
 * its account: its code, issued when the link is followed, exchanges for a session. A password
 * change ends the account's sessions, so that whoever held one (a thief) is out; a flow the thief
 * started before it lived on, and its code (issued already, or issued by a link followed after)
 * exchanged for a session after the change: the thief was back in. Every replacement of the password
 * (the owner's, signed in or with the current password; a reset; an administrator's) now ends the
 * account's flows with its sessions, and so does a ban (refused while it lasted, a code issued before
 * it exchanged for a session the moment it was lifted).
 */
const PASSWORD = 'an old passphrase 1';
const NEW_PASSWORD = 'a new passphrase 22';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a PKCE flow started before a password change (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = mailingAppOnStore(storeKind, {
      passwords: FAST_HASHING,
      dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
    });
    let serial = 0;

    const inject: Inject = (options) => app.t.app.inject(options);
    const post = (url: string, payload: Record<string, unknown>, token?: string) =>
      app.t.app.inject({
        method: 'POST',
        url,
        payload,
        ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      });

    /** A confirmed account with a user name and PASSWORD. */
    const account = async () => {
      const n = ++serial;
      const user = await app.t.services.auth.register(LOCAL_CALL, {
        username: `holder${n}`,
        email: `holder${n}@corp.test`,
        password: PASSWORD,
        emailConfirmed: true,
      });
      return { id: user.id, username: `holder${n}`, email: `holder${n}@corp.test` };
    };

    /** A magic-link flow of the user, started with a fresh verifier (as a thief's browser would). */
    const startFlow = async (userId: string) => {
      const verifier = newVerifier();
      const challenge = { challenge: challengeOf(verifier).code_challenge, method: 's256' } as const;
      return { verifier, flowId: await app.t.services.pkce.start(userId, 'magiclink', challenge) };
    };
    const issueCode = async (userId: string, flowId: string) =>
      app.t.services.pkce.issueCode((await app.t.services.store.findUserById(userId))!, flowId);

    /** The password replacements, each as its route (or the administrator's service) makes it. */
    const replacements: [string, (user: Awaited<ReturnType<typeof account>>) => Promise<void>][] = [
      [
        "the owner's, with the current password (postgrest-auth change_password)",
        async (user) => {
          const res = await post('/pg/change_password', {
            username: user.username,
            current_password: PASSWORD,
            new_password: NEW_PASSWORD,
            new_password_confirm: NEW_PASSWORD,
          });
          assert.equal(res.statusCode, 200, res.body);
        },
      ],
      [
        "the owner's, signed in (PUT /user)",
        async (user) => {
          const signedIn = await post('/auth/v1/token?grant_type=password', {
            email: user.email,
            password: PASSWORD,
          });
          assert.equal(signedIn.statusCode, 200, signedIn.body);
          const res = await app.t.app.inject({
            method: 'PUT',
            url: '/auth/v1/user',
            headers: { authorization: `Bearer ${signedIn.json().access_token}` },
            payload: { password: NEW_PASSWORD },
          });
          assert.equal(res.statusCode, 200, res.body);
        },
      ],
      [
        'a reset by a mailed token (postgrest-auth change_password)',
        async (user) => {
          const link = await app.t.services.admin.generateLink(LOCAL_CALL, {
            type: 'recovery',
            email: user.email,
            redirectTo: null,
          });
          const res = await post('/pg/change_password', {
            username: user.username,
            reset_token: link.token,
            new_password: NEW_PASSWORD,
            new_password_confirm: NEW_PASSWORD,
          });
          assert.equal(res.statusCode, 200, res.body);
        },
      ],
      [
        "an administrator's",
        async (user) => {
          await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { password: NEW_PASSWORD });
        },
      ],
    ];

    for (const [kind, replace] of replacements) {
      it(`${kind}: a code issued before exchanges for nothing, a link followed after issues none`, async () => {
        const user = await account();
        const issued = await startFlow(user.id);
        const code = await issueCode(user.id, issued.flowId);
        const waiting = await startFlow(user.id);

        await replace(user);

        const exchanged = await exchangePkceCode(inject, code, issued.verifier);
        assert.equal(exchanged.statusCode, 404, exchanged.body);
        assert.equal(exchanged.json().error_code, 'flow_state_not_found');
        await assert.rejects(issueCode(user.id, waiting.flowId), { code: 'flow_state_not_found' });
        // Only the owner's own session (PUT /user keeps it) outlives the change.
        assert.ok((await app.t.services.store.listSessions(user.id)).length <= 1);
      });
    }

    it('a ban ends the flows with the sessions: once lifted, a code issued before exchanges for nothing', async () => {
      const user = await account();
      const flow = await startFlow(user.id);
      const code = await issueCode(user.id, flow.flowId);
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: '24h' });
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { banDuration: 'none' });
      const exchanged = await exchangePkceCode(inject, code, flow.verifier);
      assert.equal(exchanged.statusCode, 404, exchanged.body);
      assert.equal(exchanged.json().error_code, 'flow_state_not_found');
    });

    it('a change of something else leaves the flow: its code exchanges for a session', async () => {
      const user = await account();
      const flow = await startFlow(user.id);
      const code = await issueCode(user.id, flow.flowId);
      await app.t.services.admin.updateUser(LOCAL_CALL, user.id, { profile: { name: 'Steady' } });
      const exchanged = await exchangePkceCode(inject, code, flow.verifier);
      assert.equal(exchanged.statusCode, 200, exchanged.body);
      assert.equal(exchanged.json().user.id, user.id);
    });

    it('PUT /user changing the address (with a challenge) and the password keeps that change’s own flow', async () => {
      const user = await account();
      const signedIn = await post('/auth/v1/token?grant_type=password', {
        email: user.email,
        password: PASSWORD,
      });
      assert.equal(signedIn.statusCode, 200, signedIn.body);
      const res = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${signedIn.json().access_token}` },
        payload: { email: `moved${serial}@corp.test`, password: NEW_PASSWORD, ...challengeOf(newVerifier()) },
      });
      assert.equal(res.statusCode, 200, res.body);
      const pending = await app.t.services.store.findOneTimeToken(user.id, 'email_change_new', new Date());
      const flowId = pending?.data['pkceFlowId'];
      assert.equal(typeof flowId, 'string', 'the change was asked with a challenge');
      assert.equal(typeof (await issueCode(user.id, flowId as string)), 'string');
    });
  });
}
