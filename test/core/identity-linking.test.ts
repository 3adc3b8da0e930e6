import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProviderClaims } from '../../src/core/oauth/provider.js';
import { gotrueClient, nextMail, secretsOf } from '../support/gotrue.js';
import { listeningMailingApp } from '../support/mailing-app-on-store.js';
import { LOCAL_CALL } from '../../src/core/audit.js';

/**
 * IdentityLinking, the callback half of linkIdentity (GoTrue's
 * linkIdentityToUser), on both real stores with mail over SMTP: which links
 * are refused, and how an anonymous user takes the provider's address.
 */

function githubClaims(subject: string, email: string | null, emailVerified = true): ProviderClaims {
  return { subject, email, emailVerified, name: null, avatarUrl: null, extra: { user_name: `gh${subject}` } };
}

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`identity linking (${storeKind} store)`, () => {
    const app = listeningMailingApp(storeKind, {
      signup: { confirmEmail: false, anonymousUsers: true },
      oneTimeTokens: { resendInterval: 0 },
    });

    /** A signed-in user: the flow's target and the session that started it. */
    interface Starter {
      userId: string;
      sessionId: string | null;
    }

    function link({ userId, sessionId }: Starter, claims: ProviderClaims) {
      return app.t.services.identityLinking.link(LOCAL_CALL, {
        targetUserId: userId,
        sessionId,
        provider: 'github',
        claims,
        identityData: { sub: claims.subject, email: claims.email, email_verified: claims.emailVerified },
        redirectTo: null,
      });
    }

    function starter(accessToken: string): Starter {
      const claims = JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString());
      return { userId: claims.sub, sessionId: claims.session_id };
    }

    async function emailUser(email: string): Promise<Starter> {
      const signUp = await gotrueClient(app.url).client.signUp({ email, password: 'correct horse battery' });
      assert.equal(signUp.error, null);
      return starter(signUp.data.session!.access_token);
    }

    async function anonymousUser(): Promise<Starter> {
      const signIn = await gotrueClient(app.url).client.signInAnonymously();
      assert.equal(signIn.error, null);
      return starter(signIn.data.session!.access_token);
    }

    it('links to the user; its address stays its own; recorded as identity_linked', async () => {
      const ida = await emailUser('ida@acme.test');
      const userId = ida.userId;
      const user = await link(ida, githubClaims('101', 'ida.elsewhere@github.test'));
      assert.equal(user.email, 'ida@acme.test');
      assert.equal((await app.t.services.store.findIdentity('github', '101'))?.userId, userId);
      const audit = await app.t.services.audit.list({ page: 1, perPage: 5, userId });
      assert.ok(audit.events.some((event) => event.action === 'identity_linked'));
    });

    it('refused once the session that started the flow has ended, or for a flow kept without one', async () => {
      const ida = await emailUser('ended@acme.test');
      await app.t.services.store.revokeSession(ida.sessionId!, 'logout', new Date());
      await assert.rejects(link(ida, githubClaims('111', null)), { code: 'session_not_found' });
      const other = await emailUser('nosession@acme.test');
      // A link flow stored before flows kept their session (file entry or row from before migration 44).
      await assert.rejects(link({ userId: other.userId, sessionId: null }, githubClaims('112', null)), {
        code: 'session_not_found',
      });
      // Another user's live session does not start a link for this one.
      await assert.rejects(
        link({ userId: other.userId, sessionId: ida.sessionId }, githubClaims('113', null)),
        {
          code: 'session_not_found',
        },
      );
      assert.equal(await app.t.services.store.findIdentity('github', '111'), null);
      assert.equal(await app.t.services.store.findIdentity('github', '112'), null);
    });

    it("an identity another user has: 'Identity is already linked to another user'; the user's own: 'Identity is already linked'", async () => {
      const owner = await emailUser('own@acme.test');
      const other = await emailUser('oth@acme.test');
      await link(owner, githubClaims('202', null));
      await assert.rejects(link(other, githubClaims('202', null)), {
        code: 'identity_already_exists',
        status: 422,
        message: 'Identity is already linked to another user',
      });
      await assert.rejects(link(owner, githubClaims('202', null)), {
        code: 'identity_already_exists',
        message: 'Identity is already linked',
      });
      assert.equal((await app.t.services.store.findIdentity('github', '202'))?.userId, owner.userId);
    });

    it('two users linking one identity at once: one gets it', async () => {
      const users = await Promise.all([emailUser('r1@acme.test'), emailUser('r2@acme.test')]);
      const results = await Promise.allSettled(users.map((user) => link(user, githubClaims('303', null))));
      assert.deepEqual(results.map((result) => result.status).sort(), ['fulfilled', 'rejected']);
      const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
      assert.equal(refused.reason.code, 'identity_already_exists');
    });

    it('an anonymous user takes a verified address and becomes permanent', async () => {
      const anon = await anonymousUser();
      const userId = anon.userId;
      const user = await link(anon, githubClaims('404', 'Anon@GitHub.test'));
      assert.equal(user.isAnonymous, false);
      assert.equal(user.email, 'anon@github.test');
      assert.ok(user.emailConfirmedAt);
      assert.equal((await app.t.services.store.findUserById(userId))?.isAnonymous, false);
    });

    it("an anonymous user is refused another user's address (email_exists) and nothing is linked", async () => {
      await emailUser('taken@acme.test');
      const anon = await anonymousUser();
      const userId = anon.userId;
      await assert.rejects(link(anon, githubClaims('505', 'taken@acme.test')), { code: 'email_exists' });
      assert.equal(await app.t.services.store.findIdentity('github', '505'), null);
      assert.equal((await app.t.services.store.findUserById(userId))?.isAnonymous, true);
    });

    it('an unverified address is mailed a confirmation; the user stays anonymous until it confirms', async () => {
      const anon = await anonymousUser();
      const userId = anon.userId;
      const since = app.sink.mails.length;
      await assert.rejects(link(anon, githubClaims('606', 'unv@github.test', false)), {
        code: 'email_not_confirmed',
        status: 422,
        message: 'Unverified email with github. A confirmation email has been sent to your github email',
      });
      assert.equal((await app.t.services.store.findIdentity('github', '606'))?.userId, userId, 'linked');
      assert.equal((await app.t.services.store.findUserById(userId))?.isAnonymous, true);
      const { code } = secretsOf(await nextMail(app.sink, 'unv@github.test', since));
      const verified = await gotrueClient(app.url).client.verifyOtp({
        email: 'unv@github.test',
        token: code,
        type: 'email_change',
      });
      assert.equal(verified.error, null);
      const user = await app.t.services.store.findUserById(userId);
      assert.equal(user?.email, 'unv@github.test');
      assert.equal(user?.isAnonymous, false);
    });

    it("an unverified address that is another user's is refused before the identity is linked", async () => {
      await emailUser('held@acme.test');
      const anon = await anonymousUser();
      await assert.rejects(link(anon, githubClaims('636', 'held@acme.test', false)), {
        code: 'email_exists',
      });
      assert.equal(await app.t.services.store.findIdentity('github', '636'), null, 'nothing linked');
    });

    it('the confirmation of an unverified address ends with the session that started the link', async () => {
      const anon = await anonymousUser();
      const since = app.sink.mails.length;
      await assert.rejects(link(anon, githubClaims('616', 'gone@github.test', false)), {
        code: 'email_not_confirmed',
      });
      const { code } = secretsOf(await nextMail(app.sink, 'gone@github.test', since));
      // The owner signs out the session a thief started the link with: the mailed change goes with it.
      await app.t.services.store.revokeSession(anon.sessionId!, 'logout', new Date());
      const verified = await gotrueClient(app.url).client.verifyOtp({
        email: 'gone@github.test',
        token: code,
        type: 'email_change',
      });
      assert.equal(verified.error?.code, 'otp_expired');
      const user = await app.t.services.store.findUserById(anon.userId);
      assert.equal(user?.email, null);
      assert.equal(user?.isAnonymous, true);
    });

    it('a ban committed while the link is written leaves the anonymous user without the address', async () => {
      const anon = await anonymousUser();
      // The interleaving is made: the identity's write (the last answer before the address is set)
      // returns only once the ban has committed.
      const store = app.t.services.store as unknown as Record<
        string,
        (...args: unknown[]) => Promise<unknown>
      >;
      const linkIdentity = store['linkIdentity']!;
      store['linkIdentity'] = async (...args) => {
        const linked = await linkIdentity.apply(app.t.services.store, args);
        await app.t.services.store.updateUser(anon.userId, {
          bannedUntil: new Date(Date.now() + 86_400_000),
        });
        return linked;
      };
      try {
        await assert.rejects(link(anon, githubClaims('626', 'raced@github.test')), { code: 'user_banned' });
      } finally {
        store['linkIdentity'] = linkIdentity;
      }
      const user = await app.t.services.store.findUserById(anon.userId);
      assert.equal(user?.email, null, 'the address is not set');
      assert.equal(user?.isAnonymous, true);
    });
  });
}
