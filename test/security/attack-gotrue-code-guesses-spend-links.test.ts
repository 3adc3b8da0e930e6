import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { secretsOf } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * The attack: anyone who knows an address can type five wrong codes for it at /verify (the per-address
 * allowance is 30 per 5 minutes), and the fifth killed the owner's token, link included. Typed
 * blindly each minute, it spent every recovery and magic link the owner was mailed before they could
 * click it: no one could recover or sign in to that account by mail. The link is 256 random bits
 * nobody guesses; only the code needs the count. Now the fifth wrong code retires the code alone.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a stranger's wrong codes do not spend the owner's link (${storeKind} store)`, () => {
    const app = mailingAppOnStore(storeKind, { dialects: { gotrue: {} } });

    it("five wrong recovery codes: the owner's link still works, the right code no longer does", async () => {
      const email = 'owner@acme.test';
      await app.t.services.admin.createUser(LOCAL_CALL, {
        email,
        password: 'own passphrase',
        emailConfirm: true,
      });
      const recover = await app.t.app.inject({ method: 'POST', url: '/auth/v1/recover', payload: { email } });
      assert.equal(recover.statusCode, 200, recover.body);
      const { code, link } = secretsOf(await app.sink.waitForMail((m) => m.to === email, 5000));

      const verify = (payload: Record<string, unknown>, client: string) =>
        app.t.app.inject({
          method: 'POST',
          url: '/auth/v1/verify',
          payload: { type: 'recovery', ...payload },
          remoteAddress: client,
        });
      // Wrong codes, each from another client: only the address's allowance and the count apply.
      const wrong = ['000000', '111111', '222222', '333333', '444444', '555555'].filter(
        (guess) => guess !== code,
      );
      for (const [i, guess] of wrong.slice(0, 5).entries()) {
        assert.equal((await verify({ email, token: guess }, `198.51.100.${i + 1}`)).statusCode, 403);
      }
      assert.equal(
        (await verify({ email, token: code }, '203.0.113.9')).statusCode,
        403,
        'the code is spent',
      );
      const token = new URL(link).searchParams.get('token');
      const byLink = await verify({ token_hash: token }, '203.0.113.9');
      assert.equal(byLink.statusCode, 200, `the owner's link: ${byLink.body}`);
    });
  });
}
