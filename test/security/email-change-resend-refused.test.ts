import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { confirmedGotrueAccount } from '../support/confirmed-gotrue-account.js';
import { capturedLines } from '../support/log-capture.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';

/**
 * A resend of an email change that would now be refused (its new address confirmed by another
 * account since) is answered, as every resend, before the work: the work then mails nothing, and
 * logs nothing either. It logged the refusal as a server warning, which anyone could repeat at will
 * with the owner's address (the resend needs no session), filling the operator's log.
 */
for (const storeKind of ['file', 'postgres'] as const) {
  describe(`a resend of an email change refused since (${storeKind} store)`, { timeout: 60_000 }, () => {
    const app = mailingAppOnStore(storeKind, { oneTimeTokens: { resendInterval: 0 } });

    it('its new address taken by a confirmed account: 200, no mail, no warning logged', async () => {
      const email = `owner-${storeKind}@acme.test`;
      const newEmail = `taken-${storeKind}@acme.test`;
      const owner = await confirmedGotrueAccount(app.t, app.sink, email, 'an owner passphrase');
      const asked = await app.t.app.inject({
        method: 'PUT',
        url: '/auth/v1/user',
        headers: { authorization: `Bearer ${owner.access_token}` },
        payload: { email: newEmail },
      });
      assert.equal(asked.statusCode, 200, asked.body);
      await app.t.services.admin.createUser(LOCAL_CALL, { email: newEmail, emailConfirm: true });
      await app.t.services.idle();

      const [mailed, logged] = [app.sink.mails.length, capturedLines().length];
      const resent = await app.t.app.inject({
        method: 'POST',
        url: '/auth/v1/resend',
        payload: { type: 'email_change', email },
      });
      assert.equal(resent.statusCode, 200, resent.body);
      await app.t.services.idle();
      assert.deepEqual(app.sink.mails.slice(mailed), []);
      const warnings = capturedLines()
        .slice(logged)
        .filter((line) => /"level":(40|50)/u.test(line));
      assert.deepEqual(warnings, []);
    });
  });
}
