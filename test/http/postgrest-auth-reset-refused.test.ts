import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCAL_CALL } from '../../src/core/audit.js';
import { nextMail } from '../support/gotrue.js';
import { mailingAppOnStore } from '../support/mailing-app-on-store.js';
import { verifiedTotpFactor } from '../support/mfa-factors.js';

/**
 * postgrest-auth's change_password with a mailed reset token (or its code), refused by the write
 * itself: a user of an adopted GoTrue database with a verified MFA factor (403 insufficient_aal,
 * answered 400 as that dialect answers every failure). The token was spent by the refusal, so once
 * the operator had deleted the factor the mail was dead. It now stays usable, as the hosted
 * recovery form's link does (recovery-form-refusals.test.ts). Real PostgreSQL, real SMTP sink.
 */
describe("postgrest-auth's reset token, refused by the password's write, stays usable (postgres store)", () => {
  const app = mailingAppOnStore('postgres', {
    oneTimeTokens: { resendInterval: 0 },
    dialects: { gotrue: {}, postgrestAuth: { enabled: true, prefix: '/pg' } },
  });

  it('refused for the factor, then accepted with the same code once the factor is deleted', async () => {
    const email = 'nils@acme.test';
    const user = await app.t.services.admin.createUser(LOCAL_CALL, {
      email,
      password: 'old passphrase!',
      emailConfirm: true,
    });
    const factorId = await verifiedTotpFactor(app.store.config, user.id);
    const since = app.sink.mails.length;
    const asked = await app.t.app.inject({
      method: 'POST',
      url: '/pg/forgot_password',
      payload: { username: email },
    });
    assert.equal(asked.statusCode, 200, asked.body);
    const mail = await nextMail(app.sink, email, since);
    const code = /Your code: (\d{6})/u.exec(mail.text)?.[1];
    assert.ok(code, mail.text);
    const change = () =>
      app.t.app.inject({
        method: 'POST',
        url: '/pg/change_password',
        payload: {
          username: email,
          reset_token: code,
          new_password: 'new passphrase!',
          new_password_confirm: 'new passphrase!',
        },
      });

    const refused = await change();
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(refused.json<{ error: string }>().error, 'insufficient_aal');

    await app.t.services.admin.deleteFactor(LOCAL_CALL, user.id, factorId);
    const accepted = await change();
    assert.equal(accepted.statusCode, 200, accepted.body);
    assert.ok(accepted.json<{ access_token: string }>().access_token);
  });
});
