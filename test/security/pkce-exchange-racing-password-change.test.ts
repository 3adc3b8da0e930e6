import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { commitAfterRead } from '../support/commit-after-read.js';
import { FAST_HASHING, nextMail, secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import {
  challengeOf,
  exchangePkceCode,
  newVerifier,
  pressedLinkTarget,
  type Inject,
} from '../support/pkce.js';

/**
 * A password replaced ends the account's PKCE flows with its sessions
 * (pkce-flow-ended-by-password-change.test.ts), but the flows ended in a call after the change's
 * commit: an exchange that found its flow before that call spent it in between and opened its
 * session after the change. The flows now end in the change's own write (Store.changePassword). The
 * race is made, not hoped for: the store's change commits once the exchange has read the flow's user
 * (the read between its flow lookup and its spend), and nothing else ends the flows (commitAfterRead).
 * An exchange that spent its flow just before the change opened its session after it: the session is
 * now ended and refused when the password was replaced since the spend (PkceFlows.assertPasswordStands),
 * the change committing once the spend is done and before the session is written.
 */
const PASSWORD = 'an old passphrase 1';

for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a PKCE code exchanged as the password is replaced (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, {
      passwords: FAST_HASHING,
      dialects: { gotrue: {} },
      siteUrl: 'https://app.test',
    });
    const inject: Inject = (options) => app.t.app.inject(options);
    let serial = 0;

    /** A confirmed account and a magic-link flow of it whose code was issued (a thief's verifier). */
    const issuedFlow = async () => {
      const n = ++serial;
      const user = await app.t.services.auth.register(LOCAL_CALL, {
        email: `holder${n}@corp.test`,
        password: PASSWORD,
        emailConfirmed: true,
      });
      const verifier = newVerifier();
      const challenge = { challenge: challengeOf(verifier).code_challenge, method: 's256' } as const;
      const flowId = await app.t.services.pkce.start(user.id, 'magiclink', challenge);
      const code = await app.t.services.pkce.issueCode(user, flowId);
      return { userId: user.id, verifier, code };
    };
    const replacePassword = async (userId: string) => {
      const hash = await app.t.services.hasher.hash('a new passphrase 22');
      await app.t.services.store.changePassword(userId, hash, null, new Date());
    };

    it('the change commits between the flow found and its spend: the code exchanges for nothing', async () => {
      const { userId, verifier, code } = await issuedFlow();
      const exchanged = await commitAfterRead(
        app.t.services.store,
        () => replacePassword(userId),
        ['findUserById'],
        () => exchangePkceCode(inject, code, verifier),
      );
      assert.equal(exchanged.statusCode, 404, exchanged.body);
      assert.equal(exchanged.json().error_code, 'flow_state_not_found');
      assert.deepEqual(await app.t.services.store.listSessions(userId), []);
    });

    it('the change commits between the spend and the session: no session, the code stays spent', async () => {
      const { userId, verifier, code } = await issuedFlow();
      // listMfaFactors: the exchange's admission before the spend, then the session's start after it.
      const exchanged = await commitAfterRead(
        app.t.services.store,
        () => replacePassword(userId),
        ['listMfaFactors'],
        () => exchangePkceCode(inject, code, verifier),
        2,
      );
      assert.equal(exchanged.statusCode, 404, exchanged.body);
      assert.equal(exchanged.json().error_code, 'flow_state_not_found');
      assert.deepEqual(await app.t.services.store.listSessions(userId), []);
      const again = await exchangePkceCode(inject, code, verifier);
      assert.equal(again.statusCode, 404, again.body);
    });

    it('a recovery link into an unconfirmed account retires its password, not the link’s own flow', async () => {
      // The retiring change (EmailFlows.retireCredentials) ends the account's flows in its write too:
      // all but the one whose code the link's follower gets.
      const email = `unproven${++serial}@corp.test`;
      await app.t.services.auth.register(LOCAL_CALL, { email, password: PASSWORD, emailConfirmed: false });
      await app.t.services.idle();
      const verifier = newVerifier();
      const since = app.sink.mails.length;
      const asked = await inject({
        method: 'POST',
        url: '/auth/v1/recover?redirect_to=https://app.test/reset',
        payload: { email, ...challengeOf(verifier) },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      const { link } = secretsOf(await nextMail(app.sink, email, since));
      const code = (await pressedLinkTarget(inject, link)).searchParams.get('code');
      assert.ok(code, link);
      const exchanged = await exchangePkceCode(inject, code, verifier);
      assert.equal(exchanged.statusCode, 200, exchanged.body);
      assert.equal(exchanged.json().user.email, email);
    });

    it('no change: the code exchanges for a session', async () => {
      const { userId, verifier, code } = await issuedFlow();
      const exchanged = await exchangePkceCode(inject, code, verifier);
      assert.equal(exchanged.statusCode, 200, exchanged.body);
      assert.equal(exchanged.json().user.id, userId);
    });
  });
}
